/*
 * Process-wide calls: exit, identity, limits, arch and process controls.
 */
#include "proc/proc.h"
#include "proc/ptable.h"
#include "signal/signal.h"
#include "fs/fs.h"
#include "report_records.h"
#include <linux/prctl.h>
#include <linux/resource.h>
#include <asm/prctl.h>

void ls_exit_group(int status)
{
    if (K.report_fd >= 0) {
        report_unimplemented();
        /* a command not found, as the shells and env end; or a failure
         * right after an exec found nothing (proc/missing.c) */
        if ((status & 0xff) == 127 || ((status & 0xff) && missing_after_exec()))
            report_missing_programs();
        kdprintf(K.report_fd, LS_REPORT_EXIT, status & 0xff);
    }
    trace_summary_mark();
    for (;;)
        hsys1(__NR_exit_group, status);
}

/* Implements exit_group(2). */
long sys_exit_group(long status)
{
    ls_exit_group(status);
}

/* The process's identity, read once and again after a fork (-1: not yet).
 * The parent is kept only where it cannot change: in the process the host
 * booted (no fork or execve since), and wherever it is 0 (the guest's first
 * process, whose parent is outside its pid namespace; without the sandbox,
 * which only benchmarks boot, the harness that waits for it).  Any other
 * process is re-parented when its parent exits. */
static long pid_cache = -1, ppid_cache = -1;
static int booted_here = 1;

void pid_after_fork(void)
{
    pid_cache = ppid_cache = -1;
    booted_here = 0;
}

/* Implements getpid(2); served from the kernel, no host call. */
long sys_getpid(void)
{
    if (pid_cache < 0)
        pid_cache = hsys0(__NR_getpid);
    return pid_cache;
}

/* The parent's pid: from the kernel where the parent cannot change
 * (above), from the host elsewhere. */
long proc_parent(void)
{
    if (ppid_cache >= 0)
        return ppid_cache;
    long r = hsys0(__NR_getppid);
    if (r == 0 || (booted_here && !(K.bi->flags & LS_BOOT_EXECED)))
        ppid_cache = r;
    return r;
}

/* Implements getppid(2) (a specialised kernel leaves it out; the kernel's
 * own users call proc_parent). */
long sys_getppid(void)
{
    return proc_parent();
}

/* Implements kill(2); differs from Linux in: a SIGKILL ends the guest's
 * first process (pid 1 of its pid namespace) when it names it, itself, its
 * group or every process, as it ends the program natively, unless pid 1
 * keeps the init rule (signal.c: ls_kill_pid1). */
long sys_kill(long pid, long sig)
{
    if (sig != SIGKILL || !ls_kill_pid1_reaches(pid))
        return hsys2(__NR_kill, pid, sig);
    /* Pid 1 asked first: a group's SIGKILL ends the caller too. */
    ls_kill_pid1();
    return pid == 1 ? 0 : hsys2(__NR_kill, pid, sig);
}

/* Implements tgkill(2), as kill. */
long sys_tgkill(long tgid, long tid, long sig)
{
    if (sig == SIGKILL && tgid == 1 && ls_kill_pid1_reaches(1)) {
        long r = hsys3(__NR_tgkill, tgid, tid, 0);            /* ESRCH for a wrong tid */
        if (r == 0)
            ls_kill_pid1();
        return r;
    }
    return hsys3(__NR_tgkill, tgid, tid, sig);
}

