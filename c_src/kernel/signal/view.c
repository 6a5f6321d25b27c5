/*
 * What a guest's signal handler is shown when its signal interrupted a host
 * call the kernel makes for the guest.  Linux shows a handler that
 * interrupted a system call the instruction after the program's `syscall`
 * (the `syscall` itself when the call restarts) and the program's stack;
 * programs read them (profilers, crash reporters, runtimes that preempt by
 * moving rip).  The host, which delivers the guest's signals itself, would
 * show the kernel's: its instruction and its stack.  So every handler of
 * the guest's is entered through ls_guest_signal (arch/x86_64/sigview.S),
 * and when the interrupted instruction is one of the kernel's two waiting
 * host calls, the ucontext is made the guest's before the handler sees it:
 *
 *   - fastcall.S's direct host call: the same registers, with rip the
 *     guest's site (the byte after its `syscall`, found from the stub the
 *     call returns to: libsubst/uklibc/stub.py) and rsp the guest's;
 *   - ls_blocking_call's on the trap path: the trap's own frame, which is
 *     the guest's context, every general register of it; on the fastcall
 *     path: the call's saved argument registers, rbx, the site and stack.
 *
 * rax is the host's either way (-EINTR, or the number of a call that
 * restarts), as natively.  The kernel's registers are kept per thread,
 * and the handler's sigreturn (always trapped: syscalls.TRAP_ONLY) puts
 * them back when it returns to the place it was shown, so the call goes on
 * or fails as the host decided; a handler that moved rip or rsp goes where
 * it said, leaving the call as a siglongjmp does.
 */
#include "signal/signal.h"

/* Where the two `syscall`s lie, from functions whose addresses the kernel
 * takes anyway (the .S files say why not by symbols). */
extern const int ls_fast_syscall_at, ls_blocking_syscall_at;

#define SYSCALL_LEN 2                   /* 0f 05 */

/* The byte after the guest's `syscall` that the stub returning to ret
 * stands for (libsubst/uklibc/stub.py): at ret, STUB_LEAVE (lea
 * LS_RED_ZONE(%rsp),%rsp), the K bytes displaced after the syscall, the
 * `jmp rel32` back past the window, and the trailer `ud2` K; the jump's
 * target less K.  0 for any other bytes. */
static unsigned long site_end(unsigned long ret)
{
    static const unsigned char leave[8] = {0x48, 0x8d, 0xa4, 0x24, LS_RED_ZONE, 0, 0, 0};
    unsigned char code[sizeof leave];
    if (copy_from_user(code, (const void *)ret, sizeof code) < 0 ||
        memcmp(code, leave, sizeof leave) != 0)
        return 0;
    for (unsigned k = 0; k <= LS_STUB_MAX_POST; k++) {
        unsigned long at = ret + sizeof leave + k;      /* the jump, if K is k */
        unsigned char jmp[8];                           /* e9 rel32 0f 0b K */
        int rel;
        if (copy_from_user(jmp, (const void *)at, sizeof jmp) < 0)
            return 0;
        if (jmp[0] != 0xe9 || jmp[5] != 0x0f || jmp[6] != 0x0b || jmp[7] != k)
            continue;
        memcpy(&rel, jmp + 1, sizeof rel);
        return at + 5 + rel - k;
    }
    return 0;
}

/* Keeps m's registers for the sigreturn of the handler given uc. */
static void keep(struct kthread *t, const struct ucontext *uc, const struct sigcontext *m)
{
    if (t->nviews == LS_SIGVIEWS) {     /* the oldest: a handler that never returned */
        memmove(&t->views[0], &t->views[1], sizeof t->views[0] * (LS_SIGVIEWS - 1));
        t->nviews--;
    }
    struct sigview *v = &t->views[t->nviews++];
    v->frame = uc;
    memcpy(v->real, m, sizeof v->real);
}

/* Shows the guest's site: after its `syscall`, or at it when the host
 * restarts the call (it moved rip back to the kernel's `syscall`). */
static void show_site(struct sigcontext *m, unsigned long end, int restarts, unsigned long sp)
{
    m->rip = restarts ? end - SYSCALL_LEN : end;
    m->rcx = end;                       /* where a `syscall` leaves its return */
    m->rsp = sp;
}

