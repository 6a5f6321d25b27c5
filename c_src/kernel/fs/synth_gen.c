/*
 * Contents of the synthetic files, generated at open into a memfd.  Most copy
 * the host's file (the guest runs on the host's CPUs and memory); the
 * per-process ones are the host's with what the guest must see instead:
 *   stat, status  the guest's command name (and uid/gid in status);
 *   maps          without the lines that overlap the kernel's own memory,
 *                 the guest's files named by their guest paths;
 *   cmdline, environ, comm  from the boot-info block;
 *   mounts, mountinfo  the guest's view: the image, the synthetic trees, the volumes;
 *   limits        the host's (the kernel's host process has the guest's limits);
 *   cgroup, /sys/fs/cgroup  a cgroup v2 root holding the limits the guest was
 *                 given (boot info: --memory, --cpus, --pids), as a container
 *                 shows them, whatever the host's own cgroup layout.
 * A thread's files (/proc/<pid>/task/<tid>/...) are the host's of that thread.
 */
#include "synth.h"
#include "proc/proc.h"


struct gbuf {
    int fd;
    long tid;                        /* the thread whose file it is; 0: the process */
    long err;
    size_t n;
    char comm[16];
    char b[2048];
    char line[LS_PATH_MAX + 256];
    char name[LS_PATH_MAX];
};

static void gflush(struct gbuf *g)
{
    if (g->n && !g->err) {
        long r = kwrite_all(g->fd, g->b, g->n);
        if (r < 0)
            g->err = r;
    }
    g->n = 0;
}

static void gput(struct gbuf *g, const char *s, size_t n)
{
    while (n) {
        size_t k = sizeof g->b - g->n;
        if (k > n)
            k = n;
        memcpy(g->b + g->n, s, k);
        g->n += k;
        s += k;
        n -= k;
        if (g->n == sizeof g->b)
            gflush(g);
    }
}

static void gputs(struct gbuf *g, const char *s)
{
    gput(g, s, strlen(s));
}

static long host_open(const char *path)
{
    return hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
}

static long host_read(long fd, char *buf, size_t n)
{
    long r;
    do
        r = hsys3(__NR_read, fd, (long)buf, n);
    while (r == -EINTR);
    return r;
}

static long host_copy(struct gbuf *g, const char *path)
{
    long fd = host_open(path);
    if (fd < 0)
        return fd;
    long r;
    char in[512];
    while ((r = host_read(fd, in, sizeof in)) > 0)
        gput(g, in, r);
    hsys1(__NR_close, fd);
    return r;
}

/* Calls fn for every line (with its '\n') of host file path; over-long
 * lines are cut to the line buffer. */
static long host_lines(struct gbuf *g, const char *path, void (*fn)(struct gbuf *, char *, size_t))
{
    long fd = host_open(path);
    if (fd < 0)
        return fd;
    long r;
    size_t ln = 0;
    char in[512];
    while ((r = host_read(fd, in, sizeof in)) > 0) {
        for (long i = 0; i < r; i++) {
            if (ln < sizeof g->line - 1)
                g->line[ln++] = in[i];
            if (in[i] == '\n') {
                g->line[ln] = 0;
                fn(g, g->line, ln);
                ln = 0;
            }
        }
    }
    if (ln) {
        g->line[ln] = 0;
        fn(g, g->line, ln);
    }
    hsys1(__NR_close, fd);
    return r;
}

/* The host's /proc file name of the process (tid 0) or of thread tid. */
static const char *self_path(char *buf, size_t cap, long tid, const char *name)
{
    if (tid)
        ksnprintf(buf, cap, "/proc/self/task/%ld%s", tid, name);
    else
        ksnprintf(buf, cap, "/proc/self%s", name);
    return buf;
}

/* The guest's command name: the host's, unless that is still the boot
 * stub's ("libsubst..."), then the program's file name (15 bytes, as comm). */
static void guest_comm(struct gbuf *g, long tid)
{
    char host[32] = "";
    char path[48];
    long fd = host_open(self_path(path, sizeof path, tid, "/comm"));
    if (fd >= 0) {
        long r = host_read(fd, host, sizeof host - 1);
        host[r > 0 ? r : 0] = 0;
        hsys1(__NR_close, fd);
    }
    char *nl = strchr(host, '\n');
    if (nl)
        *nl = 0;
    const char *src = host;
    if (!host[0] || strncmp(host, "libsubst", 8) == 0) {
        src = ls_prog->execfn;
        if (!*src && ls_prog->argc)
            src = ls_prog->argv[0];
        src = path_base(src);
    }
    strlcpy(g->comm, src, sizeof g->comm);
}

