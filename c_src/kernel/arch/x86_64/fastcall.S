/*
 * The fastcall entry (contract: c_src/include/libsubst/fastcall.h).
 *
 * Saves the arithmetic flags (lahf/seto, restored with sahf and an add that
 * rebuilds OF: cheaper than pushfq/popfq, whose popfq is microcoded), then
 * switches to the thread's kernel stack unless %rsp is already on one of the
 * thread's kernel stacks (a guest handler the host runs inside the kernel,
 * on the fast stack below the call it interrupted or on the trap stack,
 * stays where it is), saves what the
 * syscall ABI preserves and calls ls_dispatch(nr, args, LS_PATH_FAST).
 * Meanwhile the thread's fast_sp is args[7], the guest's stack, for calls
 * that ask where the guest runs (sigaltstack), and fast_args is args, for
 * a fork's child, which returns to the guest through this frame; the
 * values of an outer fastcall wait on the kernel stack.
 *
 * clone and clone3 also save the registers the C code below would keep
 * only somewhere on its own stack (rbp, r12-r15, args[8..12]): a new thread
 * made there starts in the guest with all of the caller's registers
 * (proc/thread.c).  Two predicted compares on every other call.
 *
 * Where %rsp is, not a count of calls in progress, tells a nested call: a
 * handler on a guest stack (its sigaltstack) that interrupted a call, or a
 * siglongjmp out of a handler that left one unfinished, would leave a count
 * raised while the guest runs on its own, maybe small, stack.  A handler
 * that interrupts the entry before the switch or the exit after it is on
 * the guest's stack and takes the kernel stack from its top: no kernel
 * frame is live there then.  DF is clear on entry as the psABI
 * guarantees at every call, and libc's syscall sites are inside functions.
 *
 * A call the host serves unchanged (ls_fast_direct[nr], dispatch.c; a read
 * and its kin when their fd is not a window of the packed image) is made
 * here, on the guest's stack, as the guest's own `syscall` would be: the
 * host keeps the flags across it and a signal meets the guest's stack, and
 * no C frame lies between the host and the guest, whose return the host's
 * entry and exit leave unpredicted (a mispredicted `ret` per frame).  A
 * guest handler that interrupts it is shown the guest's call site and stack
 * (signal/view.c).
 *
 * A signal whose handler is the guest's that arrives while ls_dispatch
 * runs is deferred (signal/defer.c) and delivered on the way out, before
 * the frame is left: a handler's own calls never meet kernel state (a
 * lock, the fd table, a path walk) that the call it interrupted left half
 * done.  Two stores and a predicted compare per call.
 *
 * Its unwind information (a debugger's backtrace: docs in README,
 * "Debugging with gdb") names as its caller the guest's site, not the
 * stub: the byte after the `syscall` the stub stands for, as view.c finds
 * it, with the guest's %rsp there (the CFA) and its rbx and argument
 * registers from their slots while ls_dispatch runs; the guest's own
 * unwind tables take over from that site.  The stubs, appended to the
 * substitute, have none, and a debugger reads the original library.
 */
#include "libsubst/fastcall.h"
#include "arch/x86_64/arch.h"
#include "syscall_table.h"
#include <asm/unistd.h>

/* The guest's %rsp at its site, less the entry's %rsp at the stub's call:
 * the red zone the stub skipped and the return address. */
#define GUEST_SP (LS_RED_ZONE + 8)

/* DWARF (DWARF 5, 6.4.2 call frame instructions; 2.5 expressions). */
#define DW_CFA_def_cfa_expression 0x0f
#define DW_CFA_expression 0x10
#define DW_CFA_val_expression 0x16
#define DW_OP_deref 0x06
#define DW_OP_const1u 0x08
#define DW_OP_const2u 0x0a
#define DW_OP_const4u 0x0c
#define DW_OP_const8u 0x0e
#define DW_OP_dup 0x12
#define DW_OP_drop 0x13
#define DW_OP_over 0x14
#define DW_OP_pick 0x15
#define DW_OP_swap 0x16
#define DW_OP_and 0x1a
#define DW_OP_minus 0x1c
#define DW_OP_plus 0x22
#define DW_OP_plus_uconst 0x23
#define DW_OP_xor 0x27
#define DW_OP_bra 0x28
#define DW_OP_eq 0x29
#define DW_OP_lt 0x2d
#define DW_OP_ne 0x2e
#define DW_OP_skip 0x2f
#define DW_OP_lit0 0x30
#define DW_OP_breg_rbx 0x73
#define DW_OP_breg_rsp 0x77
#define DW_OP_deref_size 0x94
#define DW_REG_RA 16

