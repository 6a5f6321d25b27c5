/*
 * Process conformance: wait4/waitid for any child, stopped and continued
 * children, raw clone and clone3, their error checks, the subreaper, the
 * parent-death signal, no_new_privs across clone/fork/execve and the tagged
 * address control, compared with a native run.  Every pid printed is
 * relative ("child", "self"), so the two runs print the same.
 *
 *   processes DIR          DIR a scratch directory
 *   processes nnp          (internal) prints no_new_privs after an execve
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_GET_TAGGED_ADDR_CTRL
#define PR_SET_TAGGED_ADDR_CTRL 55
#define PR_GET_TAGGED_ADDR_CTRL 56
#endif

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

static void status(const char *label, int st)
{
    if (WIFEXITED(st))
        printf("%s: exited %d\n", label, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %s\n", label, sigabbrev_np(WTERMSIG(st)));
    else if (WIFSTOPPED(st))
        printf("%s: stopped by %s\n", label, sigabbrev_np(WSTOPSIG(st)));
    else if (WIFCONTINUED(st))
        printf("%s: continued\n", label);
}

static const char *code(int c)
{
    switch (c) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    }
    return "?";
}

static void info(const char *label, pid_t child, const siginfo_t *si)
{
    printf("%s: signo %s pid %s code %s status %d\n", label, si->si_signo ? "SIGCHLD" : "0",
           si->si_pid == child ? "child" : si->si_pid ? "other" : "0", code(si->si_code),
           si->si_status);
}

/* A child that exits with code at once. */
static pid_t child_exit(int code)
{
    pid_t p = fork();
    if (p == 0)
        _exit(code);
    return p;
}

/* Waits (bounded) until pid is a zombie, without reaping it. */
static void until_zombie(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
}

static void waits(void)
{
    int st;
    struct rusage ru;
    printf("wait4 no children: %s\n", err(wait4(-1, &st, WNOHANG, 0)));
    /* Many children, reaped by wait4(-1): each code seen once. */
    int seen = 0;
    for (int i = 1; i <= 20; i++)
        child_exit(i);
    for (int i = 0; i < 20; i++) {
        memset(&ru, 0xff, sizeof ru);
        pid_t p = wait4(-1, &st, 0, &ru);
        if (p > 0 && WIFEXITED(st) && ru.ru_utime.tv_usec < 1000000 && ru.ru_nvcsw >= 0)
            seen |= 1 << WEXITSTATUS(st);
    }
    printf("wait4(-1) of 20 children: all seen %d\n", seen == 0x1ffffe);
    printf("wait4 after all reaped: %s\n", err(wait4(-1, &st, 0, 0)));

    /* WNOHANG while the child runs; then after it exited. */
    int go[2];
    pipe(go);
    pid_t c = fork();
    if (c == 0) {
        char b;
        read(go[0], &b, 1);
        _exit(3);
    }
    printf("WNOHANG while running: %d\n", wait4(-1, &st, WNOHANG, 0));
    siginfo_t si;
    memset(&si, 0xff, sizeof si);
    printf("waitid WNOHANG while running: %s pid %d\n", err(waitid(P_ALL, 0, &si, WEXITED | WNOHANG)),
           si.si_pid);
    write(go[1], "x", 1);
    until_zombie(c);
    memset(&si, 0, sizeof si);
    waitid(P_ALL, 0, &si, WEXITED | WNOWAIT);
    info("waitid P_ALL WNOWAIT", c, &si);
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    info("waitid P_PID WNOWAIT again", c, &si);
    pid_t r = wait4(c, &st, WNOHANG, &ru);
    printf("wait4 after exit: %s\n", r == c ? "child" : err(r));
    status("  status", st);
    printf("waitid with no options: %s\n", err(waitid(P_ALL, 0, &si, 0)));
    printf("waitid bad idtype: %s\n", err(waitid(7, 0, &si, WEXITED)));
    printf("wait4 bad options: %s\n", err(wait4(-1, &st, 0x40000000, 0)));

    /* P_PGID, and wait4 for a process group by -pgid. */
    pid_t a = fork();
    if (a == 0) {
        setpgid(0, 0);
        char b;
        read(go[0], &b, 1);
        _exit(4);
    }
    setpgid(a, a);
    pid_t b = child_exit(5);
    memset(&si, 0, sizeof si);
    write(go[1], "x", 1);
    waitid(P_PGID, a, &si, WEXITED);
    info("waitid P_PGID", a, &si);
    r = wait4(-getpgrp(), &st, 0, 0);
    printf("wait4(-pgrp): %s\n", r == b ? "child" : err(r));
    status("  status", st);

    /* Stopped, continued, killed: wait4 and waitid views. */
    c = fork();
    if (c == 0) {
        raise(SIGSTOP);
        for (;;)
            pause();
    }
    r = waitpid(c, &st, WUNTRACED);
    status("waitpid WUNTRACED", st);
    kill(c, SIGCONT);
    r = waitpid(c, &st, WCONTINUED);
    status("waitpid WCONTINUED", st);
    kill(c, SIGSTOP);
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WSTOPPED);
    info("waitid WSTOPPED", c, &si);
    kill(c, SIGCONT);
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WEXITED | WSTOPPED | WCONTINUED);
    info("waitid WEXITED|WSTOPPED|WCONTINUED", c, &si);
    kill(c, SIGKILL);
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WEXITED);
    info("waitid killed", c, &si);
    close(go[0]);
    close(go[1]);
}

