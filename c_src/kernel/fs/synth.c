/*
 * The synthetic trees /proc, /sys and /dev: a fixed table of nodes.  Files
 * are generated at open into a sealed memfd (synth_gen.c), so read, lseek,
 * fstat and mmap work on them as on any host fd; directories are placeholder
 * fds listed by synth_dir_next; /dev nodes are the host's device nodes.
 *
 * /proc/self is a symlink to /proc/<pid> (the host pid: fs_pid), as in Linux;
 * /proc/thread-self to <pid>/task/<tid>, whose entries are those of
 * /proc/<pid> (the thread's own stat, status, comm) but no task directory;
 * /proc/<tid> (unlisted, as on Linux) has them and a task directory, its
 * thread group's (which its listing leaves out).  The guest's other processes
 * are listed and shown as Linux shows them (synth_proc.c).
 * /proc/<pid>/fd/N is a symlink to the guest path fd N was opened by; an fd
 * with no guest path (stdio, a pipe, a socket) is a host object, reached by
 * reopening the host's /proc/self/fd/N, and reads as the host's readlink
 * ("pipe:[123]").
 */
#include "synth.h"
#include <asm/ioctls.h>

/* Absolute paths; every directory's children follow it in no particular order. */
const struct synth_ent synth_gtab[] = {
    {"/proc", ST_DIR, 0, 0},
    {"/proc/self", ST_LINK, SL_SELF, 0},
    {"/proc/thread-self", ST_LINK, SL_THREAD, 0},
    {"/proc/meminfo", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/cpuinfo", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/stat", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/uptime", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/loadavg", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/vmstat", ST_FILE, SG_HOSTCOPY, 0},       /* procps vmstat -s */
    /* The machine's swap areas and disks (free, psutil's swap_memory and
     * disk_io_counters): the host's, as a container's proc shows them. */
    {"/proc/swaps", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/diskstats", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/partitions", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/version", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/filesystems", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/devices", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/mounts", ST_LINK, SL_FIXED, "self/mounts"},
    {"/proc/net", ST_LINK, SL_FIXED, "self/net"},
    {"/proc/sys", ST_DIR, 0, 0},
    {"/proc/sys/kernel", ST_DIR, 0, 0},
    {"/proc/sys/kernel/hostname", ST_FILE, SG_HOSTCOPY, 0},   /* the guest's UTS namespace's */
    {"/proc/sys/kernel/domainname", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/ostype", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/osrelease", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/pid_max", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/ngroups_max", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/random", ST_DIR, 0, 0},
    {"/proc/sys/kernel/random/boot_id", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/kernel/random/uuid", ST_FILE, SG_HOSTCOPY, 0},    /* the host's: fresh per read */
    {"/proc/sys/net", ST_DIR, 0, 0},
    {"/proc/sys/net/core", ST_DIR, 0, 0},
    {"/proc/sys/net/core/somaxconn", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm", ST_DIR, 0, 0},
    {"/proc/sys/vm/overcommit_memory", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm/mmap_min_addr", ST_FILE, SG_HOSTCOPY, 0},
    {"/proc/sys/vm/max_map_count", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys", ST_DIR, 0, 0},
    {"/sys/class", ST_DIR, 0, 0},
    {"/sys/class/net", ST_DIR, 0, 0},   /* its interfaces: synth_ntab (synth_net.c) */
    {"/sys/devices", ST_DIR, 0, 0},
    {"/sys/devices/system", ST_DIR, 0, 0},
    {"/sys/devices/system/cpu", ST_DIR, 0, 0},     /* the host's (LS_HOST_TREES, volume.c) */
    /* The guest's limits as a container's cgroup v2 root shows them. */
    {"/sys/fs", ST_DIR, 0, 0},
    {"/sys/fs/cgroup", ST_DIR, 0, 0},
    {"/sys/fs/cgroup/cgroup.controllers", ST_FILE, SG_TEXT, "cpu memory pids\n"},
    {"/sys/fs/cgroup/cpu.max", ST_FILE, SG_CGROUP, 0},
    {"/sys/fs/cgroup/memory.max", ST_FILE, SG_CGROUP, 0},
    {"/sys/fs/cgroup/pids.max", ST_FILE, SG_CGROUP, 0},
    {"/sys/kernel", ST_DIR, 0, 0},
    {"/sys/kernel/mm", ST_DIR, 0, 0},
    {"/sys/kernel/mm/transparent_hugepage", ST_DIR, 0, 0},
    {"/sys/kernel/mm/transparent_hugepage/enabled", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/defrag", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/shmem_enabled", ST_FILE, SG_HOSTCOPY, 0},
    {"/sys/kernel/mm/transparent_hugepage/use_zero_page", ST_FILE, SG_HOSTCOPY, 0},
    {"/dev", ST_DIR, 0, 0},
    {"/dev/null", ST_CHR, 0, 0},
    {"/dev/zero", ST_CHR, 0, 0},
    {"/dev/full", ST_CHR, 0, 0},
    {"/dev/random", ST_CHR, 0, 0},
    {"/dev/urandom", ST_CHR, 0, 0},
    {"/dev/tty", ST_CHR, 0, 0},         /* only while there is one (synth_have_tty) */
    {"/dev/ptmx", ST_CHR, 0, 0},        /* a link to the guest's own devpts's (volume.c) */
    {"/dev/pts", ST_DIR, 0, 0},         /* listed here, served as a mount (volume.c) */
    {"/dev/stdin", ST_LINK, SL_FIXED, "/proc/self/fd/0"},
    {"/dev/stdout", ST_LINK, SL_FIXED, "/proc/self/fd/1"},
    {"/dev/stderr", ST_LINK, SL_FIXED, "/proc/self/fd/2"},
    {"/dev/fd", ST_LINK, SL_FIXED, "/proc/self/fd"},
};
const int synth_ng = LS_ARRAY_SIZE(synth_gtab);

/* Below /proc/<pid>, each directory before its entries; entry 0 is the
 * directory itself, the last three are
 * "/fdinfo", "/task" and "/fd" (synth_dir.c lists them by their place). */
const struct synth_ent synth_ptab[] = {
    {"", ST_DIR, 0, 0},
    {"/stat", ST_FILE, SG_STAT, 0},
    {"/status", ST_FILE, SG_STATUS, 0},
    {"/maps", ST_FILE, SG_MAPS, 0},
    {"/smaps", ST_FILE, SG_SMAPS, 0},       /* the host's, as maps (synth_smaps.c) */
    {"/smaps_rollup", ST_FILE, SG_SMAPS_ROLLUP, 0},
    {"/cmdline", ST_FILE, SG_CMDLINE, 0},
    {"/environ", ST_FILE, SG_ENVIRON, 0},
    {"/comm", ST_FILE, SG_COMM, 0},
    {"/mounts", ST_FILE, SG_MOUNTS, 0},
    {"/mountinfo", ST_FILE, SG_MOUNTINFO, 0},
    {"/limits", ST_FILE, SG_LIMITS, 0},     /* the host process's, open files as the guest's */
    {"/io", ST_FILE, SG_SELFCOPY, 0},       /* the host's counts (the kernel's calls too) */
    {"/statm", ST_FILE, SG_SELFCOPY, 0},    /* the host's (the kernel's memory too) */
    {"/cgroup", ST_FILE, SG_TEXT, "0::/\n"},  /* the root of /sys/fs/cgroup */
    {"/exe", ST_LINK, SL_EXE, 0},
    {"/cwd", ST_LINK, SL_CWD, 0},
    {"/root", ST_LINK, SL_FIXED, "/"},
    /* The network namespace's (synth_net.c): what ifconfig, netstat, ss and
     * psutil read. */
    {"/net", ST_DIR, 0, 0},
    {"/net/dev", ST_FILE, SG_NET, 0},
    {"/net/if_inet6", ST_FILE, SG_NET, 0},
    {"/net/route", ST_FILE, SG_NET, 0},
    {"/net/ipv6_route", ST_FILE, SG_NET, 0},
    {"/net/snmp", ST_FILE, SG_NET, 0},
    {"/net/snmp6", ST_FILE, SG_NET, 0},
    {"/net/netstat", ST_FILE, SG_NET, 0},
    {"/net/sockstat", ST_FILE, SG_NET, 0},
    {"/net/sockstat6", ST_FILE, SG_NET, 0},
    {"/net/tcp", ST_FILE, SG_NET, 0},
    {"/net/tcp6", ST_FILE, SG_NET, 0},
    {"/net/udp", ST_FILE, SG_NET, 0},
    {"/net/udp6", ST_FILE, SG_NET, 0},
    {"/net/unix", ST_FILE, SG_NET, 0},
    {"/net/raw", ST_FILE, SG_NET, 0},
    {"/net/raw6", ST_FILE, SG_NET, 0},
    {"/net/udplite", ST_FILE, SG_NET, 0},
    {"/net/udplite6", ST_FILE, SG_NET, 0},
    {"/net/icmp", ST_FILE, SG_NET, 0},
    {"/net/icmp6", ST_FILE, SG_NET, 0},
    {"/net/arp", ST_FILE, SG_NET, 0},
    {"/net/igmp", ST_FILE, SG_NET, 0},
    {"/net/igmp6", ST_FILE, SG_NET, 0},
    {"/net/dev_mcast", ST_FILE, SG_NET, 0},
    {"/net/protocols", ST_FILE, SG_NET, 0},
    {"/fdinfo", ST_DIR, 0, 0},      /* the host's, per fd (position, flags, mnt_id) */
    {"/task", ST_DIR, 0, 0},        /* its threads: /proc/<pid>/task/<tid> has the same entries */
    {"/fd", ST_DIR, 0, 0},
};
const int synth_np = LS_ARRAY_SIZE(synth_ptab);

static const struct synth_ent fdlink_ent = {"", ST_LINK, 0, 0};
static const struct synth_ent fdhost_ent = {"", ST_FDHOST, 0, 0};
static const struct synth_ent fdinfo_ent = {"", ST_FILE, SG_FDINFO, 0};

/* Whether id is below /proc/<pid> (ptab entries, fd links, fdinfo). */
static int per_process(int id)
{
    return id >= SID_P && id < SID_N;
}

static const struct synth_ent *sent(int id)
{
    if (id >= 0 && id < synth_ng)
        return &synth_gtab[id];
    if (id >= SID_P && id < SID_P + synth_np)
        return &synth_ptab[id - SID_P];
    if (id == SID_FDINFO)
        return &fdinfo_ent;
    if (id >= SID_N && id < SID_N + synth_nn)
        return &synth_ntab[id - SID_N];
    return id == SID_FDLINK || id == SID_OFDLINK ? &fdlink_ent : &fdhost_ent;
}

void synth_fdhost_path(const struct fs_obj *o, char *buf, size_t cap)
{
    if (o->ent == SID_CWDHOST)
        strlcpy(buf, "/proc/self/cwd", cap);
    else if (o->ent == SID_OFDHOST)
        synth_other_fd_path(o->arg, buf, cap);
    else
        ksnprintf(buf, cap, "/proc/self/fd/%d", o->arg);
}

long fs_pid(void)
{
    return hsys0(__NR_getpid);
}

/* Whether the guest shows /dev/tty: while its fd 0 is a terminal, or the
 * caller has a controlling terminal (a session that took one of its own
 * pseudo-terminals with TIOCSCTTY), which the host's /dev/tty then opens. */
int synth_have_tty(void)
{
    unsigned long termios[8];
    if (hsys3(__NR_ioctl, 0, TCGETS, (long)termios) >= 0)
        return 1;
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)"/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC, 0);
    if (fd >= 0)
        hsys1(__NR_close, fd);
    return fd >= 0;
}

static int starts(const char *p, const char *pre)
{
    size_t n = strlen(pre);
    return strncmp(p, pre, n) == 0 && (p[n] == 0 || p[n] == '/');
}

int synth_is_prefix(const char *p)
{
    return starts(p, "/proc") || starts(p, "/sys") || starts(p, "/dev");
}

/* Parses a decimal number that runs to the end of s or to a '/'. */
long synth_parse_num(const char **s)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 0x7fffffff)
            return -1;
    }
    if (*p && *p != '/')
        return -1;
    *s = p;
    return v;
}

int synth_lookup(const char *p, struct fs_obj *o)
{
    o->type = FO_SYNTH;
    o->arg = 0;
    if (strncmp(p, "/proc/", 6) == 0 && p[6] >= '0' && p[6] <= '9') {
        const char *s = p + 6;
        long pid = synth_parse_num(&s);
        if (pid != fs_pid()) {
            /* Another thread of the process by its tid: not listed in /proc
             * but there, as on Linux, with that thread's entries; its task
             * directory is its thread group's (psutil's threads() of a tid). */
            if (pid > 0 && hsys3(__NR_tgkill, fs_pid(), pid, 0) < 0)
                return synth_lookup_other(pid, s, o);
            if (pid <= 0)
                return -ENOENT;
            if (strncmp(s, "/task", 5) != 0)
                o->arg = pid;
        }
        if (!o->arg && strncmp(s, "/task/", 6) == 0) {
            /* A thread of the process: the host's tid (the pid namespace's). */
            s += 6;
            long tid = synth_parse_num(&s);
            if (tid <= 0 || hsys3(__NR_tgkill, fs_pid(), tid, 0) < 0 ||
                strncmp(s, "/task", 5) == 0)
                return -ENOENT;
            o->arg = tid;
        }
        for (int i = 0; i < synth_np; i++)
            if (strcmp(s, synth_ptab[i].path) == 0) {
                o->ent = SID_P + i;
                return 0;
            }
        if (strncmp(s, "/fd/", 4) == 0) {
            s += 4;
            long fd = synth_parse_num(&s);
            if (fd >= 0 && !*s && fd_valid(fd) && fd_host_open(fd)) {
                o->ent = SID_FDLINK;
                o->arg = fd;
                return 0;
            }
        }
        if (strncmp(s, "/fdinfo/", 8) == 0) {
            s += 8;
            long fd = synth_parse_num(&s);
            if (fd >= 0 && fd < 0x10000 && !*s && fd_valid(fd) && fd_host_open(fd)) {
                o->ent = SID_FDINFO;
                o->arg = fd << 15;
                return 0;
            }
        }
        return -ENOENT;
    }
    if (strncmp(p, "/sys/class/net/", 15) == 0)
        return synth_netif_lookup(p + 15, o);
    for (int i = 0; i < synth_ng; i++)
        if (strcmp(p, synth_gtab[i].path) == 0) {
            if (strcmp(p, "/dev/tty") == 0 && !synth_have_tty())
                return -ENOENT;
            o->ent = i;
            return 0;
        }
    return -ENOENT;
}

int synth_in_proc(const char *p)
{
    return strncmp(p, "/proc", 5) == 0 && (p[5] == 0 || p[5] == '/');
}

int synth_seq(int id)
{
    const struct synth_ent *e = sent(id);
    if (e->type != ST_FILE || e->gen == SG_CMDLINE || e->gen == SG_ENVIRON)
        return 0;       /* cmdline and environ are read from memory, with an lseek that can */
    return per_process(id) ||
           (strncmp(e->path, "/proc/", 6) == 0 && strncmp(e->path, "/proc/sys/", 10) != 0);
}

int synth_type(const struct fs_obj *o)
{
    return sent(o->ent)->type;
}

const char *synth_host_path(int id)
{
    return sent(id)->path;
}

static long put_str(const char *s, char *dst, size_t cap)
{
    size_t n = strlen(s);
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(dst, s, n + 1);
    return n;
}

long synth_link_target(const struct fs_obj *o, char *dst, size_t cap)
{
    if (o->ent == SID_FDLINK)
        return fd_copy_path(o->arg, dst, cap);
    const struct synth_ent *e = sent(o->ent);
    if (o->ent == SID_OFDLINK ||
        ((e->gen == SL_EXE || e->gen == SL_CWD) && synth_task_tgid(o->arg) > 0))
        return synth_other_link(o, e->gen, dst, cap);
    char num[24];
    switch (e->gen) {
    case SL_SELF:
        ksnprintf(num, sizeof num, "%ld", fs_pid());
        return put_str(num, dst, cap);
    case SL_THREAD:
        ksnprintf(num, sizeof num, "%ld/task/%ld", fs_pid(), hsys0(__NR_gettid));
        return put_str(num, dst, cap);
    case SL_FIXED:
        return put_str(e->aux, dst, cap);
    case SL_EXE:
        /* The executable's real path, as Linux shows it (not AT_EXECFN). */
        return put_str(ls_prog->exe, dst, cap);
    case SL_CWD: {
        char *c = kmalloc(LS_PATH_MAX);
        if (!c)
            return -ENOMEM;
        cwd_get(c);
        long r = put_str(c, dst, cap);
        kfree(c);
        return r;
    }
    }
    return -EINVAL;
}

long synth_readlink(const struct fs_obj *o, char *buf, size_t size)
{
    if (o->ent == SID_FDLINK && !fd_has_path(o->arg)) {
        char hp[40];
        synth_fdhost_path(o, hp, sizeof hp);
        return hsys4(__NR_readlinkat, AT_FDCWD, (long)hp, (long)buf, size);
    }
    char *t = kmalloc(LS_PATH_MAX);
    if (!t)
        return -ENOMEM;
    long n = synth_link_target(o, t, LS_PATH_MAX);
    if (n >= 0) {
        if ((size_t)n > size)
            n = size;
        memcpy(buf, t, n);
    }
    kfree(t);
    return n;
}

unsigned long synth_ino(const struct fs_obj *o)
{
    if (o->ent == SID_FDLINK || o->ent == SID_FDHOST || o->ent == SID_OFDLINK ||
        o->ent == SID_OFDHOST)
        return 0x20000UL + o->arg;
    return 0x10000UL + o->ent + ((unsigned long)o->arg << 12);   /* arg: a thread's tid */
}

static unsigned long tree_dev(int id)
{
    if (id >= SID_N)
        return FS_DEV_SYS;
    if (id < synth_ng && starts(synth_gtab[id].path, "/sys"))
        return FS_DEV_SYS;
    if (id < synth_ng && starts(synth_gtab[id].path, "/dev"))
        return FS_DEV_DEV;
    return FS_DEV_PROC;
}

void synth_fix_stat(int id, struct stat *st)
{
    st->st_dev = tree_dev(id);
    st->st_ino = 0x10000UL + id;
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_uid = per_process(id) ? K.bi->uid : 0;
    st->st_gid = per_process(id) ? K.bi->gid : 0;
}

long synth_stat(const struct fs_obj *o, struct stat *st)
{
    const struct synth_ent *e = sent(o->ent);
    char hp[40];
    switch (e->type) {
    case ST_CHR:
        return hsys4(__NR_newfstatat, AT_FDCWD, (long)e->path, (long)st, 0);
    case ST_FDHOST:
        synth_fdhost_path(o, hp, sizeof hp);
        return hsys4(__NR_newfstatat, AT_FDCWD, (long)hp, (long)st, 0);
    }
    memset(st, 0, sizeof *st);
    st->st_dev = tree_dev(o->ent);
    st->st_ino = synth_ino(o);
    st->st_blksize = 1024;
    st->st_nlink = 1;
    if (per_process(o->ent)) {
        st->st_uid = K.bi->uid;
        st->st_gid = K.bi->gid;
    }
    if (per_process(o->ent) && synth_task_tgid(o->arg) > 0) {
        /* Another process's: its owner, as the host has it. */
        struct stat hs;
        ksnprintf(hp, sizeof hp, "/proc/%d", o->arg & ((1 << 15) - 1));
        if (hsys4(__NR_newfstatat, AT_FDCWD, (long)hp, (long)&hs, 0) == 0) {
            st->st_uid = hs.st_uid;
            st->st_gid = hs.st_gid;
        }
    }
    if (e->type == ST_DIR) {
        st->st_mode = S_IFDIR | (st->st_dev == FS_DEV_DEV ? 0755 : 0555);
        st->st_nlink = 2;
    } else if (e->type == ST_LINK) {
        st->st_mode = S_IFLNK | 0777;
    } else {
        st->st_mode = S_IFREG | 0444;
    }
    return 0;
}

long synth_open(struct fs_node *n, int flags, int mode)
{
    const struct fs_obj *o = &n->o;
    const struct synth_ent *e = sent(o->ent);
    int acc = flags & O_ACCMODE;
    if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
        return -EEXIST;
    if (e->type == ST_CHR || e->type == ST_FDHOST) {
        char hp[40];
        const char *p = e->path;
        if (e->type == ST_FDHOST) {
            synth_fdhost_path(o, hp, sizeof hp);
            p = hp;
        }
        long fd = hsys4(__NR_openat, AT_FDCWD, (long)p, flags & ~(O_CREAT | O_EXCL), 0);
        return fs_install(fd, e->type == ST_CHR ? KF_HOST : 0, 0, 0, 0, n->path);
    }
    if ((flags & O_DIRECTORY) && e->type != ST_DIR)
        return -ENOTDIR;
    if (e->type == ST_DIR && !(flags & O_PATH) &&
        ((flags & __O_TMPFILE) == __O_TMPFILE || acc != O_RDONLY || (flags & O_CREAT)))
        return (flags & __O_TMPFILE) == __O_TMPFILE ? -EOPNOTSUPP : -EISDIR;
    if (e->type == ST_LINK && !(flags & O_PATH))
        return -ELOOP;
    if (o->ent >= SID_P && o->ent < SID_P + synth_np && synth_task_tgid(o->arg) > 0 &&
        !(flags & O_PATH)) {
        /* Whether the caller may: the host's answer for that process. */
        long r = synth_other_access(o->arg, e->path, e->type == ST_DIR);
        if (r < 0)
            return r;
    }
    if (e->type == ST_FILE && !(flags & O_PATH)) {
        if (acc != O_RDONLY || (flags & O_TRUNC))
            return -EACCES;
        long fd = synth_generate(e, o->arg, flags & O_CLOEXEC);
        return fs_install(fd, KF_HOST, KF_F_SYNTH, o->ent, 0, n->path);
    }
    long fd = hsys3(__NR_fcntl, fs_placeholder_fd,
                    (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
    return fs_install(fd, KF_SYNTH, 0, o->ent, o->arg, n->path);
}

long synth_perm(const struct fs_obj *o, int mode, int flags)
{
    const struct synth_ent *e = sent(o->ent);
    char hp[40];
    switch (e->type) {
    case ST_CHR:
        return hsys4(__NR_faccessat2, AT_FDCWD, (long)e->path, mode, flags & AT_EACCESS);
    case ST_FDHOST:
        synth_fdhost_path(o, hp, sizeof hp);
        return hsys4(__NR_faccessat2, AT_FDCWD, (long)hp, mode, flags & AT_EACCESS);
    case ST_LINK:
        return 0;
    }
    if (mode & 2 /* W_OK */)
        return -EACCES;
    return perm_check(e->type == ST_DIR ? S_IFDIR | 0555 : 0444, 0, 0, mode);
}
