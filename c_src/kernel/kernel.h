/*
 * The guest kernel's internal interface.
 *
 * The kernel is freestanding (no host libc), position-independent, built
 * -mgeneral-regs-only -fno-stack-protector and uses no TLS: it runs inside
 * the guest's address space on whatever %fs the program set.  Every kernel
 * function returns a value or -errno; there is no global errno.  Guest
 * pointers are used directly (one address space).
 */
#ifndef LS_KERNEL_H
#define LS_KERNEL_H

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <asm/unistd.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <asm/stat.h>
#include <linux/stat.h>
#include <linux/mman.h>
#include <asm/signal.h>
#include <linux/signal.h>
#include <asm/siginfo.h>
#include <asm/sigcontext.h>
#include <asm/ucontext.h>

#include "libsubst/bootinfo.h"
#include "libsubst/rt.h"
#include "arch/x86_64/arch.h"

typedef long ssize_t;

#define LS_PATH_MAX 4096
#define LS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LS_PAGE 4096UL
#define LS_PAGE_DOWN(x) ((unsigned long)(x) & ~(LS_PAGE - 1))
#define LS_PAGE_UP(x) (((unsigned long)(x) + LS_PAGE - 1) & ~(LS_PAGE - 1))

/* ---- global kernel state (kernel/boot.c) ---- */
struct kstate {
    /* The boot-info block's header: the block's own, mapped read-only, or
     * after a guest's execve a copy with the exec block's fds (boot.c). */
    const struct ls_bootinfo *bi;
    const char *blk;                 /* the block, as bytes (entries, mounts, strings) */
    int bi_fd;                       /* its memfd, passed on by execve */
    const char *cwd;                 /* the first working directory, a guest path */
    int cwd_host;                    /* after a guest's execve: the host's cwd was the caller's */
    const char *root;                /* after a guest's execve: the caller's root (chroot) */
    int diag_fd;                     /* kernel diagnostics (a dup of the guest's first stderr) */
    int trace_fd;                    /* trace stream, -1 if off */
    int report_fd;                   /* report channel to the monitor, -1 if none */
    int image_fd;                    /* the packed image file (kernel-reserved), -1 if none */
    unsigned long boot_ns;           /* CLOCK_MONOTONIC at the kernel's first instruction */
    unsigned long ktext_start, ktext_end;   /* kernel text: the SUD-allowed region */
    unsigned long kimg_start, kimg_end;     /* whole kernel image */
    unsigned long host_auxv[64];     /* host auxv as (type,value) pairs, AT_NULL-terminated */
    int core_fd;                     /* where a fatal signal writes a core file, -1 if none */
    int kfd_next;                    /* next free reserved kernel fd, counting down */
    uint64_t kfd_mask;               /* the reserve's kernel fds: bit i is K.nofile_limit + i */
    int nofile_limit;                /* the guest's RLIMIT_NOFILE hard cap (kernel fds lie above) */
};
extern struct kstate K;
/* The kernel's own fds: the top KFD_RESERVED of the host's RLIMIT_NOFILE,
 * whose hard limit is always the guest's plus these (boot.c, proc/misc.c).
 * Each volume's root is one (fs/volume.c), and so is each host sysfs tree:
 * a run of many (--add /usr/bin brings its programs' run-time trees) needs
 * more than 32. */
#define KFD_RESERVED 64

/* For debuggers and core files: where the auxiliary vector built for the
 * program lies (address, bytes) and the program's guest path.  Global
 * symbols of their own, so `libsubst attach` finds them in the kernel's
 * symbol table without knowing struct kstate's layout. */
extern unsigned long ls_prog_auxv[2];
extern const char *ls_prog_exe;
/* The same vector, kept in the kernel as Linux keeps mm->saved_auxv for
 * /proc/<pid>/auxv (the program's stack is its to overwrite): bytes, the
 * AT_NULL pair included. */
