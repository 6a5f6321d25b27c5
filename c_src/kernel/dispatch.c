/*
 * The one dispatcher both paths enter: the generated table says, for each
 * number, whether the host serves it unchanged, a kernel handler serves it,
 * or it is unimplemented (ENOSYS, counted, reported at exit).
 */
#include "kernel.h"
#include "syscall_table.h"
#include "report_records.h"

static unsigned long enosys_count[LS_NR_SYSCALLS + 1];   /* last slot: numbers past the table */
/* i386 calls (int $0x80), by number; the last slot: numbers past it. */
#define I386_NR 512
static unsigned long enosys_i386[I386_NR + 1];

static long unimplemented(long nr)
{
    enosys_count[(unsigned long)nr < LS_NR_SYSCALLS ? nr : LS_NR_SYSCALLS]++;
    return -ENOSYS;
}

/* Only the x86-64 ABI is served: an i386 call (int $0x80; the trap path's
 * si_arch says which ABI) is never read as an x86-64 one. */
long ls_unimplemented_i386(long nr)
{
    enosys_i386[(unsigned long)nr < I386_NR ? nr : I386_NR]++;
    return -ENOSYS;
}

/* A host call on the trap path runs with every signal blocked (the trap
 * handler's mask).  One that may wait indefinitely runs under the guest's
 * own mask instead, so a signal interrupts it as on Linux: the guest's
 * handler runs on the trap stack, and the host returns EINTR or restarts
 * the call as the handler's SA_RESTART says.  On both paths the call is
 * made in ls_blocking_call (sigview.S), where signal/view.c knows a handler
 * interrupted one and shows it the guest's call.  A fastcall's runs
 * outside the deferral of signal/defer.c, so the kernel code that calls
 * it must hold no lock and leave no state half done across it. */
struct host_wait {
    struct ucontext *uc;             /* the trap's, or NULL: a fastcall's wait */
    long was;                        /* a fastcall's in_kernel, put back after */
    sigset_t all;                    /* a trap's mask, put back after */
};

static inline void wait_begin(struct kthread *t, struct host_wait *w)
{
    if ((w->uc = t->uc)) {
        hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&w->uc->uc_sigmask, (long)&w->all,
              sizeof w->all);
        return;
    }
    /* A fastcall's wait: the guest's handlers run in it (signal/defer.c),
     * after those deferred so far. */
    volatile long *in = &t->in_kernel;
    w->was = *in;
    *in = 0;
    if (t->deferred)
        signal_deliver_deferred();
}

static inline void wait_end(struct kthread *t, const struct host_wait *w)
{
    if (w->uc)
        hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&w->all, 0, sizeof w->all);
    else
        *(volatile long *)&t->in_kernel = w->was;
}

long host_call_blocking(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    struct kthread *t = kcur();
    const long a[6] = {a0, a1, a2, a3, a4, a5};
    struct host_wait w;
    wait_begin(t, &w);
    long r = ls_blocking_call(nr, a);
    wait_end(t, &w);
    return r;
}

/* An open of a file to read beneath dir in entry.S's one openat2
 * (ls_open_ro, _rd, _nb), a wait as host_call_blocking's: a FIFO's or a
 * terminal's open waits for its other end.  view.c knows that `syscall`
 * (ls_resolve_ip) as a wait's. */
long host_open_beneath(long (*open_file)(long, const char *), long dir, const char *path)
{
    struct kthread *t = kcur();
    struct host_wait w;
    wait_begin(t, &w);
    long r = open_file(dir, path);
    wait_end(t, &w);
    return r;
}

/* An openat that may wait (a FIFO's, a terminal's), unless O_PATH or
 * O_NONBLOCK says it cannot. */
long host_openat(long dir, const char *path, long flags, long mode)
{
    if (flags & (O_PATH | O_NONBLOCK))
        return hsys4(__NR_openat, dir, (long)path, flags, mode);
    return host_call_blocking(__NR_openat, dir, (long)path, flags, mode, 0, 0);
}

