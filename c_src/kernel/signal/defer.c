/*
 * Signals that arrive while the kernel serves a fastcall, deferred until
 * it returns to the program, as Linux delivers a signal on the way back
 * to user mode.  The kernel runs in the program's thread: a guest handler
 * the host ran in the middle of a call would make its own calls on kernel
 * state that call left half done — a spin lock it holds (the heap's, the
 * fd table's: the handler's open would wait for it forever), the fd table
 * mid-update, the thread's path-walk scratch.
 *
 * fastcall.S raises the thread's in_kernel around ls_dispatch; the host
 * handler of every guest handler (ls_guest_signal, view.c) and of a sent
 * SIGSEGV or SIGBUS (fault.c) calls signal_defer while it is raised, which
 * keeps the siginfo, blocks on the host every signal the guest does not
 * block (so that those sent later wait in the host's queues, in their
 * senders' order, and a process's stays the process's for another thread
 * to take) and returns at once.  On the way out, with in_kernel down,
 * signal_deliver_deferred hands each kept signal to its handler itself,
 * in Linux's order (order.c), before the host may deliver any of those
 * that waited:
 * the host's queue cannot take one back at its head (queued again, a kept
 * real-time signal went behind those its sender sent to the thread
 * meanwhile).  The hand-over is a SIGSEGV the thread sends itself with
 * everything else blocked (signal_carry): the host delivers it at once to
 * fault.c, which builds the kept signal's frame from it as it builds a
 * fault's — the handler's mask, SA_ONSTACK, SA_RESETHAND, the guest's
 * restorer.  The call's result is in the frame already; the handler is
 * shown the call's site (view.c), as a signal just after the call would
 * be, and the guest's mask as it is after the call.  The kept signals its
 * handler's mask lets through are nested on its frame at once, as Linux
 * sets up a frame for every deliverable pending signal before it returns
 * to user mode; those it blocks stay kept, pending as on Linux, and hold
 * back neither a kept one it lets through nor anything sent later
 * (signal_keeps): a handler may wait for either
 * (tests/conformance/heldwait.c, heldmix.c).
 *
 * Where the kernel waits in the host for the guest (host_call_blocking,
 * dispatch.c) in_kernel is down: a signal interrupts the wait and its
 * handler runs there, as before, so EINTR and SA_RESTART are Linux's.
 * Any signal deferred before the wait is delivered first, as if it had
 * come just before the call.  A blocking host call the kernel makes
 * without it is still interrupted by the host (EINTR, or restarted under
 * the handler's SA_RESTART); only the handler waits until the call ends.
 *
 * The faults the program itself causes (SIGSEGV, SIGBUS, SIGFPE, SIGILL)
 * and the trap path's SIGSYS are never deferred: they are synchronous,
 * and the trap path serves calls with every signal blocked already.
 *
 * A standard signal deferred twice is one signal, as a pending one is on
 * Linux; real-time ones are kept each, in arrival order.  Only those that
 * come before the first deferral's block takes hold are kept (handlers
 * nested at its start, a sent SIGSEGV or SIGBUS, never blocked); past
 * LS_DEFERRED - 2 kept, one more goes to the host's queue, behind them.
 * A signal that comes while fastcall.S leaves, in_kernel down, finds
 * t->deferred set and is kept after those.
 *
 * A kept signal the call itself blocked (rt_sigprocmask) goes back to the
 * host's queues, pending as on Linux: to the thread if it was sent to the
 * thread (tgkill, or as the host's order showed: order.c), else to
 * the process, where another thread that does not block it may take it;
 * so does a thread's at its exit.  Differs from Linux in: another signal
 * sent to the thread (a pthread_sigqueue'd, a thread timer's, the kernel's
 * SIGPIPE or SIGXFSZ: a siginfo does not say whom it was sent to) goes to
 * the process then; a kill()'s, an alarm's or a child's (si_code
 * 0 or more), which the host lets only the first thread queue with its
 * siginfo, is sent by kill(2) from another thread (the sender's pid and
 * uid then the guest's own); such a real-time signal queues behind those
 * of its number that came during the call.
 */
#include "signal/signal.h"
#include "proc/proc.h"