#define LS_AUXV_WORDS 48
extern unsigned long ls_saved_auxv[LS_AUXV_WORDS];
extern unsigned ls_saved_auxv_len;
/* The program's first stack pointer (mm->start_stack): its mapping is the
 * one maps names [stack]. */
extern unsigned long ls_start_stack;

/* What names a running program's file, for ETXTBSY (fs/open.c text_id):
 * a stub's inode in the writable root's layer, or a host file's. */
struct ktext {
    uint64_t dev, ino;                  /* ino 0: none (an image file of a read-only root) */
    uint32_t stub, pad;
};

/* What the loader builds the program's initial stack from, whoever asks
 * (boot.c, from its boot info): the ELF program's guest path, what
 * AT_EXECFN names, argc + envc strings, and the ids the auxv reports.  All
 * of it must stay valid while the program runs (ls_prog). */
struct exec_args {
    const char *exe;
    const char *execfn;
    const char *const *argv;
    const char *const *envp;
    unsigned argc, envc;
    unsigned uid, gid;
};
/* The program exec_load loaded, as it was exec'd (/proc/self/exe, comm,
 * cmdline, environ, core files). */
extern const struct exec_args *ls_prog;
/* The files of the program and its interpreter exec_load loaded. */
extern struct ktext ls_text[2];

/* ---- ports below 1024, bound by the tender's relay (net/ports.c) ---- */
extern int port_fd;                  /* this guest's end of the relay's channel, or -1 */
long port_bind(long fd, const void *addr, long len);

/* String at a boot-info string offset ("" for 0). */
static inline const char *bi_str(uint32_t off)
{
    return off ? K.blk + off : "";
}

/* Move host fd `fd` into the kernel's reserved range above the guest's
 * RLIMIT_NOFILE (close-on-exec), closing `fd`.  Returns the new fd or -errno.
 * The guest can never name, dup over or close a reserved fd. */
int kfd_hide(int fd);
/* Room for the kernel's own fds where Linux needs none (execve opens the
 * program, its interpreters and the exec block; a process at its
 * RLIMIT_NOFILE may still call it): kfd_room_begin raises the host's soft
 * limit to its hard one and returns the soft limit (or -errno), which
 * kfd_room_end restores.  Meanwhile another thread of the process may be
 * given an fd above the guest's soft limit. */
long kfd_room_begin(void);
void kfd_room_end(long soft);
/* A host call for an fd the kernel holds only while it serves a call
 * Linux serves without one (access, chdir, mkdir, stat of a volume's file):
 * made again in the kernel's room when the guest's RLIMIT_NOFILE refused
 * it (a server that set its limit to 0, as vsftpd's sessions do). */
#define KFD_ROOM_RETRY(call) ({                                 \
    long r_ = (call);                                           \
    if (r_ == -EMFILE) {                                        \
        long soft_ = kfd_room_begin();                          \
        r_ = (call);                                            \
        kfd_room_end(soft_);                                    \
    }                                                           \
    r_;                                                         \
})

/* ---- threads (proc/thread.c) ---- */
#include "libsubst/fastcall.h"

/* A guest thread's kernel state; %gs points at it (blk must come first). */
/* A guest handler shown the guest's context in place of a host call's
 * (signal/view.c): its frame, what it was shown, and the registers its
 * sigreturn resumes the call with (struct sigcontext's r8 .. eflags). */
#define LS_SIGVIEWS 4
/* Signals one fastcall defers before it blocks further ones on the host. */
#define LS_DEFERRED 8
struct sigview {
    const void *frame;
    unsigned long shown_rip, shown_rsp;
    unsigned long real[18];
};

