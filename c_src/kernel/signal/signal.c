/*
 * Signals, trap-path edition: the guest's handlers are installed on the host
 * as the guest asked, but the kernel keeps SIGSYS (the trap path) and the
 * crash signals (for crash reports) for itself, and the guest's signal mask
 * is the one saved in the trap context, which the host restores when the
 * trap returns.  A signal that arrives while the kernel serves a call waits
 * until the call returns (defer.c); one that interrupts a host call the
 * kernel makes is shown the program's call, not the kernel's (view.c).
 */
#include "signal/signal.h"

struct sigaction guest_act[NSIG_ALL + 1];

static int is_crash_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

/* The kernel's own copies from guest memory recover from these (fault.c). */
static int is_fault_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS;
}

/* Signals whose default action ends the process (signal(7)). */
static int kills_by_default(int sig)
{
    switch (sig) {
    case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGCONT: case SIGTSTP: case SIGTTIN:
    case SIGTTOU: case SIGURG: case SIGWINCH: case SIGSYS:
        return 0;
    }
    return !is_crash_signal(sig);
}

/* Pid 1 of a pid namespace — the guest's first process, in its own — is
 * spared signals it has no handler for.  The kernel handles them for it and
 * ends it the way the default action would, as a shell would report it;
 * any other process dies by the signal itself.  ls_exit_signal keeps the
 * signal, so a debugger can tell "killed by N" from "exit 128+N". */
int ls_exit_signal;

/* Whether this process is a pid 1 the kernel ends as any other process is
 * ended: the guest's first process, unless the boot keeps Linux's init
 * rule (LS_BOOT_INIT_RULE: a container's, which the host then spares as it
 * spares any pid namespace's init). */
int ls_pid1_dies(void)
{
    return hsys0(__NR_getpid) == 1 && !(K.bi->flags & LS_BOOT_INIT_RULE);
}

/* The guest's pid 1 is its program, which a SIGKILL from any guest
 * process ends as it ends any process: neither --init's init (which Linux
 * spares, as tini) nor a container's first process (LS_BOOT_INIT_RULE). */
static int pid1_is_mortal(void)
{
    return !(K.bi->flags & (LS_BOOT_INIT | LS_BOOT_INIT_RULE));
}

/* A SIGSYS queued to pid 1 with this value (si_code SI_QUEUE) asks it to
 * die by SIGKILL: the trap handler, which pid 1 always has unblocked,
 * takes it and the guest never sees it (trap.c). */
#define KILL_PID1 0x6b696c6cL

void ls_kill_pid1(void)
{
    if (!pid1_is_mortal())
        return;
    if (hsys0(__NR_getpid) == 1)
        ls_die_by_signal(SIGKILL);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGSYS;
    si.si_code = SI_QUEUE;
    si.si_pid = hsys0(__NR_getpid);
    si.si_value.sival_ptr = (void *)KILL_PID1;
    hsys3(__NR_rt_sigqueueinfo, 1, SIGSYS, (long)&si);
}

int ls_kill_pid1_reaches(long pid)
{
    if (!pid1_is_mortal())
        return 0;
    long self = hsys0(__NR_getpid);
    if (pid == 1 || (pid == -1 && self != 1))       /* kill(-1) spares only the caller */
        return 1;
    return pid <= 0 && pid != -1 &&
           hsys1(__NR_getpgid, 1) == (pid == 0 ? hsys1(__NR_getpgid, 0) : -pid);
}

void ls_kill_pid1_asked(const siginfo_t *si)
{
    if (si->si_code == SI_QUEUE && si->si_value.sival_ptr == (void *)KILL_PID1 &&
        pid1_is_mortal() && hsys0(__NR_getpid) == 1)
        ls_die_by_signal(SIGKILL);
}

