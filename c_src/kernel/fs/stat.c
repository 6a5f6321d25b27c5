/*
 * Metadata: the stat family and statfs.  Volume objects and plain host fds
 * are the host's answer.  Image objects are presented with one fixed device
 * number (FS_DEV_IMAGE), inode = entry index + 1, owner root, the entry's
 * mode; an image file keeps its host size and times.  Synthetic objects look
 * like procfs/sysfs ones (size 0, 0444 files, 0555 directories).
 */
#include "fs.h"

long stat_node(struct fs_node *n, int follow, struct stat *st)
{
    if (n->o.type == FO_VOLUME)
        return vol_stat(n, follow, st);
    if (n->o.type == FO_IMAGE) {
        long r = img_stat(n->o.ent, n->path, st);
        if (r == 0)
            upper_identity(&n->o, st);
        return r;
    }
    return synth_stat(&n->o, st);
}

static long stat_path(long dirfd, const char *path, int follow, struct stat *st)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(dirfd, path, follow ? W_FOLLOW : 0, n);
    if (r == 0)
        r = stat_node(n, follow, st);
    node_free(n);
    return r;
}

long stat_fd(long fd, struct stat *st)
{
    if (fd == AT_FDCWD)
        return stat_path(AT_FDCWD, ".", 1, st);
    if (!fd_valid(fd))
        return -EBADF;
    struct kofd *o = fd_get(fd);
    long r;
    if (o && (o->flags & KF_F_BASED)) {
        r = img_stat(o->ent, o->path ? o->path : "/", st);
        if (r == 0)
            upper_identity_at(o->path, o->ent, st);
    } else if (!o || o->kind == KF_HOST) {
        r = hsys2(__NR_fstat, fd, (long)st);
        if (r == 0 && o && (o->flags & KF_F_IMAGE)) {
            img_fix_stat(o->ent, st);
            upper_identity_at(o->path, o->ent, st);
        } else if (r == 0 && o && (o->flags & KF_F_SYNTH)) {
            synth_fix_stat(o->ent, st);
        }
    } else if (o->kind == KF_IMAGE) {
        r = img_stat(o->ent, o->path ? o->path : "/", st);
        if (r == 0 && o->ent >= 0)
            upper_identity_at(o->path, o->ent, st);
    } else {
        struct fs_obj so = {FO_SYNTH, o->ent, o->arg};
        r = synth_stat(&so, st);
    }
    kofd_put(o);
    return r;
}

/* A result built in kernel memory, out to the guest's buffer: r, or -EFAULT. */
static long put_user(long r, void *ubuf, const void *k, size_t n)
{
    return r == 0 && copy_to_user(ubuf, k, n) < 0 ? -EFAULT : r;
}

/* An fd's own stat into the guest's st.  The host's object as it is (a
 * volume's file, a pipe, a socket: what glibc's fstat of a file nginx
 * serves asks) is the host's fstat into st itself: no copy through the
 * kernel, and no frame between the host and the guest but the handler's.
 * A bad st is the host's EFAULT, as it would be copy_to_user's.  Inlined:
 * a frame is an unpredicted return after the host call. */
static inline __attribute__((always_inline)) long stat_fd_user(long fd, struct stat *st)
{
    int plain = fd_stat_plain(fd);      /* its byte: no lock taken, no entry held */
    if (plain < 0 && fd >= 0 && fd_valid(fd)) {
        struct kofd *o = fd_get(fd);
        plain = kofd_plain(o);
        kofd_put(o);
    }
    if (plain > 0)
        return hsys2(__NR_fstat, fd, (long)st);
    struct stat k;
    return put_user(stat_fd(fd, &k), st, &k, sizeof k);
}

/* Implements fstat(2); differs from Linux in: image files and directories
 * are presented as the image's (see stat.c). */
long sys_fstat(int fd, struct stat *st)
{
    return stat_fd_user(fd, st);
}

/* Implements stat(2). */
long sys_stat(const char *path, struct stat *st)
{
    struct stat k;
    return put_user(stat_path(AT_FDCWD, path, 1, &k), st, &k, sizeof k);
}

