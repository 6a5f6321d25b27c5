/*
 * Threads, mutexes, condition variables and signals, deterministic output:
 * compared between a native run and a guest run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define WORKERS 4
#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter, turn;
static volatile sig_atomic_t alarms, usr1;

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    /* Take turns in id order through a condition variable. */
    pthread_mutex_lock(&lock);
    while (turn != id)
        pthread_cond_wait(&cond, &lock);
    printf("worker %ld done\n", id);
    fflush(stdout);
    turn++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return (void *)(id * 10);
}

static void on_alarm(int sig) { alarms++; }

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    usr1 = si->si_signo == SIGUSR1 && si->si_code == SI_TKILL ? 1 : -1;
}

int main(void)
{
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    long sum = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    printf("counter %ld, joined sum %ld\n", counter, sum);

    /* A blocked read interrupted by a signal: EINTR without SA_RESTART. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    int p[2];
    pipe(p);
    struct itimerval it = {{0, 0}, {0, 200000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char c;
    ssize_t n = read(p[0], &c, 1);
    printf("read: %zd %s, alarms %d\n", n, n < 0 ? strerror(errno) : "", (int)alarms);

    /* SA_SIGINFO with a correct siginfo, sent to a thread. */
    sa.sa_handler = NULL;
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_kill(pthread_self(), SIGUSR1);
    printf("usr1 %d\n", (int)usr1);

    /* A blocked signal stays pending until unblocked. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGALRM);
    printf("blocked: alarms %d\n", (int)alarms);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: alarms %d\n", (int)alarms);
    return 3;
}
