/*
 * The fastcall path: the substitute libc's stubs call the entry in
 * arch/x86_64/fastcall.S through %gs:0; it lands here, on the thread's
 * kernel stack, and goes through the same dispatcher as the trap path.
 */
#include "kernel.h"
#include "libsubst/fastcall.h"
#include <asm/prctl.h>

#define FAST_KSTACK_SIZE (256 * 1024UL)

void ls_fastcall_entry(void);

long ls_fastcall(long nr, const long *a)
{
    return ls_dispatch(nr, a[0], a[1], a[2], a[3], a[4], a[5], LS_PATH_FAST);
}

/* Gives the calling thread its kernel block and fastcall stack. */
long fastcall_thread_init(void)
{
    long p = hsys6(__NR_mmap, 0, FAST_KSTACK_SIZE + LS_PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p < 0 && p > -4096)
        return p;
    mm_note_kernel(p, FAST_KSTACK_SIZE + LS_PAGE);
    /* The block sits at the top page; the stack grows down below it. */
    struct ls_kblock *b = (struct ls_kblock *)(p + FAST_KSTACK_SIZE);
    b->entry = (uint64_t)ls_fastcall_entry;
    b->kstack_top = (uint64_t)b;
    b->depth = 0;
    b->self = (uint64_t)b;
    return hsys2(__NR_arch_prctl, ARCH_SET_GS, (long)b);
}