/* Implements lstat(2). */
long sys_lstat(const char *path, struct stat *st)
{
    struct stat k;
    return put_user(stat_path(AT_FDCWD, path, 0, &k), st, &k, sizeof k);
}

/* Implements newfstatat(2) (glibc's stat, fstat and lstat all come here). */
long sys_newfstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    struct stat k;
    /* An fd's own stat, whatever else flags holds, as Linux's vfs_fstatat
     * (6.11 on) answers it before looking at them. */
    if ((flags & AT_EMPTY_PATH) && (!path || !*path) && dirfd >= 0)
        return stat_fd_user(dirfd, st);
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
        return -EINVAL;
    if ((flags & AT_EMPTY_PATH) && (!path || !*path))
        return put_user(stat_fd(dirfd, &k), st, &k, sizeof k);
    return put_user(stat_path(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &k), st, &k, sizeof k);
}

static void stat_to_statx(const struct stat *st, struct statx *sx)
{
    memset(sx, 0, sizeof *sx);
    sx->stx_mask = STATX_BASIC_STATS;
    sx->stx_blksize = st->st_blksize;
    sx->stx_nlink = st->st_nlink;
    sx->stx_uid = st->st_uid;
    sx->stx_gid = st->st_gid;
    sx->stx_mode = st->st_mode;
    sx->stx_ino = st->st_ino;
    sx->stx_size = st->st_size;
    sx->stx_blocks = st->st_blocks;
    sx->stx_atime.tv_sec = st->st_atime;
    sx->stx_atime.tv_nsec = st->st_atime_nsec;
    sx->stx_mtime.tv_sec = st->st_mtime;
    sx->stx_mtime.tv_nsec = st->st_mtime_nsec;
    sx->stx_ctime.tv_sec = st->st_ctime;
    sx->stx_ctime.tv_nsec = st->st_ctime_nsec;
    sx->stx_rdev_major = FS_MAJOR(st->st_rdev);
    sx->stx_rdev_minor = FS_MINOR(st->st_rdev);
    sx->stx_dev_major = FS_MAJOR(st->st_dev);
    sx->stx_dev_minor = FS_MINOR(st->st_dev);
}

/* statx of a volume object: as vol_stat, one host call unless a symlink
 * is to be followed.  The host writes a kernel copy, so what decides the
 * walk is never the guest's memory. */
static long vol_statx(struct fs_node *n, int follow, int sync, unsigned mask, struct statx *sx)
{
    struct statx k;
    if (n->absent)
        return -ENOENT;                 /* the layer's answer (walk_down) */
    /* The mount id is vol_statx_resolved's own ask: not when the guest's. */
    if (!(mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE)) &&
        vol_statx_resolved(n, sync, mask, &k) == 0 && !(follow && S_ISLNK(k.stx_mode)))
        return put_user(0, sx, &k, sizeof k);
    const char *name;
    int owned;
    long r, dir = vol_at(n, &name, &owned);
    if (dir >= 0) {
        r = hsys5(__NR_statx, dir, (long)name, AT_SYMLINK_NOFOLLOW | sync, mask,
                  (long)&k);
        if (owned)
            hsys1(__NR_close, dir);
        if (r < 0 || !follow || (k.stx_mode & S_IFMT) != S_IFLNK)
            return put_user(r, sx, &k, sizeof k);
    } else if (dir != -EAGAIN) {
        return dir;
    }
    long fd = vol_path(n, follow ? 0 : O_NOFOLLOW);
    if (fd < 0)
        return fd;
    r = hsys5(__NR_statx, fd, (long)"", AT_EMPTY_PATH | sync, mask, (long)sx);
    hsys1(__NR_close, fd);
    return r;
}

/* Implements statx(2); differs from Linux in: image and synthetic objects
 * report only STATX_BASIC_STATS. */
