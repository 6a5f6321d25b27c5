/*
 * File handles: name_to_handle_at(2) and open_by_handle_at(2), as a
 * container's root has them.  A handle is the host file system's, made on
 * the file the guest named (resolved here, by an O_PATH open); the mount id
 * is the guest's own, the one its /proc/self/mountinfo shows for the mount
 * serving that path.  Opening by handle needs CAP_DAC_READ_SEARCH over the
 * file system's owner, which is the host's for every mount of the guest but
 * its devpts: the guest gets EPERM, as a container does.
 */
#include "fs.h"

/* Implements name_to_handle_at(2); differs from Linux in: AT_HANDLE_FID and
 * AT_HANDLE_MNT_ID_UNIQUE (a host-wide mount id) are refused (EINVAL). */
long sys_name_to_handle_at(int dirfd, const char *path, void *handle, int *mount_id, int flags)
{
    if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    char first;
    if (copy_from_user(&first, path, 1) < 0)
        return -EFAULT;
    long fd;
    if (!first && (flags & AT_EMPTY_PATH))
        fd = dirfd == AT_FDCWD ? sys_openat(AT_FDCWD, ".", O_PATH | O_CLOEXEC, 0)
                               : sys_fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    else
        fd = sys_openat(dirfd, path,
                        O_PATH | O_CLOEXEC | (flags & AT_SYMLINK_FOLLOW ? 0 : O_NOFOLLOW), 0);
    if (fd < 0)
        return fd;
    int host_id;
    long r = hsys5(__NR_name_to_handle_at, fd, (long)"", (long)handle, (long)&host_id,
                   AT_EMPTY_PATH);
    if (r == 0 || r == -EOVERFLOW) {
        /* Linux writes the mount id on EOVERFLOW too (the size probe). */
        char *p = kmalloc(LS_PATH_MAX);
        int id = fs_mount_id(p && fd_copy_path(fd, p, LS_PATH_MAX) >= 0 ? p : "/");
        if (p)
            kfree(p);
        if (copy_to_user(mount_id, &id, sizeof id) < 0)
            r = -EFAULT;
    }
    sys_close(fd);
    return r;
}

/* Implements open_by_handle_at(2): EBADF for a bad mount fd, then EPERM, as
 * Linux answers a caller without CAP_DAC_READ_SEARCH over the host. */
long sys_open_by_handle_at(int mount_fd, void *handle, int flags)
{
    (void)handle;
    (void)flags;
    if (mount_fd != AT_FDCWD && (!fd_valid(mount_fd) || hsys2(__NR_fcntl, mount_fd, F_GETFD) < 0))
        return -EBADF;
    return -EPERM;
}