/* The pid a host pidfd names, from its fdinfo; 0 if none. */
static long pidfd_pid(long fd)
{
    char path[48], buf[512];
    ksnprintf(path, sizeof path, "/proc/self/fdinfo/%ld", fd);
    long f = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
    if (f < 0)
        return 0;
    long n = hsys3(__NR_read, f, (long)buf, sizeof buf - 1);
    hsys1(__NR_close, f);
    buf[n > 0 ? n : 0] = 0;
    for (const char *p = buf; *p; p++)
        if ((p == buf || p[-1] == '\n') && strncmp(p, "Pid:", 4) == 0) {
            long v = 0;
            for (p += 4; *p == '\t' || *p == ' '; p++)
                ;
            for (; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (*p - '0');
            return v;
        }
    return 0;
}

/* Implements pidfd_send_signal(2).  A pidfd is the host's own; a
 * /proc/<pid> directory, which Linux takes too, is the guest's synthetic
 * one, so the signal goes through a pidfd the kernel opens for the
 * process it names.  Differs from Linux in: that directory names its pid,
 * not the process it was opened for (a pid reused since is signalled). */
long sys_pidfd_send_signal(long fd, long sig, long info, long flags)
{
    long pid = synth_proc_dir_pid(fd);
    if (pid == 0) {
        long r = hsys4(__NR_pidfd_send_signal, fd, sig, info, flags);
        if (r == 0 && sig == SIGKILL && pidfd_pid(fd) == 1 && ls_kill_pid1_reaches(1))
            ls_kill_pid1();
        return r;
    }
    if (pid < 0)
        return pid;
    if (sig == SIGKILL && pid == 1 && ls_kill_pid1_reaches(1)) {
        ls_kill_pid1();
        return 0;
    }
    long pfd = hsys2(__NR_pidfd_open, pid, 0);
    if (pfd < 0)
        return pfd == -EINVAL ? -ESRCH : pfd;
    long r = hsys4(__NR_pidfd_send_signal, pfd, sig, info, flags);
    hsys1(__NR_close, pfd);
    return r;
}

/* Implements tkill(2); differs from Linux in: the thread must be one of the
 * caller's own (tgkill of its thread group), never a thread named by tid
 * alone. */
long sys_tkill(long tid, long sig)
{
    return sys_tgkill(sys_getpid(), tid, sig);
}

/* RLIMIT_NOFILE is capped below the kernel's reserved fds, and the host's
 * hard limit is the guest's plus those fds (kernel.h): lowered by the
 * guest, it still leaves the kernel booted by an execve its fds.  The cap
 * is that of the process whose limit it is: this one's (pid 0), another's
 * from the process table (each process's cap shrinks at each execve), or,
 * for one without a slot there, its hard limit now, which the guest cannot
 * raise (it lacks CAP_SYS_RESOURCE over the host).  -errno if pid names no
 * process. */
static long nofile_cap(long pid)
{
    if (!pid)
        return K.nofile_limit;
    struct kproc_slot *s = kmalloc(sizeof *s);
    uint64_t start;
    char state;
    long cap = -ESRCH;
    if (s && ptable_host_stat(pid, &state, &start) == 0 && ptable_get(pid, start, s) == 0)
        cap = s->kfd_floor;
    kfree(s);
    if (cap < 0) {
        struct rlimit64 h;
        long r = hsys4(__NR_prlimit64, pid, RLIMIT_NOFILE, 0, (long)&h);
        if (r < 0)
            return r;
        cap = h.rlim_max >= KFD_RESERVED ? (long)(h.rlim_max - KFD_RESERVED) : 0;
    }
    return cap;
}

static void nofile_to_host(unsigned long cap, struct rlimit64 *r)
{
    if (r->rlim_max > cap)
        r->rlim_max = cap;
    if (r->rlim_cur > r->rlim_max)
        r->rlim_cur = r->rlim_max;
    r->rlim_max += KFD_RESERVED;
}

static void nofile_from_host(unsigned long cap, struct rlimit64 *r)
{
    r->rlim_max = r->rlim_max >= KFD_RESERVED ? r->rlim_max - KFD_RESERVED : 0;
    if (r->rlim_max > cap)
        r->rlim_max = cap;
    if (r->rlim_cur > r->rlim_max)
        r->rlim_cur = r->rlim_max;
}

/* Implements prlimit64(2); differs from Linux in: RLIMIT_NOFILE cannot be
 * raised into the kernel's reserved fds.  Another pid is any process of
 * the guest's pid namespace: the host checks it as Linux does. */
long sys_prlimit64(long pid, long res, const struct rlimit64 *new, struct rlimit64 *old)
{
    struct rlimit64 n, o;
    long cap = 0;
    if (pid == sys_getpid())
        pid = 0;
    if (res == RLIMIT_NOFILE && (cap = nofile_cap(pid)) < 0)
        return cap;
    if (new) {
        if (copy_from_user(&n, new, sizeof n) < 0)
            return -EFAULT;
        if (res == RLIMIT_NOFILE && n.rlim_cur > n.rlim_max)
            return -EINVAL;             /* before the cap could hide it, as Linux checks */
        if (res == RLIMIT_NOFILE)
            nofile_to_host(cap, &n);
    }
    long r = hsys4(__NR_prlimit64, pid, res, new ? (long)&n : 0, old ? (long)&o : 0);
    if (r < 0 || !old)
        return r;
    if (res == RLIMIT_NOFILE)
        nofile_from_host(cap, &o);
    return copy_to_user(old, &o, sizeof o) < 0 ? -EFAULT : 0;
}

/* Implements getrlimit(2) through prlimit64. */
long sys_getrlimit(long res, struct rlimit *old)
{
    return sys_prlimit64(0, res, 0, (struct rlimit64 *)old);
}

/* Implements setrlimit(2) through prlimit64. */
long sys_setrlimit(long res, const struct rlimit *new)
{
    return sys_prlimit64(0, res, (const struct rlimit64 *)new, 0);
}

/* Implements arch_prctl(2); differs from Linux in: %gs belongs to the kernel
 * (its per-thread block for fastcalls), so ARCH_SET_GS is refused. */
long sys_arch_prctl(long code, unsigned long addr)
{
    if (code == ARCH_SET_GS)
        return -EPERM;
    return hsys2(__NR_arch_prctl, code, addr);
}

/* Implements prctl(2); differs from Linux in: Syscall User Dispatch is the
 * kernel's trap path, so the guest gets what a Linux built without it
 * answers, an unknown option (EINVAL): programs take that for "not
 * supported" and carry on, where EPERM reads as a refusal of a feature that
 * is there. */
long sys_prctl(long op, long a2, long a3, long a4, long a5)
{
    if (op == PR_SET_SYSCALL_USER_DISPATCH)
        return -EINVAL;
    /* x86-64 Linux has no tagged-address control (arm64 and RISC-V do). */
    if (op == PR_SET_TAGGED_ADDR_CTRL || op == PR_GET_TAGGED_ADDR_CTRL)
        return -EINVAL;
    /* The guest's first process keeps SIGKILL on the host (proc/creds.c). */
    if (op == PR_SET_PDEATHSIG || op == PR_GET_PDEATHSIG) {
        long r = proc_first_pdeath(op, a2, (int *)a2);
        if (r != 1)
            return r;
    }
    long r = hsys5(__NR_prctl, op, a2, a3, a4, a5);
    /* A thread that named itself reads its name; one that did not, the
     * program's (the host's is still the kernel binary's), as its comm. */
    char name[16];
    if (op == PR_GET_NAME && r == 0 && copy_from_user(name, (void *)a2, sizeof name) == 0 &&
        strncmp(name, "libsubst", 8) == 0) {
        memset(name, 0, sizeof name);
        strlcpy(name, synth_prog_comm(), sizeof name);
        if (copy_to_user((void *)a2, name, sizeof name) < 0)
            return -EFAULT;
    }
    return r;
}

/* Implements set_tid_address(2). */
long sys_set_tid_address(int *tidptr)
{
    return hsys1(__NR_set_tid_address, (long)tidptr);
}
