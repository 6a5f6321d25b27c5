/*
 * The synthetic files that describe the guest's mounts and limits:
 * /proc/<pid>/mounts and mountinfo, /sys/fs/cgroup's limit files
 * (generated into synth_gen.c's buffer).
 */
#include "synth.h"

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
 * guest path; host paths stay hidden). */
void synth_put_mounts(struct gbuf *g, int info)
{
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
            ksnprintf(line, sizeof line, "%d %d %u:%u / ", 20 + i, i ? 20 : 1, FS_MAJOR(dev),
                      FS_MINOR(dev));
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
