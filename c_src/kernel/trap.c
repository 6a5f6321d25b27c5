/*
 * The trap path: Syscall User Dispatch turns every `syscall` outside kernel
 * text into a SIGSYS, delivered on the thread's trap stack (sigaltstack) with
 * all signals blocked; the handler serves it and returns through the
 * kernel's own restorer.  Signals that arrive meanwhile wait until it
 * returns, so the kernel is never re-entered from a trap.
 */
#include "signal/signal.h"
#include <linux/audit.h>

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    struct ucontext *uc = ctx;
    struct sigcontext *m = &uc->uc_mcontext;
    if (si->si_code != SYS_USER_DISPATCH) {
        ls_kill_pid1_asked(si);     /* a guest process's SIGKILL for pid 1 (signal.c) */
        return;             /* a SIGSYS sent with kill(2): the guest does not see it */
    }
    if (si->si_arch != AUDIT_ARCH_X86_64) {
        /* int $0x80: i386 numbers and registers, which the table does not
         * describe (i386's 20 is getpid, x86-64's writev). */
        m->rax = ls_unimplemented_i386(si->si_syscall);
        return;
    }
    struct kthread *t = kcur();
    struct ucontext *outer = t->uc;     /* a trap inside a guest handler inside a trap */
    t->uc = uc;
    const long a[6] = {m->rdi, m->rsi, m->rdx, m->r10, m->r8, m->r9};
    long r = ls_dispatch(si->si_syscall, a, LS_PATH_TRAP);
    m->rax = r;
    t->uc = outer;
}

/* Installs a kernel-owned host handler (SA_ONSTACK: runs on the trap stack);
 * restart: SA_RESTART, for the host calls its signal interrupts. */
long trap_install(int sig, void (*fn)(int, siginfo_t *, void *), int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = (__sighandler_t)(void (*)(void))fn;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER | (restart ? SA_RESTART : 0);
    sa.sa_restorer = ls_sigreturn_restorer;
    /* Everything waits but the faults: a kernel copy from a bad guest
     * pointer must reach fault.c to become EFAULT. */
    sa.sa_mask = ~((1UL << (SIGSEGV - 1)) | (1UL << (SIGBUS - 1)));
    return hsys4(__NR_rt_sigaction, sig, (long)&sa, 0, sizeof(sigset_t));
}

void trap_init(void)
{
    if (trap_install(SIGSYS, on_sigsys, 0) < 0)
        kpanic("cannot install the trap handler");
    /* SIGSYS must never be blocked in the guest: a blocked SIGSYS at a SUD
     * trap makes the host kill the process. */
    unsigned long unblock = 1UL << (SIGSYS - 1);
    hsys4(__NR_rt_sigprocmask, SIG_UNBLOCK, (long)&unblock, 0, sizeof unblock);
}
