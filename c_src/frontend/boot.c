/* Booting a cached plan as libsubst/monitor/guest.py does for the CLI: the
 * kernel gets the boot-info block in a sealed memfd and the report pipe,
 * then this process becomes the native supervisor (c_src/tender/
 * supervise.c) with the arguments Guest.hand_over gives it, so a served
 * run and a planned one end the same way: signals forwarded, the stop
 * timeout, the guest's status, a crash or ENOSYS said by the supervisor's
 * Python epilogue (libsubst/monitor/epilogue.py). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "libsubst/bootinfo.h"
#include "libsubst/plancache.h"
#include "libsubst/signals.h"
#include "frontend.h"

static void fail(const char *what)
{
    fprintf(stderr, "libsubst: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* As monitor/bootinfo.py's memfd: sealed, since every guest process holds
 * it and a guest's execve boots the next kernel from it (proc/execve.c). */
static int sealed_memfd(const char *name, const void *data, size_t size)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    size_t done = 0;
    if (fd < 0)
        fail("memfd_create");
    while (done < size) {
        ssize_t n = write(fd, (const char *)data + done, size - done);
        if (n <= 0)
            fail("writing the boot info");
        done += n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        fail("sealing the boot info");
    return fd;
}

static void forwarded(sigset_t *set)
{
    sigemptyset(set);
    for (int s = 1; s <= 64; s++)       /* 64 bits: an int's shift past 31 wraps (it
                                           blocked SIGRTMIN and six more in the guest) */
        if (((unsigned long)LS_FORWARDED_SIGNALS >> (s - 1)) & 1)
            sigaddset(set, s);
    sigaddset(set, LS_SIG_FORWARD);     /* the relay's, blocked until it has a handler */
}

/* In the child: only stdio and `keep` (ascending: libsubst's and the
 * caller's, fds.c) stay open; the kernel runs. */