void ls_die_by_signal(int sig)
{
    if (hsys0(__NR_getpid) == 1) {
        ls_exit_signal = sig;     /* read by the gdb server at the exit stop */
        ls_exit_group(128 + sig);
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    hsys4(__NR_rt_sigaction, sig, (long)&dfl, 0, sizeof(sigset_t));
    hsys3(__NR_tgkill, hsys0(__NR_getpid), hsys0(__NR_gettid), sig);
}

static void default_action(int sig, siginfo_t *si, void *ctx)
{
    struct ucontext *uc = ctx;
    ls_die_by_signal(sig);
    uc->uc_sigmask &= ~SIGBIT(sig);  /* not init: the raised signal lands on return */
}

/* The host handler that stands for the guest's SIG_DFL, or for its handler
 * of a fault signal (fault.c delivers it): with the handler's SA_RESTART
 * (flags), so that the host restarts the call a sent one interrupts as
 * Linux would. */
static long install_default(int sig, unsigned long flags)
{
    if (is_fault_signal(sig))
        return trap_install(sig, fault_handler, !!(flags & SA_RESTART));
    if (is_crash_signal(sig))
        return trap_install(sig, crash_handler, 0);
    if (kills_by_default(sig) && ls_pid1_dies())
        return trap_install(sig, default_action, 0);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    return hsys4(__NR_rt_sigaction, sig, (long)&dfl, 0, sizeof(sigset_t));
}

void signal_init(void)
{
    for (int sig = 1; sig <= NSIG_ALL; sig++)
        hsys4(__NR_rt_sigaction, sig, 0, (long)&guest_act[sig], sizeof(sigset_t));
    for (int sig = 1; sig <= NSIG_ALL; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGSYS &&
            (guest_act[sig].sa_handler == SIG_DFL || is_fault_signal(sig)))
            install_default(sig, guest_act[sig].sa_flags);
}

/* The host's action for the guest's act: its handler entered through
 * ls_guest_signal (view.c), always with SA_SIGINFO (the host fills the
 * frame's siginfo only then, and a deferred signal is sent again with it:
 * defer.c), the unblockable never blocked. */
static void host_action(const struct sigaction *act, struct sigaction *host)
{
    *host = *act;
    host->sa_mask &= ~UNBLOCKABLE;
    if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN) {
        host->sa_handler = (__sighandler_t)(void (*)(void))ls_guest_signal;
        host->sa_flags |= SA_SIGINFO;
    }
}

void signal_rearm(int sig)
{
    struct sigaction host;
    host_action(&guest_act[sig], &host);
    hsys4(__NR_rt_sigaction, sig, (long)&host, 0, sizeof(sigset_t));
}

/* A signal whose action became h, SIG_DFL or SIG_IGN, after it came (the
 * call changed it, or another thread), given that action as Linux gives
 * it where it dequeues the signal.  Ignored (SIG_IGN, or a default that
 * ignores): dropped.  Stopping, or a crash signal's report: queued to
 * the thread on the host, which acts once its mask lets it through.
 * Ending the process: so too, and with now let through at once, before
 * any signal after it is handed over or any handler whose frame was set
 * up runs — unless the host's action is a handler again (another thread
 * changed it back: that handler would run here, where everything is
 * blocked). */
void signal_host_acts(const siginfo_t *si, __sighandler_t h, int now)
{
    int sig = si->si_signo;
    const sigset_t ignores = SIGBIT(SIGCHLD) | SIGBIT(SIGCONT) | SIGBIT(SIGURG) | SIGBIT(SIGWINCH);
    if (h == SIG_IGN || (ignores & SIGBIT(sig)))
        return;
    hsys4(__NR_rt_tgsigqueueinfo, hsys0(__NR_getpid), hsys0(__NR_gettid), sig, (long)si);
    struct sigaction host;
    if (!now || !kills_by_default(sig) ||
        hsys4(__NR_rt_sigaction, sig, 0, (long)&host, sizeof(sigset_t)) < 0 ||
        host.sa_handler == (__sighandler_t)(void (*)(void))ls_guest_signal)
        return;
    sigset_t one = SIGBIT(sig);
    hsys4(__NR_rt_sigprocmask, SIG_UNBLOCK, (long)&one, 0, sizeof one);
    hsys4(__NR_rt_sigprocmask, SIG_BLOCK, (long)&one, 0, sizeof one);
}

