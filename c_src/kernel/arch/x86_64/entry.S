/* The signal-return trampoline and the hand-over to the guest.  Both live
 * in kernel text, inside the region Syscall User Dispatch lets through.
 * The process entry is the tender's (c_src/tender/start.S). */
    .text
    .globl ls_sigreturn_restorer
    .hidden ls_sigreturn_restorer
    .type ls_sigreturn_restorer, @function
ls_sigreturn_restorer:
    mov $15, %eax               /* __NR_rt_sigreturn */
    syscall
    hlt

/* The guest's stack at sp, its entry in %r11, every other general register
 * zero, as the ELF ABI expects a process to start (rdx = 0: no rtld_fini). */
.macro ENTER_STATE
    mov %rsi, %rsp
    mov %rdi, %r11
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
.endm

/* ls_enter_guest(entry, sp): start the guest with a clean register file. */
    .globl ls_enter_guest
    .hidden ls_enter_guest
    .type ls_enter_guest, @function
ls_enter_guest:
    ENTER_STATE
    jmp *%r11

/* ls_sud_on(start, len): prctl(PR_SET_SYSCALL_USER_DISPATCH,
 * PR_SYS_DISPATCH_ON, start, len, 0), from the one `syscall` the seccomp
 * filter lets turn Syscall User Dispatch on: it pins start to this call's
 * return address (ls_sud_on_ip) minus a per-binary constant, so the allowed
 * region is the kernel's text wherever a hostile caller jumps in. */
    .globl ls_sud_on
    .hidden ls_sud_on
    .type ls_sud_on, @function
ls_sud_on:
    mov %rsi, %r10              /* len */
    mov %rdi, %rdx              /* start */
    mov $59, %edi               /* PR_SET_SYSCALL_USER_DISPATCH */
    mov $1, %esi                /* PR_SYS_DISPATCH_ON */
    xor %r8d, %r8d              /* no selector */
    mov $157, %eax              /* __NR_prctl */
    syscall
    .globl ls_sud_on_ip
    .hidden ls_sud_on_ip
ls_sud_on_ip:
    ret

/* ls_resolve_dir(dirfd, path): openat2(dirfd, path, &ls_resolve_how,
 * sizeof), and ls_open_ro, ls_open_rd and ls_open_nb the same with their
 * open_hows, from the one `syscall` the seccomp filter lets make openat2,
 * and only with these four open_hows: the filter pins the pointer to their places before this
 * call's return address (ls_resolve_ip), and the tender seals the text
 * that holds them (mseal), so neither the structs nor the code can change.
 * Each resolves beneath dirfd without following any symlink (ELOOP) or
 * leaving it (EXDEV); one opens a directory, O_PATH, the others a file to
 * read (the flags of the common opens: Python's, fopen's, nginx's): none
 * can create a file, nor give one a mode (a set-user-ID file on a volume). */
    .balign 8
    .globl ls_open_rd_how
    .hidden ls_open_rd_how
ls_open_rd_how:
    .quad 0                     /* flags: O_RDONLY */
    .quad 0                     /* mode */
    .quad 0x0e                  /* resolve: BENEATH | NO_SYMLINKS | NO_MAGICLINKS */
    .globl ls_open_nb_how
    .hidden ls_open_nb_how
ls_open_nb_how:
    .quad 0x800                 /* flags: O_RDONLY | O_NONBLOCK */
    .quad 0                     /* mode */
    .quad 0x0e                  /* resolve: BENEATH | NO_SYMLINKS | NO_MAGICLINKS */
    .globl ls_open_ro_how
    .hidden ls_open_ro_how
ls_open_ro_how:
    .quad 0x80000               /* flags: O_RDONLY | O_CLOEXEC */
    .quad 0                     /* mode */
    .quad 0x0e                  /* resolve: BENEATH | NO_SYMLINKS | NO_MAGICLINKS */
    .globl ls_resolve_how
    .hidden ls_resolve_how
ls_resolve_how:
    .quad 0x290000              /* flags: O_PATH | O_DIRECTORY | O_CLOEXEC */
    .quad 0                     /* mode */
    .quad 0x0e                  /* resolve: BENEATH | NO_SYMLINKS | NO_MAGICLINKS */
    .globl ls_open_ro
    .hidden ls_open_ro
    .type ls_open_ro, @function
ls_open_ro:
    lea ls_open_ro_how(%rip), %rdx
    jmp 1f
    .globl ls_open_rd
    .hidden ls_open_rd
    .type ls_open_rd, @function
ls_open_rd:
    lea ls_open_rd_how(%rip), %rdx
    jmp 1f
    .globl ls_open_nb
    .hidden ls_open_nb
    .type ls_open_nb, @function
ls_open_nb:
    lea ls_open_nb_how(%rip), %rdx
    jmp 1f
    .globl ls_resolve_dir
    .hidden ls_resolve_dir
    .type ls_resolve_dir, @function
ls_resolve_dir:
    lea ls_resolve_how(%rip), %rdx
1:  mov $24, %r10d              /* sizeof(struct open_how) */
    mov $437, %eax              /* __NR_openat2 */
    syscall
    .globl ls_resolve_ip
    .hidden ls_resolve_ip
ls_resolve_ip:
    ret

/* ls_enter_guest_stopped(entry, sp): the same, but stop on an int3 just
 * before the jump, every register as the program will get it but %r11,
 * which holds the entry: the debugger attached to the guest (--gdb) moves
 * %rip there, so the program's first instruction is where gdb starts. */
    .globl ls_enter_guest_stopped
    .hidden ls_enter_guest_stopped
    .type ls_enter_guest_stopped, @function
ls_enter_guest_stopped:
    ENTER_STATE
    .globl ls_debug_stop
    .hidden ls_debug_stop
ls_debug_stop:
    int3
    jmp *%r11

    .section .note.GNU-stack, "", @progbits
