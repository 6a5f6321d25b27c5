/*
 * Extended attributes.  They name files by path, so they are the file
 * system's.  A volume object is reached through the host's /proc magic links
 * of fds opened beneath its mount: getxattr("/proc/self/fd/N") for the
 * object itself when following, lgetxattr("/proc/self/fd/P/name") with P its
 * parent when not (the *xattrat calls of Linux 6.13 refuse O_PATH fds).
 * Image and synthetic objects have none (get: ENODATA, list: empty); in the
 * writable root, setting one on an image file copies it up first (by path
 * or through an fd, as overlayfs does), and removing one from an image file
 * finds none (ENODATA) without copying anything.  The
 * guest sets user.* attributes only (sys_setxattr says why), by path: the
 * host's fsetxattr is not in the seccomp allow-list, setxattr is, with the
 * sizes of a file capability refused (hostcalls.py).
 */
#include "fs.h"
#include <linux/limits.h>
#include <linux/xattr.h>

enum { XA_GET, XA_LIST, XA_REMOVE, XA_SET };

struct xop {
    int op;
    const char *name;               /* set: the kernel's checked copy */
    void *value;                    /* get, list: out; set: in */
    size_t size;
    int flags;                      /* set: XATTR_CREATE, XATTR_REPLACE */
};

static long path_host(const char *hp, int follow, const struct xop *x);

static long fd_host(long fd, const struct xop *x)
{
    char hp[32];
    switch (x->op) {
    case XA_SET:
        ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", fd);
        return path_host(hp, 1, x);
    case XA_GET:
        return hsys4(__NR_fgetxattr, fd, (long)x->name, (long)x->value, x->size);
    case XA_LIST:
        return hsys3(__NR_flistxattr, fd, (long)x->value, x->size);
    default:
        return hsys2(__NR_fremovexattr, fd, (long)x->name);
    }
}

/* One call per site, its number an immediate (not `follow ? A : B`, which
 * the compiler turns into arithmetic): pack --specialize reads the host
 * calls a kernel makes from its code (libsubst/kernel/specialize.py). */
static long path_host(const char *hp, int follow, const struct xop *x)
{
    if (follow) {
        switch (x->op) {
        case XA_GET:
            return hsys4(__NR_getxattr, (long)hp, (long)x->name, (long)x->value, x->size);
        case XA_LIST:
            return hsys3(__NR_listxattr, (long)hp, (long)x->value, x->size);
        case XA_SET:
            return hsys5(__NR_setxattr, (long)hp, (long)x->name, (long)x->value, x->size,
                         x->flags);
        default:
            return hsys2(__NR_removexattr, (long)hp, (long)x->name);
        }
    }
    switch (x->op) {
    case XA_GET:
        return hsys4(__NR_lgetxattr, (long)hp, (long)x->name, (long)x->value, x->size);
    case XA_LIST:
        return hsys3(__NR_llistxattr, (long)hp, (long)x->value, x->size);
    case XA_SET:
        return hsys5(__NR_lsetxattr, (long)hp, (long)x->name, (long)x->value, x->size, x->flags);
    default:
        return hsys2(__NR_lremovexattr, (long)hp, (long)x->name);
    }
}

static long volume_xattr(struct fs_node *n, int follow, const struct xop *x)
{
    if ((x->op == XA_REMOVE || x->op == XA_SET) && vol_ro(n))
        return -EROFS;
    char hp[320];
    const char *name = "";
    long fd = follow ? vol_path(n, 0) : vol_parent(n, &name);
    if (fd < 0)
        return fd;
    long r = -ENAMETOOLONG;
    if (ksnprintf(hp, sizeof hp, follow ? "/proc/self/fd/%ld" : "/proc/self/fd/%ld/%s", fd,
                  name) < (int)sizeof hp)
        r = path_host(hp, follow, x);
    hsys1(__NR_close, fd);
    return r;
}

/* What an image (ro = 1; stub = 1: a stub of the writable root, which
 * has none to remove) or synthetic object answers. */
static long none(int ro, int stub, const struct xop *x)
{
    switch (x->op) {
    case XA_GET:
        return -ENODATA;
    case XA_LIST:
        return 0;
    case XA_REMOVE:
        if (stub)
            return -ENODATA;
        /* fall through */
    default:
        return ro ? -EROFS : -EPERM;
    }
}

static long path_xattr(const char *path, int follow, const struct xop *x)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(AT_FDCWD, path, follow ? W_FOLLOW : 0, n);
    if (r == 0 && x->op == XA_SET)
        r = upper_copy_up(n, 1);
    if (r == 0 && n->o.type == FO_VOLUME) {
        r = volume_xattr(n, follow, x);
    } else if (r == 0 && n->o.type == FO_SYNTH && synth_type(&n->o) == ST_CHR &&
               (x->op == XA_GET || x->op == XA_LIST)) {
        /* A /dev node is the host's; read its attributes there. */
        const char *hp = synth_host_path(n->o.ent);
        r = x->op == XA_GET
                ? hsys4(__NR_getxattr, (long)hp, (long)x->name, (long)x->value, x->size)
                : hsys3(__NR_listxattr, (long)hp, (long)x->value, x->size);
    } else if (r == 0) {
        r = none(n->o.type == FO_IMAGE, n->o.type == FO_IMAGE && n->o.mode, x);
    }
    node_free(n);
    return r;
}

static long fd_xattr(int fd, const struct xop *x)
{
    if (!fd_valid(fd))
        return -EBADF;
    long r = x->op == XA_SET ? upper_copy_up_fd(fd) : 0;
    struct kofd *o = fd_get(fd);
    int plain = kofd_plain(o);
    int ro = o && (o->kind == KF_IMAGE || (o->flags & KF_F_IMAGE));
    int stub = ro && o->ino;
    kofd_put(o);
    return r < 0 ? r : plain ? fd_host(fd, x) : none(ro, stub, x);
}

