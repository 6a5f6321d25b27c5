/*
 * Guest threads.  Each host thread of the guest has its kernel state (struct
 * kthread, at %gs), a fastcall stack and a trap stack, and its own Syscall
 * User Dispatch, which clone does not inherit.  A new thread starts inside
 * the kernel on its own kernel stack (arch/x86_64/clone.S), arms itself,
 * then resumes the guest where the parent made the call (a trap or a
 * fastcall), with the parent's registers, rax = 0 and the stack it asked
 * for.
 */
#include "proc/proc.h"
#include "fs/fs.h"
#include "mm/mm.h"
#include "proc/ptable.h"
#include "signal/signal.h"
#include <asm/prctl.h>
#include <linux/prctl.h>
#include <linux/sched.h>

/* A guest handler can run on either: a signal sent while the thread is in a
 * fastcall (a raise) runs its handler below that call on the fast stack, an
 * SA_ONSTACK one on the trap stack, and each nested one (SA_NODEFER, a
 * handler that raises or faults again) a few KiB further down, the host's
 * frame and FPU state included.  2 MiB each, some 600 such levels, reserved
 * and not committed: the pages a thread never reaches cost nothing, and a
 * thread's address space (RLIMIT_AS, strict overcommit) grows by 4 MiB, not
 * by the 16 that a main stack's 8 MiB each would take. */
#define TRAP_STACK (2 * 1024 * 1024UL)
#define FAST_STACK (2 * 1024 * 1024UL)
/* [guard][trap stack][guard][fast stack][struct kthread] */
#define MAP_LEN (LS_PAGE + TRAP_STACK + LS_PAGE + FAST_STACK + LS_PAGE)
_Static_assert(sizeof(struct kthread) <= LS_PAGE, "a thread's state is its mapping's last page");


/* What a new thread needs from its parent. */
struct thread_start {
    struct sigcontext regs;          /* the parent's registers at the call */
    sigset_t mask;                   /* the guest's signal mask at the call */
    unsigned long sp;                /* the new thread's stack pointer */
    struct kthread *t;               /* its kernel state, found by the parent */
};

static int nthreads = 1;             /* guest threads alive: the last exit ends the guest */
static struct kthread *free_threads; /* exited threads, their stacks reusable once gone */
static int free_lock;

/* An exited thread's state, once the host has really ended the thread. */
static struct kthread *reuse_exited(void)
{
    long pid = hsys0(__NR_getpid);
    kspin_lock(&free_lock);
    struct kthread **pp = &free_threads, *t;
    while ((t = *pp) && hsys3(__NR_tgkill, pid, t->tid, 0) != -ESRCH)
        pp = &t->next_free;
    if (t)
        *pp = t->next_free;
    kspin_unlock(&free_lock);
    return t;
}

/* A thread's kernel state: an exited thread's, or fresh stacks; NULL if
 * the host has no memory for them. */
