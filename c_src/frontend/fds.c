/*
 * The caller's fds the program inherits at their numbers: none but stdio
 * unless the user passes them, as runc and podman do: fds 3 .. 3+N-1 with
 * `run --preserve-fds N` (the plan entry's preserve_fds).  A run with
 * LISTEN_PID set (socket activation, this process's or another's) and one whose
 * passed fds cannot be passed (not open, or a directory) go to the Python
 * CLI, which passes them or says why not.  Python's side is
 * libsubst/monitor/caller.py.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend.h"

int *caller_fds, ncaller_fds;
static unsigned char *was_open;     /* [fd]: open when main started (before any of ours) */
static int nwas_open;

void caller_fds_find(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        int fd = atoi(de->d_name);
        if (fd <= 2 || fd == dirfd(d) || fcntl(fd, F_GETFD) != 0)   /* FD_CLOEXEC: the held stdio's */
            continue;
        if (fd >= nwas_open) {
            int cap = fd + 64;
            if (!(was_open = realloc(was_open, cap)))
                abort();
            memset(was_open + nwas_open, 0, cap - nwas_open);
            nwas_open = cap;
        }
        was_open[fd] = 1;
    }
    if (d)
        closedir(d);
}

/* Whether LISTEN_PID is set: the caller socket-activated this process
 * (sd_listen_fds(3)), or set it for another, when the Python CLI drops the
 * LISTEN_* variables, else the program's guest pid (1 or 2) could match. */
static int socket_activated(void)
{
    return getenv("LISTEN_PID") != NULL;
}

int caller_fds_take(unsigned preserve)
{
    if (socket_activated() || preserve > (unsigned)nwas_open)
        return 0;
    if (!(caller_fds = malloc((preserve + 1) * sizeof(int))))
        abort();
    for (int fd = 3; fd < 3 + (int)preserve; fd++) {
        struct stat st;
        if (fd >= nwas_open || !was_open[fd] || fstat(fd, &st) < 0 || S_ISDIR(st.st_mode))
            return 0;
        caller_fds[ncaller_fds++] = fd;
    }
    return 1;
}

/* Whether this process holds a lock through fd (fdinfo's "lock:" lines). */
static int holds_lock(int fd)
{
    char path[64], line[256];
    int locked = 0;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "re");
    while (f && !locked && fgets(line, sizeof line, f))
        locked = strncmp(line, "lock:", 5) == 0;
    if (f)
        fclose(f);
    return locked;
}

/* Once the guest has its copies: a pipe's reader sees its end when the
 * program closes its copy, not the supervisor's.  A file this process
 * holds a lock on stays open, or closing it would drop the lock (fcntl(2):
 * a POSIX lock is the process's, released at any close of the file); so
 * does LIBSUBST_TIMES_FD, which the supervisor writes to (boot.c). */
void caller_fds_drop(void)
{
    const char *times = getenv("LIBSUBST_TIMES_FD");
    for (int i = 0; i < ncaller_fds; i++)
        if (!holds_lock(caller_fds[i]) && !(times && atoi(times) == caller_fds[i]))
            close(caller_fds[i]);
}
