/*
 * The guest's other processes in /proc.  Each guest process is a host
 * process of the guest's pid namespace, whose proc the tender mounted: the
 * host answers whether a pid exists, whether the caller may read its
 * entries (Linux's ptrace-read rule, with the guest's own ids: environ,
 * maps, fd, exe and cwd of another uid's process are EACCES), and what is
 * true there (state, ids, ppid, times, memory, limits, io, threads, fds).
 * The process table (proc/ptable.c) gives what the host cannot know: the
 * guest's command line, environment, executable, cwd, command name and
 * which mappings are the kernel's own.
 *
 * Other processes' entries carry the host task id in their synthetic
 * argument (fs_obj.arg); their fd links pack the pid and the fd (synth_arg).
 */
#include "synth.h"
#include "proc/ptable.h"

long synth_task_tgid(long task)
{
    if (!task || task == fs_pid() || hsys3(__NR_tgkill, fs_pid(), task, 0) == 0)
        return 0;
    char path[48], buf[1024];
    ksnprintf(path, sizeof path, "/proc/%ld/status", task);
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -ESRCH;
    long n = hsys3(__NR_read, fd, (long)buf, sizeof buf - 1);
    hsys1(__NR_close, fd);
    buf[n > 0 ? n : 0] = 0;
    const char *p = buf;
    while (*p && strncmp(p, "\nTgid:", 6) != 0)
        p++;
    if (!*p)
        return -ESRCH;
    for (p += 6; *p == '\t' || *p == ' '; p++)
        ;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return v > 0 ? v : -ESRCH;
}

long synth_proc_dir_pid(long fd)
{
    struct kofd *o = fd_get(fd);
    long pid = 0;
    /* Linux takes a process's directory, not a task's (/proc/<pid>/task/<tid>). */
    if (o && o->kind == KF_SYNTH && o->ent == SID_P && o->path) {
        const char *p = o->path;
        while (*p && strncmp(p, "/task/", 6) != 0)
            p++;
        if (!*p) {
            pid = synth_task_tgid(o->arg);
            if (pid == 0)
                pid = fs_pid();
        }
    }
    kofd_put(o);
    return pid;
}

static long host_exists(const char *path)
{
    return hsys4(__NR_faccessat2, AT_FDCWD, (long)path, 0 /* F_OK */, AT_SYMLINK_NOFOLLOW);
}

int synth_lookup_other(long pid, const char *s, struct fs_obj *o)
{
    char path[64];
    ksnprintf(path, sizeof path, "/proc/%ld", pid);
    if (pid <= 0 || host_exists(path) < 0)
        return -ENOENT;
    o->arg = pid;
    if (strncmp(s, "/task/", 6) == 0) {
        s += 6;
        long tid = synth_parse_num(&s);
        ksnprintf(path, sizeof path, "/proc/%ld/task/%ld", pid, tid);
        if (tid <= 0 || strncmp(s, "/task", 5) == 0 || host_exists(path) < 0)
            return -ENOENT;
        o->arg = tid;
    }
    for (int i = 0; i < synth_np; i++)
        if (strcmp(s, synth_ptab[i].path) == 0) {
            o->ent = SID_P + i;
            return 0;
        }
    int info = strncmp(s, "/fdinfo/", 8) == 0;
    if (info || strncmp(s, "/fd/", 4) == 0) {
        s += info ? 8 : 4;
        long fd = synth_parse_num(&s);
        ksnprintf(path, sizeof path, "/proc/%ld/fd/%ld", pid, fd);
        struct kproc_slot *slot;
        char state;
        if (synth_other_slot(pid, &slot, &state) < 0)
            return -ENOENT;
        long floor = slot ? slot->kfd_floor : K.nofile_limit;   /* its kernel's fds above */
        kfree(slot);
        if (fd >= 0 && !*s && fd < floor && fd < (1L << (63 - SYNTH_PID_BITS)) &&
            pid == synth_arg_task(pid) && host_exists(path) == 0) {
            o->ent = info ? SID_FDINFO : SID_OFDLINK;
            o->arg = synth_arg(pid, fd);
            return 0;
        }
    }
    return -ENOENT;
}

long synth_other_access(long task, const char *name, int dir)
{
    char path[64];
    ksnprintf(path, sizeof path, "/proc/%ld%s", task, name);
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path,
                    O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0), 0);
    if (fd < 0)
        return fd == -ESRCH ? -ENOENT : fd;
    hsys1(__NR_close, fd);
    return 0;
}