/* At the entry: the CFA is the guest's %rsp at its site, and the return
 * address the site's end, computed from the stub's return at CFA -
 * GUEST_SP as view.c's site_end does: STUB_LEAVE there, then for the K
 * (0..LS_STUB_MAX_POST) whose trailer `0f 0b K` lies at ret + 13 + K,
 * the jump's rel32 at ret + 9 + K gives ret + 13 + rel32.  Any other
 * return address is left as it is. */
.macro SITE_RA
    .cfi_escape DW_CFA_val_expression, DW_REG_RA, 81
    .cfi_escape DW_OP_const1u, GUEST_SP, DW_OP_minus, DW_OP_deref            /* ret */
    .cfi_escape DW_OP_dup, DW_OP_deref, DW_OP_const8u                       /* STUB_LEAVE? */
    .cfi_escape 0x48, 0x8d, 0xa4, 0x24, LS_RED_ZONE, 0, 0, 0
    .cfi_escape DW_OP_ne, DW_OP_bra, 62, 0                                  /* no: ret */
    .cfi_escape DW_OP_lit0                                                  /* ret K */
    .cfi_escape DW_OP_over, DW_OP_over, DW_OP_plus                          /* ret K ret+K */
    .cfi_escape DW_OP_dup, DW_OP_plus_uconst, 13, DW_OP_deref_size, 2
    .cfi_escape DW_OP_const2u, 0x0f, 0x0b, DW_OP_eq                         /* ud2 there? */
    .cfi_escape DW_OP_swap, DW_OP_plus_uconst, 15, DW_OP_deref_size, 1
    .cfi_escape DW_OP_pick, 2, DW_OP_eq, DW_OP_and                          /* and K after? */
    .cfi_escape DW_OP_bra, 13, 0                                            /* found */
    .cfi_escape DW_OP_plus_uconst, 1, DW_OP_dup, DW_OP_const1u, LS_STUB_MAX_POST + 1
    .cfi_escape DW_OP_lt, DW_OP_bra, 0xdf, 0xff                             /* next K */
    .cfi_escape DW_OP_drop, DW_OP_skip, 24, 0                               /* none: ret */
    .cfi_escape DW_OP_over, DW_OP_over, DW_OP_plus, DW_OP_plus_uconst, 9
    .cfi_escape DW_OP_deref_size, 4                                         /* rel32 */
    .cfi_escape DW_OP_const4u, 0, 0, 0, 0x80, DW_OP_xor
    .cfi_escape DW_OP_const4u, 0, 0, 0, 0x80, DW_OP_minus                   /* signed */
    .cfi_escape DW_OP_swap, DW_OP_drop, DW_OP_plus, DW_OP_plus_uconst, 13
.endm

/* While ls_dispatch runs, %rbx holds the frame below: the guest's stack
 * (at its saved flags) at 72(%rbx), its rbx at 64, its arguments from 16.
 * That stretch is an FDE of its own marked as a signal frame, which gdb
 * shows as "<signal handler called>": the kernel's frames are on the
 * kernel's stack, the program's on its own, and gdb takes a caller's
 * frame at a lower address for a corrupt stack unless a signal frame lies
 * between them (as on a sigaltstack). */
