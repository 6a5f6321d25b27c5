/*
 * Attributes and permission checks on a path: access, chmod, chown,
 * utimensat (and its older forms), truncate.  A volume object is opened
 * beneath its mount (O_PATH, following the last symlink or not) and the host
 * call applied to that fd with AT_EMPTY_PATH, so a symlink in the volume
 * cannot lead the change outside it.  Image objects are read-only (EROFS);
 * synthetic ones refuse changes (EPERM).
 */
#include "fs.h"

/* Walks path; for a volume node also opens it O_PATH into *vfd (else -1). */
static long attr_walk(int dirfd, const char *path, int follow, struct fs_node *n, long *vfd,
                      int modify)
{
    *vfd = -1;
    long r = fs_walk(dirfd, path, follow ? W_FOLLOW : 0, n);
    if (r == 0 && modify)
        r = upper_copy_up(n, 1);
    if (r < 0 || n->o.type != FO_VOLUME)
        return r;
    if (n->absent)
        return -ENOENT;                 /* the layer's answer (walk_down) */
    if (modify && vol_ro(n))
        return -EROFS;
    *vfd = vol_path(n, follow ? 0 : O_NOFOLLOW);
    return *vfd < 0 ? *vfd : 0;
}

/* Whether fd is the image's (a file's, a stub's in the writable root, or a
 * directory's): its st_dev does not tell, a stub's being the layer's. */
static int image_fd(long fd)
{
    struct kofd *o = fd_get(fd);
    int image = o && (o->kind == KF_IMAGE || (o->flags & KF_F_IMAGE));
    kofd_put(o);
    return image;
}

static long node_refuse(const struct fs_node *n)
{
    return n->o.type == FO_IMAGE ? -EROFS : -EPERM;
}

/* Implements faccessat2(2); differs from Linux in: image and synthetic
 * objects are checked against their presented mode with the guest's uid
 * (root passes read and write; W_OK on the image is EROFS). */
long sys_faccessat2(int dirfd, const char *path, int mode, int flags)
{
    if (mode & ~7)
        return -EINVAL;
    if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    if ((flags & AT_EMPTY_PATH) && path && !*path && dirfd == AT_FDCWD)
        path = ".";
    if ((flags & AT_EMPTY_PATH) && path && !*path) {
        struct stat st;
        long r = stat_fd(dirfd, &st);
        if (r < 0)
            return r;
        int image = image_fd(dirfd);
        if ((mode & 2) && image)
            return -EROFS;
        if (image || st.st_dev == FS_DEV_PROC || st.st_dev == FS_DEV_SYS)
            return perm_check(st.st_mode, st.st_uid, st.st_gid, mode);
        return hsys4(__NR_faccessat2, dirfd, (long)"", mode, flags & (AT_EACCESS | AT_EMPTY_PATH));
    }
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long fd;
    long r = attr_walk(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), n, &fd, 0);
    if (r == 0 && fd >= 0) {
        r = hsys4(__NR_faccessat2, fd, (long)"", mode, AT_EMPTY_PATH | (flags & AT_EACCESS));
        if (r == 0 && (mode & 2) && vol_ro(n))
            r = -EROFS;
    } else if (r == 0 && n->o.type == FO_IMAGE) {
        r = img_perm(n->o.ent, mode, n->o.mode != 0);
    } else if (r == 0) {
        r = synth_perm(&n->o, mode, flags);
    }
    if (fd >= 0)
        hsys1(__NR_close, fd);
    node_free(n);
    return r;
}

/* Implements faccessat(2) as faccessat2(..., 0). */
long sys_faccessat(int dirfd, const char *path, int mode)
{
    return sys_faccessat2(dirfd, path, mode, 0);
}

/* Implements access(2) as faccessat2(AT_FDCWD, ..., 0). */
long sys_access(const char *path, int mode)
{
    return sys_faccessat2(AT_FDCWD, path, mode, 0);
}

/* Implements fchmodat(2); differs from Linux in: the image is read-only,
 * synthetic objects refuse (EPERM). */
