/*
 * What the kernel's x86-64 assembly and its arch C provide (arch/x86_64/):
 * entry and hand-over to the guest, the fastcall entry, clone, the signal
 * restorer, guest-memory copies, self-relocation, the time-stamp counter.
 * Host calls themselves are libsubst/hostcall.h, shared with the tender.
 */
#ifndef LS_ARCH_H
#define LS_ARCH_H

/* What fastcall.S needs of the C side (kernel.h checks the offsets): the
 * path it dispatches as, and where struct kthread keeps the fastcall being
 * served, which the entry saves and restores around each call. */
#define LS_PATH_TRAP 0
#define LS_PATH_FAST 1
#define LS_KTHREAD_FAST_SP 40
#define LS_KTHREAD_FAST_ARGS 48
/* While the kernel runs a fastcall's code that does not wait, IN_KERNEL is
 * non-zero and a guest handler's signal is deferred (signal/defer.c);
 * DEFERRED, non-zero when one was, is tested on the way out. */
#define LS_KTHREAD_IN_KERNEL 64
#define LS_KTHREAD_DEFERRED 72
/* ls_fast_direct[nr] (dispatch.c): the entry makes the host call itself
 * always, or unless the fd in the first (rdi) or second (rsi) argument is
 * one whose reads the kernel serves (its byte in fs_based, fs/fs.h), or unless
 * the first argument's fd is one whose flags the kernel keeps or none of
 * the guest's (LS_DIRECT_KEPT: its byte in fs_kept, or past it). */
#define LS_DIRECT_HOST 1
#define LS_DIRECT_FD0 2
#define LS_DIRECT_FD1 3
#define LS_DIRECT_KEPT 4
#define LS_KEPT_FL 1               /* the bit of fs_kept[fd] LS_DIRECT_KEPT tests (FD_KEPT_FL) */

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <asm/sigcontext.h>

/* The time-stamp counter: the tracer times calls with it, as a host
 * clock_gettime from the kernel is a whole host call (no vDSO here). */
static inline unsigned long rdtsc(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (unsigned long)hi << 32 | lo;
}

/* *p = new if *p == old, in one instruction, which the calling thread's
 * own signal handlers see whole.  No lock prefix, which would cost what a
 * spin lock costs: only for memory no other thread writes.  Whether it
 * stored; a compiler barrier too. */
static inline int cas_local(void **p, void *old, void *new)
{
    void *was = old;
    __asm__ volatile("cmpxchg %2, %1" : "+a"(was), "+m"(*p) : "r"(new) : "memory", "cc");
    return was == old;
}

/* reloc.c: applies the executable's own R_X86_64_RELATIVE relocations;
 * the first thing at boot, before any pointer in data is used. */
void ls_relocate_self(void);

/* entry.S: the signal return path, a restorer in kernel text so it is not
 * trapped. */
void ls_sigreturn_restorer(void);
/* entry.S: start the guest at entry with its stack at sp and a clean
 * register file; the _stopped form first stops on an int3 (--gdb). */
void ls_enter_guest(unsigned long entry, unsigned long sp) __attribute__((noreturn));
void ls_enter_guest_stopped(unsigned long entry, unsigned long sp) __attribute__((noreturn));
/* entry.S: Syscall User Dispatch on for the calling thread, allowing
 * [start, start+len); ls_sud_on_ip is its syscall's return address, which
 * the seccomp filter pins. */
long ls_sud_on(unsigned long start, unsigned long len);
extern const char ls_sud_on_ip[] __attribute__((visibility("hidden")));

/* entry.S: openat2 beneath dirfd following no symlink, of a directory
 * (O_PATH) or of a file to read (O_RDONLY | O_CLOEXEC, O_RDONLY, O_RDONLY |
 * O_NONBLOCK); ls_resolve_how and ls_open_{ro,rd,nb}_how are their
 * open_hows and ls_resolve_ip their one syscall's return address, which
 * the seccomp filter pins together. */
long ls_resolve_dir(long dirfd, const char *path);
long ls_open_ro(long dirfd, const char *path);
long ls_open_rd(long dirfd, const char *path);
long ls_open_nb(long dirfd, const char *path);
extern const char ls_resolve_how[] __attribute__((visibility("hidden")));
extern const char ls_open_rd_how[] __attribute__((visibility("hidden")));
extern const char ls_open_nb_how[] __attribute__((visibility("hidden")));
extern const char ls_open_ro_how[] __attribute__((visibility("hidden")));
extern const char ls_resolve_ip[] __attribute__((visibility("hidden")));

/* fastcall.S: where %gs:0 points (libsubst/fastcall.h). */
void ls_fastcall_entry(void);

/* clone.S: a host clone whose child starts at start on its new stack;
 * ls_resume_guest returns to the guest with the registers of regs. */
long ls_host_clone(long nr, long a0, long a1, long a2, long a3, long a4, void *start);
void ls_resume_guest(const struct sigcontext *regs) __attribute__((noreturn));

/* uaccess.S: the kernel reads and writes what a guest pointer names only
 * through these; an unmapped or protected address makes them return
 * -EFAULT instead of faulting (signal/fault.c). */
long ls_copy_user(void *dst, const void *src, size_t n);
long ls_strncpy_user(char *dst, const char *src, size_t n);

#endif /* __ASSEMBLER__ */
#endif