.macro DISPATCH_CFI
    .cfi_endproc
    .cfi_startproc
    .cfi_signal_frame
    SITE_RA
    .cfi_escape DW_CFA_def_cfa_expression, 7, DW_OP_breg_rbx, 0xc8, 0, DW_OP_deref
    .cfi_escape DW_OP_plus_uconst, (GUEST_SP + 8) & 0x7f | 0x80, (GUEST_SP + 8) >> 7
    .cfi_escape DW_CFA_expression, 3, 3, DW_OP_breg_rbx, 0xc0, 0                /* rbx */
    .cfi_escape DW_CFA_expression, 5, 2, DW_OP_breg_rbx, 16                     /* rdi */
    .cfi_escape DW_CFA_expression, 4, 2, DW_OP_breg_rbx, 24                     /* rsi */
    .cfi_escape DW_CFA_expression, 1, 2, DW_OP_breg_rbx, 32                     /* rdx */
    .cfi_escape DW_CFA_expression, 10, 2, DW_OP_breg_rbx, 40                    /* r10 */
    .cfi_escape DW_CFA_expression, 8, 2, DW_OP_breg_rbx, 48                     /* r8 */
    .cfi_escape DW_CFA_expression, 9, 2, DW_OP_breg_rbx, 56                     /* r9 */
.endm

    .text
    .globl ls_fastcall_entry, ls_fast_syscall_at, ls_fast_returns_at
    .hidden ls_fastcall_entry, ls_fast_syscall_at, ls_fast_returns_at
    .type ls_fastcall_entry, @function
ls_fastcall_entry:
    .cfi_startproc
    .cfi_def_cfa_offset GUEST_SP
    SITE_RA
    mov %rax, %rcx                          /* rcx and r11 are the ABI's scratch */
    lahf                                    /* AH = SF ZF AF PF CF */
    seto %al                                /* AL = OF */
    mov %rax, %r11
    cmp $LS_NR_SYSCALLS, %rcx
    jae 4f
    lea ls_fast_direct(%rip), %rax
    movzbl (%rax,%rcx), %eax
    cmp $LS_DIRECT_HOST, %eax
    jne 5f
6:  mov %r11, %rax
    add $0x7f, %al                          /* OF = (AL == 1) */
    sahf                                    /* SF ZF AF PF CF */
    mov %rcx, %rax
.Lhost_syscall:                             /* signal/view.c: ls_fast_syscall_at */
    syscall
.Lhost_return:
    nop                                     /* where a waiting thread stops: not on a `ret`, */
    ret                                     /* which gdb's epilogue unwinder would claim */
5:  test %eax, %eax
    je 4f
    cmp $LS_DIRECT_KEPT, %eax
    je 8f
    cmp $LS_DIRECT_FD0, %eax
    mov %edi, %eax                          /* the fd as the handler's int, zero-extended: */
    je 7f                                   /* a negative one is past fs_based_len too */
    mov %esi, %eax
7:  cmp fs_based_len(%rip), %rax
    jae 6b
    add fs_based(%rip), %rax
    cmpb $0, (%rax)
    je 6b                                   /* not a window: the host's call, as its handler */
    jmp 4f
8:  mov %edi, %eax                          /* a negative fd or the kernel's is past the end: */
    cmp fs_kept_len(%rip), %rax             /* its handler says EBADF */
    jae 4f
    add fs_kept(%rip), %rax
    testb $LS_KEPT_FL, (%rax)
    je 6b                                   /* flags the host's alone: the host's call */
4:  push %r11
    .cfi_adjust_cfa_offset 8
    mov %rcx, %rax
    mov %rsp, %r11
    .cfi_def_cfa %r11, GUEST_SP + 8         /* the guest's stack, at its saved flags */
    mov %gs:LS_KBLOCK_KSTACK, %rcx
    sub %rsp, %rcx                          /* below the top by less than the span: */
    cmp %gs:LS_KBLOCK_KSPAN, %rcx           /* already on a kernel stack */
    jb 1f
    mov %gs:LS_KBLOCK_KSTACK, %rsp
1:  cmp $__NR_clone, %eax
    je 3f
    cmp $__NR_clone3, %eax
    je 3f