static long clone3_(struct clone_args *a, size_t size)
{
    return syscall(SYS_clone3, a, size);
}

static void clones(void)
{
    int st;
    /* Raw clone(SIGCHLD) and clone with no exit signal (__WCLONE). */
    long c = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (c == 0)
        _exit(7);
    until_zombie(c);
    printf("clone(SIGCHLD) reaped by wait4(-1): %s\n", wait4(-1, &st, 0, 0) == c ? "child" : "?");
    status("  status", st);
    c = syscall(SYS_clone, 0, 0, 0, 0, 0);
    if (c == 0)
        _exit(8);
    printf("clone(0) by plain wait4: %s\n", err(wait4(c, &st, WNOHANG, 0)));
    printf("clone(0) by __WCLONE: %s\n", wait4(c, &st, __WCLONE, 0) == c ? "child" : "?");
    status("  status", st);

    /* Linux's checks on the flags. */
    errno = 0;
    printf("CLONE_THREAD alone: %s\n", err(syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0)));
    printf("CLONE_SIGHAND without CLONE_VM: %s\n",
           err(syscall(SYS_clone, CLONE_SIGHAND | SIGCHLD, 0, 0, 0, 0)));
    printf("CLONE_NEWNS|CLONE_FS: %s\n",
           err(syscall(SYS_clone, CLONE_NEWNS | CLONE_FS | SIGCHLD, 0, 0, 0, 0)));
    int pfd = -1;
    printf("CLONE_PIDFD|CLONE_PARENT_SETTID: %s\n",
           err(syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pfd, 0, 0)));
    printf("CLONE_PIDFD|CLONE_DETACHED: %s\n",
           err(syscall(SYS_clone, CLONE_PIDFD | CLONE_DETACHED | SIGCHLD, 0, &pfd, 0, 0)));
    /* A thread pointer outside the user half: EPERM, no child. */
    c = syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, 1UL << 63);
    if (c == 0)
        _exit(9);
    printf("CLONE_SETTLS non-canonical: %s\n", err(c));
    c = syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, 0x800000000000UL);
    if (c == 0)
        _exit(9);
    printf("CLONE_SETTLS at TASK_SIZE: %s\n", err(c));

    /* clone3 as clone. */
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    c = clone3_(&a, CLONE_ARGS_SIZE_VER0);
    if (c == 0)
        _exit(10);
    printf("clone3 as fork: %s\n", waitpid(c, &st, 0) == c ? "child" : err(c));
    status("  status", st);
    int pidfd = -1;
    a.flags = CLONE_PIDFD;
    a.pidfd = (uintptr_t)&pidfd;
    c = clone3_(&a, sizeof a);
    if (c == 0)
        _exit(11);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    long w = waitid(P_PIDFD, pidfd, &si, WEXITED);
    printf("clone3 CLONE_PIDFD, waitid P_PIDFD: %s\n", err(w));
    info("  ", c, &si);
    close(pidfd);
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    a.flags = CLONE_SETTLS;
    a.tls = 1UL << 63;
    printf("clone3 non-canonical tls: %s\n", err(clone3_(&a, sizeof a)));
    memset(&a, 0, sizeof a);
    printf("clone3 size 0: %s\n", err(clone3_(&a, 0)));
    printf("clone3 size 63: %s\n", err(clone3_(&a, 63)));
    static char big[8192];
    printf("clone3 size past a page: %s\n", err(clone3_((void *)big, 4097)));
    big[sizeof(struct clone_args) + 8] = 1;
    printf("clone3 nonzero tail: %s\n", err(clone3_((void *)big, 200)));
    a.exit_signal = 65;
    printf("clone3 exit_signal 65: %s\n", err(clone3_(&a, sizeof a)));
    a.exit_signal = SIGCHLD;
    a.flags = SIGCHLD;
    printf("clone3 signal in flags: %s\n", err(clone3_(&a, sizeof a)));
    a.flags = CLONE_CLEAR_SIGHAND | CLONE_SIGHAND | CLONE_VM;
    printf("clone3 CLEAR_SIGHAND|SIGHAND: %s\n", err(clone3_(&a, sizeof a)));
    a.flags = CLONE_THREAD;
    printf("clone3 CLONE_THREAD alone: %s\n", err(clone3_(&a, sizeof a)));

    /* CLONE_CLEAR_SIGHAND: handlers back to default, ignored stays ignored. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = (void (*)(int))abort;
    sigaction(SIGUSR1, &sa, 0);
    signal(SIGUSR2, SIG_IGN);
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    a.flags = CLONE_CLEAR_SIGHAND;
    c = clone3_(&a, sizeof a);
    if (c == 0) {
        struct sigaction o1, o2;
        sigaction(SIGUSR1, 0, &o1);
        sigaction(SIGUSR2, 0, &o2);
        _exit((o1.sa_handler == SIG_DFL) | (o2.sa_handler == SIG_IGN) << 1);
    }
    waitpid(c, &st, 0);
    printf("CLONE_CLEAR_SIGHAND: usr1 default %d, usr2 ignored %d\n", WEXITSTATUS(st) & 1,
           WEXITSTATUS(st) >> 1 & 1);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);

    /* CLONE_PARENT from a child: the grandchild is our child. */
    pid_t mid = fork();
    if (mid == 0) {
        long g = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
        if (g == 0)
            _exit(12);
        _exit(g > 0 ? 0 : 1);
    }
    waitpid(mid, &st, 0);
    status("CLONE_PARENT caller", st);
    pid_t g = wait(&st);
    printf("CLONE_PARENT child reaped by grandparent: %s\n", g > 0 ? "yes" : err(g));
    status("  status", st);
}

