/*
 * The fastcall contract: between the guest kernel and the code the substitute
 * libc's stubs (libsubst/uklibc) jump to.
 *
 * Every guest thread's %gs base points at its struct ls_kblock.  A rewritten
 * syscall site reaches the kernel with
 *     lea -128(%rsp),%rsp      skip the red zone of the interrupted code
 *     call *%gs:0              LS_KBLOCK_ENTRY
 *     lea 128(%rsp),%rsp
 * and the entry keeps the syscall ABI: number in %rax, arguments in %rdi %rsi
 * %rdx %r10 %r8 %r9, result in %rax; %rcx and %r11 are clobbered; every other
 * general register, the flags and all vector/x87 state are preserved.
 *
 * libsubst/uklibc/stub.py builds those bytes from LS_KBLOCK_ENTRY and
 * LS_RED_ZONE, read from this header through cffi (libsubst/_build_abi.py).
 */
#ifndef LIBSUBST_FASTCALL_H
#define LIBSUBST_FASTCALL_H

#define LS_KBLOCK_ENTRY 0        /* %gs:0  address of the fastcall entry */
#define LS_KBLOCK_KSTACK 8       /* %gs:8  top of this thread's kernel stack */
#define LS_KBLOCK_KSPAN 16       /* %gs:16 bytes below it that are kernel stacks (fastcall.S) */
#define LS_KBLOCK_SELF 24        /* %gs:24 the block's own address */
#define LS_KBLOCK_SIZE 32        /* the kernel's per-thread state follows the block */
/* Bytes below %rsp that code may use without moving it (x86-64 psABI
 * 3.2.2, the red zone): a stub skips them before it calls. */
#define LS_RED_ZONE 128
/* A stub's bytes displaced after its syscall, at most (the count its
 * trailer holds: libsubst/uklibc/stub.py, c_src/kernel/signal/view.c). */
#define LS_STUB_MAX_POST 64

#ifndef __ASSEMBLER__
#include <stdint.h>
struct ls_kblock {
    uint64_t entry;
    uint64_t kstack_top;
    uint64_t kstack_span;
    uint64_t self;
};
#endif

#endif
