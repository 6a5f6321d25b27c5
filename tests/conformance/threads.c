/*
 * Thread conformance: threads made by a raw clone or clone3 (not glibc's
 * pthread_create or clone wrapper), as Go's runtime and test suites make
 * them: with a new stack or the caller's own, CLONE_SETTLS, the parent and
 * child tid words, CLONE_CHILD_CLEARTID's futex wake at exit, the caller's
 * registers in the child; and vfork-style CLONE_VM|CLONE_VFORK children.
 * Each case runs through libc's syscall() (a fastcall under libsubst) and
 * through a `syscall` instruction of this program's own (always trapped).
 * Every tid printed is relative, so native and guest runs print the same.
 *
 *   threads WORD           WORD ignored (the conformance runner's argument)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* long own_syscall(nr, a1..a5): glibc's syscall(), but with a `syscall`
 * instruction of this program's (libsubst never rewrites it: a trap).  As
 * glibc's, it returns with a plain `ret`: a child on a new stack returns to
 * the word at the top of that stack. */
long own_syscall(long nr, long a1, long a2, long a3, long a4, long a5);
__asm__(".text\n"
        ".globl own_syscall\n"
        "own_syscall:\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  mov %rdx, %rsi\n"
        "  mov %rcx, %rdx\n"
        "  mov %r8, %r10\n"
        "  mov %r9, %r8\n"
        "  syscall\n"
        "  ret\n");

typedef long (*syscall_fn)(long, long, long, long, long, long);
static syscall_fn via;               /* syscall or own_syscall, for the case running */

/* The raw exit of a thread: no libc, no stack. */
static void __attribute__((noreturn)) thread_exit(void)
{
    __asm__ volatile("syscall" : : "a"(SYS_exit), "D"(0) : "rcx", "r11", "memory");
    __builtin_unreachable();
}

/* What a child saw, written by the child, read after it is gone. */
static struct {
    long tid;                        /* its gettid() */
    unsigned long fs;                /* its %fs base (CLONE_SETTLS) */
    int ctid_seen;                   /* *ctid at its start (CLONE_CHILD_SETTID) */
    volatile int ran;
} seen;
static int ctid, ptid;
static unsigned long tls_block[8];   /* a TCB whose first word is itself */
static char stack[64 * 1024] __attribute__((aligned(16)));

/* The child's first function, reached by the `ret` after the call returns
 * 0 on the new stack.  It has a TLS that is not glibc's: no libc call that
 * may touch errno (gettid cannot fail). */
static void __attribute__((noreturn, no_stack_protector)) child_on_stack(void)
{
    seen.tid = via(SYS_gettid, 0, 0, 0, 0, 0);
    __asm__ volatile("mov %%fs:0, %0" : "=r"(seen.fs));
    seen.ctid_seen = __atomic_load_n(&ctid, __ATOMIC_SEQ_CST);
    __atomic_store_n(&seen.ran, 1, __ATOMIC_SEQ_CST);
    thread_exit();
}

/* Waits until the kernel clears *word and wakes it (CLONE_CHILD_CLEARTID). */
static void wait_cleared(int *word)
{
    int v;
    while ((v = __atomic_load_n(word, __ATOMIC_SEQ_CST)) != 0)
        syscall(SYS_futex, word, FUTEX_WAIT, v, 0, 0, 0);
}

/* The top of the new stack: the child `ret`s into child_on_stack. */
static unsigned long stack_top(void)
{
    unsigned long top = (unsigned long)(stack + sizeof stack - 16);
    *(unsigned long *)top = (unsigned long)child_on_stack;
    return top;
}

static void report(const char *label, long r)
{
    if (r < 0) {
        printf("%s: %s\n", label, strerrorname_np(-r));
        return;
    }
    wait_cleared(&ctid);
    printf("%s: ran %d, tid is the result %d, ptid %d, ctid set %d then cleared %d, "
           "tls %d\n", label, seen.ran, seen.tid == r, ptid == r, seen.ctid_seen == r,
           ctid == 0, seen.fs == (unsigned long)tls_block);
}

static void reset(void)
{
    memset(&seen, 0, sizeof seen);
    ptid = 0;
    ctid = -1;                       /* CLONE_CHILD_SETTID's write shows */
    tls_block[0] = (unsigned long)tls_block;
}

#define THREAD (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | \
                CLONE_SYSVSEM)
#define IDS (CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)

/* -errno or the result: glibc's syscall() sets errno, ours returns it. */
static long errno_of(long r)
{
    return via == (syscall_fn)syscall && r == -1 ? -errno : r;
}

