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
 * -EFAULT.  Bytes up to src's first 8-byte boundary, then aligned words
 * while 8 of the n remain and none holds a zero byte, then bytes again: an
 * aligned word lies in one page, and each word read holds a byte the
 * string reaches (its first), so no page is touched that the bytewise
 * copy would not touch.  dst gets only the bytes copied. */
    .type ls_strncpy_user, @function
ls_strncpy_user:
    xor %eax, %eax
1:  cmp %rdx, %rax                  /* bytes until src + rax is aligned */
    je 9f
    lea (%rsi,%rax), %rcx
    test $7, %cl
    jz 3f
    movzbl (%rsi,%rax), %ecx
    mov %cl, (%rdi,%rax)
    test %cl, %cl
    jz 9f
    inc %rax
    jmp 1b
3:  movabs $0x0101010101010101, %r8
    movabs $0x8080808080808080, %r9
4:  mov %rdx, %rcx
    sub %rax, %rcx
    cmp $8, %rcx
    jb 6f
    mov (%rsi,%rax), %rcx
    mov %rcx, %r10                  /* a zero byte: (w - 0x01..) & ~w & 0x80.. */
    sub %r8, %r10
    mov %rcx, %r11
    not %r11
    and %r11, %r10
    and %r9, %r10
    jnz 6f                          /* the NUL is in this word: its bytes one by one */
    mov %rcx, (%rdi,%rax)
    add $8, %rax
    jmp 4b
6:  cmp %rdx, %rax
    je 9f
    movzbl (%rsi,%rax), %ecx
    mov %cl, (%rdi,%rax)
    test %cl, %cl
    jz 9f
    inc %rax
    jmp 6b
9:  ret

ls_uaccess_fixup:
    mov $-14, %rax              /* -EFAULT */
    ret
ls_uaccess_end:

    .section .note.GNU-stack, "", @progbits