/* Every signal but those the kernel must take at once. */
static const sigset_t holdable = ~(UNBLOCKABLE | SIGBIT(SIGSEGV) | SIGBIT(SIGBUS));

/* Blocks on the host, until the call returns, every signal uc's mask does
 * not: those that come meanwhile wait in the host's queues. */
static void hold(struct kthread *t, struct ucontext *uc)
{
    sigset_t block = holdable & ~uc->uc_sigmask;
    if (!block)
        return;
    hsys4(__NR_rt_sigprocmask, SIG_BLOCK, (long)&block, 0, sizeof block);
    uc->uc_sigmask |= block;
    __atomic_fetch_or(&t->held, block, __ATOMIC_RELAXED);
}

void signal_defer(int sig, const siginfo_t *si, struct ucontext *uc)
{
    struct kthread *t = kcur();
    if ((guest_act[sig].sa_flags & SA_RESETHAND) && sig != SIGSEGV && sig != SIGBUS)
        signal_rearm(sig);             /* the host dropped it: the handler is still due */
    if ((t->deferred & SIGBIT(sig)) && sig < SIGRTMIN) {
        hold(t, uc);
        return;                        /* pending already: one, as on Linux */
    }
    int own = signal_sent_to_thread(t, si);
    /* A slot in one instruction: a handler nested here takes the next. */
    unsigned i = __atomic_fetch_add(&t->ndeferred, 1, __ATOMIC_RELAXED);
    unsigned room = sig == SIGSEGV || sig == SIGBUS ? LS_DEFERRED : LS_DEFERRED - 2;
    if (i < room) {
        t->deferred_si[i] = *si;
        t->deferred_at[i] = t->fast_args;
        t->deferred_prev[i] = signal_frame_before(uc);
        t->deferred_own[i] = own;
        __atomic_fetch_or(&t->deferred, SIGBIT(sig), __ATOMIC_RELAXED);
    }
    hold(t, uc);
    if (i >= room) {                   /* past the room: the host's queue, blocked, behind */
        __atomic_fetch_sub(&t->ndeferred, 1, __ATOMIC_RELAXED);
        if (sig != SIGSEGV && sig != SIGBUS)
            hsys4(__NR_rt_tgsigqueueinfo, hsys0(__NR_getpid), hsys0(__NR_gettid), sig, (long)si);
    }
}

/* Back to the host's queues, pending (see above): the thread's (own) or
 * the process's. */
static void requeue(long pid, long tid, const siginfo_t *si, int own)
{
    if (own)
        hsys4(__NR_rt_tgsigqueueinfo, pid, tid, si->si_signo, (long)si);
    else if (si->si_code < 0 || pid == tid)
        hsys3(__NR_rt_sigqueueinfo, pid, si->si_signo, (long)si);
    else
        hsys2(__NR_kill, pid, si->si_signo);
}

/* Takes the i-th oldest kept signal off the thread into si; whether it
 * was sent to the thread. */
static int take(struct kthread *t, unsigned i, siginfo_t *si)
{
    unsigned n = t->ndeferred;
    int own = t->deferred_own[i];
    *si = t->deferred_si[i];
    memmove(&t->deferred_si[i], &t->deferred_si[i + 1], (n - 1 - i) * sizeof t->deferred_si[0]);
    memmove(&t->deferred_at[i], &t->deferred_at[i + 1], (n - 1 - i) * sizeof t->deferred_at[0]);
    memmove(&t->deferred_prev[i], &t->deferred_prev[i + 1],
            (n - 1 - i) * sizeof t->deferred_prev[0]);
    memmove(&t->deferred_own[i], &t->deferred_own[i + 1], (n - 1 - i) * sizeof t->deferred_own[0]);
    t->ndeferred = --n;
    uint64_t bits = 0;
    for (unsigned i = 0; i < n; i++)
        bits |= SIGBIT(t->deferred_si[i].si_signo);
    t->deferred = bits;
    return own;
}

/* Hands si to its handler, the guest's mask then guest: a SIGSEGV to the
 * thread itself, every other signal blocked, which the host delivers on
 * this call's way out to fault.c (signal_carried).  Sent again until it
 * came: the host drops a standard signal already pending (a SIGSEGV
 * another process sent just then).  Inlined: the gdb server knows a
 * signal stopped in signal_deliver_deferred as the kernel's own
 * (libsubst/debug/runcontrol.py). */