/* Implements rt_sigaction(2); differs from Linux in: SIGSYS is only recorded
 * (the kernel owns it), SIG_DFL for a crash signal keeps the kernel's crash
 * reporter, SIGSEGV and SIGBUS are delivered by the kernel (fault.c), and
 * for other signals SA_ONSTACK runs the handler on the host's alternate
 * stack, the thread's trap stack (see sys_sigaltstack).  The host enters
 * every other handler through ls_guest_signal (view.c). */
long sys_rt_sigaction(long sig, const struct sigaction *act, struct sigaction *oact, long size)
{
    if (size != sizeof(sigset_t))
        return -EINVAL;
    if (sig < 1 || sig > NSIG_ALL || ((sig == SIGKILL || sig == SIGSTOP) && act))
        return -EINVAL;
    struct sigaction old = guest_act[sig], in;
    if (act) {
        if (copy_from_user(&in, act, sizeof in) < 0)
            return -EFAULT;
        act = &in;
        struct sigaction host;
        host_action(&in, &host);
        long r = 0;
        if (sig == SIGSYS)
            r = 0;
        else if (act->sa_handler == SIG_DFL || is_fault_signal(sig))
            r = install_default(sig, act->sa_handler == SIG_DFL ? 0 : act->sa_flags);
        else
            r = hsys4(__NR_rt_sigaction, sig, (long)&host, 0, size);
        if (r < 0)
            return r;
        guest_act[sig] = *act;
    }
    if (oact && copy_to_user(oact, &old, sizeof old) < 0)
        return -EFAULT;
    return 0;
}

/* clone3's CLONE_CLEAR_SIGHAND, in the child: handlers back to SIG_DFL. */
void signal_clear_handlers(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig <= NSIG_ALL; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && guest_act[sig].sa_handler != SIG_DFL &&
            guest_act[sig].sa_handler != SIG_IGN)
            sys_rt_sigaction(sig, &dfl, 0, sizeof(sigset_t));
}

/* Implements rt_sigprocmask(2); differs from Linux in: SIGSYS can never be
 * blocked.  On the trap path the mask lives in the saved context. */
long sys_rt_sigprocmask(long how, const sigset_t *set, sigset_t *oset, long size)
{
    if (size != sizeof(sigset_t))
        return -EINVAL;
    struct ucontext *uc = kcur_uc();
    sigset_t cur;
    if (!uc) {
        long r = hsys4(__NR_rt_sigprocmask, SIG_BLOCK, 0, (long)&cur, size);
        if (r < 0)
            return r;
        cur = signal_guest_mask(cur);        /* less what deferral blocks (defer.c) */
    } else {
        cur = uc->uc_sigmask;
    }
    sigset_t next = cur, in;
    if (set) {
        if (copy_from_user(&in, set, sizeof in) < 0)
            return -EFAULT;
        switch (how) {
        case SIG_BLOCK:
            next = cur | in;
            break;
        case SIG_UNBLOCK:
            next = cur & ~in;
            break;
        case SIG_SETMASK:
            next = in;
            break;
        default:
            return -EINVAL;
        }
        next &= ~UNBLOCKABLE;
        long r = 0;
        if (uc) {
            uc->uc_sigmask = next;
        } else {
            sigset_t host = signal_host_mask(next);
            r = hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&host, 0, size);
        }
        if (r < 0)
            return r;
    }
    /* As Linux: the new mask holds even when oset cannot be written. */
    if (oset && copy_to_user(oset, &cur, sizeof cur) < 0)
        return -EFAULT;
    return 0;
}

/* Size of the xsave area of a signal frame, from its software-reserved bytes. */
unsigned long fpstate_size(const struct _fpstate_64 *fp)
{
    const struct _fpx_sw_bytes *sw = &fp->sw_reserved;
    if (sw->magic1 == FP_XSTATE_MAGIC1)
        return sw->xstate_size;
    return sizeof(struct _fpstate_64);
}

/* The frame's FPU state into the trap's own (at most its size). */
static long restore_fp(struct _fpstate_64 *mine, const struct _fpstate_64 *theirs)
{
    struct _fpstate_64 head;
    if (copy_from_user(&head, theirs, sizeof head) < 0)
        return -EFAULT;
    unsigned long n = fpstate_size(&head);
    if (n > fpstate_size(mine))
        n = fpstate_size(mine);
    return copy_from_user(mine, theirs, n);
}

