/*
 * masks conformance: a handler runs with its own mask, whatever the calls
 * it interrupted.  A 100 us ITIMER_REAL whose SIGALRM handler has sa_mask
 * SIGUSR1, while the main thread makes calls (getppid, a write to
 * /dev/null) and kill()s itself SIGUSR2: in the handler the mask
 * (sigprocmask) must hold SIGALRM and SIGUSR1 and not SIGTERM, which nothing
 * blocks, and SIGALRM must never interrupt its own handler (no
 * SA_NODEFER); a self-kill's handler runs before kill returns; after each
 * round the mask is empty.  Twice: the second time the handler also sets
 * the mask it read again (SIG_SETMASK), then spins a little.
 *
 * A watchdog child kills the process after 60 s: a hang fails the run.
 *
 *   masks MODE       MODE ignored (native or guest)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "watchdog.h"

#define N 5000

static volatile long alrm, badmask_in, usr2, nested;
static volatile int depth, resetmask;

static void on_alrm(int s)
{
    (void)s;
    if (depth++)
        nested++;
    sigset_t m;
    sigprocmask(SIG_BLOCK, 0, &m);
    if (resetmask) {
        sigprocmask(SIG_SETMASK, &m, 0);
        for (volatile int k = 0; k < 20000; k++)
            ;
    }
    if (!sigismember(&m, SIGALRM) || !sigismember(&m, SIGUSR1) || sigismember(&m, SIGTERM))
        badmask_in++;
    alrm++;
    depth--;
}

static void on_usr2(int s)
{
    (void)s;
    usr2++;
}

static void round_of(int reset, int fd)
{
    long late = 0, badmask_out = 0;
    alrm = badmask_in = usr2 = nested = 0;
    resetmask = reset;
    struct itimerval it = {{0, 100}, {0, 100}};
    setitimer(ITIMER_REAL, &it, 0);
    for (long i = 0; i < N; i++) {
        for (int k = 0; k < 20; k++) {
            getppid();
            if (write(fd, "x", 1) != 1)
                badmask_out++;
        }
        long before = usr2;
        kill(getpid(), SIGUSR2);
        if (usr2 == before)
            late++;
        sigset_t m;
        sigprocmask(SIG_BLOCK, 0, &m);
        if (!sigisemptyset(&m))
            badmask_out++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, 0);
    printf("resetmask %d: alarms %s nested %ld bad-mask-in-handler %ld usr2-late %ld "
           "bad-mask-after %ld\n", reset, alrm > 0 ? "some" : "none", nested, badmask_in, late,
           badmask_out);
}

int main(void)
{
    pid_t dog = watchdog_start(60);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaction(SIGALRM, &sa, 0);
    sa.sa_handler = on_usr2;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, 0);
    int fd = open("/dev/null", O_WRONLY);
    round_of(0, fd);
    round_of(1, fd);
    fflush(stdout);
    watchdog_end(dog);
    return 0;
}
