/*
 * The tender's entry: the boot of a guest process, in the order the
 * sandbox needs.  The kernel reads its boot info first (it relocates the
 * executable, which everything here relies on); the namespaces come next,
 * so the kernel mounts and maps inside them; Landlock and the seccomp
 * filter last, so nothing after them needs what they take away, before the
 * kernel turns the trap on.  A kernel booted by a guest's execve, or a
 * benchmark's boot without the sandbox, is already inside it: no policy.
 */
#include "tender.h"
#include "libsubst/signals.h"

const struct ls_bootinfo *tender_bi;

static void diag(const char *what, const char *fmt, va_list ap)
{
    kdiag(2, what, fmt, ap);
}

void tender_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag("", fmt, ap);
    va_end(ap);
}

void tender_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag("fatal: ", fmt, ap);
    va_end(ap);
    hsys1(__NR_exit_group, 125);
    __builtin_unreachable();
}

void tender_unblock_forwarded(void)
{
    /* The stops too, which the monitor blocked from the guest's start:
     * the relay passes them on, the program takes them.  Those the caller
     * blocked stay blocked, as across its execve (a pending one waits). */
    unsigned long set = ((LS_FORWARDED_SIGNALS | LS_STOP_SIGNALS) & ~tender_bi->caller_blocked) |
                        1UL << (LS_SIG_FORWARD - 1);
    hsys4(__NR_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0, sizeof set);
}

/* In the program's first process, as its execve would keep them: the
 * signals pending for the caller (blocked: they wait) and its interval
 * timers, which libsubst took from itself (bootinfo.h). */
static void caller_state(void)
{
    long self = hsys0(__NR_getpid);
    for (int s = 1; s <= 64; s++)
        if ((tender_bi->caller_pending & tender_bi->caller_blocked) >> (s - 1) & 1)
            hsys2(__NR_kill, self, s);
    for (int w = 0; w < 3; w++) {
        const uint64_t *t = tender_bi->itimers[w];
        if (!t[0])
            continue;
        struct { long interval[2], value[2]; } it = {
            {(long)(t[1] / 1000000), (long)(t[1] % 1000000)},
            {(long)(t[0] / 1000000), (long)(t[0] % 1000000)}};
        hsys3(__NR_setitimer, w, (long)&it, 0);
    }
}

void tender_main(unsigned long *sp)
{
    tender_bi = ls_kernel_start(sp);
    int policy = !(tender_bi->flags & (LS_BOOT_EXECED | LS_BOOT_NO_POLICY));
    struct ls_sandbox sb = {.port_fd = -1};
    int own_proc = 0;
    if (policy)
        own_proc = tender_namespaces(&sb);   /* returns in the guest's first process */
    else if (!(tender_bi->flags & LS_BOOT_EXECED))
        tender_unblock_forwarded();          /* a guest's execve keeps the guest's mask */
    struct ls_lockdown lock;
    ls_kernel_load(&sb, &lock);
    if (policy)
        tender_unblock_forwarded();          /* the first process's, now it has handlers */
    if (!(tender_bi->flags & LS_BOOT_EXECED))
        caller_state();
    long r;
    /* The program's own ids, the host files the kernel may open
     * (Landlock), the host calls it may make (seccomp), then the trap. */
    if (policy && (r = tender_become_user()) < 0)
        tender_fatal("cannot become uid %u gid %u: error %ld", tender_bi->uid, tender_bi->gid, -r);
    if (policy && (r = tender_landlock(&lock, own_proc)) < 0)
        tender_fatal("cannot restrict host file access (Landlock): error %ld%s", -r,
                     r == -ENOSYS || r == -EOPNOTSUPP
                         ? " (this host's Landlock is older than ABI 6 or absent: "
                           "see --allow-weaker-sandbox)" : "");
    /* Every boot: a guest's execve boots under the filter its first boot
     * made, which lets openat2 through only with the open_how in this text. */
    int sealed = tender_seal_text(&lock);
    if (policy && (r = tender_seccomp(&lock, sealed)) < 0)
        tender_fatal("cannot install the seccomp filter: error %ld", -r);
    ls_kernel_enter();
}
