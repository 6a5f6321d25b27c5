/* The `libsubst` command: serve `run` from the plan cache, or hand over to
 * the Python CLI (frontend.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "libsubst/plancache.h"
#include "frontend.h"

#ifndef LS_BUILD_ID
#error "LS_BUILD_ID: the package build gives the sources' hash (setup.py)"
#endif

long long started_ns;

long long monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            fputs("libsubst: out of memory\n", stderr);
            exit(2);
        }
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s) + 1);
}

static void buf_num(struct buf *b, unsigned long v)
{
    char text[24];
    snprintf(text, sizeof text, "%lu", v);
    buf_str(b, text);
}

void exec_python(char **argv)
{
    /* libsubst-py, the Python CLI's console script, is installed beside
     * this executable (the command a user types may be a link to it). */
    char self[PATH_MAX], py[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = 0;
        snprintf(py, sizeof py, "%s/libsubst-py", self);
        /* The fds hold_closed_stdio held, which the Python CLI cannot tell
         * from the caller's (monitor/stdio.py reads and drops it), with
         * this pid, the Python CLI's after the execve: a value the caller
         * set (another pid) is not taken for the front end's. */
        char held[32];
        snprintf(held, sizeof held, "%d:%d", held_stdio, (int)getpid());
        setenv("LIBSUBST_HELD_STDIO", held, 1);
        /* What Python changes as it starts, as the caller had it
         * (monitor/caller.py): the signals it ignores (Python ignores
         * SIGPIPE and SIGXFSZ itself), whether LC_CTYPE was set (Python's
         * C locale coercion sets it), with this pid as above. */
        unsigned long long ignored = 0;
        for (int s = 1; s <= 64; s++) {
            struct sigaction sa;
            if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
                ignored |= 1ULL << (s - 1);
        }
        char state[64];
        snprintf(state, sizeof state, "%d:%llx:%d", (int)getpid(), ignored,
                 getenv("LC_CTYPE") != NULL);
        setenv("LIBSUBST_CALLER_STATE", state, 1);
        execve(py, argv, environ);      /* main's envp, with the variable */
    }
    fprintf(stderr, "libsubst: cannot start the Python CLI (libsubst-py beside %s): %s\n",
            n > 0 ? self : "/proc/self/exe", strerror(errno));
    exit(2);
}

/* What every key of this run starts with, as libsubst.plancache.run_key
 * makes it (plancache.h); 0, or -1 when the run cannot be keyed. */
static int key_base(struct buf *key)
{
    char cwd[PATH_MAX], boot_id[64];
    struct utsname uts;
    if (!getcwd(cwd, sizeof cwd) || uname(&uts) < 0)
        return -1;
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, boot_id, sizeof boot_id - 1);
    close(fd);
    if (n <= 0)
        return -1;
    boot_id[n] = 0;
    boot_id[strcspn(boot_id, "\n")] = 0;
    buf_str(key, "run");
    buf_str(key, LS_BUILD_ID);
    buf_num(key, geteuid());
    buf_num(key, getegid());
    buf_str(key, boot_id);
    buf_str(key, uts.nodename);
    buf_str(key, cwd);
    return 0;
}

/* The entry of this run: the key whose argv[1..k] ends at PROGRAM, the
 * program's own arguments left out (plancache.h); *k is set on a hit. */
static int find_entry(int argc, char **argv, struct entry *e, int *k)
{
    struct buf base = {0}, key = {0};
    int found = -1;
    if (key_base(&base) < 0)
        return -1;
    for (*k = 2; *k < argc && found < 0; ++*k) {
        key.n = 0;
        buf_add(&key, base.p, base.n);
        buf_num(&key, (unsigned long)*k);
        for (int i = 1; i <= *k; i++)
            buf_str(&key, argv[i]);
        buf_str(&key, *k < argc - 1 ? "1" : "0");
        found = entry_read(&key, e);
    }
    --*k;
    free(base.p);
    free(key.p);
    return found;
}

/* A standard fd closed when libsubst starts is held with /dev/null, so that
 * none of libsubst's own fds (the entry, the boot block, the report pipe)
 * takes its number and reaches the guest, or the supervisor, as its stdio;
 * the guest's first boot closes it again (bootinfo.h's LS_BOOT_CLOSED_STDIN). */
int held_stdio;

static void hold_closed_stdio(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) == fd)   /* the lowest free */
            held_stdio |= 1 << fd;
}

int main(int argc, char **argv, char **envp)
{
    struct entry e;
    int k;
    started_ns = monotonic_ns();
    hold_closed_stdio();
    caller_fds_find();
    /* LIBSUBST_NO_FRONTEND: always the Python CLI (what the tests compare with). */
    if (argc < 3 || strcmp(argv[1], "run") != 0 || getenv("LIBSUBST_NO_FRONTEND"))
        exec_python(argv);
    if (find_entry(argc, argv, &e, &k) < 0)
        exec_python(argv);
    if (!env_deps_hold(&e, envp) || !caller_fds_take(e.head->preserve_fds)) {
        free(e.data);
        exec_python(argv);
    }
    boot_and_supervise(&e, envp, argv + k + 1, argc - k - 1);
    exec_python(argv);
}
