/* Booting a cached plan and supervising it as libsubst/monitor/guest.py and
 * signals.py do for the CLI: the kernel gets the boot-info block in a memfd
 * and the report pipe; the forwarded signals (signals.h) sent with kill(2)
 * are passed on, a terminal's are not (the guest's process group has them);
 * a first SIGTERM starts the stop timeout, a second kills; the status is
 * the guest's, 128+N for a signal N.  A crash report or a SIGSYS kill is
 * written by the Python CLI's epilogue, handed the entry and the report, so
 * it reads as the monitor's would. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libsubst/bootinfo.h"
#include "libsubst/plancache.h"
#include "libsubst/report.h"
#include "libsubst/signals.h"
#include "frontend.h"

static void fail(const char *what)
{
    fprintf(stderr, "libsubst: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* As monitor/bootinfo.py's memfd: sealed, since every guest process holds
 * the boot info and a guest's execve boots the next kernel from it
 * (proc/execve.c); the report copy for the epilogue is sealed alike. */
static int memfd_with(const char *name, const void *data, size_t size)
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
    for (int s = 1; s <= 64; s++)
        if ((LS_FORWARDED_SIGNALS >> (s - 1)) & 1)
            sigaddset(set, s);
}

/* In the child: only stdio and `keep` (ascending) stay open; the kernel runs. */
static void exec_kernel(const char *kernel, int boot_fd, const int *keep, int nkeep,
                        pid_t parent, char **envp)
{
    sigset_t set;
    char fd_text[16];
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)            /* the front end died before the prctl */
        raise(SIGKILL);
    forwarded(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
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

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Hands the end of the run to the Python CLI: it prints the crash report
 * (symbolised from the plan's entries) or the SIGSYS note and exits with
 * the guest's status. */
static void epilogue(int boot_fd, const struct buf *report, int wstatus, char **envp)
{
    char bfd[16], rfd[16], ws[16];
    int report_fd = memfd_with("libsubst-report", report->p, report->n);
    snprintf(bfd, sizeof bfd, "%d", boot_fd);
    snprintf(rfd, sizeof rfd, "%d", report_fd);
    snprintf(ws, sizeof ws, "%d", wstatus);
    fcntl(boot_fd, F_SETFD, 0);
    fcntl(report_fd, F_SETFD, 0);
    char *argv[] = {"libsubst", "_frontend-epilogue", bfd, rfd, ws, NULL};
    exec_python(argv, envp);
}

static int crashed(const struct buf *report)
{
    for (size_t i = 0; i < report->n; i++)
        if ((i == 0 || report->p[i - 1] == '\n') && report->n - i > 6 &&
            memcmp(report->p + i, "crash ", 6) == 0)
            return 1;
    return 0;
}

/* LIBSUBST_TIMES_FD=N: the start-up benchmark's breakdown (benchmarks/
 * timeline.py) reads when this run started, forked and ended, and the
 * kernel's boot record, from fd N. */
static void times(long long forked_ns, const struct buf *report)
{
    const char *fd_text = getenv("LIBSUBST_TIMES_FD");
    if (!fd_text)
        return;
    int fd = atoi(fd_text);
    dprintf(fd, "frontend %lld %lld %lld\n", started_ns, forked_ns, monotonic_ns());
    for (size_t i = 0; i < report->n; i++)
        if ((i == 0 || report->p[i - 1] == '\n') && report->n - i > 5 &&
            memcmp(report->p + i, "boot ", 5) == 0) {
            const char *end = memchr(report->p + i, '\n', report->n - i);
            dprintf(fd, "%.*s\n", (int)((end ? end : report->p + report->n) - report->p - i),
                    report->p + i);
        }
}

int boot_and_wait(struct entry *e, char **envp)
{
    const struct ls_plan_head *h = e->head;
    const uint32_t stop_ms = h->stop_timeout_ms;
    struct ls_bootinfo head;
    int rep[2], image_fd = -1;
    if (pipe2(rep, O_CLOEXEC) < 0)
        fail("pipe2");
    if (h->flags & LS_PLAN_IMAGE) {
        image_fd = open(entry_string(e, h->image), O_RDONLY | O_CLOEXEC);
        if (image_fd < 0)
            fail(entry_string(e, h->image));
    }
    /* The block as Python encoded it, with this process's fds (and the
     * caller's environment). */
    struct buf block = {0};
    buf_add(&block, e->data + h->boot_off, h->boot_size);
    if (h->flags & LS_PLAN_CALLER_ENV)
        guest_env(e, envp, &block);
    memcpy(&head, block.p, sizeof head);
    head.report_fd = rep[1];
    head.image_fd = image_fd;
    memcpy(block.p, &head, sizeof head);
    int boot_fd = memfd_with("libsubst-bootinfo", block.p, block.n);
    free(block.p);

    sigset_t set;
    forwarded(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);   /* from here read from the signalfd */
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        fail("signalfd");
    int keep[3] = {boot_fd, rep[1], image_fd}, nkeep = image_fd >= 0 ? 3 : 2;
    qsort(keep, nkeep, sizeof keep[0], cmp_int);
    long long forked_ns = monotonic_ns();
    pid_t parent = getpid(), child = fork();
    if (child < 0)
        fail("fork");
    if (child == 0)
        exec_kernel(entry_string(e, h->kernel), boot_fd, keep, nkeep, parent, envp);
    /* What stays while the guest runs is small: the entry goes (the
     * epilogue reads the plan from the boot-info block, kept open). */
    close(rep[1]);
    if (image_fd >= 0)
        close(image_fd);
    free(e->data);
    e->data = NULL;
    malloc_trim(0);
    int pidfd = syscall(SYS_pidfd_open, child, 0);
    if (pidfd < 0)
        fail("pidfd_open");

    struct buf report = {0};
    char chunk[65536];
    double deadline = 0;
    int stopping = 0, ended = 0, reading = 1;
    while (!ended || reading) {
        struct pollfd p[3] = {{rep[0], POLLIN, 0}, {sfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
        int wait_ms = -1;
        if (deadline) {
            double left = deadline - now();
            wait_ms = left > 0 ? (int)(left * 1000) + 1 : 0;
        }
        int n = poll(reading ? p : p + 1, reading ? (ended ? 1 : 3) : 2, wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("poll");
        if (n == 0) {                   /* the stop timeout expired */
            fprintf(stderr, "libsubst: the guest did not end within %g s of SIGTERM: killed\n",
                    stop_ms / 1000.0);
            kill(child, SIGKILL);
            deadline = 0;
            continue;
        }
        if (reading && p[0].revents) {
            ssize_t got = read(rep[0], chunk, sizeof chunk);
            if (got <= 0)
                reading = 0;
            else if (report.n + got <= LS_REPORT_MAX_BYTES)
                buf_add(&report, chunk, got);
        }
        if (ended)
            continue;
        struct pollfd *ps = &p[1], *pp = &p[2];
        if (pp->revents)
            ended = 1;
        if (!ended && ps->revents) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) != sizeof si || si.ssi_code == LS_SI_KERNEL)
                continue;               /* the terminal's: the guest has it too */
            if (si.ssi_signo == SIGTERM && stopping) {
                kill(child, SIGKILL);   /* a second SIGTERM */
                deadline = 0;
                continue;
            }
            if (si.ssi_signo == SIGTERM) {
                deadline = now() + stop_ms / 1000.0;
                stopping = 1;
            }
            kill(child, si.ssi_signo);
        }
    }
    int wstatus;
    while (waitpid(child, &wstatus, 0) < 0)
        if (errno != EINTR)
            fail("waitpid");
    times(forked_ns, &report);
    if (crashed(&report) || (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGSYS))
        epilogue(boot_fd, &report, wstatus, envp);
    return WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
}