static void line_stat(struct gbuf *g, char *s, size_t n)
{
    char *open = strchr(s, '(');
    char *close = strrchr(s, ')');
    if (!open || !close || close < open) {
        gput(g, s, n);
        return;
    }
    /* The pid as the guest sees it (its pid namespace's), then its name. */
    char pid[24];
    ksnprintf(pid, sizeof pid, "%ld (", g->tid ? g->tid : fs_pid());
    gputs(g, pid);
    gputs(g, g->comm);
    gputs(g, close);
}

static void line_status(struct gbuf *g, char *s, size_t n)
{
    char tmp[96];
    if (strncmp(s, "Name:", 5) == 0) {
        ksnprintf(tmp, sizeof tmp, "Name:\t%s\n", g->comm);
        gputs(g, tmp);
    } else if (strncmp(s, "Pid:", 4) == 0 || strncmp(s, "Tgid:", 5) == 0 ||
               strncmp(s, "PPid:", 5) == 0) {
        /* As the guest sees them: its pid namespace's. */
        long v = s[0] == 'P' && s[1] == 'P' ? hsys0(__NR_getppid)
                 : s[0] == 'P' && g->tid ? g->tid : fs_pid();
        size_t k = strchr(s, ':') - s + 1;      /* the field's name, at most "PPid:" */
        memcpy(tmp, s, k);
        ksnprintf(tmp + k, sizeof tmp - k, "\t%ld\n", v);
        gputs(g, tmp);
    } else if (strncmp(s, "Uid:", 4) == 0 || strncmp(s, "Gid:", 4) == 0) {
        unsigned id = s[0] == 'U' ? K.bi->uid : K.bi->gid;
        ksnprintf(tmp, sizeof tmp, "%.4s\t%u\t%u\t%u\t%u\n", s, id, id, id, id);
        gputs(g, tmp);
    } else {
        gput(g, s, n);
    }
}

static unsigned long parse_hex(const char **s)
{
    unsigned long v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (c - 'a' + 10);
        else
            return v;
    }
}

/* The guest path of a file maps names by its host path: an image file (or
 * its window of a packed image, by the offset), a volume's file; or NULL. */
static const char *guest_name(struct gbuf *g, const char *host, unsigned long off)
{
    static char image[LS_PATH_MAX];  /* the packed image, as the host names it */
    if (K.image_fd >= 0 && !image[0]) {
        char fdp[40];
        ksnprintf(fdp, sizeof fdp, "/proc/self/fd/%d", K.image_fd);
        long r = hsys4(__NR_readlinkat, AT_FDCWD, (long)fdp, (long)image, sizeof image - 1);
        image[r > 0 ? r : 0] = 0;
    }
    int packed = image[0] && strcmp(host, image) == 0;
    for (int i = 0; i < img_count(); i++) {
        const struct ls_fs_entry *e = img_ent(i);
        if ((e->kind == LS_ENT_HOST_FILE && strcmp(bi_str(e->target), host) == 0) ||
            (packed && e->kind == LS_ENT_IMAGE_FILE && off >= e->data_off &&
             off < e->data_off + e->data_size))
            return img_path(i);
    }
    int best = -1;                   /* the innermost volume holding it */
    size_t best_len = 0;
    for (int i = 0; i < fs_nmnt; i++) {
        size_t hl = strlen(fs_mnt[i].host);
        if (strncmp(host, fs_mnt[i].host, hl) == 0 && host[hl] == '/' && (best < 0 || hl > best_len))
            best = i, best_len = hl;
    }
    if (best < 0)
        return 0;
    size_t gl = fs_mnt[best].glen < sizeof g->name ? fs_mnt[best].glen : 0;
    memcpy(g->name, fs_mnt[best].guest, gl);
    strlcpy(g->name + gl, host + best_len, sizeof g->name - gl);
    return g->name;
}