/* Implements rt_sigreturn(2) for a guest handler that returned through its
 * own restorer (glibc's __restore_rt traps here): the frame the host built
 * for the guest's handler becomes the context the trap returns to.  The
 * frame is guest memory: one that cannot be read (the frame or the FPU
 * state it points to) raises SIGSEGV (SI_KERNEL) as a fault would, as
 * Linux's signal_fault does: the guest's handler, if it has one. */
long sys_rt_sigreturn(void)
{
    struct ucontext *uc = kcur_uc();
    if (!uc)
        return -ENOSYS;              /* syscalls.TRAP_ONLY: no frame on a fastcall */
    const struct ucontext *frame = (const struct ucontext *)uc->uc_mcontext.rsp;
    struct _fpstate_64 *mine = (struct _fpstate_64 *)uc->uc_mcontext.fpstate;
    struct sigcontext mc;
    sigset_t mask;
    if (copy_from_user(&mc, &frame->uc_mcontext, sizeof mc) < 0 ||
        copy_from_user(&mask, &frame->uc_sigmask, sizeof mask) < 0 ||
        (mine && mc.fpstate && restore_fp(mine, (const struct _fpstate_64 *)mc.fpstate) < 0)) {
        siginfo_t si = {.si_signo = SIGSEGV, .si_code = SI_KERNEL};
        fault_handler(SIGSEGV, &si, uc);
        return uc->uc_mcontext.rax;
    }
    uc->uc_mcontext = mc;
    signal_view_return(frame, &uc->uc_mcontext);
    uc->uc_mcontext.fpstate = (struct _fpstate *)mine;
    uc->uc_sigmask = signal_host_mask(mask & ~UNBLOCKABLE);   /* held ones still (defer.c) */
    return uc->uc_mcontext.rax;
}

/* Implements sigaltstack(2), per thread; differs from Linux in: SIGSEGV and
 * SIGBUS handlers run on it (fault.c delivers them) unless sent while the
 * thread is in a fastcall (then on the kernel stack below it); other SA_ONSTACK
 * handlers run on the host's alternate stack, which is the kernel's trap
 * stack, and a handler that interrupted a fastcall runs on the fast stack
 * below it.  Asked from a handler on either, sigaltstack reports that stack
 * (as Linux reports the one a handler runs on, SS_ONSTACK), so a runtime
 * that checks where its handler runs (Go's adjustSignalStack) finds it,
 * and glibc's __longjmp_chk lets such a handler jump to the guest's stack
 * (above or below it: "longjmp causes uninitialized stack frame" else). */
long sys_sigaltstack(const stack_t *ss, stack_t *old)
{
    /* The caller's stack is that of the call being served: of a trap and a
     * fastcall both under way (a handler that interrupted a trapped call
     * makes a fastcall: Go's sigtramp under SIGURG asks sigaltstack), the
     * later, whose frame lies lower (on the same stack, or the fastcall's
     * on the fast stack, above the trap stack, when the trap came later). */
    struct kthread *t = kcur();
    struct ucontext *uc = t->uc;
    int fast = t->fast_args && (!uc || (unsigned long)t->fast_args < (unsigned long)uc);
    unsigned long sp = fast || !uc ? t->fast_sp : uc->uc_mcontext.rsp;
    stack_t here;
    if (kthread_on_handler_stack(sp, &here)) {
        if (old && copy_to_user(old, &here, sizeof here) < 0)
            return -EFAULT;
        return ss ? -EPERM : 0;
    }
    stack_t *as = &kcur()->altstack, prev = *as, in;
    if (ss) {
        if (copy_from_user(&in, ss, sizeof in) < 0)
            return -EFAULT;
        if (in.ss_flags & ~(SS_DISABLE | SS_AUTODISARM))
            return -EINVAL;
        if (!(in.ss_flags & SS_DISABLE) && in.ss_size < MINSIGSTKSZ)
            return -ENOMEM;
        *as = in;
    }
    if (old && copy_to_user(old, &prev, sizeof prev) < 0)
        return -EFAULT;
    return 0;
}