struct kthread {
    struct ls_kblock blk;            /* the fastcall contract: entry, kernel stacks */
    struct ucontext *uc;             /* the trap being served on this thread, or NULL */
    unsigned long fast_sp;           /* the guest's stack at the fastcall being served */
    long *fast_args;                 /* its saved registers on the kernel stack (fastcall.S) */
    void *spare_node;                /* the last path walk's node, for the next (fs/path.c):
                                        on the cache line the entry has just written */
    long in_kernel;                  /* fastcall.S: serving a fastcall, not waiting in the host */
    uint64_t deferred;               /* signals held meanwhile (signal/defer.c): their bits */
    long tid;                        /* host tid */
    unsigned long map, map_len;      /* the mapping holding both stacks and this struct */
    struct kthread *next_free;       /* on the list of exited threads, for reuse */
    stack_t altstack;                /* the guest's sigaltstack: per thread, as on Linux */
    char *relink;                    /* while a call naming one path is served: where a
                                        volume's walk that leaves the volume writes the
                                        guest path it leads to (dispatch.c, fs/beneath.c) */
    const char *relink_from;         /* while it is made again with that path: the path
                                        the guest gave (execve's name for the program) */
    struct sigview views[LS_SIGVIEWS]; /* the handlers shown a guest context, newest last */
    unsigned nviews;
    unsigned ndeferred;              /* signal/defer.c: the signals held, in arrival order, */
    siginfo_t deferred_si[LS_DEFERRED];
    const long *deferred_at[LS_DEFERRED];  /* each at its fastcall's fast_args (nesting level) */
    const siginfo_t *deferred_prev[LS_DEFERRED]; /* the siginfo of the signal whose host
                                        frame was set up just before its, until it came */
    unsigned char deferred_own[LS_DEFERRED]; /* sent to the thread, not the process */
    uint64_t held;                   /* what deferral blocks on the host until the call returns */
    const siginfo_t *carried;        /* the held signal being handed to its handler (fault.c) */
    sigset_t carried_mask;           /* and the guest's mask it is delivered under */
    struct sigaction carried_act;    /* and its action, as read when it was taken */
};

_Static_assert(offsetof(struct kthread, fast_sp) == LS_KTHREAD_FAST_SP, "fastcall.S");
_Static_assert(offsetof(struct kthread, fast_args) == LS_KTHREAD_FAST_ARGS, "fastcall.S");
_Static_assert(offsetof(struct kthread, in_kernel) == LS_KTHREAD_IN_KERNEL, "fastcall.S");
_Static_assert(offsetof(struct kthread, deferred) == LS_KTHREAD_DEFERRED, "fastcall.S");

/* The calling thread's kernel state. */
static inline struct kthread *kcur(void)
{
    struct kthread *t;
    __asm__ volatile("mov %%gs:%c1, %0" : "=r"(t) : "i"(LS_KBLOCK_SELF));
    return t;
}

/* While a trapped syscall is served, the guest's saved context; NULL on
 * paths that are not a trap.  Signal-mask and sigreturn emulation edit it. */
static inline struct ucontext *kcur_uc(void)
{
    return kcur()->uc;
}

/* Whether sp is on one of the calling thread's kernel stacks (fast or trap),
 * the test the fastcall entry makes for a nested call. */
static inline int kthread_in_kstacks(unsigned long sp)
{
    struct kthread *t = kcur();
    return t->blk.kstack_top - sp < t->blk.kstack_span;
}

/* Whether the guest's stack pointer sp is on the calling thread's trap
 * stack (the host's sigaltstack): a guest handler with SA_ONSTACK runs
 * there.  If so, *ss describes that stack. */
int kthread_on_trap_stack(unsigned long sp, stack_t *ss);
/* Whether sp is on a kernel stack the host runs guest handlers on: the trap
 * stack, or the fast stack below a fastcall the signal interrupted.  If so,
 * *ss describes that stack, as SS_ONSTACK. */
int kthread_on_handler_stack(unsigned long sp, stack_t *ss);

/* Gives the calling thread its kernel state: %gs block, fastcall stack,
 * trap stack (sigaltstack).  Returns 0 or -errno. */
long kthread_init_current(void);
/* Turns on Syscall User Dispatch for the calling thread (not inherited by clone). */
long kthread_enable_trap(void);

