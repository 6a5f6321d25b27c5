/*
 * The calls that wait under a signal mask of the guest's for the wait:
 * rt_sigsuspend, ppoll, pselect6, epoll_pwait, epoll_pwait2.  The host
 * makes them as the guest asked, except that a mask blocking SIGSYS is
 * replaced by a kernel copy without it, as rt_sigprocmask never blocks it:
 * a handler that runs during the wait runs under that mask, and with
 * SIGSYS blocked its first trapped call (its own rt_sigreturn, at the
 * latest) would meet a blocked SIGSYS, which Linux then forces to its
 * default action: the guest killed by SIGSYS (sigfillset, then sigsuspend,
 * is the common case).
 *
 * Any other mask, or one the kernel cannot read or of another size, is
 * the guest's own pointer: the host answers it, with Linux's errors in
 * Linux's order.
 */
#include "signal/signal.h"

/* The mask at u for the host: u itself, or k holding it without SIGSYS. */
static const sigset_t *unblock_sigsys(const sigset_t *u, unsigned long size, sigset_t *k)
{
    if (!u || size != sizeof(sigset_t) || copy_from_user(k, u, sizeof *k) < 0 ||
        !(*k & SIGBIT(SIGSYS)))
        return u;
    *k &= ~SIGBIT(SIGSYS);
    return k;
}

/* Implements rt_sigsuspend(2); differs from Linux in: SIGSYS stays unblocked. */
long sys_rt_sigsuspend(const sigset_t *mask, long size)
{
    sigset_t k;
    return host_call_blocking(__NR_rt_sigsuspend, (long)unblock_sigsys(mask, size, &k), size,
                              0, 0, 0, 0);
}

/* Implements ppoll(2); differs from Linux in: SIGSYS stays unblocked. */
long sys_ppoll(void *fds, unsigned n, void *ts, const sigset_t *mask,
               long size)
{
    sigset_t k;
    return host_call_blocking(__NR_ppoll, (long)fds, n, (long)ts,
                              (long)unblock_sigsys(mask, size, &k), size, 0);
}

/* Implements pselect6(2), whose sixth argument points to {mask pointer,
 * mask size}; differs from Linux in: SIGSYS stays unblocked. */
long sys_pselect6(int n, void *r, void *w, void *e, void *ts, const void *sig)
{
    struct {
        const sigset_t *mask;
        unsigned long size;
    } in, out;
    sigset_t k;
    const void *arg = sig;
    if (sig && copy_from_user(&in, sig, sizeof in) == 0) {
        out.mask = unblock_sigsys(in.mask, in.size, &k);
        out.size = in.size;
        if (out.mask != in.mask)
            arg = &out;
    }
    return host_call_blocking(__NR_pselect6, n, (long)r, (long)w, (long)e, (long)ts, (long)arg);
}

/* Implements epoll_pwait(2); differs from Linux in: SIGSYS stays unblocked. */
long sys_epoll_pwait(int epfd, void *events, int max, int timeout, const sigset_t *mask,
                     long size)
{
    sigset_t k;
    return host_call_blocking(__NR_epoll_pwait, epfd, (long)events, max, timeout,
                              (long)unblock_sigsys(mask, size, &k), size);
}

/* Implements epoll_pwait2(2); differs from Linux in: SIGSYS stays unblocked. */
long sys_epoll_pwait2(int epfd, void *events, int max, const void *ts,
                      const sigset_t *mask, long size)
{
    sigset_t k;
    return host_call_blocking(__NR_epoll_pwait2, epfd, (long)events, max, (long)ts,
                              (long)unblock_sigsys(mask, size, &k), size);
}