static inline __attribute__((always_inline)) void carry(struct kthread *t, long pid, long tid, const siginfo_t *si, sigset_t guest,
                                                        const struct sigaction *act)
{
    sigset_t only = ~(SIGBIT(SIGSEGV) | SIGBIT(SIGSYS));
    siginfo_t c;
    memset(&c, 0, sizeof c);
    c.si_signo = SIGSEGV;
    c.si_code = SI_QUEUE;
    c.si_pid = pid;
    c.si_value.sival_ptr = (void *)si;
    t->carried_mask = guest;
    t->carried_act = *act;
    *(const siginfo_t *volatile *)&t->carried = si;
    hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&only, 0, sizeof only);
    while (*(const siginfo_t *volatile *)&t->carried)
        hsys4(__NR_rt_tgsigqueueinfo, pid, tid, SIGSEGV, (long)&c);
}

const siginfo_t *signal_carried(const siginfo_t *si, struct ucontext *uc, struct sigaction *act)
{
    struct kthread *t = kcur();
    const siginfo_t *held = t->carried;
    /* Its siginfo, or none when the host had no room left to queue one
     * (RLIMIT_SIGPENDING): SI_USER from no one. */
    if (!held || !(si->si_code == SI_QUEUE ? si->si_value.sival_ptr == held
                                           : si->si_code == SI_USER && si->si_pid == 0))
        return 0;
    uc->uc_sigmask = t->carried_mask;
    *act = t->carried_act;
    return held;
}

/* Whether every kept signal is one mask blocks: then they are pending
 * as on Linux, and nothing sent later need wait behind them. */
static int all_blocked(const struct kthread *t, sigset_t mask)
{
    return !(t->deferred & ~mask);
}

/* The next kept signal whose handler may run nested in the one whose
 * frame was just built, whose mask is mask (fault.c): Linux sets up a
 * frame for each pending signal the mask lets through before the thread
 * returns to user mode, the last one's handler running first.  Those the
 * mask blocks are passed over (pending: they keep no deliverable one
 * behind them, which a handler may wait for); one whose action the call
 * or another thread changed to the host's gets it there, where Linux
 * dequeues it (signal_host_acts), and the next is looked for. */
int signal_take_nested(sigset_t mask, siginfo_t *si, struct sigaction *act)
{
    struct kthread *t = kcur();
    for (;;) {
        int best = -1;
        for (unsigned i = 0; i < t->ndeferred; i++)
            if (!(mask & SIGBIT(t->deferred_si[i].si_signo)) &&
                (best < 0 || signal_before(t, i, best)))
                best = i;
        if (best < 0)
            return 0;
        take(t, best, si);
        *act = guest_act[si->si_signo];
        if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN)
            return 1;
        signal_host_acts(si, act->sa_handler, 1);
    }
}

/* uc, the innermost handler's: while some kept signal its mask lets
 * through waits for signal_deliver_deferred, those that came after them
 * wait on the host still (sigreturn keeps them blocked:
 * signal_host_mask).  When none is left, or every one left is blocked by
 * the handler's mask (pending, as Linux keeps it until the mask lets it
 * through), nothing is held in the handler: later signals interrupt it, as
 * on Linux, which may wait for one of them (pause, sigsuspend, a read).
 * What the handler's own mask blocks (its signal, its sa_mask) is the
 * guest's block inside it, no longer deferral's: held drops it, so that
 * the guest's mask there (signal_guest_mask, a call's hand-over inside the
 * handler) keeps it; signal_deliver_deferred holds it again once the
 * handler returns. */
void signal_carried_done(struct ucontext *uc)
{
    struct kthread *t = kcur();
    if (t->ndeferred && !all_blocked(t, uc->uc_sigmask)) {
        t->held &= ~uc->uc_sigmask;
        uc->uc_sigmask |= t->held;
    } else {
        t->held = 0;
    }
    t->carried = 0;
}

/* Whether a signal that arrives now, its host handler interrupting a
 * context whose host mask is host, is kept after those kept already (in
 * a fastcall, or on its way out of one), not delivered at once: not while
 * every kept one is blocked by the guest's mask there (a handler's whose
 * mask blocks them, signal_carried_done). */
