/*
 * Linux's order among pending signals, for those defer.c keeps while a
 * fastcall is served: dequeue_signal takes the thread's own queue before
 * the process's, the synchronous signals first in each, then the lowest
 * number.  Whether a kept signal was sent to the thread the siginfo says
 * only for tgkill's; for others (the kernel's SIGPIPE of a failed write,
 * rt_tgsigqueueinfo's, a SIGEV_THREAD_ID timer's) the order the host,
 * which is Linux, set up the frames of the signals it delivered at once
 * tells it.
 */
#include "signal/signal.h"

/* Linux's rank of a pending signal in its queue (dequeue_signal): the
 * synchronous ones first, then the lowest number. */
static unsigned rank(int sig)
{
    const sigset_t sync = SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) | SIGBIT(SIGILL) | SIGBIT(SIGTRAP) |
                          SIGBIT(SIGFPE) | SIGBIT(SIGSYS);
    return !(sync & SIGBIT(sig)) << 7 | sig;
}

/* The siginfo of the signal whose host frame was set up just before the
 * one of uc: Linux sets up a frame for each deliverable pending signal, in
 * its dequeue order, before it returns to user mode, each nested at the
 * first instruction of the one before (whose handler then runs after);
 * NULL if uc is not at a deferring handler's first instruction. */
const siginfo_t *signal_frame_before(const struct ucontext *uc)
{
    unsigned long at = uc->uc_mcontext.rip;
    if (at != (unsigned long)ls_guest_signal && at != (unsigned long)fault_handler)
        return 0;
    return (const siginfo_t *)uc->uc_mcontext.rsi;
}

/* Whether si was sent to the thread: by tgkill (SI_TKILL), or known so
 * from the host's order, which is Linux's, the thread's queue before the
 * process's: its frame came just before that of the one kept at j, which
 * was sent to the thread, or which it comes after in either queue's own
 * order (a lower rank, or one standard signal twice: once in each). */
int signal_sent_to_thread(struct kthread *t, const siginfo_t *si)
{
    int own = si->si_code == SI_TKILL;
    for (unsigned j = 0; j < t->ndeferred && j < LS_DEFERRED; j++) {
        if (t->deferred_prev[j] != si)
            continue;
        t->deferred_prev[j] = 0;        /* found: that frame's place is free again */
        unsigned a = rank(si->si_signo), b = rank(t->deferred_si[j].si_signo);
        own |= t->deferred_own[j] || a > b || (a == b && si->si_signo < SIGRTMIN);
    }
    return own;
}

/* Whether the kept signal at i comes before the one at j in Linux's
 * order among pending signals (dequeue_signal): the thread's own before
 * the process's, the synchronous ones first in each, then the lowest
 * number; of one number, the oldest (real-time ones, FIFO).  Not arrival
 * order: the host's handlers run in the reverse of the order their frames
 * were set up, so the host keeps them in neither.  "The thread's own":
 * tgkill's, and those the host's order shows were (signal_sent_to_thread).
 * Differs from Linux in: another signal sent to the thread (the kernel's
 * SIGPIPE or SIGXFSZ, rt_tgsigqueueinfo's, a SIGEV_THREAD_ID timer's)
 * whose frame no process's of a lower rank followed ranks as the
 * process's: the same order among those the host delivered with it, but
 * against one kept at another time (a sent SIGSEGV), possibly not. */
int signal_before(const struct kthread *t, unsigned i, unsigned j)
{
    const siginfo_t *a = &t->deferred_si[i], *b = &t->deferred_si[j];
    unsigned ra = !t->deferred_own[i] << 8 | rank(a->si_signo);
    unsigned rb = !t->deferred_own[j] << 8 | rank(b->si_signo);
    return ra != rb ? ra < rb : i < j;
}
