/*
 * interrupts conformance: blocking calls a signal interrupts, whose handler
 * runs and returns (EINTR, or the call restarted under SA_RESTART), in the
 * first thread, a second thread and a forked child; and the waits that take
 * a mask of their own (sigsuspend, pselect, ppoll, epoll_pwait) under one
 * that blocks every other signal, SIGSYS too, as sigfillset makes it.
 *
 *   interrupts MODE       MODE ignored (native or guest)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int pfd[2];
static volatile sig_atomic_t ran;
static int wake = -1;               /* the pipe epoll_wait waits on */

/* Writes a byte the restarted read then returns (and one that ends an
 * epoll_wait the signal came too early to interrupt). */
static void on_alarm(int sig)
{
    (void)sig;
    ran++;
    if (write(pfd[1], "x", 1) != 1 || write(wake, "x", 1) != 1)
        _exit(3);
}

static void on_usr1(int sig)
{
    (void)sig;
    ran++;
}

static void handle(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigaction(sig, &sa, 0);
}

static void show(const char *where, const char *what, long r)
{
    printf("%s %s: %ld %s, handler ran %d\n", where, what, r, r < 0 ? strerrorname_np(errno) : "",
           ran);
    ran = 0;
}

static void empty_pipe(void)
{
    char c;
    struct pollfd p = {pfd[0], POLLIN, 0};
    while (poll(&p, 1, 0) == 1 && read(pfd[0], &c, 1) == 1)
        ;
}

/* A blocking read (or epoll_wait) the timer's SIGALRM interrupts.  A
 * call that returned the handler's byte where it should have been
 * interrupted (the signal came before it blocked: a slow machine) is made
 * again with twice the delay, at most 8 times; a restarted read returns
 * that byte either way. */
static long interrupted(int epoll, int restart)
{
    long r = 0;
    int err = 0;
    for (long us = 20000, tries = 0; tries < 8; us *= 2, tries++) {
        empty_pipe();
        int e = epoll_create1(EPOLL_CLOEXEC), q[2];
        if (pipe(q) < 0)
            return -2;
        wake = q[1];
        struct epoll_event ev = {.events = EPOLLIN}, out;
        epoll_ctl(e, EPOLL_CTL_ADD, q[0], &ev);
        struct itimerval it = {{0, 0}, {0, us}};
        char c;
        ran = 0;
        setitimer(ITIMER_REAL, &it, 0);
        r = epoll ? epoll_wait(e, &out, 1, -1) : read(pfd[0], &c, 1);
        err = errno;
        close(q[0]);
        close(q[1]);
        close(e);
        if (r != 1 || (restart && !epoll))
            break;
    }
    errno = err;
    return r;
}

static void reads(const char *where)
{
    for (int restart = 0; restart < 2; restart++) {
        handle(SIGALRM, on_alarm, restart ? SA_RESTART : 0);
        long r = interrupted(0, restart);
        show(where, restart ? "read, SA_RESTART" : "read", r);
        r = interrupted(1, restart);
        show(where, restart ? "epoll_wait, SA_RESTART" : "epoll_wait", r);
    }
    empty_pipe();
}

static void *second_thread(void *where)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &s, 0);
    reads(where);
    return 0;
}

/* SIGUSR1 pending and blocked, then each wait under a mask of every
 * signal but SIGUSR1: the handler runs (and returns) inside the wait. */
static void masked_waits(const char *where)
{
    sigset_t usr1, all;
    handle(SIGUSR1, on_usr1, 0);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, 0);
    sigfillset(&all);
    sigdelset(&all, SIGUSR1);
    struct timespec ts = {5, 0};

    kill(getpid(), SIGUSR1);
    show(where, "sigsuspend", sigsuspend(&all));
    kill(getpid(), SIGUSR1);
    show(where, "pselect", pselect(0, 0, 0, 0, &ts, &all));
    kill(getpid(), SIGUSR1);
    show(where, "ppoll", ppoll(0, 0, &ts, &all));
    int e = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event out;
    kill(getpid(), SIGUSR1);
    show(where, "epoll_pwait", epoll_pwait(e, &out, 1, 5000, &all));
    close(e);
    sigprocmask(SIG_UNBLOCK, &usr1, 0);
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    if (pipe(pfd) < 0)
        return 1;
    reads("first thread");
    masked_waits("first thread");

    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    sigprocmask(SIG_BLOCK, &alarm, 0);          /* the second thread takes the timer's */
    pthread_t t;
    pthread_create(&t, 0, second_thread, "second thread");
    pthread_join(t, 0);
    sigprocmask(SIG_UNBLOCK, &alarm, 0);

    pid_t p = fork();
    if (p == 0) {
        reads("forked child");
        masked_waits("forked child");
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    printf("forked child: status %#x\n", st);
    return 0;
}