/* Implements getxattr(2); differs from Linux in: image and synthetic
 * objects have no extended attributes (ENODATA). */
long sys_getxattr(const char *path, const char *name, void *value, unsigned long size)
{
    struct xop x = {XA_GET, name, value, size};
    return path_xattr(path, 1, &x);
}

/* Implements lgetxattr(2); as getxattr. */
long sys_lgetxattr(const char *path, const char *name, void *value, unsigned long size)
{
    struct xop x = {XA_GET, name, value, size};
    return path_xattr(path, 0, &x);
}

/* Implements fgetxattr(2); as getxattr. */
long sys_fgetxattr(int fd, const char *name, void *value, unsigned long size)
{
    struct xop x = {XA_GET, name, value, size};
    return fd_xattr(fd, &x);
}

/* Implements listxattr(2); differs from Linux in: image and synthetic
 * objects list none. */
long sys_listxattr(const char *path, char *list, unsigned long size)
{
    struct xop x = {XA_LIST, 0, list, size};
    return path_xattr(path, 1, &x);
}

/* Implements llistxattr(2); as listxattr. */
long sys_llistxattr(const char *path, char *list, unsigned long size)
{
    struct xop x = {XA_LIST, 0, list, size};
    return path_xattr(path, 0, &x);
}

/* Implements flistxattr(2); as listxattr. */
long sys_flistxattr(int fd, char *list, unsigned long size)
{
    struct xop x = {XA_LIST, 0, list, size};
    return fd_xattr(fd, &x);
}

/* A container's root has no CAP_SYS_ADMIN over the host's file system:
 * Linux's xattr_permission and cap_inode_{set,remove}xattr refuse it these
 * names' changes (a file capability too, which the guest never sets). */
static int refused(const char *name)
{
    return strncmp(name, "trusted.", 8) == 0 || strncmp(name, "security.", 9) == 0;
}

/* The checks of Linux's setxattr_copy and xattr_permission on a name and
 * value, then the namespace the guest may set: user.* only. */
static long set_args(const char *uname, char *name, unsigned long size, int flags)
{
    if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
        return -EINVAL;
    long n = strncpy_from_user(name, uname, XATTR_NAME_MAX + 1);
    if (n == 0 || n == -ENAMETOOLONG || n > XATTR_NAME_MAX)
        return -ERANGE;
    if (n < 0)
        return n;
    if (size > XATTR_SIZE_MAX)
        return -E2BIG;
    if (refused(name))
        return -EPERM;
    if (strncmp(name, "user.", 5) != 0)
        return -EOPNOTSUPP;
    return 0;
}

static long set_path(const char *path, int follow, const char *uname, const void *value,
                     unsigned long size, int flags)
{
    char name[XATTR_NAME_MAX + 1];
    long r = set_args(uname, name, size, flags);
    struct xop x = {XA_SET, name, (void *)value, size, flags};
    return r < 0 ? r : path_xattr(path, follow, &x);
}

/* Implements setxattr(2); differs from Linux in: only user.* attributes
 * can be set (trusted.* and security.*: EPERM, as to a container's root;
 * others: EOPNOTSUPP, as a file system without them answers),
 * and no value of 20 or 24 bytes: the seccomp filter cannot see names,
 * and a root caller's guest would set security.capability (those sizes) on
 * host root's behalf in a volume.  The image is read-only (EROFS),
 * synthetic objects refuse (EPERM). */
long sys_setxattr(const char *path, const char *name, const void *value, unsigned long size,
                  int flags)
{
    return set_path(path, 1, name, value, size, flags);
}

/* Implements lsetxattr(2); as setxattr. */
long sys_lsetxattr(const char *path, const char *name, const void *value, unsigned long size,
                   int flags)
{
    return set_path(path, 0, name, value, size, flags);
}

/* Implements fsetxattr(2); as setxattr. */
long sys_fsetxattr(int fd, const char *uname, const void *value, unsigned long size, int flags)
{
    char name[XATTR_NAME_MAX + 1];
    long r = set_args(uname, name, size, flags);
    struct xop x = {XA_SET, name, (void *)value, size, flags};
    return r < 0 ? r : fd_xattr(fd, &x);
}

/* The checks of Linux's removexattr_copy and xattr_permission on a name. */
static long remove_args(const char *uname, char *name)
{
    long n = strncpy_from_user(name, uname, XATTR_NAME_MAX + 1);
    if (n == 0 || n == -ENAMETOOLONG || n > XATTR_NAME_MAX)
        return -ERANGE;
    return n < 0 ? n : refused(name) ? -EPERM : 0;
}

static long remove_path(const char *path, int follow, const char *uname)
{
    char name[XATTR_NAME_MAX + 1];
    long r = remove_args(uname, name);
    struct xop x = {XA_REMOVE, name, 0, 0};
    return r < 0 ? r : path_xattr(path, follow, &x);
}

/* Implements removexattr(2); as setxattr. */
long sys_removexattr(const char *path, const char *name)
{
    return remove_path(path, 1, name);
}

/* Implements lremovexattr(2); as setxattr. */
long sys_lremovexattr(const char *path, const char *name)
{
    return remove_path(path, 0, name);
}

/* Implements fremovexattr(2); as setxattr. */
long sys_fremovexattr(int fd, const char *uname)
{
    char name[XATTR_NAME_MAX + 1];
    long r = remove_args(uname, name);
    struct xop x = {XA_REMOVE, name, 0, 0};
    return r < 0 ? r : fd_xattr(fd, &x);
}