/* ---- locks ---- */
static inline void kspin_lock(int *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static inline void kspin_unlock(int *l)
{
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* ---- library (lib/; the shared runtime is libsubst/rt.h) ---- */
/* Diagnostics: "libsubst-kernel: ..." to K.diag_fd. */
void kpanic(const char *fmt, ...) __attribute__((noreturn));
void kwarn(const char *fmt, ...);

/* Guest memory, through arch/x86_64/uaccess.S. */
static inline long copy_from_user(void *kdst, const void *usrc, size_t n)
{
    return ls_copy_user(kdst, usrc, n);
}
static inline long copy_to_user(void *udst, const void *ksrc, size_t n)
{
    return ls_copy_user(udst, ksrc, n);
}
/* A guest string into dst (n bytes): its length, -ENAMETOOLONG if it does
 * not fit with its NUL, or -EFAULT. */
static inline long strncpy_from_user(char *dst, const char *usrc, size_t n)
{
    long r = ls_strncpy_user(dst, usrc, n);
    return r == (long)n ? -ENAMETOOLONG : r;
}
/* Non-zero if a fault at rip is one of the copies above; *fixup is where it resumes. */
int uaccess_fault(unsigned long rip, unsigned long *fixup);

/* Kernel heap: never hands out memory the guest can reach by accident
 * (it is ordinary host memory in the shared address space). */
void *kmalloc(size_t n);
void *kzalloc(size_t n);
void kfree(void *p);
char *kstrdup(const char *s);
/* In a forked child: the heap's lock is free again. */
void kmalloc_after_fork(void);

/* ---- file system (fs/) ---- */
int fs_init(void);
/* Opens a guest path for the loader: a host fd (O_RDONLY, close-on-exec, in
 * the guest's fd range, the caller closes it) or -errno.  The file's bytes
 * start at offset *base of that host fd (non-zero for a packed image's file,
 * which is a window of the image: pread and mmap add *base).  When id is not
 * NULL, the file's identity goes into *id (fs/open.c text_id). */
long fs_open_exec(const char *guest_path, unsigned long *base, struct ktext *id);
/* A copy of the guest path an fd was opened by (kfree it), or NULL for fds
 * with no path. */
char *fs_fd_path(int fd);
/* Non-zero if fd is a packed image's file (a window of the image file). */
int fs_fd_is_based(long fd);
/* mmap at file offset off of such an fd: *hoff is the image offset to map,
 * *avail the file's bytes from off.  0: map the image there; 1: the file is
 * not page-aligned in the image, copy *avail bytes from *hoff; or -errno. */
long fs_mmap_window(long fd, long off, unsigned long *hoff, unsigned long *avail);
/* Before a host execve: every inherited (not close-on-exec) fd of a packed
 * image's file becomes a sealed memfd copy at the same position, since the
 * next kernel would see a bare dup of the whole image.  0 or -errno. */
long fs_unbase_for_exec(void);

/* ---- memory (mm/) ---- */
/* Sets up brk just above the highest program segment ending at `end`. */
void mm_set_brk_base(unsigned long end);
/* This process's heap, the pages brk(2) has grown: [*start, *end). */
void mm_heap(unsigned long *start, unsigned long *end);
/* Non-zero if [start, start+len) overlaps memory the guest must not touch. */
int mm_is_kernel_range(unsigned long start, unsigned long len);
/* Records [base, end) as guest object `path` for crash reports. */
void mm_note_object(unsigned long base, unsigned long end, const char *path);
/* Marks [start, start+len) as kernel memory the guest may not map over. */
void mm_note_kernel(unsigned long start, unsigned long len);
/* Calls fn for each of the kernel's own ranges: its image, then what it noted. */
void mm_each_kernel(void (*fn)(unsigned long start, unsigned long end));
void mm_report_objects(int fd);
/* Non-zero if addr lies in a noted guest object and is mapped. */
int mm_in_object(unsigned long addr);

/* ---- memory every process of the guest shares (mm/shared.c) ---- */
/* proc/ptable.c: one process's guest state, for the others' /proc; written
 * by that process only, under seq (odd while a write is under way: a
 * seqlock); every reader bounds what it copies (ptable_get). */
#define PT_SLOTS 128                 /* processes shown with their guest state */
#define PT_KRANGES 48                /* kernel mappings a reader hides from maps */
#define PT_PATH 1024                 /* exe, cwd and root: longer ones are cut */
#define PT_ARGS 4096                 /* cmdline: longer ones are cut */
#define PT_ENV 8192                  /* environ: the same */
struct kproc_slot {
    uint32_t seq;
    int32_t pid;                     /* its owner, as written with the rest */
    uint64_t start;                  /* its host starttime (stat's field 22): a slot
                                        whose process is gone, or whose pid was reused,
                                        does not match it */
    int32_t kfd_floor;               /* its fds from here up are its kernel's (the cap
                                        shrinks at each execve: each process has its own) */
    uint16_t nkr;
    uint16_t exe_len, cwd_len, args_len, env_len, root_len, auxv_len;
    char comm[16];                   /* the name Linux gives at execve */
    struct { uint64_t start, end; } kr[PT_KRANGES];
    struct ktext text[2];            /* the files of its program and interpreter, as exec
                                        opened them (ETXTBSY for a write: ptable_text_busy) */
    char exe[PT_PATH];
    char cwd[PT_PATH];
    char root[PT_PATH];              /* its chroot's guest path ("/": none) */
    char args[PT_ARGS];              /* NUL-separated, as /proc/PID/cmdline */
    char env[PT_ENV];
    uint64_t auxv[LS_AUXV_WORDS];    /* ls_saved_auxv, auxv_len bytes of it */
    uint64_t start_stack;            /* ls_start_stack */
};

/* A name the guest bound a Unix socket by (net/unix_names.c). */
#define SN_SLOTS 64
#define IF_SLOTS 64                      /* sockets sent, remembered (net/sendmsg.c) */
struct ksockname {
    uint32_t seq;                    /* odd while it is written */
    uint32_t gen;                    /* its bind's place in the order of binds */
    char host[108];                  /* the host path the bind made of it */
    char guest[108];
};

/* One fixed layout: a field (or a block of fields) per user, each named
 * and documented here; pages no process touches are never allocated.
 * Guest-writable: never trusted for what the host lets the guest reach. */
struct kshared {
    /* fs/upper.c: the writable root's generation, bumped after every change
     * that removes or replaces a name in the layer (unlink, rmdir, rename,
     * copy-up); a lookup cached under an older one is stale. */
    uint64_t layer_gen;
    /* fs/upper_cache.c: the count of calls that may have made a name in
     * the layer (open O_CREAT, mkdir, mknod, symlink, link, rename, bind),
     * bumped after each; a name cached as absent under an older one is
     * stale. */
    uint64_t layer_made;
    /* ... and those under way: raised before each such host call, lowered
     * with the bump after it; no absence is cached or used while it is not
     * 0 (a creator stopped or killed between its host call and the bump
     * would leave the name made but the count not moved). */
    uint64_t layer_making;
    /* proc/ptable.c: the guest's process table: which pid owns each slot
     * (0: free; claimed by compare-and-swap), kept apart so that finding
     * one touches this page only, then the slots. */
    int32_t proc_owner[PT_SLOTS];
    struct kproc_slot procs[PT_SLOTS] __attribute__((aligned(4096)));
    /* net/unix_names.c: the names the guest's last binds of Unix socket
     * paths gave, a ring claimed by sockname_next. */
    uint32_t sockname_next;
    struct ksockname socknames[SN_SLOTS];
    /* net/sendmsg.c: the inodes of the last sockets the guest sent in
     * SCM_RIGHTS messages, a ring claimed by inflight_next. */
    uint32_t inflight_next;
    uint64_t inflight[IF_SLOTS];
};
extern struct kshared *K_shared;
/* At boot, before the filter: the first boot makes the memory, an execve's
 * boot maps the one it was handed.  0 or -errno. */
int shared_init(void);
int shared_hand_over(void);     /* before execve: the fd, inheritable */
void shared_take_back(void);    /* execve failed: close-on-exec again */

/* ---- dispatch and trace (kernel/dispatch.c, kernel/trace.c) ---- */
/* Serves call nr with arguments a[0..5] on path LS_PATH_TRAP or
 * LS_PATH_FAST (arch.h); fastcall.S calls it on the kernel stack, with a
 * its saved registers. */
long ls_dispatch(long nr, const long *a, int path);
/* A host call that may wait indefinitely, made by a kernel handler: on the
 * trap path it runs under the guest's signal mask (so a signal interrupts it
 * as on Linux); on a fastcall it is made outside signal/defer.c's deferral,
 * the guest's handlers running in it.  What the dispatcher does
 * for the 'host' calls in syscalls.BLOCKING, and what a kernel handler
 * makes for a call that waits only sometimes (an open of a FIFO, connect,
 * F_SETLKW, a terminal's ioctl). */
long host_call_blocking(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
/* The same wait for an open: entry.S's open_file beneath dir, and an
 * openat (a plain host call under O_PATH or O_NONBLOCK, which never wait). */
long host_open_beneath(long (*open_file)(long, const char *), long dir, const char *path);
long host_openat(long dir, const char *path, long flags, long mode);
/* signal/defer.c: signals deferred while a fastcall is served, for a
 * fork's child (forgotten), before an execve and a wait (delivered). */
void signal_defer_forget(void);
void signal_deliver_before_exec(void);
void signal_deliver_deferred(void);
void signal_defer_exit(void);
/* arch/x86_64/sigview.S: the host call itself, arguments a[0..5]. */
long ls_blocking_call(long nr, const long *a);

/* The tracer (kernel/trace.c, kernel/trace_summary.c).  trace_mode is the
 * LS_BOOT_TRACE* flags in force, 0 when nothing is traced or counted. */
extern unsigned trace_mode;
void trace_init(void);
void dispatch_init(void);            /* dispatch.c: the boot info's --enosys map */
/* Non-zero if the tracer must see syscall nr: the boot info's map selects
 * it, or it makes a process or thread. */
int trace_wants(long nr);
struct trace_call {
    int shown;                       /* selected by the map: shown and counted */
    int path;
    long nr, args[6];
    long pid, tid;                   /* the caller's guest pid and tid (lines only) */
    unsigned long wall, t0;          /* CLOCK_REALTIME (JSON only), TSC at entry */
};
/* Around one traced call: trace_begin before it runs, trace_end after
 * (with the call's number and the caller's pid before it). */
void trace_begin(struct trace_call *c, int path, long nr, const long *args);
void trace_end(const struct trace_call *c, long ret, long nr, long pid);
/* Just before a host execve replaces this kernel: the execve's line, and
 * trace_summary_mark. */
void trace_before_exec(void);
/* TSC ticks in nanoseconds. */
unsigned long trace_ticks_ns(unsigned long ticks);
/* The summary's shared counters (libsubst/trace.h): mapped at boot; a
 * call of nr on path, counted as it starts; its result ret after `ticks`
 * of the TSC, once it is done; a fresh (TSC, clock) pair, at exit and exec;
 * their fd across an execve (as execve.c's hand_over, take_back). */
void trace_summary_init(unsigned long tsc, unsigned long ns);
void trace_count_call(long nr, int path);
void trace_count_done(long nr, long ret, unsigned long ticks);
void trace_summary_mark(void);
int trace_summary_hand_over(void);
void trace_summary_take_back(void);
void report_unimplemented(void);
void note_missing(long nr, const char *path);   /* proc/missing.c: programs not found */
void report_missing_programs(void);
int missing_after_exec(void);
long ls_unimplemented_i386(long nr);   /* an int $0x80 call: -ENOSYS, counted */

/* ---- exit (proc/misc.c) ---- */
void ls_exit_group(int status) __attribute__((noreturn));

/* "ENOENT" for 2; for the tracer. */
const char *errno_name(long e);

/* Monotonic nanoseconds (from the host vDSO-backed clock). */
unsigned long know_ns(void);

#endif
