/*
 * mount(2) and umount2(2), answered as Linux answers the root of a container
 * that does not hold CAP_SYS_ADMIN over the mount namespace it runs in: the
 * arguments are read and the target resolved first (EFAULT, ENOENT,
 * ENOTDIR, ELOOP, ...), then EPERM (fs/namespace.c: may_mount).  The guest's
 * file system is the kernel's and the host's mounts are not the guest's to
 * change.
 */
#include "fs.h"

#define UMOUNT_FLAGS 0xf            /* MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW */
#define UMOUNT_NOFOLLOW 0x8

static long resolve(const char *path, int follow)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    struct stat st;
    long r = fs_walk(AT_FDCWD, path, follow ? W_FOLLOW : 0, n);
    if (r == 0)
        r = stat_node(n, follow, &st);      /* beneath a volume the host says if it exists */
    node_free(n);
    return r;
}

/* Implements mount(2); differs from Linux in: every mount is refused
 * (EPERM) once its arguments are read and its target found. */
long sys_mount(const char *source, const char *target, const char *type, unsigned long flags,
               const void *data)
{
    char c;
    if (data && copy_from_user(&c, data, 1) < 0)
        return -EFAULT;
    long r = resolve(target, 1);
    return r < 0 ? r : -EPERM;
}

/* Implements umount2(2); as mount. */
long sys_umount2(const char *target, long flags)
{
    if (flags & ~UMOUNT_FLAGS)
        return -EINVAL;
    long r = resolve(target, !(flags & UMOUNT_NOFOLLOW));
    return r < 0 ? r : -EPERM;
}
