/*
 * heldwait conformance: two signals come while the process is in one
 * call (sigprocmask unblocking both, pending: a fastcall the guest kernel
 * serves), and one's handler waits for a later signal, which a helper
 * process sends once the handler says it waits (again every 10 ms until it
 * is seen: pause has no mask to close the race).  They are a SIGSEGV sent
 * to the process (kill, which the guest kernel never holds back) and a
 * SIGUSR1 sent to the thread (tgkill: Linux takes a thread's pending
 * signals first, so the SIGSEGV comes at the SIGUSR1 handler's start,
 * where the kernel's own handler runs); either is the one that waits.  The
 * wait is pause, sigsuspend (the handler's mask empty, or blocking
 * everything but the late signal: the other then waits for the handler's
 * end), or sigwaitinfo.  Natively Linux delivers both at once (nested
 * frames) and the wait sees the late signal; each line says the late
 * signal was seen in the handler and both handlers ran.
 *
 * A watchdog child kills the process after 60 s: a hang fails the run.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "watchdog.h"

enum wait_kind { PAUSE, SUSPEND, SUSPEND_MASKED, WAITINFO };
static const char *const names[] = {"pause", "sigsuspend", "sigsuspend, all else masked",
                                    "sigwaitinfo"};

static struct { volatile int waiting, done; } *shm;
static volatile sig_atomic_t late, second, first_done;
static enum wait_kind kind;
static int LATE;

static void on_late(int s)
{
    (void)s;
    late = 1;
}

static void on_second(int s)
{
    (void)s;
    second = 1;
}

static void on_first(int s)
{
    (void)s;
    sigset_t m;
    shm->waiting = 1;
    switch (kind) {
    case PAUSE:
        while (!late)
            pause();
        break;
    case SUSPEND:
    case SUSPEND_MASKED:
        sigfillset(&m);
        sigdelset(&m, LATE);
        if (kind == SUSPEND)
            sigemptyset(&m);
        while (!late)
            sigsuspend(&m);
        break;
    case WAITINFO:
        sigemptyset(&m);
        sigaddset(&m, LATE);
        if (sigwaitinfo(&m, 0) == LATE)
            late = 1;
        break;
    }
    shm->done = 1;
    first_done = 1;
}

static void handle(int sig, void (*fn)(int), const sigset_t *mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_mask = *mask;
    sigaction(sig, &sa, 0);
}

static void round_(int waiter, enum wait_kind k)
{
    int other = waiter == SIGSEGV ? SIGUSR1 : SIGSEGV;
    sigset_t none, both, mask;
    sigemptyset(&none);
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGSEGV);
    kind = k;
    late = second = first_done = 0;
    shm->waiting = shm->done = 0;
    /* the first handler's own mask: sigwaitinfo's signal blocked, or all */
    sigemptyset(&mask);
    if (k == WAITINFO)
        sigaddset(&mask, LATE);
    if (k == SUSPEND_MASKED)
        sigfillset(&mask);
    handle(waiter, on_first, &mask);
    handle(other, on_second, &none);
    handle(LATE, on_late, &none);
    sigprocmask(SIG_BLOCK, &both, 0);
    kill(getpid(), SIGSEGV);
    tgkill(getpid(), gettid(), SIGUSR1);
    pid_t parent = getpid(), helper = fork();
    if (helper == 0) {
        while (!shm->done) {
            if (shm->waiting)
                kill(parent, LATE);
            usleep(10000);
        }
        _exit(0);
    }
    sigprocmask(SIG_UNBLOCK, &both, 0);     /* both come during this call */
    shm->done = 1;
    waitpid(helper, 0, 0);
    printf("%s waits (%s): late signal seen in the handler %s, both handlers ran %s\n",
           waiter == SIGSEGV ? "SIGSEGV" : "SIGUSR1", names[k], late ? "yes" : "no",
           first_done && second ? "yes" : "no");
    fflush(stdout);
    signal(LATE, SIG_DFL);
}

int main(void)
{
    pid_t dog = watchdog_start(60);
    LATE = SIGRTMIN + 1;
    shm = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const int waiters[] = {SIGSEGV, SIGUSR1};
    for (int w = 0; w < 2; w++)
        for (int k = PAUSE; k <= WAITINFO; k++)
            round_(waiters[w], k);
    watchdog_end(dog);
    return 0;
}
