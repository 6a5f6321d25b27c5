/*
 * The synthetic files that describe the guest's mounts and limits:
 * /proc/<pid>/mounts, mountinfo and mountstats, /sys/fs/cgroup's limit files, the open
 * files line of /proc/<pid>/limits
 * (generated into synth_gen.c's buffer).
 */
#include "synth.h"
#include "proc/proc.h"

/* A volume's file system type as Linux names it in the mount tables, from
 * statfs(2)'s f_type (linux/magic.h), so df and findmnt show the host's;
 * "volume" for one not listed.  ext2 and ext3 share ext4's magic: Linux
 * mounts them all with the ext4 driver. */
static const char *fs_type_name(long fd)
{
    /* Names in place, not pointers: the table needs no relocation and
     * stays read-only data, where no magic number passes for a code address
     * (kernel/specialize.py reads writable words as possible pointers). */
    static const struct {
        unsigned long magic;
        char name[8];
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
        if (i != fs_upper && !fs_mnt[i].sys &&
            (l = mount_match(fs_mnt[i].guest, fs_mnt[i].glen, p)) > best_len)
            best = n + i, best_len = l;
    return MOUNT_ID_BASE + best;
}

void synth_put_mounts(struct gbuf *g, int form)
{
    char line[128];
    int n = LS_ARRAY_SIZE(fixed);
    for (int i = 0; i < n + fs_nmnt; i++) {
        const char *dir, *type = "volume", *src = "volume", *opts;
        size_t dl;
        unsigned long dev = 0;
        struct stat st;
        if (i >= n && (i == n + fs_upper || fs_mnt[i - n].sys))
            continue;                   /* shown as "/", or part of /sys */
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
        if (form == MOUNTS_STATS) {
            synth_gputs(g, "device ");
            synth_gputs(g, src);
            synth_gputs(g, " mounted on ");
            synth_gput(g, dir, dl);
            ksnprintf(line, sizeof line, " with fstype %s\n", type);
        } else if (form == MOUNTS_INFO) {
            ksnprintf(line, sizeof line, "%d %d %u:%u / ", MOUNT_ID_BASE + i,
                      i ? MOUNT_ID_BASE : 1, FS_MAJOR(dev), FS_MINOR(dev));
            synth_gputs(g, line);
            synth_gput(g, dir, dl);
            ksnprintf(line, sizeof line, " %s - %s %s %s\n", opts, type, src, opts);
        } else {
            synth_gputs(g, src);
            synth_gputs(g, " ");
            synth_gput(g, dir, dl);
            ksnprintf(line, sizeof line, " %s %s 0 0\n", type, opts);
        }
        synth_gputs(g, line);
    }
}

/* /sys/fs/cgroup's limit files, from the boot info (0: no limit). */
long synth_put_cgroup(struct gbuf *g, const char *name)
{
    char v[48] = "max";
    if (strcmp(name, "memory.max") == 0 && K.bi->mem_max)
        ksnprintf(v, sizeof v, "%lu", (unsigned long)K.bi->mem_max);
    else if (strcmp(name, "pids.max") == 0 && K.bi->pids_max)
        ksnprintf(v, sizeof v, "%u", K.bi->pids_max);
    else if (strcmp(name, "cpu.max") == 0)
        /* quota and period in µs: N CPUs' worth of every 100 ms */
        ksnprintf(v, sizeof v, K.bi->cpus ? "%u00000 100000" : "max 100000", K.bi->cpus);
    synth_gputs(g, v);
    synth_gputs(g, "\n");
    return 0;
}

/* A line of /proc/<pid>/limits: the host's, but the open files' limits
 * as the guest's getrlimit has them (proc/misc.c), in Linux's columns. */
void synth_put_limit(struct gbuf *g, char *line, size_t n)
{
    struct rlimit64 r;
    char out[96], cur[24], max[24];
    /* Another process's is its host line. */
    if (strncmp(line, "Max open files ", 15) != 0 || g->other ||
        sys_prlimit64(0, RLIMIT_NOFILE, 0, &r) < 0) {
        synth_gput(g, line, n);
        return;
    }
    ksnprintf(cur, sizeof cur, "%lu", (unsigned long)r.rlim_cur);   /* numbers pad right only */
    ksnprintf(max, sizeof max, "%lu", (unsigned long)r.rlim_max);
    ksnprintf(out, sizeof out, "%-25s %-20s %-20s %-10s\n", "Max open files", cur, max, "files");
    synth_gputs(g, out);
}
