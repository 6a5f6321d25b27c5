/*
 * heldaction conformance: SIGUSR1, SIGUSR2 and SIGALRM sent to the process
 * while it blocks them, then one call unblocks all three, while another
 * thread sets SIGUSR2's action to SIG_IGN and back to the handler, over
 * and over.  Linux dequeues SIGUSR1 first and sets up its frame, then
 * SIGUSR2 — ignored if its action is SIG_IGN by then, else its frame —
 * then SIGALRM's frame: whatever SIGUSR2's action was, SIGALRM's handler
 * runs before SIGUSR1's (nested on its frame).  Under libsubst the
 * unblocking call is a fastcall: the kernel keeps the three and hands
 * them over itself, nesting the frames; a kept SIGUSR2 whose action the
 * other thread made SIG_IGN meanwhile must be passed over there, not stop
 * the nesting (SIGALRM's handler then ran after SIGUSR1's, in about a
 * third of the rounds), and one the host took for the handler must not be
 * run as a handler at SIG_IGN's address once the action changed (the
 * guest crashed at address 0x1, on both paths).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "watchdog.h"

#define ROUNDS 3000

static char order[8];
static volatile int no, stop;

static void on_signal(int s)
{
    if (no < (int)sizeof order - 1)
        order[no++] = s == SIGUSR1 ? '1' : s == SIGUSR2 ? '2' : 'A';
}

static void *toggle(void *arg)
{
    (void)arg;
    struct sigaction on, off;
    memset(&on, 0, sizeof on);
    on.sa_handler = on_signal;
    memset(&off, 0, sizeof off);
    off.sa_handler = SIG_IGN;
    while (!stop) {
        sigaction(SIGUSR2, &on, 0);
        sigaction(SIGUSR2, &off, 0);
    }
    return 0;
}

int main(void)
{
    pid_t dog = watchdog_start(60);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, 0);
    sigaction(SIGUSR2, &sa, 0);
    sigaction(SIGALRM, &sa, 0);
    sigset_t b;
    sigemptyset(&b);
    sigaddset(&b, SIGUSR1);
    sigaddset(&b, SIGUSR2);
    sigaddset(&b, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &b, 0);      /* the other thread's, for good */
    pthread_t th;
    if (pthread_create(&th, 0, toggle, 0) != 0)
        return 1;
    int late = 0, both = 0;
    for (int i = 0; i < ROUNDS; i++) {
        no = 0;
        kill(getpid(), SIGUSR1);
        kill(getpid(), SIGUSR2);
        kill(getpid(), SIGALRM);
        pthread_sigmask(SIG_UNBLOCK, &b, 0);
        pthread_sigmask(SIG_BLOCK, &b, 0);
        order[no] = 0;
        const char *a = strchr(order, 'A'), *one = strchr(order, '1');
        late += !a || !one || a > one;
        both += !!strchr(order, '2');
    }
    stop = 1;
    pthread_join(th, 0);
    watchdog_end(dog);
    printf("rounds whose SIGALRM handler ran after SIGUSR1's or not at all: %d\n", late);
    fprintf(stderr, "rounds with SIGUSR2's handler: %d of %d\n", both, ROUNDS);
    return 0;
}