static struct kthread *kthread_get(void)
{
    struct kthread *t = reuse_exited();
    if (!t) {
        long p = hsys6(__NR_mmap, 0, MAP_LEN, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
        if (p < 0 && p > -4096)
            return 0;
        hsys3(__NR_mprotect, p, LS_PAGE, PROT_NONE);
        hsys3(__NR_mprotect, p + LS_PAGE + TRAP_STACK, LS_PAGE, PROT_NONE);
        mm_note_kernel(p, MAP_LEN);
        t = (struct kthread *)(p + MAP_LEN - LS_PAGE);
        t->map = p;
        t->map_len = MAP_LEN;
    }
    return t;
}

/* Back on the free list, for a thread that never started. */
static void kthread_unget(struct kthread *t)
{
    t->tid = 0x7fffffff;             /* above any pid_max: "gone" to reuse_exited */
    kspin_lock(&free_lock);
    t->next_free = free_threads;
    free_threads = t;
    kspin_unlock(&free_lock);
}

/* Makes t the calling thread's kernel state (%gs, trap stack). */
static long kthread_install(struct kthread *t)
{
    t->blk.entry = (uint64_t)ls_fastcall_entry;
    t->blk.kstack_top = (uint64_t)t;
    t->blk.kstack_span = t->map_len - LS_PAGE;  /* both stacks and their guards */
    t->blk.self = (uint64_t)t;
    t->uc = 0;
    t->tid = hsys0(__NR_gettid);
    t->next_free = 0;
    t->altstack = (stack_t){.ss_flags = SS_DISABLE};
    t->relink = 0;
    t->relink_from = 0;
    t->nviews = 0;
    t->in_kernel = 0;
    t->deferred = t->held = 0;
    t->ndeferred = 0;
    t->carried = 0;
    stack_t ss = {.ss_sp = (void *)(t->map + LS_PAGE), .ss_size = TRAP_STACK, .ss_flags = 0};
    long r = hsys2(__NR_sigaltstack, (long)&ss, 0);
    if (r < 0)
        return r;
    return hsys2(__NR_arch_prctl, ARCH_SET_GS, (long)t);
}

/* Whether sp is on the stack [lo, lo + size); if so, *ss describes it. */
static int on_stack(unsigned long sp, unsigned long lo, unsigned long size, stack_t *ss)
{
    if (sp <= lo || sp > lo + size)
        return 0;
    *ss = (stack_t){.ss_sp = (void *)lo, .ss_size = size, .ss_flags = SS_ONSTACK};
    return 1;
}

int kthread_on_trap_stack(unsigned long sp, stack_t *ss)
{
    return on_stack(sp, kcur()->map + LS_PAGE, TRAP_STACK, ss);
}

int kthread_on_handler_stack(unsigned long sp, stack_t *ss)
{
    return kthread_on_trap_stack(sp, ss) ||
           on_stack(sp, kcur()->map + LS_PAGE + TRAP_STACK + LS_PAGE, FAST_STACK, ss);
}

long kthread_init_current(void)
{
    struct kthread *t = kthread_get();
    return t ? kthread_install(t) : -ENOMEM;
}

long kthread_enable_trap(void)
{
    /* A benchmark's boot without the sandbox and without the trap (never
     * after an execve, whose boot info the guest writes). */
    uint32_t off = LS_BOOT_NO_TRAP | LS_BOOT_NO_POLICY;
    if ((K.bi->flags & (off | LS_BOOT_EXECED)) == off)
        return 0;
    return ls_sud_on(K.ktext_start, K.ktext_end - K.ktext_start);
}

/* The new thread, on its kernel stack, before it has its own %gs. */
void __attribute__((noreturn)) ls_thread_start(struct thread_start *ts)
{
    struct sigcontext regs = ts->regs;
    sigset_t mask = ts->mask;
    /* The parent found the memory (clone answers ENOMEM otherwise); what is
     * left cannot fail on a host that booted this kernel.  If it does, the
     * new thread ends at once (its joiner sees it exit), never the guest. */
    struct kthread *t = ts->t;
    kfree(ts);
    if (kthread_install(t) < 0 || kthread_enable_trap() < 0) {
        kwarn("a new thread could not arm its trap: it ends");
        __atomic_sub_fetch(&nthreads, 1, __ATOMIC_SEQ_CST);
        t->tid = hsys0(__NR_gettid);     /* reusable once the host has ended it */
        kspin_lock(&free_lock);
        t->next_free = free_threads;
        free_threads = t;
        kspin_unlock(&free_lock);
        for (;;)
            hsys1(__NR_exit, 0);
    }
    regs.rax = 0;
    /* The host made this thread with every signal blocked (start_thread):
     * give it the guest's mask. */
    hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&mask, 0, sizeof mask);
    ls_resume_guest(&regs);
}

/* The guest's registers at a clone that came by a fastcall, as the guest
 * has them once the stub's call returns: the entry saved the argument
 * registers, rbx and (for clone and clone3 only) rbp and r12-r15; args[7] is
 * the guest's stack at its saved flags, under the stub's return address
 * (fastcall.S).  Returns -EFAULT if the guest unmapped that stack. */
static long fast_regs(struct sigcontext *regs)
{
    const long *a = kcur()->fast_args;
    unsigned long word[2];               /* the saved flags, the stub's return */
    if (copy_from_user(word, (void *)a[7], sizeof word) < 0)
        return -EFAULT;
    memset(regs, 0, sizeof *regs);
    regs->rdi = a[0], regs->rsi = a[1], regs->rdx = a[2];
    regs->r10 = a[3], regs->r8 = a[4], regs->r9 = a[5], regs->rbx = a[6];
    regs->rbp = a[8], regs->r12 = a[9], regs->r13 = a[10], regs->r14 = a[11];
    regs->r15 = a[12];
    regs->rsp = a[7] + 16;
    regs->rip = word[1];
    /* lahf's AH is the low byte of RFLAGS; AL is OF (bit 11); bit 1 and IF
     * are always set in user mode. */
    regs->eflags = (word[0] >> 8 & 0xd5) | (word[0] & 1 ? 0x800 : 0) | 0x202;
    return 0;
}