int signal_keeps(sigset_t host)
{
    struct kthread *t = kcur();
    return t->in_kernel || !all_blocked(t, signal_guest_mask(host));
}

void signal_deliver_deferred(void)
{
    struct kthread *t = kcur();
    sigset_t all = ~0UL, old;
    hsys4(__NR_rt_sigprocmask, SIG_BLOCK, (long)&all, (long)&old, sizeof old);
    sigset_t held = t->held, guest = old & ~held;
    long pid = hsys0(__NR_getpid), tid = hsys0(__NR_gettid);
    for (;;) {
        /* Those this call blocked first, back to the host's queues; then
         * the first in Linux's order (signal_before) of those the mask lets
         * through.  An outer call's, blocked by the mask of the handler
         * this call is made from, is passed over: that call hands it over
         * once the handler returns (a blocked signal stays pending). */
        int i = -1;
        for (unsigned j = 0; j < t->ndeferred; j++) {
            int b = !!(guest & SIGBIT(t->deferred_si[j].si_signo));
            if (b && t->deferred_at[j] != t->fast_args)
                continue;
            if (b) {
                i = j;
                break;
            }
            if (i < 0 || signal_before(t, j, i))
                i = j;
        }
        if (i < 0)
            break;
        int sig = t->deferred_si[i].si_signo;
        int blocked = !!(guest & SIGBIT(sig));
        siginfo_t si;
        int own = take(t, i, &si);
        struct sigaction act = guest_act[sig];
        if (blocked)
            requeue(pid, tid, &si, own);
        else if (act.sa_handler == SIG_DFL || act.sa_handler == SIG_IGN)
            signal_host_acts(&si, act.sa_handler, 1);  /* changed meanwhile */
        else
            carry(t, pid, tid, &si, guest, &act);
        /* The handler returned here with the guest's mask: block again,
         * and hold again what its mask blocked (signal_carried_done). */
        hsys4(__NR_rt_sigprocmask, SIG_BLOCK, (long)&all, 0, sizeof all);
        t->held |= held;                /* its handler may have kept more */
    }
    /* Left for an outer call, blocked here: pending, nothing held behind. */
    t->held = 0;
    hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&guest, 0, sizeof guest);
}

/* The guest's mask, from the host's: without the bits deferral blocks. */
sigset_t signal_guest_mask(sigset_t host)
{
    return host & ~kcur()->held;
}

/* The host's mask for the guest's next: deferral's blocks kept until the
 * call returns, unless the guest blocks the signal itself (then it stays
 * pending, blocked, as on Linux). */
sigset_t signal_host_mask(sigset_t next)
{
    struct kthread *t = kcur();
    t->held &= ~next;
    return next | t->held;
}

/* A fork's child: nothing of its parent's deferred (Linux's child starts
 * with no signal pending), and what deferral blocked unblocked. */
void signal_defer_forget(void)
{
    struct kthread *t = kcur();
    sigset_t held = t->held;
    t->ndeferred = 0;
    t->held = 0;
    t->deferred = 0;
    if (held)
        hsys4(__NR_rt_sigprocmask, SIG_UNBLOCK, (long)&held, 0, sizeof held);
}

/* A thread's exit: what it kept that was sent to the process goes back to
 * the process, for another thread; what was sent to it ends with it, as
 * on Linux. */
void signal_defer_exit(void)
{
    struct kthread *t = kcur();
    sigset_t all = ~0UL;
    hsys4(__NR_rt_sigprocmask, SIG_BLOCK, (long)&all, 0, sizeof all);
    long pid = hsys0(__NR_getpid), tid = hsys0(__NR_gettid);
    while (t->ndeferred) {
        siginfo_t si;
        if (!take(t, 0, &si))
            requeue(pid, tid, &si, 0);
    }
}

/* Before an execve: what was deferred is delivered first, as if it had
 * come just before the call. */
void signal_deliver_before_exec(void)
{
    struct kthread *t = kcur();
    if (!t->deferred)
        return;
    long was = t->in_kernel;
    t->in_kernel = 0;
    signal_deliver_deferred();
    t->in_kernel = was;
}
