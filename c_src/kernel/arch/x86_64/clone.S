/* Thread creation and the jump into a new thread's guest code. */
    .text
/* long ls_host_clone(nr, a0, a1, a2, a3, a4, start): the host clone; the
 * child, on the stack a1 (its kernel stack), calls ls_thread_start(start),
 * which never returns. */
    .globl ls_host_clone
    .hidden ls_host_clone
    .type ls_host_clone, @function
ls_host_clone:
    push %r12
    mov 16(%rsp), %r12              /* start: survives the syscall in both */
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    syscall
    test %rax, %rax
    jz 1f
    pop %r12
    ret
1:  xor %ebp, %ebp
    and $-16, %rsp
    mov %r12, %rdi
    call ls_thread_start
    hlt

/* ls_resume_guest(regs): load a struct sigcontext and continue there. */
    .globl ls_resume_guest
    .hidden ls_resume_guest
    .type ls_resume_guest, @function
ls_resume_guest:
    mov 120(%rdi), %rsp             /* rsp */
    push 128(%rdi)                  /* rip */
    push 136(%rdi)                  /* eflags */
    mov 0(%rdi), %r8
    mov 8(%rdi), %r9
    mov 16(%rdi), %r10
    mov 24(%rdi), %r11
    mov 32(%rdi), %r12
    mov 40(%rdi), %r13
    mov 48(%rdi), %r14
    mov 56(%rdi), %r15
    mov 72(%rdi), %rsi
    mov 80(%rdi), %rbp
    mov 88(%rdi), %rbx
    mov 96(%rdi), %rdx
    mov 104(%rdi), %rax
    mov 112(%rdi), %rcx
    mov 64(%rdi), %rdi
    popfq
    ret

    .section .note.GNU-stack, "", @progbits
