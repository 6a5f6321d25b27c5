/*
 * SIGSEGV and SIGBUS: the kernel keeps the host handler of both, so that a
 * guest pointer the kernel copies through (uaccess.S) answers EFAULT, as on
 * Linux, instead of crashing the guest.  Every other fault is the guest's:
 * the kernel delivers it as the host would — a signal frame on the guest's
 * stack (or its alternate stack, for SA_ONSTACK), the handler's mask, the
 * guest's restorer, whose rt_sigreturn the trap path serves — or, with no
 * guest handler, reports the crash (crash.c).
 */
#include "signal/signal.h"

extern char ls_uaccess_start[], ls_uaccess_end[], ls_uaccess_fixup[];

int uaccess_fault(unsigned long rip, unsigned long *fixup)
{
    *fixup = (unsigned long)ls_uaccess_fixup;
    return rip >= (unsigned long)ls_uaccess_start && rip < (unsigned long)ls_uaccess_end;
}

static int on_altstack(const stack_t *as, unsigned long sp)
{
    unsigned long lo = (unsigned long)as->ss_sp;
    return !(as->ss_flags & SS_DISABLE) && sp > lo && sp <= lo + as->ss_size;
}

/* Moves the interrupted context into a signal frame for act's handler and
 * makes uc resume in the handler (x86-64 setup_rt_frame).  real_sp is
 * where the thread's stack pointer was: uc may show the handler the
 * guest's own (signal/view.c) while the thread waited in the kernel. */
static void deliver(int sig, const siginfo_t *si, struct ucontext *uc, const struct sigaction *act,
                    unsigned long real_sp)
{
    struct sigcontext *m = &uc->uc_mcontext;
    const stack_t *as = &kcur()->altstack;
    unsigned long sp = real_sp - LS_RED_ZONE;
    stack_t trap;
    /* Sent (raise, kill) while the thread is in a fastcall: the handler runs
     * below that call's frame on the kernel stack, as the host runs the
     * others, and not on the guest's sigaltstack, where the fastcalls it
     * makes would take the kernel stack from its top, over that live frame. */
    if ((act->sa_flags & SA_ONSTACK) && !kthread_in_kstacks(real_sp) &&
        !(as->ss_flags & SS_DISABLE) && !on_altstack(as, sp))
        sp = (unsigned long)as->ss_sp + as->ss_size;
    /* On the trap stack (a trap waiting in the host, a handler running there):
     * the host put this handler's own frame below real_sp, and this code runs
     * below that; the new frame goes below both, past what the copies here
     * take of the stack. */
    if (kthread_on_trap_stack(real_sp, &trap)) {
        unsigned long here;
        __asm__("mov %%rsp, %0" : "=r"(here));
        if (sp > here - 4096)
            sp = here - 4096;
    }
    const struct _fpstate_64 *fp = (const struct _fpstate_64 *)m->fpstate;
    unsigned long fpn = fp ? fpstate_size(fp) : 0;
    sp = (sp - fpn) & ~63UL;
    void *fpcopy = (void *)sp;
    sp -= sizeof(siginfo_t) + sizeof(struct ucontext) + 8;
    sp = ((sp + 8) & ~15UL) - 8;                        /* as after a call */
    unsigned long *ret = (unsigned long *)sp;
    struct ucontext *fuc = (struct ucontext *)(sp + 8);
    siginfo_t *fsi = (siginfo_t *)(fuc + 1);
    *ret = (act->sa_flags & SA_RESTORER) ? (unsigned long)act->sa_restorer : 0;
    *fuc = *uc;
    signal_view_moved(uc, fuc);
    fuc->uc_stack = *as;
    if (fp) {
        memcpy(fpcopy, fp, fpn);
        fuc->uc_mcontext.fpstate = fpcopy;
    }
    *fsi = *si;
    sigset_t mask = uc->uc_sigmask | act->sa_mask;
    if (!(act->sa_flags & SA_NODEFER))
        mask |= SIGBIT(sig);
    uc->uc_sigmask = mask & ~UNBLOCKABLE;
    m->rip = (unsigned long)act->sa_handler;
    m->rsp = sp;
    m->rdi = sig;
    m->rsi = (unsigned long)fsi;
    m->rdx = (unsigned long)fuc;
    m->rax = 0;
    m->eflags &= ~0x400UL;                              /* DF clear, as the ABI wants */
    if (act->sa_flags & SA_RESETHAND)
        guest_act[sig].sa_handler = SIG_DFL;
}

/* After a held signal's delivery under act: SA_RESETHAND's default is the
 * host's action too (the kernel had rearmed its handler: defer.c). */
static void reset_host(int sig, const struct sigaction *act)
{
    if ((act->sa_flags & SA_RESETHAND) && sig != SIGSEGV && sig != SIGBUS) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sys_rt_sigaction(sig, &dfl, 0, sizeof(sigset_t));
    }
}

void fault_handler(int sig, siginfo_t *si, void *ctx)
{
    struct ucontext *uc = ctx;
    unsigned long fixup;
    int sync = si->si_code > 0;                         /* made by a fault, not by kill(2) */
    const siginfo_t *held;
    struct sigaction act;
    if (!sync && sig == SIGSEGV && (held = signal_carried(si, uc, &act))) {
        /* A signal defer.c held, handed over: its frame, as the host's. */
        int hs = held->si_signo;
        unsigned long sp = uc->uc_mcontext.rsp;
        signal_show_guest(uc);
        deliver(hs, held, uc, &act, sp);
        reset_host(hs, &act);
        /* The others the handler's mask lets through, nested (defer.c). */
        siginfo_t next;
        while (signal_take_nested(uc->uc_sigmask, &next, &act)) {
            deliver(next.si_signo, &next, uc, &act, uc->uc_mcontext.rsp);
            reset_host(next.si_signo, &act);
        }
        signal_carried_done(uc);
        return;
    }
    if (sync && uaccess_fault(uc->uc_mcontext.rip, &fixup)) {
        uc->uc_mcontext.rip = fixup;
        return;
    }
    if (!sync && (uc->uc_sigmask & SIGBIT(SIGSYS))) {
        /* Sent while the kernel serves a trap (SIGSYS blocked only then):
         * it waits, pending, until the trap returns to the guest. */
        uc->uc_sigmask |= SIGBIT(sig);
        hsys3(__NR_tgkill, hsys0(__NR_getpid), hsys0(__NR_gettid), sig);
        return;
    }
    act = guest_act[sig];               /* once: another thread may change it */
    if (act.sa_handler == SIG_IGN && !sync)
        return;
    if (!sync && signal_keeps(uc->uc_sigmask) && act.sa_handler != SIG_DFL) {
        signal_defer(sig, si, uc);      /* sent during a fastcall: at its end */
        return;
    }
    /* A fault in kernel code that is not a copy is the kernel's own bug. */
    unsigned long rip = uc->uc_mcontext.rip, sp = uc->uc_mcontext.rsp;
    if (act.sa_handler == SIG_DFL || act.sa_handler == SIG_IGN ||
        (sync && rip >= K.ktext_start && rip < K.ktext_end)) {
        crash_handler(sig, si, ctx);
        return;
    }
    /* Sent while the thread waits in a host call for the guest: the handler
     * is shown the guest's call, as the host's others are (view.c), and the
     * call fails or restarts (trap_install's SA_RESTART) as the host said. */
    if (!sync)
        signal_show_guest(uc);
    deliver(sig, si, uc, &act, sp);
}