static long host_call(const struct syscall_desc *d, long nr, const long *a, int path)
{
    if (d->flags & LS_F_BLOCKS)
        return host_call_blocking(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    return hsys6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* --enosys: calls the boot info says to answer ENOSYS, as if unimplemented
 * (which calls a program survives without: `libsubst analyze --dynamic`). */
static int deny_on;                  /* read once at boot: the hot path tests one word */

/* Non-zero for the numbers whose fastcall arch/x86_64/fastcall.S hands to
 * the host itself: what serve would do for them on that path (a host
 * call, neither traced nor denied), without the frames.  An LS_F_BASED
 * handler is the host call for an fd whose reads the kernel does not serve
 * (a window of a packed image, a generated /proc file): LS_DIRECT_FD0 or
 * LS_DIRECT_FD1, and the entry tests the byte of that argument's fd in
 * fs_based (without the lock, as fd_is_based). */
unsigned char ls_fast_direct[LS_NR_SYSCALLS];

static int denied(long nr)
{
    return (unsigned long)nr < LS_TRACE_MAP_BITS && ((K.bi->deny_calls[nr / 64] >> (nr % 64)) & 1);
}

void dispatch_init(void)
{
    deny_on = !!(K.bi->flags & LS_BOOT_DENY);
    for (long nr = 0; nr < LS_NR_SYSCALLS; nr++) {
        const struct syscall_desc *d = &syscall_table[nr];
        int kind = 0;
        if (d->level == LS_HOST)
            kind = LS_DIRECT_HOST;
        else if (d->level == LS_KERNEL && (d->flags & LS_F_KEPT))
            kind = LS_DIRECT_KEPT;
        else if (d->level == LS_KERNEL && (d->flags & LS_F_BASED))
            kind = (d->flags & LS_F_BASED_ARG1) ? LS_DIRECT_FD1 : LS_DIRECT_FD0;
        ls_fast_direct[nr] = trace_mode || (deny_on && denied(nr)) ? 0 : kind;
    }
}

/* A kernel handler whose call names paths gets kernel copies of them: a
 * bad pointer is EFAULT here, once, and no handler reads a guest string.
 * A string too long for LS_PATH_MAX stays the guest's, for the handler to
 * refuse as its call does (ENAMETOOLONG, ERANGE). */
static long walk_paths(const struct syscall_desc *d, const long *args)
{
    char copy[3][LS_PATH_MAX];
    long a[6] = {args[0], args[1], args[2], args[3], args[4], args[5]};
    int used = 0;
    for (int i = 0; i < d->nargs; i++) {
        if (d->argk[i] != LS_ARG_PATH || !a[i])
            continue;
        if (used == 3)
            return -EINVAL;              /* syscalls.py: no call names more than three */
        long r = strncpy_from_user(copy[used], (const char *)a[i], LS_PATH_MAX);
        if (r == -EFAULT)
            return r;
        if (r >= 0)
            a[i] = (long)copy[used++];
    }
    /* A call naming one path whose walk left a volume (an absolute symlink
     * to elsewhere, ".." above the volume's root: fs/beneath.c) is made
     * again with the guest path that walk leads to, in copy[0], where its
     * argument points, as Linux's walk goes on there (the path given kept
     * in copy[2] for execve to name the program by).  At most 40 times,
     * Linux's limit of symlinks in one walk. */
    if (used != 1)
        return d->fn(a[0], a[1], a[2], a[3], a[4], a[5]);
    struct kthread *t = kcur();
    for (int links = 0;; links++) {
        t->relink = copy[1];
        copy[1][0] = 0;
        long r = d->fn(a[0], a[1], a[2], a[3], a[4], a[5]);
        t->relink = 0;
        if (r != -EXDEV || !copy[1][0] || links == 40) {
            t->relink_from = 0;
            if (r == -ENOENT)
                note_missing(d - syscall_table, copy[0]);
            return r == -EXDEV && copy[1][0] ? -ELOOP : r;
        }
        if (links == 0)
            memcpy(copy[2], copy[0], strlen(copy[0]) + 1);
        t->relink_from = copy[2];
        memcpy(copy[0], copy[1], strlen(copy[1]) + 1);
    }
}

/* A handler that runs while a call waits in the host (an open of a FIFO:
 * host_call_blocking) makes calls of its own: each starts with no walk's
 * scratch and gives the interrupted walk its own back. */
static __attribute__((noinline)) long call_with_paths(const struct syscall_desc *d,
                                                      const long *args)
{
    struct kthread *t = kcur();
    char *relink = t->relink;
    const char *relink_from = t->relink_from;
    t->relink = 0;
    t->relink_from = 0;
    long r = walk_paths(d, args);
    t->relink = relink;
    t->relink_from = relink_from;
    return r;
}

/* Whether the path of an LS_F_FD_IF_EMPTY call, its second argument
 * (syscalls.py checks), is empty or NULL (glibc's fstat is newfstatat(fd,
 * "", st, AT_EMPTY_PATH)): then there is no name to copy or walk, and no
 * walk to leave a volume by, for call_with_paths to serve.  Its first byte
 * is read as copy_from_user reads; a bad pointer is left to
 * call_with_paths, which answers EFAULT. */
static __attribute__((noinline)) int path_empty(const char *path)
{
    char c;
    return !path || (copy_from_user(&c, path, 1) == 0 && !c);
}

/* Every call a handler makes returns to the guest through the frames
 * between them, each `ret` unpredicted after a host call: so the handler
 * is reached by tail calls, and its return is the entry's. */
static long serve(long nr, const long *a, int path)
{
    if ((unsigned long)nr < LS_NR_SYSCALLS && !(__builtin_expect(deny_on, 0) && denied(nr))) {
        const struct syscall_desc *d = &syscall_table[nr];
        if (d->level == LS_HOST)
            return host_call(d, nr, a, path);
        if (d->level == LS_KERNEL && (d->flags & LS_F_FD_IF_EMPTY) && path_empty((char *)a[1]))
            return d->fn(a[0], a[1] ? (long)"" : 0, a[2], a[3], a[4], a[5]);  /* the kernel's "" */
        if (d->level == LS_KERNEL && (d->flags & LS_F_PATHS))
            return call_with_paths(d, a);
        if (d->level == LS_KERNEL)
            return d->fn(a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    return unimplemented(nr);
}

/* A traced call: the slow path of ls_dispatch, taken only for the calls the
 * tracer wants (trace_wants). */
static __attribute__((noinline)) long dispatch_traced(long nr, const long *a, int path)
{
    long args[6] = {a[0], a[1], a[2], a[3], a[4], a[5]};
    long pid = sys_getpid();
    struct trace_call c;
    trace_begin(&c, path, nr, args);
    long r = serve(nr, args, path);
    trace_end(&c, r, nr, pid);
    return r;
}

long ls_dispatch(long nr, const long *a, int path)
{
    if (__builtin_expect(trace_mode != 0, 0) && trace_wants(nr))
        return dispatch_traced(nr, a, path);
    return serve(nr, a, path);
}

void report_unimplemented(void)
{
    if (K.report_fd < 0)
        return;
    for (unsigned long nr = 0; nr <= LS_NR_SYSCALLS; nr++) {
        if (!enosys_count[nr])
            continue;
        const char *name = nr < LS_NR_SYSCALLS && syscall_table[nr].name ? syscall_table[nr].name
                                                                           : "unknown";
        kdprintf(K.report_fd, LS_REPORT_ENOSYS, name, nr, enosys_count[nr]);
    }
    for (unsigned long nr = 0; nr <= I386_NR; nr++)
        if (enosys_i386[nr])
            kdprintf(K.report_fd, LS_REPORT_ENOSYS, "i386:int0x80", nr, enosys_i386[nr]);
}

unsigned long know_ns(void)
{
    struct timespec { long tv_sec, tv_nsec; } ts;
    hsys2(__NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, (long)&ts);
    return ts.tv_sec * 1000000000UL + ts.tv_nsec;
}