long sys_fchmodat(int dirfd, const char *path, int mode)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long fd;
    long r = attr_walk(dirfd, path, 1, n, &fd, 1);
    if (r == 0 && fd >= 0) {
        r = hsys4(__NR_fchmodat2, fd, (long)"", mode, AT_EMPTY_PATH);
        if (r == -ENOSYS) {
            /* Hosts before Linux 6.6: chmod through the fd's magic link. */
            char hp[40];
            ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", fd);
            r = hsys2(__NR_chmod, (long)hp, mode);
        }
    } else if (r == 0) {
        r = node_refuse(n);
    }
    if (fd >= 0)
        hsys1(__NR_close, fd);
    node_free(n);
    return r;
}

/* Implements chmod(2) as fchmodat(AT_FDCWD, ...). */
long sys_chmod(const char *path, int mode)
{
    return sys_fchmodat(AT_FDCWD, path, mode);
}

/* A plain host fd (not an image or synthetic object): host calls on it are right. */
static int plain_fd(long fd)
{
    if (!fd_valid(fd))
        return 0;
    struct kofd *o = fd_get(fd);
    int plain = kofd_plain(o);
    kofd_put(o);
    return plain;
}

/* Why a change to a non-plain fd is refused: the image is read-only. */
static long fd_refuse(long fd)
{
    return image_fd(fd) ? -EROFS : -EPERM;
}

/* Whether an attribute change may act on fd with a host call: a plain host
 * fd, or the fd of a stub of the writable root, which the change copies up
 * (as overlayfs does) and the fd then is the copy's.  0, or -errno. */
static long changeable_fd(long fd)
{
    if (!fd_valid(fd))
        return -EBADF;
    if (plain_fd(fd))
        return 0;
    long r = upper_copy_up_fd(fd);
    if (r < 0)
        return r;
    return plain_fd(fd) ? 0 : fd_refuse(fd);
}

/* Implements fchmod(2); differs from Linux in: an image fd that cannot be
 * copied up (a read-only root, or its file no longer at its path) refuses
 * (EROFS), and a synthetic one (EPERM), instead of reaching the host file
 * behind them. */
long sys_fchmod(int fd, int mode)
{
    long r = changeable_fd(fd);
    return r < 0 ? r : hsys2(__NR_fchmod, fd, mode);
}

/* Implements fchown(2); as fchmod for image and synthetic fds. */
long sys_fchown(int fd, int uid, int gid)
{
    long r = changeable_fd(fd);
    return r < 0 ? r : hsys3(__NR_fchown, fd, uid, gid);
}

/* Implements fchownat(2); differs from Linux in: the image is read-only,
 * synthetic objects refuse (EPERM). */
long sys_fchownat(int dirfd, const char *path, int uid, int gid, int flags)
{
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    if ((flags & AT_EMPTY_PATH) && path && !*path) {
        long r = changeable_fd(dirfd);
        return r < 0 ? r : hsys5(__NR_fchownat, dirfd, (long)"", uid, gid, AT_EMPTY_PATH);
    }
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long fd;
    int follow = !(flags & AT_SYMLINK_NOFOLLOW);
    long r = attr_walk(dirfd, path, follow, n, &fd, 1);
    if (r == 0 && fd >= 0)
        r = hsys5(__NR_fchownat, fd, (long)"", uid, gid,
                  AT_EMPTY_PATH | (follow ? 0 : AT_SYMLINK_NOFOLLOW));
    else if (r == 0)
        r = node_refuse(n);
    if (fd >= 0)
        hsys1(__NR_close, fd);
    node_free(n);
    return r;
}

/* Implements chown(2) as fchownat(AT_FDCWD, ..., 0). */
long sys_chown(const char *path, int uid, int gid)
{
    return sys_fchownat(AT_FDCWD, path, uid, gid, 0);
}

/* Implements lchown(2) as fchownat(AT_FDCWD, ..., AT_SYMLINK_NOFOLLOW). */
long sys_lchown(const char *path, int uid, int gid)
{
    return sys_fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW);
}

