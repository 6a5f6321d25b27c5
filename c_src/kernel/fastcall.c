/*
 * The fastcall path: the substitute libc's stubs call the entry in
 * arch/x86_64/fastcall.S through %gs:0; it lands here, on the thread's
 * kernel stack, and goes through the same dispatcher as the trap path.
 */
#include "kernel.h"
#include "libsubst/fastcall.h"

long ls_fastcall(long nr, const long *a)
{
    return ls_dispatch(nr, a[0], a[1], a[2], a[3], a[4], a[5], LS_PATH_FAST);
}