long synth_other_slot(long task, struct kproc_slot **slot, char *state)
{
    uint64_t start;
    long tgid = synth_task_tgid(task);
    *slot = 0;
    if (tgid <= 0)
        return tgid < 0 ? -ENOENT : 0;
    if (ptable_host_stat(tgid, state, &start) < 0)
        return -ENOENT;
    struct kproc_slot *s = kmalloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    if (ptable_get(tgid, start, s) < 0)
        kfree(s);
    else
        *slot = s;
    return tgid;
}

void synth_other_fd_path(long arg, char *buf, size_t cap)
{
    ksnprintf(buf, cap, "/proc/%ld/fd/%ld", synth_arg_task(arg), synth_arg_n(arg));
}

int synth_other_fd_served(long arg)
{
    char path[64], t[16];
    synth_other_fd_path(arg, path, sizeof path);
    long n = hsys4(__NR_readlinkat, AT_FDCWD, (long)path, (long)t, sizeof t);
    return (n >= 6 && memcmp(t, "/proc/", 6) == 0) || (n >= 5 && memcmp(t, "/sys/", 5) == 0);
}

/* The host path p (n bytes, room for cap) another process's fd link names,
 * as the guest names it: below a mount's host directory (a volume, a
 * scratch tree such as /tmp, the writable root's layer), its guest path
 * (the longest host directory decides); anything else ("pipe:[…]", a file
 * of the image) as the host says.  Its length, or -ENAMETOOLONG. */
static long guest_path_of(char *p, size_t n, size_t cap)
{
    int best = -1;
    size_t blen = 0;
    for (int i = 0; i < fs_nmnt; i++) {
        const char *h = fs_mnt[i].host;
        size_t k = strlen(h);
        while (k && h[k - 1] == '/')
            k--;
        if ((best < 0 || k > blen) && k <= n && strncmp(p, h, k) == 0 &&
            (p[k] == '/' || p[k] == 0)) {
            best = i;
            blen = k;
        }
    }
    if (best < 0)
        return n;
    const struct vmount *v = &fs_mnt[best];
    size_t rest = n - blen;
    if (v->glen + rest + 2 > cap)
        return -ENAMETOOLONG;
    memmove(p + v->glen, p + blen, rest + 1);
    memcpy(p, v->guest, v->glen);
    if (!p[0]) {                     /* the mount's own directory, at "/" */
        p[0] = '/';
        p[1] = 0;
    }
    return strlen(p);
}

static long put_root(const char *s, char *dst, size_t cap)
{
    strlcpy(dst, s, cap);
    return strlen(dst);
}

long synth_other_link(const struct fs_obj *o, int kind, char *dst, size_t cap)
{
    char path[64];
    if (o->ent == SID_OFDLINK) {
        synth_other_fd_path(o->arg, path, sizeof path);
        long n = hsys4(__NR_readlinkat, AT_FDCWD, (long)path, (long)dst, cap - 1);
        if (n < 0)
            return n;
        dst[n] = 0;
        return guest_path_of(dst, n, cap);
    }
    /* The host's answer first: EACCES for another uid's, ENOENT for a zombie. */
    ksnprintf(path, sizeof path, "/proc/%ld/%s", o->arg,
              kind == SL_EXE ? "exe" : kind == SL_CWD ? "cwd" : "root");
    long r = hsys4(__NR_readlinkat, AT_FDCWD, (long)path, (long)dst, cap);
    if (r < 0)
        return r;
    struct kproc_slot *s;
    char state;
    if ((r = synth_other_slot(o->arg, &s, &state)) < 0)
        return r;
    if (!s)     /* beyond the table: no chroot the kernel knows of for a root */
        return kind == SL_ROOT ? put_root("/", dst, cap) : -ENOENT;
    const char *src = kind == SL_EXE ? s->exe : kind == SL_CWD ? s->cwd : s->root;
    /* A root, as Linux's d_path shows it to the reader: below the reader's
     * own root, from there; elsewhere, whole. */
    if (kind == SL_ROOT && fs_root_rel(src))
        src = fs_root_rel(src);
    size_t n = strlen(src);
    r = n == 0 ? -ENOENT : n < cap ? (long)n : -ENAMETOOLONG;   /* the init has no exe */
    if (r >= 0)
        memcpy(dst, src, n + 1);
    kfree(s);
    return r;
}
