/*
 * heldorder conformance: which of two pending signals Linux hands over
 * first when one call unblocks both — the thread's own before the
 * process's (dequeue_signal), whatever their numbers — for each way a
 * signal is sent to one thread: tgkill, rt_tgsigqueueinfo
 * (pthread_sigqueue), a SIGEV_THREAD_ID timer, and the kernel's own
 * SIGPIPE of a write to a pipe with no reader and SIGXFSZ of a write past
 * RLIMIT_FSIZE; each against a kill()'s SIGHUP, which has the lower
 * number, and a kill()'s SIGPIPE against it for the process's own order.
 * Natively the first dequeued gets its frame first, the other's nested on
 * it: the other's handler runs first.  Under libsubst the unblocking call
 * is a fastcall, whose held signals the kernel hands over itself.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char order[8];
static volatile int no;

static void on_signal(int s)
{
    if (no < (int)sizeof order - 1)
        order[no++] = s == SIGHUP ? 'H' : s == SIGPIPE ? 'P' : s == SIGTERM ? 'T' : 'X';
}

static void thread_kill(int sig)
{
    syscall(SYS_tgkill, getpid(), gettid(), sig);
}

static void thread_queue(int sig)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), sig, &si);
}

static void thread_timer(int sig)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = sig;
    ev._sigev_un._tid = gettid();
    timer_t tm;
    struct itimerspec in = {.it_value = {0, 1000}};
    sigset_t p;
    if (timer_create(CLOCK_MONOTONIC, &ev, &tm) < 0 || timer_settime(tm, 0, &in, 0) < 0)
        return;
    do
        sigpending(&p);
    while (!sigismember(&p, sig));     /* kept: a deleted timer's pending signal goes too */
}

static void broken_pipe(int sig)
{
    (void)sig;
    int p[2];
    if (pipe(p) < 0)
        return;
    close(p[0]);
    if (write(p[1], "x", 1) != -1)
        printf("write to a pipe with no reader did not fail\n");
    close(p[1]);
}

static void file_too_big(int sig)
{
    (void)sig;
    struct rlimit was, one;
    getrlimit(RLIMIT_FSIZE, &was);
    one = was;
    one.rlim_cur = 1;
    int fd = open("heldorder.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || setrlimit(RLIMIT_FSIZE, &one) < 0)
        return;
    if (write(fd, "xy", 2) != 1 || write(fd, "z", 1) != -1)
        printf("a write past RLIMIT_FSIZE did not fail\n");
    setrlimit(RLIMIT_FSIZE, &was);
    close(fd);
    unlink("heldorder.tmp");
}

static void process_kill(int sig)
{
    kill(getpid(), sig);
}

/* SIGHUP to the process, then send(sig) (and send(also) if not 0), all
 * blocked; then one call unblocks them: the order their handlers ran. */
static void round_(const char *what, void (*send)(int), int sig, int also)
{
    no = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGHUP, &sa, 0);
    sigaction(sig, &sa, 0);
    sigaction(SIGTERM, &sa, 0);
    sigset_t b;
    sigemptyset(&b);
    sigaddset(&b, SIGHUP);
    sigaddset(&b, sig);
    sigaddset(&b, SIGTERM);
    sigprocmask(SIG_BLOCK, &b, 0);
    kill(getpid(), SIGHUP);
    send(sig);
    if (also)
        send(also);
    sigprocmask(SIG_UNBLOCK, &b, 0);
    order[no] = 0;
    printf("%s: %s\n", what, order);
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    round_("tgkill SIGPIPE", thread_kill, SIGPIPE, 0);
    round_("tgkill SIGPIPE and SIGTERM", thread_kill, SIGPIPE, SIGTERM);
    round_("rt_tgsigqueueinfo SIGPIPE", thread_queue, SIGPIPE, 0);
    round_("rt_tgsigqueueinfo SIGPIPE and SIGTERM", thread_queue, SIGPIPE, SIGTERM);
    round_("SIGEV_THREAD_ID timer SIGPIPE", thread_timer, SIGPIPE, 0);
    round_("EPIPE's SIGPIPE", broken_pipe, SIGPIPE, 0);
    round_("EFBIG's SIGXFSZ", file_too_big, SIGXFSZ, 0);
    round_("kill SIGPIPE", process_kill, SIGPIPE, 0);
    round_("kill SIGPIPE and SIGTERM", process_kill, SIGPIPE, SIGTERM);
    return 0;
}