/* A new thread in this guest (CLONE_VM|CLONE_THREAD), by a trap or a
 * fastcall.  It starts with the caller's registers, rax = 0, on the stack
 * sp (the caller's own when sp is 0, as Linux).  On a fastcall the stack
 * it resumes on is 128 bytes under sp: the stub skips the red zone back. */
static long start_thread(long nr, long a0, long a2, long a3, long a4, unsigned long sp)
{
    struct ucontext *uc = kcur_uc();
    struct thread_start *ts = kmalloc(sizeof *ts);
    if (!ts)
        return -ENOMEM;
    if (uc) {
        ts->regs = uc->uc_mcontext;
        ts->mask = uc->uc_sigmask;
    } else if (fast_regs(&ts->regs) < 0 ||
               hsys4(__NR_rt_sigprocmask, SIG_BLOCK, 0, (long)&ts->mask, sizeof ts->mask) < 0) {
        kfree(ts);
        return -EFAULT;
    } else {
        ts->mask &= ~kcur()->held;       /* blocked by signal/defer.c, not the guest */
    }
    if (sp)
        ts->regs.rsp = uc ? sp : sp - LS_RED_ZONE;
    if (!(ts->t = kthread_get())) {
        kfree(ts);
        return -ENOMEM;
    }
    /* The child starts on its own kernel stack, with the parent's %gs
     * until it installs its own: no signal may reach it before.  A trap
     * runs with every signal blocked already; a fastcall with the guest's. */
    sigset_t all = ~0UL;
    if (!uc)
        hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&all, 0, sizeof all);
    __atomic_add_fetch(&nthreads, 1, __ATOMIC_SEQ_CST);
    long r = ls_host_clone(nr, a0, (long)ts->t, a2, a3, a4, ts);
    if (!uc)
        hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&ts->mask, 0, sizeof all);
    if (r < 0) {
        __atomic_sub_fetch(&nthreads, 1, __ATOMIC_SEQ_CST);
        kthread_unget(ts->t);
        kfree(ts);
    }
    return r;
}


/* The child of a process clone: one thread, which was inside the kernel,
 * serving a trap (uc) or a fastcall. */
static void after_fork_child(struct ucontext *uc, unsigned long sp, int slot)
{
    kmalloc_after_fork();
    mm_after_fork();
    pid_after_fork();
    fs_fork_child();
    ptable_after_fork(slot);
    nthreads = 1;
    free_threads = 0;            /* other threads' stacks: gone with the threads */
    free_lock = 0;
    signal_defer_forget();
    struct kthread *t = kcur();
    t->tid = hsys0(__NR_gettid);
    kthread_enable_trap();
    if (!sp)
        return;
    if (uc) {
        uc->uc_mcontext.rsp = sp;    /* the child continues on the stack it asked for */
        return;
    }
    /* A fastcall returns through the guest's stack: its saved flags, then
     * the stub's return address, 128 bytes (the red zone the stub skips)
     * below the stack pointer it had (uklibc/stub.py).  Move both below sp,
     * so the stub leaves with %rsp = sp, as after a `syscall`. */
    unsigned long *old = (unsigned long *)t->fast_args[7];
    unsigned long *frame = (unsigned long *)(sp - 128 - 16);
    unsigned long word[2] = {old[0], old[1]};
    if (copy_to_user(frame, word, sizeof word) == 0)
        t->fast_args[7] = (long)frame;
}

/* The checks of Linux's copy_process that come before the seccomp filter
 * would see the flags (it refuses new namespaces with EPERM). */
static long clone_check(unsigned long flags)
{
    if ((flags & (CLONE_NEWNS | CLONE_FS)) == (CLONE_NEWNS | CLONE_FS) ||
        (flags & (CLONE_NEWUSER | CLONE_FS)) == (CLONE_NEWUSER | CLONE_FS) ||
        ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND)) ||
        ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM)))
        return -EINVAL;
    return 0;
}

/* A new process: a host fork of the whole guest.  The host clone is made
 * without a stack, so the child returns through this very trap (or
 * fastcall: libc's syscall() is rewritten) on a copy of the kernel's stack,
 * then resumes the guest on the stack it asked for.
 * CLONE_VM|CLONE_VFORK (vfork, posix_spawn) becomes a copy that the parent
 * still waits for: the child must not share the parent's trap stack. */
