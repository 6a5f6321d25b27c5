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
 */
#include "libsubst/fastcall.h"
#include "arch/x86_64/arch.h"
#include "syscall_table.h"
#include <asm/unistd.h>

    .text
    .globl ls_fastcall_entry, ls_fast_syscall_at
    .hidden ls_fastcall_entry, ls_fast_syscall_at
    .type ls_fastcall_entry, @function
ls_fastcall_entry:
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
    ret
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
    cmpb $0, (%rax)
    je 6b                                   /* flags the host's alone: the host's call */
4:  push %r11
    mov %rcx, %rax
    mov %rsp, %r11
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
    and $-16, %rsp
    call ls_dispatch
    mov %rbx, %rsp
    mov %gs:LS_KBLOCK_SELF, %rcx
    pop LS_KTHREAD_FAST_ARGS(%rcx)
    pop LS_KTHREAD_FAST_SP(%rcx)
    pop %rdi
    pop %rsi
    pop %rdx
    pop %r10
    pop %r8
    pop %r9
    pop %rbx
    pop %rsp
    mov %rax, %rcx
    pop %rax
    add $0x7f, %al                          /* OF = (AL == 1) */
    sahf                                    /* SF ZF AF PF CF */
    mov %rcx, %rax
    ret
3:  push %r15                               /* args[12..8] = r15 r14 r13 r12 rbp */
    push %r14
    push %r13
    push %r12
    push %rbp
    jmp 2b
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

    .section .note.GNU-stack, "", @progbits
