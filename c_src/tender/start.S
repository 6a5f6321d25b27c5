/* The process entry: the host's exec of libsubst-kernel starts here, in
 * the tender (main.c), which drives the kernel's boot.  And the restorer of
 * the relay's own signal handlers. */
    .text
    .globl _start
    .type _start, @function
_start:
    xor %ebp, %ebp
    mov %rsp, %rdi              /* the host's initial stack: argc, argv, envp, auxv */
    and $-16, %rsp
    call tender_main
    hlt

    .globl tender_sigreturn
    .hidden tender_sigreturn
    .type tender_sigreturn, @function
tender_sigreturn:
    mov $15, %eax               /* __NR_rt_sigreturn */
    syscall
    hlt