/* uc shown the guest's context (see above), for a handler of the guest's. */
void signal_show_guest(struct ucontext *uc)
{
    struct sigcontext *m = &uc->uc_mcontext;
    unsigned long at = m->rip, fast = (unsigned long)ls_fastcall_entry + ls_fast_syscall_at,
                  wait = (unsigned long)ls_guest_signal + ls_blocking_syscall_at;
    struct kthread *t = kcur();
    /* host_open_beneath's wait: entry.S's openat2 (ls_resolve_ip). The
     * empty asm keeps the compiler from taking the syscall's own address
     * (ls_resolve_ip - 2) as a constant: a code address taken is an entry
     * to kernel/specialize.py, which then cannot read the call's number. */
    unsigned long open_ip = (unsigned long)ls_resolve_ip;
    __asm__("" : "+r"(open_ip));
    unsigned long open_at = open_ip - SYSCALL_LEN;
    int restarts = at == wait || at == open_at;
    int waiting = at == fast || at == fast + SYSCALL_LEN || restarts || at == wait + SYSCALL_LEN ||
                  at == open_at + SYSCALL_LEN;
    /* Any other instruction of the kernel's, inside a call of the guest's
     * (a raise's own tgkill, a timer's signal meeting a call the kernel
     * serves): the call's site, as the waits show it, never restarting. */
    if (!waiting && (at < K.ktext_start || at >= K.ktext_end || (!t->uc && !t->fast_args)))
        return;
    unsigned long ret, end;
    if (at == fast || at == fast + SYSCALL_LEN) {
        /* On the guest's stack below its red zone: the stub's return. */
        if (copy_from_user(&ret, (const void *)m->rsp, sizeof ret) < 0 || !(end = site_end(ret)))
            return;
        keep(t, uc, m);
        show_site(m, end, at == fast, m->rsp + sizeof ret + LS_RED_ZONE);
    } else if (t->uc) {
        const struct sigcontext *g = &t->uc->uc_mcontext;
        keep(t, uc, m);
        unsigned long rax = m->rax;
        memcpy(m, g, sizeof t->views[0].real);
        m->rax = rax;
        if (restarts)
            m->rip -= SYSCALL_LEN;
    } else {
        /* fastcall.S's frame: the guest's stack at its saved flags, the
         * stub's return above them; the argument registers and rbx. */
        const long *a = t->fast_args;
        if (!a || copy_from_user(&ret, (const void *)(t->fast_sp + 8), sizeof ret) < 0 ||
            !(end = site_end(ret)))
            return;
        keep(t, uc, m);
        m->rdi = a[0], m->rsi = a[1], m->rdx = a[2], m->r10 = a[3], m->r8 = a[4], m->r9 = a[5];
        m->rbx = a[6];
        show_site(m, end, restarts, t->fast_sp + 16 + LS_RED_ZONE);
    }
    t->views[t->nviews - 1].shown_rip = m->rip;
    t->views[t->nviews - 1].shown_rsp = m->rsp;
}

/* The guest's handler for sig (ls_guest_signal enters it), uc shown the
 * guest's context; NULL if the signal waits (defer.c) or has the host's
 * action now: read once, as another thread may change it, SIG_DFL or
 * SIG_IGN if it did after the host took the signal, which then gets that
 * action as if it came just after, once this frame returns. */
void *signal_view(int sig, siginfo_t *si, struct ucontext *uc)
{
    if (signal_keeps(uc->uc_sigmask) && !kcur()->carried) {    /* or on its way out: after those */
        signal_defer(sig, si, uc);
        return 0;
    }
    void *handler = (void *)__atomic_load_n(&guest_act[sig].sa_handler, __ATOMIC_RELAXED);
    if (handler == SIG_DFL || handler == SIG_IGN) {
        signal_host_acts(si, handler, 0);
        return 0;
    }
    signal_show_guest(uc);
    return handler;
}

void signal_view_moved(const void *from, const void *to)
{
    struct kthread *t = kcur();
    if (t->nviews && t->views[t->nviews - 1].frame == from)
        t->views[t->nviews - 1].frame = to;
}

/* At the sigreturn of the handler given frame, m the context it returns
 * to: the kernel's registers back (but rax, the call's result) if it
 * returns where it was shown.  Views kept after it are of handlers that
 * never returned. */
void signal_view_return(const void *frame, struct sigcontext *m)
{
    struct kthread *t = kcur();
    for (unsigned i = t->nviews; i-- > 0;) {
        struct sigview *v = &t->views[i];
        if (v->frame != frame)
            continue;
        t->nviews = i;
        if (m->rip == v->shown_rip && m->rsp == v->shown_rsp) {
            unsigned long rax = m->rax;
            memcpy(m, v->real, sizeof v->real);
            m->rax = rax;
        }
        return;
    }
}