2:  push %r11                               /* the guest's stack, at its saved flags */
    push %rbx
    push %r9
    push %r8
    push %r10
    push %rdx
    push %rsi
    push %rdi                               /* args[0..5] = rdi rsi rdx r10 r8 r9 */
    mov %rsp, %rsi
    mov %rax, %rdi
    mov %gs:LS_KBLOCK_SELF, %rcx            /* the thread's fastcall, kept per nesting level */
    push LS_KTHREAD_FAST_SP(%rcx)
    push LS_KTHREAD_FAST_ARGS(%rcx)
    mov 56(%rsi), %rdx
    mov %rdx, LS_KTHREAD_FAST_SP(%rcx)
    mov %rsi, LS_KTHREAD_FAST_ARGS(%rcx)
    mov $LS_PATH_FAST, %edx
    mov %rsp, %rbx
    DISPATCH_CFI
    and $-16, %rsp
    movq $1, %gs:LS_KTHREAD_IN_KERNEL       /* a guest handler's signal waits (defer.c) */
    call ls_dispatch
    mov %rbx, %rsp
    movq $0, %gs:LS_KTHREAD_IN_KERNEL
    cmpq $0, %gs:LS_KTHREAD_DEFERRED        /* one came meanwhile: delivered now, */
    je 9f                                   /* as Linux delivers on the way out */
    push %rax
    and $-16, %rsp
    call signal_deliver_deferred
    mov -8(%rbx), %rax
    mov %rbx, %rsp
9:  mov %gs:LS_KBLOCK_SELF, %rcx
    pop LS_KTHREAD_FAST_ARGS(%rcx)
    pop LS_KTHREAD_FAST_SP(%rcx)
    pop %rdi
    pop %rsi
    pop %rdx
    pop %r10
    pop %r8
    pop %r9
    pop %rbx
    .cfi_escape DW_CFA_def_cfa_expression, 6, DW_OP_breg_rsp, 0, DW_OP_deref, DW_OP_plus_uconst
    .cfi_escape (GUEST_SP + 8) & 0x7f | 0x80, (GUEST_SP + 8) >> 7
    .cfi_restore %rbx                       /* CFA: *(%rsp) + GUEST_SP + 8, rbx the guest's */
    .cfi_restore %rdi
    .cfi_restore %rsi
    .cfi_restore %rdx
    .cfi_restore %r10
    .cfi_restore %r8
    .cfi_restore %r9
    pop %rsp
    .cfi_endproc                            /* the guest's stack again: a frame as at the entry */
    .cfi_startproc
    .cfi_def_cfa %rsp, GUEST_SP + 8
    SITE_RA
    mov %rax, %rcx
    pop %rax
    .cfi_def_cfa_offset GUEST_SP
    add $0x7f, %al                          /* OF = (AL == 1) */
    sahf                                    /* SF ZF AF PF CF */
    mov %rcx, %rax
.Lreturn:
    nop                                     /* as .Lhost_return: the result in rax */
    ret
    .cfi_def_cfa %r11, GUEST_SP + 8         /* 3: is reached with the guest's stack in r11 */
3:  push %r15                               /* args[12..8] = r15 r14 r13 r12 rbp */
    push %r14
    push %r13
    push %r12
    push %rbp
    jmp 2b
    .cfi_endproc
    .size ls_fastcall_entry, . - ls_fastcall_entry

/* Where the direct host call's `syscall` lies, as its distance from the
 * entry: a symbol there would read as a function of its own to the
 * specialiser's disassembly (libsubst/kernel/specialize.py), and so would
 * an address in code taken anywhere, or a word that reads as a jump
 * table's (one relative to itself). */
    .section .rodata
    .p2align 2
ls_fast_syscall_at:
    .long .Lhost_syscall - ls_fastcall_entry
/* The `nop` before each `ret` to the guest, the same way: the gdb
 * server's `catch syscall` stops a call's return there, with its result
 * in rax (libsubst/debug/catch.py), as it stops its entry at the entry's
 * first instruction (`mov %rax, %rcx`). */
ls_fast_returns_at:
    .long .Lhost_return - ls_fastcall_entry, .Lreturn - ls_fastcall_entry

    .section .note.GNU-stack, "", @progbits
