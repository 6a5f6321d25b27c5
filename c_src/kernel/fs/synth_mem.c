/*
 * /proc/<pid>/mem and /proc/<pid>/pagemap: a process's memory and its page
 * table, without the kernel's own.  The guest's fd is the host's file of
 * the same task, opened read-only (the host checks Linux's ptrace-access
 * rule for another process, with the guest's ids; that process must be in
 * the guest's pid namespace); its reads are the
 * kernel's (FD_MEM in fs_based): mem's stop at the first byte of the
 * kernel's memory, as at an unmapped page (EIO if none was read), and
 * pagemap's entries of the kernel's pages read as a hole's (0).  This
 * process's kernel memory is its own list (mm.c), another's as its slot of
 * the process table says (what its maps hides).  A copy of such an fd the
 * kernel did not open (received through SCM_RIGHTS, kept across an
 * execve) is known by its host link and given the same entry
 * (synth_mem_adopt), so no copy is the host's raw file.
 *
 * Differs from Linux in: writes through either are refused (EBADF: the
 * host fd is read-only, so no write reaches the kernel's text past its
 * seal); F_GETFL says O_RDONLY whatever the open asked.
 */
#include "synth.h"

int synth_is_mem(int id)
{
    int gen = synth_entry(id)->gen;
    return synth_entry(id)->type == ST_FILE && (gen == SG_MEM || gen == SG_PAGEMAP);
}

int synth_kernel_range(long other, const struct kproc_slot *slot, unsigned long lo,
                       unsigned long hi)
{
    if (hi > lo && !other && mm_is_kernel_range(lo, hi - lo))
        return 1;
    for (int i = 0; slot && i < slot->nkr; i++)
        if (lo < slot->kr[i].end && hi > slot->kr[i].start)
            return 1;
    return 0;
}

/* Whether host task task is in this process's pid namespace, as the host
 * says (its ns/pid link's): a process of the guest, never a host process a
 * /proc bound from the host would show (tender/root.c). */
static int in_guest(long task)
{
    char path[48], own[64], theirs[64];
    ksnprintf(path, sizeof path, "/proc/%ld/ns/pid", task);
    long n = hsys4(__NR_readlinkat, AT_FDCWD, (long)"/proc/self/ns/pid", (long)own, sizeof own);
    long m = hsys4(__NR_readlinkat, AT_FDCWD, (long)path, (long)theirs, sizeof theirs);
    return n > 0 && n == m && memcmp(own, theirs, n) == 0;
}

long synth_mem_open(const struct fs_node *n, int flags)
{
    char hp[64];
    long task = n->o.arg, other = synth_task_tgid(task);
    if (other < 0)
        return -ENOENT;
    if (other && !in_guest(task))
        return -EACCES;
    synth_host_task_path(task, other, hp, sizeof hp, synth_entry(n->o.ent)->path);
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)hp, O_RDONLY | (flags & (O_CLOEXEC | O_NONBLOCK)),
                    0);
    return fs_install(fd, KF_HOST, KF_F_SYNTH, n->o.ent, task, n->path);
}

/* The entry of mem or pagemap (name, "/mem" or "/pagemap"), or -1. */
static int mem_ent(const char *name)
{
    for (int i = 0; i < synth_np; i++)
        if (synth_is_mem(SID_P + i) && strcmp(synth_ptab[i].path, name) == 0)
            return SID_P + i;
    return -1;
}

/* The task and name of host path p, /proc/<pid>[/task/<tid>]/{mem,pagemap}
 * (" (deleted)" after it once the task is gone): the tid or pid, or -1. */
static long mem_path(const char *p, const char **name)
{
    long task = -1;
    if (strncmp(p, "/proc/", 6) != 0)
        return -1;
    p += 6;
    task = synth_parse_num(&p);
    if (task > 0 && strncmp(p, "/task/", 6) == 0) {
        p += 6;
        task = synth_parse_num(&p);
    }
    *name = p;
    return task;
}