static void prctls(char *self)
{
    int st, p[2], r[2];
    pipe(p);
    pipe(r);
    pid_t me = getpid();
    printf("subreaper initially: %s", err(prctl(PR_SET_CHILD_SUBREAPER, 1)));
    int v = -1;
    prctl(PR_GET_CHILD_SUBREAPER, &v);
    printf(", now %d\n", v);
    pid_t a = fork();
    if (a == 0) {
        pid_t b = fork();
        if (b == 0) {
            int sub = -1;
            prctl(PR_GET_CHILD_SUBREAPER, &sub);
            pid_t first = getppid();       /* the middle process, still alive */
            write(r[1], "f", 1);
            char b2;
            read(p[0], &b2, 1);            /* the middle process has exited */
            int ok = 0;
            for (int i = 0; i < 2000 && !(ok = getppid() == me); i++)
                usleep(1000);
            _exit(ok | (sub == 0) << 1 | (first != me) << 2);
        }
        char f;
        read(r[0], &f, 1);                 /* until the grandchild has asked */
        _exit(0);
    }
    waitpid(a, &st, 0);
    write(p[1], "x", 1);
    pid_t b = wait(&st);
    printf("orphan reaped by subreaper: %s, getppid the subreaper %d (the middle before %d),"
           " not inherited %d\n", b > 0 ? "yes" : err(b), WEXITSTATUS(st) & 1,
           WEXITSTATUS(st) >> 2 & 1, WEXITSTATUS(st) >> 1 & 1);
    prctl(PR_SET_CHILD_SUBREAPER, 0);

    /* The parent-death signal, from a process of the guest to its child. */
    int q[2];
    pipe(q);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    a = fork();
    if (a == 0) {
        pid_t b = fork();
        if (b == 0) {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, SIGUSR1);
            sigprocmask(SIG_BLOCK, &s, 0);
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            int d = -1;
            prctl(PR_GET_PDEATHSIG, &d);
            char c = d == SIGUSR1 ? 'y' : 'n';
            write(q[1], &c, 1);
            struct timespec ts = {20, 0};
            int sig = sigtimedwait(&s, 0, &ts);
            _exit(sig == SIGUSR1 ? 0 : 1);
        }
        char c;
        read(q[0], &c, 1);
        write(q[1], &c, 1);
        _exit(0);
    }
    char c = '?';
    waitpid(a, &st, 0);
    read(q[0], &c, 1);
    b = wait(&st);
    printf("PR_GET_PDEATHSIG %c; signal on parent's death: %s\n", c,
           WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    printf("PR_SET_PDEATHSIG 99: %s\n", err(prctl(PR_SET_PDEATHSIG, 99)));

    /* no_new_privs: one way, kept by fork and execve (a guest starts with
     * it set: its seccomp filter needs it, see the prctl deviation). */
    a = fork();
    if (a == 0) {
        printf("set no_new_privs: %s\n", err(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)));
        printf("clear no_new_privs: %s\n", err(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0)));
        fflush(stdout);
        pid_t g = fork();
        if (g == 0) {
            printf("no_new_privs after fork: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
            fflush(stdout);
            execl("/proc/self/exe", self, "nnp", (char *)0);
            _exit(99);
        }
        waitpid(g, &st, 0);
        status("execve'd child", st);
        _exit(0);
    }
    waitpid(a, &st, 0);

    errno = 0;
    long t = prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
    printf("PR_GET_TAGGED_ADDR_CTRL: %ld %s\n", t, err(t));
    t = prctl(PR_SET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
    printf("PR_SET_TAGGED_ADDR_CTRL 0: %ld %s\n", t, err(t));
    t = prctl(PR_SET_TAGGED_ADDR_CTRL, 1, 0, 0, 0);
    printf("PR_SET_TAGGED_ADDR_CTRL 1: %ld %s\n", t, err(t));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    if (argc == 2 && strcmp(argv[1], "nnp") == 0) {
        printf("no_new_privs after execve: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        return 0;
    }
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: processes DIR\n");
        return 2;
    }
    waits();
    clones();
    prctls(argv[0]);
    return 0;
}
