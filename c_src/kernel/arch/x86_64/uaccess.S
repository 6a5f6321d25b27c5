/* Copies that touch guest memory, which may be unmapped: Linux's exception
 * table in one range.  A fault (SIGSEGV, SIGBUS) at an instruction between
 * ls_uaccess_start and ls_uaccess_end resumes at ls_uaccess_fixup
 * (signal/fault.c), which returns -EFAULT to the caller.  None of these
 * functions touches the stack, so the fixup's `ret` is the function's. */
    .text
    .globl ls_uaccess_start, ls_uaccess_end, ls_uaccess_fixup, ls_copy_user, ls_strncpy_user
    .hidden ls_uaccess_start, ls_uaccess_end, ls_uaccess_fixup, ls_copy_user, ls_strncpy_user
ls_uaccess_start:

/* long ls_copy_user(void *dst, const void *src, size_t n): 0 or -EFAULT.
 * A copy shorter than 256 bytes (a struct stat, a sockaddr) goes a word
 * at a time: `rep movsb` costs more than the copy itself to start. */
    .type ls_copy_user, @function
ls_copy_user:
    mov %rdx, %rcx
    cmp $256, %rdx
    jae 3f
    shr $3, %rcx
    jz 2f
1:  mov (%rsi), %rax
    mov %rax, (%rdi)
    add $8, %rsi
    add $8, %rdi
    dec %rcx
    jnz 1b
2:  and $7, %edx
    jz 4f
5:  movzbl (%rsi), %eax
    mov %al, (%rdi)
    inc %rsi
    inc %rdi
    dec %edx
    jnz 5b
4:  xor %eax, %eax
    ret
3:  rep movsb
    xor %eax, %eax
    ret

/* long ls_strncpy_user(char *dst, const char *src, size_t n): the string's
 * length when its NUL is among the n bytes copied, n when it is not, or
 * -EFAULT. */
    .type ls_strncpy_user, @function
ls_strncpy_user:
    xor %eax, %eax
1:  cmp %rdx, %rax
    je 2f
    movzbl (%rsi,%rax), %ecx
    mov %cl, (%rdi,%rax)
    test %cl, %cl
    jz 2f
    inc %rax
    jmp 1b
2:  ret

ls_uaccess_fixup:
    mov $-14, %rax              /* -EFAULT */
    ret
ls_uaccess_end:

    .section .note.GNU-stack, "", @progbits
