/*
 * heldmix conformance: SIGUSR1, SIGUSR2 and SIGALRM come while the process
 * is in one call (sigprocmask unblocking all three, pending: a fastcall
 * the guest kernel serves), and SIGUSR1's handler blocks SIGUSR2
 * (sa_mask), so the kernel keeps a blocked signal between two deliverable
 * ones.  SIGUSR1's handler waits in sigsuspend (its mask {SIGUSR2}) for
 * SIGALRM's handler to have run, or for a late SIGPROF that a helper sends
 * every 10 ms once the handler says it waits.  Natively Linux nests
 * SIGALRM's frame at once (it runs before SIGUSR1's handler body), the
 * wait sees SIGPROF, and SIGUSR2 runs once SIGUSR1's handler returns.
 * Each line gives the first round's order of handlers (1: SIGUSR1's
 * start, e: its end, 2, A, P) and how many rounds differed from it; a
 * hang (SIGALRM kept behind SIGUSR2, never delivered) is the watchdog's.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "watchdog.h"

#define ROUNDS 20

static struct { volatile int waiting, seen, alrm; } *shm;
static char order[32];
static volatile int no;
static int wait_alrm;

static void rec(char c)
{
    if (no < (int)sizeof order - 1)
        order[no++] = c;
}

static void on_signal(int s)
{
    if (s == SIGUSR1) {
        rec('1');
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGUSR2);
        shm->waiting = 1;
        while (!(wait_alrm ? shm->alrm : shm->seen))
            sigsuspend(&m);
        rec('e');
    } else if (s == SIGUSR2) {
        rec('2');
    } else if (s == SIGALRM) {
        rec('A');
        shm->alrm = 1;
    } else if (s == SIGPROF) {
        rec('P');
        shm->seen = 1;
    }
}

static void round_(char *out)
{
    shm->waiting = shm->seen = shm->alrm = 0;
    no = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, 0);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, 0);
    sigaction(SIGALRM, &sa, 0);
    sigaction(SIGPROF, &sa, 0);
    sigset_t b;
    sigemptyset(&b);
    sigaddset(&b, SIGUSR1);
    sigaddset(&b, SIGUSR2);
    sigaddset(&b, SIGALRM);
    sigprocmask(SIG_BLOCK, &b, 0);
    pid_t me = getpid(), helper = wait_alrm ? -1 : fork();
    if (helper == 0) {
        while (!shm->waiting)
            usleep(1000);
        while (!shm->seen) {
            kill(me, SIGPROF);
            usleep(10000);
        }
        _exit(0);
    }
    kill(me, SIGUSR1);
    kill(me, SIGUSR2);
    kill(me, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &b, 0);        /* all three come during this call */
    if (helper > 0)
        waitpid(helper, 0, 0);
    order[no] = 0;
    strcpy(out, order);
}

int main(void)
{
    pid_t dog = watchdog_start(60);
    shm = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (wait_alrm = 1; wait_alrm >= 0; wait_alrm--) {
        char first[32], got[32];
        int differ = 0;
        round_(first);
        for (int r = 1; r < ROUNDS; r++) {
            round_(got);
            differ += strcmp(got, first) != 0;
        }
        printf("SIGUSR1's handler waits for %s: order %s, rounds that differ %d\n",
               wait_alrm ? "SIGALRM" : "a late SIGPROF", first, differ);
        fflush(stdout);
    }
    watchdog_end(dog);
    return 0;
}
