/*
 * The fastcall path: the substitute libc's stubs call the entry in
 * arch/x86_64/fastcall.S through %gs:0; it lands here, on the thread's
 * kernel stack, and goes through the same dispatcher as the trap path.
 */
#include "kernel.h"
#include "libsubst/fastcall.h"

long ls_fastcall(long nr, const long *a)
{
    /* a[7]: the guest's stack (fastcall.S), for calls that ask where the
     * guest runs (sigaltstack); a itself for a fork's child, which returns
     * to the guest through this frame; kept per nesting level. */
    struct kthread *t = kcur();
    unsigned long outer = t->fast_sp;
    long *outer_args = t->fast_args;
    t->fast_sp = a[7];
    t->fast_args = (long *)a;
    long r = ls_dispatch(nr, a[0], a[1], a[2], a[3], a[4], a[5], LS_PATH_FAST);
    t->fast_sp = outer;
    t->fast_args = outer_args;
    return r;
}
