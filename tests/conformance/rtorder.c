/*
 * rtorder conformance: real-time signals of one number are queued and
 * delivered in the order sent (POSIX, Linux), while the receiver spends its
 * time in system calls the guest kernel serves (a path's stat, a read of
 * /dev/zero, getppid).  Four senders, in turn: another process
 * (sigqueue: the process's queue), another process sending two numbers
 * interleaved (each number's own order, whatever the order between them),
 * and the same two from another thread (pthread_sigqueue: the receiving
 * thread's own queue, where a sender goes on while the receiver's kernel
 * holds one).  Each signal carries its index; the handler records them as
 * they come.
 *
 * A watchdog child kills the process after 60 s: a hang fails the run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "watchdog.h"

#define N 3000

static volatile int got[2][N], ngot[2];
static pid_t me;
static pthread_t receiver;

static void on_rt(int s, siginfo_t *si, void *u)
{
    (void)u;
    int k = s != SIGRTMIN;
    if (ngot[k] < N)
        got[k][ngot[k]++] = si->si_value.sival_int;
}

/* Sends N signals (nsig numbers interleaved) to the process, or to the
 * receiving thread (to_thread: pthread_sigqueue, rt_tgsigqueueinfo). */
static void send_all(int nsig, int to_thread)
{
    for (int i = 0; i < N; i++)
        for (int k = 0; k < nsig; k++) {
            union sigval v = {.sival_int = i};
            int sig = SIGRTMIN + 2 * k;
            while ((to_thread ? pthread_sigqueue(receiver, sig, v) : sigqueue(me, sig, v)) != 0)
                usleep(100);    /* EAGAIN: the queue is full */
            if (i % 4 == 3)
                usleep(50);
        }
}

static void busy_until(int nsig)
{
    struct stat st;
    char buf[64];
    int zero = open("/dev/zero", O_RDONLY);
    while (ngot[0] < N || (nsig > 1 && ngot[1] < N)) {
        stat("/usr/bin/../lib/../bin/ls", &st);
        stat("/etc/passwd", &st);
        if (read(zero, buf, sizeof buf) != sizeof buf)
            printf("read failed\n");
        getppid();
    }
    close(zero);
}

static void report(const char *name, int nsig)
{
    for (int k = 0; k < nsig; k++) {
        int bad = 0;
        for (int i = 0; i < N; i++)
            bad += got[k][i] != i;
        printf("%s: number %d: received %d, out of order %d\n", name, k, ngot[k], bad);
        ngot[k] = 0;
    }
}

static void *thread_sender(void *nsig)
{
    send_all(*(int *)nsig, 1);
    return 0;
}

/* Another process sends to this one: the process's queue. */
static void from_a_process(const char *name, int nsig)
{
    pid_t c = fork();
    if (c == 0) {
        send_all(nsig, 0);
        _exit(0);
    }
    busy_until(nsig);
    waitpid(c, 0, 0);
    report(name, nsig);
}

/* Another thread of the process sends to this one: its own queue. */
static void from_a_thread(const char *name, int nsig)
{
    pthread_t t;
    pthread_create(&t, 0, thread_sender, &nsig);
    busy_until(nsig);
    pthread_join(t, 0);
    report(name, nsig);
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    me = getpid();
    receiver = pthread_self();
    pid_t dog = watchdog_start(60);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN, &sa, 0);
    sigaction(SIGRTMIN + 2, &sa, 0);

    from_a_process("process", 1);
    from_a_process("two numbers", 2);
    from_a_thread("thread", 1);
    from_a_thread("thread, two numbers", 2);

    watchdog_end(dog);
    return 0;
}
