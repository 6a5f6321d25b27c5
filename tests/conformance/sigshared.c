/*
 * sigshared conformance: a signal sent to the process stays the process's
 * (POSIX, Linux): one that comes while a thread blocks it, during the very
 * call that blocks it, stays pending for the process, and another thread
 * that waits for it takes it.  Another process queues N real-time signals
 * (sigqueue: the process's queue) while a worker thread unblocks and
 * blocks the number in turn, its handler counting those it takes; the
 * worker ends with the number blocked and exits, then the main thread,
 * which blocks it throughout, takes what is pending (sigtimedwait).  Every
 * signal sent is taken by one of the two: none is lost with the worker.
 *
 * A watchdog child kills the process after 60 s: a hang fails the run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "watchdog.h"

#define N 3000

static volatile int handled, sender_done;

static void on_rt(int s, siginfo_t *si, void *u)
{
    (void)s, (void)si, (void)u;
    handled++;
}

static void *worker(void *arg)
{
    (void)arg;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGRTMIN);
    while (!sender_done) {
        pthread_sigmask(SIG_UNBLOCK, &one, 0);
        getppid();
        pthread_sigmask(SIG_BLOCK, &one, 0);
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    pid_t me = getpid();
    pid_t dog = watchdog_start(60);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN, &sa, 0);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &one, 0);

    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < N; i++) {
            union sigval v = {.sival_int = i};
            while (sigqueue(me, SIGRTMIN, v) != 0)
                usleep(100);    /* EAGAIN: the queue is full */
        }
        _exit(0);
    }
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    waitpid(c, 0, 0);
    sender_done = 1;
    pthread_join(t, 0);

    int taken = 0;
    const struct timespec none = {0, 0};
    while (sigtimedwait(&one, 0, &none) == SIGRTMIN)
        taken++;
    printf("sent %d, taken by the worker's handler or the main thread's wait: %d\n", N,
           handled + taken);
    watchdog_end(dog);
    return 0;
}
