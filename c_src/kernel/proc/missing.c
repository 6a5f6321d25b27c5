/*
 * The programs the guest looked for and its root does not have.  A guest's
 * root holds only what planning brought, so a shell's or execvp's search of
 * PATH for a program the host has (`sh -c 'ls | head'` without --add
 * /usr/bin/head) ends in "not found" where natively it runs.  The paths
 * such searches find nothing at are kept here and reported when the
 * process exits with 127, a command's "not found" (the shells', env's,
 * xargs'), or with another failure right after an execve found nothing (a
 * child forked to run a helper by PATH: groff's troff, git's man, each
 * failing with a status of its own); the monitor names those the host has, which --add brings, when
 * the whole run ends so (monitor/ending.py): many programs look for
 * optional helpers and go on without them (a shell's child or subshell
 * ends 127, the script goes on).  Only the last name a process searched
 * for is kept (a search tries it in each PATH directory), with the time of
 * that search: the helpers a shell looked up earlier and went on without
 * (`command -v foo; bar`) are not why it ended 127, and of the processes
 * that end so (a subshell and the shell that ends with its status; a
 * child that missed one command and the shell that went on and missed
 * another) the monitor names the latest search.  Only a few paths, and
 * short ones: a record is one line, its path in hex.
 */
#include "kernel.h"
#include "report_records.h"

#define MISSING_MAX 16
#define MISSING_PATH 200

static char missing[MISSING_MAX][MISSING_PATH];
static int nmissing;
static unsigned long missing_at;        /* CLOCK_MONOTONIC ns of the last search */
static int missing_exec;                /* that search was an execve's */

/* The directories a search of PATH tries on a Debian system. */
static int in_path_dir(const char *path)
{
    static const char *const dirs[] = {"/usr/local/sbin/", "/usr/local/bin/", "/usr/sbin/",
                                       "/usr/bin/", "/sbin/", "/bin/"};
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        size_t n = strlen(dirs[i]);
        if (!strncmp(path, dirs[i], n) && path[n] && !strchr(path + n, '/'))
            return 1;
    }
    return 0;
}

/* The name a search of PATH looks for: the path's last component. */
static const char *search_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A call naming one path answered ENOENT (dispatch.c): an execve's program
 * anywhere, or a program a shell stats or tests in a PATH directory before
 * it execs (dash, bash and execvp's callers look before they leap). */
void note_missing(long nr, const char *path)
{
    switch (nr) {
    case __NR_execve:
    case __NR_execveat:
        if (path[0] != '/')
            return;
        break;
    case __NR_stat:
    case __NR_lstat:
    case __NR_newfstatat:
    case __NR_statx:
    case __NR_access:
    case __NR_faccessat:
    case __NR_faccessat2:
        if (!in_path_dir(path))
            return;
        break;
    default:
        return;
    }
    size_t n = strlen(path);
    if (n >= MISSING_PATH)
        return;
    int last = (nmissing < MISSING_MAX ? nmissing : MISSING_MAX) - 1;
    if (last >= 0 && strcmp(search_name(missing[last]), search_name(path)))
        nmissing = 0;           /* another name: the one searched for before did not end it */
    missing_at = know_ns();
    missing_exec = nr == __NR_execve || nr == __NR_execveat;
    for (int i = 0; i < nmissing && i < MISSING_MAX; i++)
        if (!strcmp(missing[i], path))
            return;
    int i = __atomic_fetch_add(&nmissing, 1, __ATOMIC_RELAXED);    /* threads may race here */
    if (i < MISSING_MAX)
        memcpy(missing[i], path, n + 1);
}

/* Whether the process's last search was an execve that found nothing
 * (a forked helper's child that could not become it). */
int missing_after_exec(void)
{
    return nmissing && missing_exec;
}

void report_missing_programs(void)
{
    char hex[2 * MISSING_PATH + 1];
    for (int i = 0; i < nmissing && i < MISSING_MAX; i++) {
        int n = 0;
        for (const unsigned char *c = (const unsigned char *)missing[i]; *c; c++) {
            hex[n++] = "0123456789abcdef"[*c >> 4];
            hex[n++] = "0123456789abcdef"[*c & 15];
        }
        hex[n] = 0;
        if (n)
            kdprintf(K.report_fd, LS_REPORT_MISSING, hex, missing_at);
    }
}