/* Without the kernel's own memory; files named by their guest paths. */
static void line_maps(struct gbuf *g, char *s, size_t n)
{
    const char *p = s;
    unsigned long lo = parse_hex(&p);
    if (*p == '-') {
        p++;
        unsigned long hi = parse_hex(&p);
        if (hi > lo && mm_is_kernel_range(lo, hi - lo))
            return;
    }
    /* address perms offset dev inode   path */
    unsigned long off = 0;
    p = s;
    for (int field = 0; field < 5; field++) {
        if (field == 2)
            off = parse_hex(&p);
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    if (*p == '/' && s[n - 1] == '\n') {
        s[n - 1] = 0;
        const char *guest = guest_name(g, p, off);
        s[n - 1] = '\n';
        if (guest) {
            gput(g, s, p - s);
            gputs(g, guest);
            gputs(g, "\n");
            return;
        }
    }
    gput(g, s, n);
}

static void put_strings(struct gbuf *g, unsigned count, const char *const *v)
{
    for (unsigned i = 0; i < count; i++)
        gput(g, v[i], strlen(v[i]) + 1);
}

/* A volume's file system type as Linux names it in the mount tables, from
 * statfs(2)'s f_type (linux/magic.h), so df and findmnt show the host's;
 * "volume" for one not listed.  ext2 and ext3 share ext4's magic: Linux
 * mounts them all with the ext4 driver. */
static const char *fs_type_name(long fd)
{
    static const struct {
        unsigned long magic;
        const char *name;
    } names[] = {
        {0xEF53, "ext4"}, {0x01021994, "tmpfs"}, {0x58465342, "xfs"}, {0x9123683E, "btrfs"},
        {0x794C7630, "overlay"}, {0x6969, "nfs"}, {0xF2F52010, "f2fs"}, {0x01021997, "9p"},
        {0x65735546, "fuse"}, {0x858458F6, "ramfs"}, {0x4D44, "vfat"}, {0x2FC12FC1, "zfs"},
        {0x1CD1, "devpts"},
    };
    struct statfs sf;
    if (hsys2(__NR_fstatfs, fd, (long)&sf) == 0)
        for (int i = 0; i < (int)LS_ARRAY_SIZE(names); i++)
            if ((unsigned long)sf.f_type == names[i].magic)
                return names[i].name;
    return "volume";
}

/* A line of /proc/<pid>/limits: the host's, but the open files' limits
 * as the guest's getrlimit has them (proc/misc.c), in Linux's columns. */
static void put_limit(struct gbuf *g, char *line, size_t n)
{
    struct rlimit64 r;
    char out[96], cur[24], max[24];
    if (strncmp(line, "Max open files ", 15) != 0 || sys_prlimit64(0, RLIMIT_NOFILE, 0, &r) < 0) {
        gput(g, line, n);
        return;
    }
    ksnprintf(cur, sizeof cur, "%lu", (unsigned long)r.rlim_cur);   /* numbers pad right only */
    ksnprintf(max, sizeof max, "%lu", (unsigned long)r.rlim_max);
    ksnprintf(out, sizeof out, "%-25s %-20s %-20s %-10s\n", "Max open files", cur, max, "files");
    gputs(g, out);
}

/* The guest's mount table: the image at "/" (its writable layer, a tmpfs,
 * unless --read-only), the synthetic trees, the volumes (named by their
 * guest path; host paths stay hidden).  Line i has mount id 20 + i. */
static const struct {
    const char *dir, *type, *src, *opts;
    unsigned long dev;
} fixed[] = {
    {"/", "ramfs", "libsubst", "ro,relatime", FS_DEV_IMAGE},
    {"/proc", "proc", "proc", "rw,nosuid,nodev,noexec,relatime", FS_DEV_PROC},
    {"/sys", "sysfs", "sysfs", "ro,nosuid,nodev,noexec,relatime", FS_DEV_SYS},
    {"/sys/fs/cgroup", "cgroup2", "cgroup2", "ro,nosuid,nodev,noexec,relatime", FS_DEV_SYS},
    {"/dev", "devtmpfs", "devtmpfs", "rw,nosuid,relatime", FS_DEV_DEV},
};
#define MOUNT_ID_BASE 20

static size_t mount_match(const char *dir, size_t dl, const char *p)
{
    if (dl == 1 && dir[0] == '/')
        return 1;                       /* "/" holds everything */
    return strncmp(p, dir, dl) == 0 && (p[dl] == 0 || p[dl] == '/') ? dl : 0;
}

int fs_mount_id(const char *p)
{
    int n = LS_ARRAY_SIZE(fixed), best = 0;
    size_t best_len = 0, l;
    for (int i = 0; i < n; i++)
        if ((l = mount_match(fixed[i].dir, strlen(fixed[i].dir), p)) > best_len)
            best = i, best_len = l;
    for (int i = 0; i < fs_nmnt; i++)
        if (i != fs_upper && (l = mount_match(fs_mnt[i].guest, fs_mnt[i].glen, p)) > best_len)
            best = n + i, best_len = l;
    return MOUNT_ID_BASE + best;
}

static void put_mounts(struct gbuf *g, int info)
{
    char line[128];
    int n = LS_ARRAY_SIZE(fixed);
    for (int i = 0; i < n + fs_nmnt; i++) {
        const char *dir, *type = "volume", *src = "volume", *opts;
        size_t dl;
        unsigned long dev = 0;
        struct stat st;
        if (fs_upper >= 0 && i == n + fs_upper)
            continue;                   /* shown as "/" */
        if (i < n) {
            dir = fixed[i].dir;
            dl = strlen(dir);
            type = fixed[i].type;
            src = fixed[i].src;
            opts = fixed[i].opts;
            dev = fixed[i].dev;
            if (i == 0 && fs_upper >= 0) {
                type = "tmpfs";
                opts = "rw,relatime";
                if (hsys2(__NR_fstat, fs_mnt[fs_upper].root, (long)&st) == 0)
                    dev = st.st_dev;
            }
        } else {
            const struct vmount *v = &fs_mnt[i - n];
            dir = v->glen ? v->guest : "/";
            dl = v->glen ? v->glen : 1;
            opts = v->ro ? "ro,relatime" : "rw,relatime";
            type = fs_type_name(v->root);
            if (hsys2(__NR_fstat, v->root, (long)&st) == 0)
                dev = st.st_dev;
        }
        if (info) {
            ksnprintf(line, sizeof line, "%d %d %u:%u / ", MOUNT_ID_BASE + i,
                      i ? MOUNT_ID_BASE : 1, FS_MAJOR(dev),
                      FS_MINOR(dev));
            gputs(g, line);
            gput(g, dir, dl);
            ksnprintf(line, sizeof line, " %s - %s %s %s\n", opts, type, src, opts);
        } else {
            gputs(g, src);
            gputs(g, " ");
            gput(g, dir, dl);
            ksnprintf(line, sizeof line, " %s %s 0 0\n", type, opts);
        }
        gputs(g, line);
    }
}

/* /sys/fs/cgroup's limit files, from the boot info (0: no limit). */
static long put_cgroup(struct gbuf *g, const char *name)
{
    char v[48] = "max";
    if (strcmp(name, "memory.max") == 0 && K.bi->mem_max)
        ksnprintf(v, sizeof v, "%lu", (unsigned long)K.bi->mem_max);
    else if (strcmp(name, "pids.max") == 0 && K.bi->pids_max)
        ksnprintf(v, sizeof v, "%u", K.bi->pids_max);
    else if (strcmp(name, "cpu.max") == 0)
        /* quota and period in µs: N CPUs' worth of every 100 ms */
        ksnprintf(v, sizeof v, K.bi->cpus ? "%u00000 100000" : "max 100000", K.bi->cpus);
    gputs(g, v);
    gputs(g, "\n");
    return 0;
}

static long fill(struct gbuf *g, const struct synth_ent *e)
{
    const char *path = e->path;
    char hp[64];
    switch (e->gen) {
    case SG_HOSTCOPY:
        return host_copy(g, path);
    case SG_LIMITS:
        return host_lines(g, self_path(hp, sizeof hp, g->tid, path), put_limit);
    case SG_TEXT:
        gputs(g, e->aux);
        return 0;
    case SG_CGROUP:
        return put_cgroup(g, path_base(path));
    case SG_HOSTNAME:
        if (!*bi_str(K.bi->hostname))
            return host_copy(g, path);
        gputs(g, bi_str(K.bi->hostname));
        gputs(g, "\n");
        return 0;
    case SG_STAT:
        guest_comm(g, g->tid);
        return host_lines(g, self_path(hp, sizeof hp, g->tid, "/stat"), line_stat);
    case SG_STATUS:
        guest_comm(g, g->tid);
        return host_lines(g, self_path(hp, sizeof hp, g->tid, "/status"), line_status);
    case SG_MAPS:
        return host_lines(g, "/proc/self/maps", line_maps);
    case SG_CMDLINE:
        put_strings(g, ls_prog->argc, ls_prog->argv);
        return 0;
    case SG_ENVIRON:
        put_strings(g, ls_prog->envc, ls_prog->envp);
        return 0;
    case SG_MOUNTS:
    case SG_MOUNTINFO:
        put_mounts(g, e->gen == SG_MOUNTINFO);
        return 0;
    case SG_COMM:
        guest_comm(g, g->tid);
        gputs(g, g->comm);
        gputs(g, "\n");
        return 0;
    }
    return -EINVAL;
}

long synth_generate(const struct synth_ent *e, long tid, int cloexec)
{
    struct gbuf *g = kmalloc(sizeof *g);
    if (!g)
        return -ENOMEM;
    long fd = fs_memfd_new(path_base(e->path), cloexec);
    if (fd >= 0) {
        g->fd = fd;
        g->tid = tid;
        g->err = 0;
        g->n = 0;
        long r = fill(g, e);
        gflush(g);
        if (r < 0 || g->err < 0) {
            hsys1(__NR_close, fd);
            fd = r < 0 ? r : g->err;
        } else {
            fd = fs_memfd_seal(fd, 0444);
        }
    }
    kfree(g);
    return fd;
}
