/*
 * jumps conformance: a signal handler that leaves the blocking call it
 * interrupted by longjmp or siglongjmp, as servers end their main loop on
 * SIGTERM (iperf3), in the first thread, a second thread and a forked
 * child.  Built fortified, so longjmp is glibc's __longjmp_chk, which
 * refuses ("longjmp causes uninitialized stack frame") a jump to a stack
 * below the handler's unless sigaltstack says the handler runs on another
 * stack: in the guest it runs below the call it interrupted, on the
 * kernel's stack.
 *
 *   jumps MODE       MODE ignored (native or guest)
 */
#undef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf jb;
static int pfd[2];
static int use_siglongjmp;

static void on_alarm(int sig)
{
    if (use_siglongjmp)
        siglongjmp(jb, sig);
    longjmp(jb, sig);
}

/* The blocking calls a timer's SIGALRM interrupts: a read the host serves
 * as it is, and waits the kernel serves itself. */
static void block(int which)
{
    char c;
    fd_set r;
    struct pollfd p = {pfd[0], POLLIN, 0};
    struct epoll_event ev = {.events = EPOLLIN}, out;
    struct timespec ts = {30, 0};
    int e;
    switch (which) {
    case 0:
        if (read(pfd[0], &c, 1) != 1)
            return;
        break;
    case 1:
        FD_ZERO(&r);
        FD_SET(pfd[0], &r);
        pselect(pfd[0] + 1, &r, 0, 0, 0, 0);
        break;
    case 2:
        poll(&p, 1, -1);
        break;
    case 3:
        e = epoll_create1(EPOLL_CLOEXEC);
        epoll_ctl(e, EPOLL_CTL_ADD, pfd[0], &ev);
        epoll_wait(e, &out, 1, -1);
        break;
    case 4:
        nanosleep(&ts, 0);
        break;
    }
}

static const char *const names[] = {"read", "pselect", "poll", "epoll_wait", "nanosleep"};

static void jumps(const char *where)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, 0);
    for (use_siglongjmp = 0; use_siglongjmp < 2; use_siglongjmp++)
        for (int which = 0; which < 5; which++) {
            /* volatile: kept across the jump (setjmp(3)) */
            volatile int jumped = sigsetjmp(jb, 1);
            if (!jumped) {
                struct itimerval it = {{0, 0}, {0, 20000}};
                setitimer(ITIMER_REAL, &it, 0);
                block(which);
            }
            sigset_t now;
            sigprocmask(SIG_BLOCK, 0, &now);
            printf("%s: %s out of %s: %s, SIGALRM %s\n", where,
                   use_siglongjmp ? "siglongjmp" : "longjmp", names[which],
                   jumped == SIGALRM ? "jumped" : "returned",
                   sigismember(&now, SIGALRM) ? "blocked" : "unblocked");
            /* longjmp keeps the handler's mask (SIGALRM blocked): unblock */
            sigprocmask(SIG_UNBLOCK, &now, 0);
        }
}

static void *second_thread(void *where)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &s, 0);
    jumps(where);
    return 0;
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    if (pipe(pfd) < 0)
        return 1;
    jumps("first thread");

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
        jumps("forked child");
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    printf("forked child: status %#x\n", st);
    return 0;
}