long sys_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
    struct stat st;
    long r;
    int sync = flags & AT_STATX_SYNC_TYPE;
    if ((flags & AT_EMPTY_PATH) && (!path || !*path)) {
        if (dirfd != AT_FDCWD) {
            if (!fd_valid(dirfd))
                return -EBADF;
            struct kofd *o = fd_get(dirfd);
            int plain = kofd_plain(o);
            kofd_put(o);
            if (plain)
                return hsys5(__NR_statx, dirfd, (long)"", AT_EMPTY_PATH | sync, mask, (long)sx);
        }
        r = stat_fd(dirfd, &st);
    } else {
        struct fs_node *n = node_new();
        if (!n)
            return -ENOMEM;
        int follow = !(flags & AT_SYMLINK_NOFOLLOW);
        r = fs_walk(dirfd, path, follow ? W_FOLLOW : 0, n);
        if (r == 0 && n->o.type == FO_VOLUME) {
            r = vol_statx(n, follow, sync, mask, sx);
            node_free(n);
            return r;
        }
        if (r == 0)
            r = stat_node(n, follow, &st);
        node_free(n);
    }
    struct statx k;
    if (r == 0)
        stat_to_statx(&st, &k);
    return put_user(r, sx, &k, sizeof k);
}

#define RAMFS_MAGIC 0x858458f6
#define PROC_SUPER_MAGIC 0x9fa0
#define SYSFS_MAGIC 0x62656572
#define TMPFS_MAGIC 0x01021994

/* A read-only RAM file system for the image; procfs/sysfs/tmpfs for the rest. */
static void fake_statfs(unsigned long dev, struct statfs *sf)
{
    memset(sf, 0, sizeof *sf);
    sf->f_bsize = 4096;
    sf->f_frsize = 4096;
    sf->f_namelen = 255;
    sf->f_flags = FS_ST_VALID;
    if (dev == FS_DEV_IMAGE) {
        sf->f_type = RAMFS_MAGIC;
        sf->f_files = img_count();
        sf->f_flags |= FS_ST_RDONLY;
    } else {
        sf->f_type = dev == FS_DEV_PROC ? PROC_SUPER_MAGIC
                     : dev == FS_DEV_SYS ? SYSFS_MAGIC : TMPFS_MAGIC;
    }
    sf->f_fsid.val[0] = (int)FS_MINOR(dev);
}

/* Implements statfs(2); differs from Linux in: the image is a read-only
 * ramfs with no free space (with --read-only; else its files are the
 * writable root's layer's); /proc, /sys, /dev report procfs, sysfs, tmpfs. */
long sys_statfs(const char *path, struct statfs *sf)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(AT_FDCWD, path, W_FOLLOW, n);
    if (r == 0 && n->o.type == FO_IMAGE && n->o.mode) {
        r = hsys2(__NR_fstatfs, fs_mnt[fs_upper].root, (long)sf);  /* a stub: the layer's */
    } else if (r == 0 && n->o.type == FO_VOLUME) {
        long fd = vol_path(n, 0);
        r = fd;
        if (fd >= 0) {
            r = hsys2(__NR_fstatfs, fd, (long)sf);
            hsys1(__NR_close, fd);
        }
    } else if (r == 0) {
        struct stat st;
        struct statfs k;
        r = stat_node(n, 1, &st);
        if (r == 0)
            fake_statfs(n->o.type == FO_IMAGE ? FS_DEV_IMAGE : st.st_dev, &k);
        r = put_user(r, sf, &k, sizeof k);
    }
    node_free(n);
    return r;
}

/* Implements fstatfs(2); as statfs for image and synthetic fds. */
long sys_fstatfs(int fd, struct statfs *sf)
{
    if (!fd_valid(fd))
        return -EBADF;
    struct kofd *o = fd_get(fd);
    int plain = kofd_plain(o);
    /* A file of the image opened in the writable root is a stub of the layer. */
    int stub = fs_upper >= 0 && o && o->kind == KF_HOST && (o->flags & KF_F_IMAGE) && o->path &&
               vol_find(o->path) < 0 && !synth_is_prefix(o->path);
    kofd_put(o);
    if (plain)
        return hsys2(__NR_fstatfs, fd, (long)sf);
    if (stub)
        return hsys2(__NR_fstatfs, fs_mnt[fs_upper].root, (long)sf);
    struct stat st;
    struct statfs k;
    long r = stat_fd(fd, &st);
    if (r == 0)
        fake_statfs(st.st_dev, &k);
    return put_user(r, sf, &k, sizeof k);
}