static void clone_with_stack(const char *path)
{
    char label[64];
    reset();
    snprintf(label, sizeof label, "%s clone, new stack", path);
    report(label, errno_of(via(SYS_clone, THREAD | IDS, stack_top(), (long)&ptid, (long)&ctid,
                               (long)tls_block)));

    reset();
    struct clone_args a = {
        .flags = THREAD | IDS, .stack = (unsigned long)stack,
        .stack_size = stack_top() - (unsigned long)stack, .tls = (unsigned long)tls_block,
        .parent_tid = (unsigned long)&ptid, .child_tid = (unsigned long)&ctid,
    };
    snprintf(label, sizeof label, "%s clone3, new stack", path);
    report(label, errno_of(via(SYS_clone3, (long)&a, sizeof a, 0, 0, 0)));
}

/* A thread on the caller's own stack (stack 0), and the registers the
 * syscall ABI preserves: the child stores them before it touches memory
 * on that stack; the caller waits until it has ended (its child-tid word
 * cleared, CLONE_CHILD_CLEARTID) before it does: the child's exit is a
 * raw syscall, whose trap in the guest writes a signal frame on that
 * stack (README, known limits). */
int regs_clone_ctid;
static unsigned long regs_seen[6];
long regs_clone(syscall_fn fn, long flags);
__asm__(".text\n"
        "regs_clone:\n"
        "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
        "  mov %rsi, %rax\n"
        "  mov %rdi, %r11\n"
        "  mov $" "56" ", %edi\n"                 /* SYS_clone */
        "  mov %rax, %rsi\n"                      /* flags */
        "  xor %edx, %edx\n"                      /* no stack */
        "  xor %ecx, %ecx\n lea regs_clone_ctid(%rip), %r8\n xor %r9d, %r9d\n"
        "  mov $0x1111, %ebx\n mov $0x2222, %ebp\n mov $0x3333, %r12d\n"
        "  mov $0x4444, %r13d\n mov $0x5555, %r14d\n mov $0x6666, %r15d\n"
        "  push $0\n"                             /* the sixth argument's word, aligned */
        "  call *%r11\n"
        "  add $8, %rsp\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  mov %rbx, regs_seen(%rip)\n mov %rbp, regs_seen+8(%rip)\n"
        "  mov %r12, regs_seen+16(%rip)\n mov %r13, regs_seen+24(%rip)\n"
        "  mov %r14, regs_seen+32(%rip)\n mov %r15, regs_seen+40(%rip)\n"
        "  mov $60, %eax\n xor %edi, %edi\n syscall\n"   /* SYS_exit */
        "1:cmp $-4095, %rax\n"                   /* an error: no child to wait for */
        "  jae 2f\n"
        "3:cmpl $0, regs_clone_ctid(%rip)\n"     /* until the child has ended */
        "  je 2f\n"
        "  pause\n jmp 3b\n"
        "2:pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
        "  ret\n");

static void clone_on_own_stack(const char *path)
{
    memset(regs_seen, 0, sizeof regs_seen);
    regs_clone_ctid = 1;
    long r = regs_clone(via, THREAD | CLONE_CHILD_CLEARTID);
    printf("%s clone, caller's stack: %s, registers", path, r > 0 ? "ok" : "failed");
    for (int i = 0; i < 6; i++)
        printf(" %#lx", regs_seen[i]);
    printf("\n");
}

/* vfork-style: CLONE_VM|CLONE_VFORK, on the caller's stack; the caller
 * waits until the child exits.  The child shares the stack, so what it
 * writes there (the result) is not the caller's to read: wait for any. */
static void clone_vfork(const char *path)
{
    if (via(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0) == 0)
        own_syscall(SYS_exit_group, 7, 0, 0, 0, 0);
    int st = 0;
    long w = waitpid(-1, &st, 0);
    printf("%s clone, CLONE_VM|CLONE_VFORK: waited %d, exited %d\n", path, w > 0,
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* The error cases: CLONE_THREAD without CLONE_SIGHAND or CLONE_VM. */
static void clone_errors(const char *path)
{
    printf("%s clone, CLONE_THREAD without CLONE_SIGHAND: %s\n", path,
           strerrorname_np(-errno_of(via(SYS_clone, CLONE_VM | CLONE_THREAD, 0, 0, 0, 0))));
    printf("%s clone, CLONE_SIGHAND without CLONE_VM: %s\n", path,
           strerrorname_np(-errno_of(via(SYS_clone, CLONE_SIGHAND | CLONE_THREAD, 0, 0, 0, 0))));
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    struct { const char *name; syscall_fn fn; } paths[] = {
        {"syscall()", (syscall_fn)syscall}, {"own syscall", own_syscall},
    };
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
        via = paths[i].fn;
        clone_with_stack(paths[i].name);
        clone_on_own_stack(paths[i].name);
        clone_vfork(paths[i].name);
        clone_errors(paths[i].name);
    }
    return 0;
}
