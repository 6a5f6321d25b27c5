/*
 * The host call a kernel handler waits in for the guest (dispatch.c's
 * host_call_blocking), its `syscall` at a known place, and the host
 * handler that stands for every handler of the guest's: signal/view.c
 * shows the guest's handler the guest's own context when the signal
 * interrupted that call or fastcall.S's direct one.
 */
    .text
    .globl ls_blocking_call, ls_blocking_syscall_at, ls_guest_signal
    .hidden ls_blocking_call, ls_blocking_syscall_at, ls_guest_signal

/* long ls_blocking_call(long nr, const long a[6]): the host's answer.
 * (The arguments in an array: the specialiser follows nr from the
 * callers' registers, not through a seventh argument on the stack.) */
    .type ls_blocking_call, @function
ls_blocking_call:
    mov %rdi, %rax
    mov 16(%rsi), %rdx
    mov 24(%rsi), %r10
    mov 32(%rsi), %r8
    mov 40(%rsi), %r9
    mov (%rsi), %rdi
    mov 8(%rsi), %rsi
.Lsyscall:
    syscall
    ret
    .size ls_blocking_call, . - ls_blocking_call

/* The host runs it as the guest's handler would run: %rdi the signal,
 * %rsi its siginfo, %rdx its ucontext (for every handler on x86-64), the
 * guest's restorer at (%rsp), (%rsp + 8) 16-byte aligned.  signal_view
 * edits the ucontext and returns the handler, entered with those
 * registers, %eax 0 (Linux's, for a handler without a prototype); or, if
 * it returns NULL (the signal deferred), the host's sigreturn. */
    .type ls_guest_signal, @function
ls_guest_signal:
    push %rdi
    push %rsi
    push %rdx
    call signal_view
    pop %rdx
    pop %rsi
    pop %rdi
    test %rax, %rax
    jz 1f
    mov %rax, %r11
    xor %eax, %eax
    jmp *%r11
1:  add $8, %rsp                            /* deferred (defer.c): the frame's own */
    jmp ls_sigreturn_restorer               /* sigreturn, past the guest's restorer */
    .size ls_guest_signal, . - ls_guest_signal

/* Where ls_blocking_call's `syscall` lies, as its distance from
 * ls_guest_signal (whose address the kernel takes anyway): as fastcall.S
 * gives its own, no address inside a function the code could follow. */
    .section .rodata
    .p2align 2
ls_blocking_syscall_at:
    .long .Lsyscall - ls_guest_signal

    .section .note.GNU-stack, "", @progbits