void synth_mem_adopt(long hfd)
{
    struct stat st, proc;
    char link[40], hp[80];
    if (hsys2(__NR_fstat, hfd, (long)&st) < 0 || !S_ISREG(st.st_mode) ||
        hsys4(__NR_newfstatat, AT_FDCWD, (long)"/proc/self", (long)&proc, 0) < 0 ||
        st.st_dev != proc.st_dev)
        return;                         /* not a file of this process's proc */
    ksnprintf(link, sizeof link, "/proc/self/fd/%ld", hfd);
    long n = hsys4(__NR_readlinkat, AT_FDCWD, (long)link, (long)hp, sizeof hp - 1);
    if (n <= 0 || n >= (long)sizeof hp - 1)
        return;
    hp[n] = 0;
    static const char gone[] = " (deleted)";
    if ((size_t)n > sizeof gone - 1 && strcmp(hp + n - (sizeof gone - 1), gone) == 0)
        hp[n -= sizeof gone - 1] = 0;
    const char *name;
    long task = mem_path(hp, &name);
    int ent = task > 0 ? mem_ent(name) : -1;
    if (ent < 0)
        return;
    /* The host's name is the guest's (the guest's pids are the proc
     * mount's): a reopen through /proc/self/fd/N walks it to synth_mem_open. */
    struct kofd *o = kofd_new(KF_HOST, KF_F_SYNTH, ent, task, hp);
    if (!o || fd_install(hfd, o) < 0)
        hsys1(__NR_close, hfd);         /* never the raw file: the guest sees EBADF */
}

/* What a read of n bytes at at may return of the memory: up to the first
 * kernel page. */
static size_t mem_allowed(long other, const struct kproc_slot *slot, unsigned long at, size_t n)
{
    size_t ok = 0;
    while (ok < n) {
        unsigned long lo = at + ok, hi = LS_PAGE_DOWN(lo) + LS_PAGE;
        if (hi < lo || synth_kernel_range(other, slot, lo, hi))
            break;
        ok = hi - at < n ? hi - at : n;
    }
    return ok;
}

/* The r bytes of pagemap entries read at at into buf with the kernel's
 * pages' entries zeroed in the guest's buffer. */
static long pagemap_hide(long other, const struct kproc_slot *slot, unsigned long at, char *buf,
                         long r)
{
    static const uint64_t hole;
    for (long i = 0; i + 8 <= r; i += 8) {
        unsigned long page = (at + i) / 8 * LS_PAGE;
        if (synth_kernel_range(other, slot, page, page + LS_PAGE) &&
            copy_to_user(buf + i, &hole, sizeof hole) < 0)
            return -EFAULT;
    }
    return r;
}

long synth_mem_readv(long fd, const struct iovec *iov, int cnt, long off)
{
    struct kofd *o = fd_get(fd);
    if (!o)
        return -EBADF;
    int pagemap = synth_entry(o->ent)->gen == SG_PAGEMAP;
    struct kproc_slot *slot = 0;
    char state;
    long other = synth_other_slot(o->arg, &slot, &state);
    kofd_put(o);
    int cur = off < 0;
    long at = cur ? hsys3(__NR_lseek, fd, 0, SEEK_CUR) : off, done = 0, r = 0;
    if (cur && at < -4095 && other >= 0) {
        /* At or above 2^63 (mem's offsets are unsigned: the vsyscall page),
         * far from any memory of the kernel's: the host's read. */
        kfree(slot);
        return hsys3(__NR_readv, fd, (long)iov, cnt);
    }
    if (at < 0 || other < 0) {
        kfree(slot);
        return at < 0 ? at : -ESRCH;
    }
    for (int i = 0; i < cnt; i++) {
        struct iovec v;
        if ((r = copy_from_user(&v, &iov[i], sizeof v)) < 0)
            break;
        size_t want = pagemap ? v.iov_len : mem_allowed(other, slot, at + done, v.iov_len);
        if (v.iov_len && !want) {
            r = done ? 0 : -EIO;
            break;
        }
        r = hsys4(__NR_pread64, fd, (long)v.iov_base, want, at + done);
        if (r > 0 && pagemap)
            r = pagemap_hide(other, slot, at + done, v.iov_base, r);
        if (r < 0)
            break;
        done += r;
        if ((size_t)r < v.iov_len)
            break;
    }
    kfree(slot);
    if (done)
        r = done;
    if (r >= 0 && cur)
        hsys3(__NR_lseek, fd, at + done, SEEK_SET);
    return r;
}