static void exec_kernel(const char *kernel, int boot_fd, const int *keep, int nkeep,
                        pid_t parent, char **envp)
{
    sigset_t set;
    char fd_text[16];
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)            /* the front end died before the prctl */
        raise(SIGKILL);
    forwarded(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);     /* the tender unblocks them (tender.h) */
    unsigned lo = 3;
    for (int i = 0; i < nkeep; i++) {
        if ((unsigned)keep[i] > lo)
            syscall(SYS_close_range, lo, keep[i] - 1, 0);
        fcntl(keep[i], F_SETFD, 0);
        lo = keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
    snprintf(fd_text, sizeof fd_text, "%d", boot_fd);
    char *argv[] = {(char *)kernel, fd_text, NULL};
    execve(kernel, argv, envp);
    fprintf(stderr, "libsubst: cannot start the guest kernel %s: %s\n", kernel, strerror(errno));
    _exit(127);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* What this process's execve would keep for the program and its own
 * guest start would lose (bootinfo.h, as monitor/caller.py takes it): the
 * mask; the blocked signals pending, taken from this process, and the
 * interval timers, disarmed here: the first boot puts them in the program;
 * the supplementary groups. */
static void caller_exec_state(struct ls_bootinfo *head)
{
    sigset_t blocked, pending, one;
    static const struct timespec now = {0, 0};
    sigprocmask(SIG_BLOCK, NULL, &blocked);
    sigpending(&pending);
    head->caller_blocked = head->caller_pending = 0;
    for (int s = 1; s <= 64; s++) {
        if (sigismember(&blocked, s) != 1)
            continue;
        head->caller_blocked |= 1ULL << (s - 1);
        sigemptyset(&one);
        sigaddset(&one, s);
        if (sigismember(&pending, s) == 1 && sigtimedwait(&one, NULL, &now) == s)
            head->caller_pending |= 1ULL << (s - 1);
    }
    gid_t groups[LS_BOOT_GROUPS];
    int n = getgroups(LS_BOOT_GROUPS, groups);
    head->ngroups = n > 0 ? n : 0;
    for (int i = 0; i < n; i++)
        head->groups[i] = groups[i];
    for (int w = 0; w < 3; w++) {
        struct itimerval off = {{0, 0}, {0, 0}}, old;
        setitimer(w, &off, &old);
        head->itimers[w][0] = (uint64_t)old.it_value.tv_sec * 1000000 + old.it_value.tv_usec;
        head->itimers[w][1] = (uint64_t)old.it_interval.tv_sec * 1000000 + old.it_interval.tv_usec;
    }
}

void boot_and_supervise(struct entry *e, char **envp, char **args, int nargs)
{
    const struct ls_plan_head *h = e->head;
    const char *supervisor = entry_string(e, h->supervisor);
    struct ls_bootinfo head;
    int rep[2], image_fd = -1;
    /* Checked before anything starts: the Python CLI can still serve the run. */
    if (access(supervisor, X_OK) < 0)
        return;
    for (uint32_t i = 0; i < h->n_epilogue; i++)
        if (!entry_item(e, h->epilogue_off, i))
            return;
    if (pipe2(rep, O_CLOEXEC) < 0)
        fail("pipe2");
    if (h->flags & LS_PLAN_IMAGE) {
        image_fd = open(entry_string(e, h->image), O_RDONLY | O_CLOEXEC);
        if (image_fd < 0)
            fail(entry_string(e, h->image));
    }
    /* The block as Python encoded it, with this process's fds, the
     * program's arguments (and the caller's environment). */
    struct buf block = {0};
    buf_add(&block, e->data + h->boot_off, h->boot_size);
    if (h->flags & LS_PLAN_CALLER_ENV)
        guest_env(e, envp, &block);
    guest_argv(e, args, nargs, &block);
    memcpy(&head, block.p, sizeof head);
    head.report_fd = rep[1];
    head.image_fd = image_fd;
    caller_exec_state(&head);
    head.flags = (head.flags & ~(LS_BOOT_CLOSED_STDIN | LS_BOOT_CLOSED_STDOUT |
                                 LS_BOOT_CLOSED_STDERR)) | (uint32_t)held_stdio * LS_BOOT_CLOSED_STDIN;
    memcpy(block.p, &head, sizeof head);
    int boot_fd = sealed_memfd("libsubst-bootinfo", block.p, block.n);
    free(block.p);

    sigset_t set;
    forwarded(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);   /* the supervisor reads them from a signalfd */
    int keep[3 + ncaller_fds], nkeep = image_fd >= 0 ? 3 : 2;
    keep[0] = boot_fd, keep[1] = rep[1], keep[2] = image_fd;
    memcpy(keep + nkeep, caller_fds, ncaller_fds * sizeof(int));
    nkeep += ncaller_fds;
    qsort(keep, nkeep, sizeof keep[0], cmp_int);
    long long forked_ns = monotonic_ns();
    pid_t parent = getpid(), child = fork();
    if (child < 0)
        fail("fork");
    if (child == 0)
        exec_kernel(entry_string(e, h->kernel), boot_fd, keep, nkeep, parent, envp);
    close(rep[1]);
    if (image_fd >= 0)
        close(image_fd);
    caller_fds_drop();

    /* LIBSUBST_TIMES_FD=N: the start-up benchmark's breakdown (benchmarks/
     * timeline.py) reads when this run started and forked; the supervisor
     * adds its end and the kernel's boot record. */
    const char *times = getenv("LIBSUBST_TIMES_FD");
    if (times)
        dprintf(atoi(times), "frontend %lld %lld\n", started_ns, forked_ns);

    /* supervise.c's command line, as Guest.hand_over makes it: no cgroup,
     * trace, core file or scratch directory in a cached plan (api.py). */
    char pid_text[16], rep_text[16], ms_text[16], boot_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", child);
    snprintf(rep_text, sizeof rep_text, "%d", rep[0]);
    snprintf(ms_text, sizeof ms_text, "%u", h->stop_timeout_ms);
    snprintf(boot_text, sizeof boot_text, "%d", boot_fd);
    char *argv[8 + h->n_epilogue + 3];
    int n = 0;
    argv[n++] = (char *)supervisor;
    argv[n++] = pid_text;
    argv[n++] = rep_text;
    argv[n++] = ms_text;
    argv[n++] = (char *)entry_string(e, h->stop_text);
    argv[n++] = "0";
    argv[n++] = "--";
    for (uint32_t i = 0; i < h->n_epilogue; i++)
        argv[n++] = (char *)entry_item(e, h->epilogue_off, i);
    argv[n++] = "--bootinfo";
    argv[n++] = boot_text;
    argv[n] = NULL;
    fcntl(rep[0], F_SETFD, 0);
    fcntl(boot_fd, F_SETFD, 0);
    fflush(NULL);
    execve(supervisor, argv, envp);
    /* The guest runs: without its supervisor it is killed with this process. */
    fprintf(stderr, "libsubst: cannot start the supervisor %s: %s\n", supervisor, strerror(errno));
    exit(125);
}