/* Implements utimensat(2), including the NULL-path form on an fd; differs
 * from Linux in: the image is read-only, synthetic objects refuse (EPERM). */
long sys_utimensat(int dirfd, const char *path, const struct __kernel_timespec *times, int flags)
{
    struct __kernel_timespec kt[2];
    if (times && copy_from_user(kt, times, sizeof kt) < 0)
        return -EFAULT;
    times = times ? kt : 0;
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    if (!path || ((flags & AT_EMPTY_PATH) && !*path)) {
        if (!path && (flags & AT_SYMLINK_NOFOLLOW))
            return -EINVAL;
        long r = changeable_fd(dirfd);
        return r < 0 ? r : hsys4(__NR_utimensat, dirfd, (long)path, (long)times, flags);
    }
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long fd;
    int follow = !(flags & AT_SYMLINK_NOFOLLOW);
    long r = attr_walk(dirfd, path, follow, n, &fd, 1);
    if (r == 0 && fd >= 0)
        r = hsys4(__NR_utimensat, fd, (long)"", (long)times,
                  AT_EMPTY_PATH | (follow ? 0 : AT_SYMLINK_NOFOLLOW));
    else if (r == 0)
        r = node_refuse(n);
    if (fd >= 0)
        hsys1(__NR_close, fd);
    node_free(n);
    return r;
}

/* Implements futimesat(2) through utimensat (microseconds to nanoseconds). */
long sys_futimesat(int dirfd, const char *path, const struct __kernel_old_timeval *tv)
{
    struct __kernel_timespec ts[2];
    struct __kernel_old_timeval k[2];
    if (tv && copy_from_user(k, tv, sizeof k) < 0)
        return -EFAULT;
    if (tv) {
        for (int i = 0; i < 2; i++) {
            if (k[i].tv_usec < 0 || k[i].tv_usec >= 1000000)
                return -EINVAL;
            ts[i].tv_sec = k[i].tv_sec;
            ts[i].tv_nsec = k[i].tv_usec * 1000;
        }
    }
    return sys_utimensat(dirfd, path, tv ? ts : 0, 0);
}

/* Implements utimes(2) as futimesat(AT_FDCWD, ...). */
long sys_utimes(const char *path, const struct __kernel_old_timeval *tv)
{
    if (!path)
        return -EFAULT;
    return sys_futimesat(AT_FDCWD, path, tv);
}

/* Implements utime(2) through utimensat (whole seconds). */
long sys_utime(const char *path, const struct utimbuf *times)
{
    struct __kernel_timespec ts[2];
    struct utimbuf k;
    if (!path || (times && copy_from_user(&k, times, sizeof k) < 0))
        return -EFAULT;
    if (times) {
        ts[0].tv_sec = k.actime;
        ts[0].tv_nsec = 0;
        ts[1].tv_sec = k.modtime;
        ts[1].tv_nsec = 0;
    }
    return sys_utimensat(AT_FDCWD, path, times ? ts : 0, 0);
}

/* Implements truncate(2); differs from Linux in: the image is read-only,
 * synthetic files refuse (EACCES). */
long sys_truncate(const char *path, long length)
{
    if (length < 0)
        return -EINVAL;
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(AT_FDCWD, path, W_FOLLOW, n);
    if (r == 0 && (r = fs_text_busy(n)) == 0)
        r = upper_copy_up(n, length > 0);
    if (r == 0 && n->o.type == FO_VOLUME) {
        /* By path, as Linux does it: an open for writing would show as
         * IN_OPEN and IN_CLOSE_WRITE to inotify watchers. */
        long fd = vol_ro(n) ? -EROFS : vol_path(n, 0);
        r = fd;
        if (fd >= 0) {
            char hp[32];
            ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", fd);
            r = hsys2(__NR_truncate, (long)hp, length);
            hsys1(__NR_close, fd);
        }
    } else if (r == 0) {
        r = obj_is_dir(&n->o) ? -EISDIR : n->o.type == FO_IMAGE ? -EROFS : -EACCES;
    }
    node_free(n);
    return r;
}