static long start_process(long nr, unsigned long flags, long a1, long a2, long a3, long a4,
                          unsigned long sp)
{
    int slot = ptable_fork_begin();
    long r = hsys5(nr, flags, a1, a2, a3, a4);
    if (r == 0)
        after_fork_child(kcur_uc(), sp, slot);
    else
        ptable_fork_end(slot, r);
    return r;
}

/* Implements clone(2); differs from Linux in: CLONE_VM without
 * CLONE_THREAD (vfork-style) gives the child a copy of the memory, as the
 * kernel's own state (fd table, pids, mappings) lives in that memory and a
 * second process must not share it. */
long sys_clone(unsigned long flags, unsigned long sp, int *ptid, int *ctid, unsigned long tls)
{
    if (clone_check(flags) < 0)
        return -EINVAL;
    if ((flags & CLONE_VM) && (flags & CLONE_THREAD))
        return start_thread(__NR_clone, flags, (long)ptid, (long)ctid, tls, sp);
    if (flags & CLONE_THREAD)
        return -EINVAL;
    return start_process(__NR_clone, flags & ~(unsigned long)CLONE_VM, 0, (long)ptid,
                         (long)ctid, tls, sp);
}

/* Implements fork(2). */
long sys_fork(void)
{
    return start_process(__NR_clone, SIGCHLD, 0, 0, 0, 0, 0);
}

/* Implements vfork(2); differs from Linux in: the child has a copy of the
 * memory (the parent still waits until it execs or exits). */
long sys_vfork(void)
{
    return start_process(__NR_clone, CLONE_VFORK | SIGCHLD, 0, 0, 0, 0, 0);
}


/* Implements clone3(2) by the host's clone, whose flags seccomp sees (those
 * of clone3 are in memory, where the filter cannot pin them: the host's
 * clone3 is not allowed at all); differs from Linux in: set_tid,
 * CLONE_INTO_CGROUP, and CLONE_PIDFD with CLONE_PARENT_SETTID are refused
 * (EINVAL). */
long sys_clone3(struct clone_args *args, unsigned long size)
{
    if (size < CLONE_ARGS_SIZE_VER0)
        return -EINVAL;
    if (size > LS_PAGE)
        return -E2BIG;              /* as Linux: never read past a page of arguments */
    struct clone_args a;
    memset(&a, 0, sizeof a);
    if (copy_from_user(&a, args, size < sizeof a ? size : sizeof a) < 0)
        return -EFAULT;
    /* As copy_struct_from_user: a larger struct than ours must end in zeros. */
    for (unsigned long off = sizeof a; off < size; off++) {
        char c;
        if (copy_from_user(&c, (char *)args + off, 1) < 0)
            return -EFAULT;
        if (c)
            return -E2BIG;
    }
    unsigned long flags = a.flags;
    if ((flags & ~(0xffffffffUL | CLONE_CLEAR_SIGHAND)) || (flags & 0xff) || a.set_tid_size ||
        a.exit_signal > 64 || ((flags & CLONE_PIDFD) && (flags & CLONE_PARENT_SETTID)) ||
        ((flags & CLONE_CLEAR_SIGHAND) && (flags & CLONE_SIGHAND)) || clone_check(flags) < 0)
        return -EINVAL;
    unsigned long sp = a.stack ? a.stack + a.stack_size : 0;
    unsigned long cflags = (flags & 0xffffffffUL) | a.exit_signal;
    long ptid = flags & CLONE_PIDFD ? a.pidfd : a.parent_tid;
    if ((flags & CLONE_VM) && (flags & CLONE_THREAD))
        return start_thread(__NR_clone, cflags, ptid, a.child_tid, a.tls, sp);
    if (flags & CLONE_THREAD)
        return -EINVAL;
    long r = start_process(__NR_clone, cflags & ~(unsigned long)CLONE_VM, 0, ptid,
                           a.child_tid, a.tls, sp);
    if (r == 0 && (flags & CLONE_CLEAR_SIGHAND))
        signal_clear_handlers();
    return r;
}

/* Implements exit(2): ends the calling thread; the last one ends the guest. */
long sys_exit(long status)
{
    if (__atomic_sub_fetch(&nthreads, 1, __ATOMIC_SEQ_CST) == 0)
        ls_exit_group(status);
    signal_defer_exit();
    struct kthread *t = kcur();
    kspin_lock(&free_lock);
    t->next_free = free_threads;
    free_threads = t;
    kspin_unlock(&free_lock);
    for (;;)
        hsys1(__NR_exit, status);
}
