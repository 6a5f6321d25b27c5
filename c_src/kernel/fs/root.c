/*
 * The process's root directory: chroot(2).
 *
 * Servers confine a worker to its data this way (rsync --daemon's "use
 * chroot", sshd's privilege separation in /run/sshd, lighttpd's and
 * haproxy's chroot options).  The guest's name space is the kernel's, so
 * the root is too: a guest path the walk (path.c) starts every absolute
 * path and absolute symlink at, and that ".." does not climb above, as
 * Linux's follow_dotdot stops at the process's root.  The host is never
 * asked: what the guest can reach stays what its mounts give it, inside
 * the chroot or not.  A working directory left outside the root stays
 * usable, as on Linux (getcwd then says "(unreachable)").
 *
 * The root is a string set once per chroot and never freed, so a walk
 * reads it without the lock (threads share it, as CLONE_FS does); fork
 * copies it and execve hands it over in the exec block (proc/execve.c).
 */
#include "fs.h"
#include "proc/ptable.h"
#include <linux/capability.h>

static const char *root_path;           /* NULL: "/" */

const char *fs_root(void)
{
    return __atomic_load_n(&root_path, __ATOMIC_ACQUIRE);
}

void fs_root_set(const char *path)
{
    const char *p = path && !(path[0] == '/' && path[1] == 0) ? kstrdup(path) : 0;
    __atomic_store_n(&root_path, p, __ATOMIC_RELEASE);
}

const char *fs_root_rel(const char *p)
{
    const char *r = fs_root();
    if (!r)
        return p;
    size_t rl = strlen(r);
    if (strncmp(p, r, rl) != 0 || (p[rl] != '/' && p[rl] != 0))
        return 0;
    return p[rl] ? p + rl : "/";
}

/* Whether the caller has CAP_SYS_CHROOT in its user namespace (the guest's
 * root has, as a container's). */
static long may_chroot(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    long r = hsys2(__NR_capget, (long)&h, (long)d);
    if (r < 0)
        return r;
    return d[CAP_TO_INDEX(CAP_SYS_CHROOT)].effective & CAP_TO_MASK(CAP_SYS_CHROOT) ? 0 : -EPERM;
}

/* Implements chroot(2): the checks in Linux's order (the path, a
 * directory, then the capability); differs from Linux in: search
 * permission is not checked on image and synthetic directories, and
 * inside a volume the walk (path.c) checks each component (lstat) and
 * expands its symlinks before the host opens the path beneath the volume's
 * root: a rename between the two can take the open out of the chroot,
 * never out of the volume (openat2's RESOLVE_IN_ROOT from an fd of the
 * root would close that window; the filter allows no such open_how). */
long sys_chroot(const char *path)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(AT_FDCWD, path, W_FOLLOW, n);
    if (r == 0)
        r = fs_dir_enter(n, 0);
    if (r == 0)
        r = may_chroot();
    if (r == 0) {
        fs_root_set(n->path);
        ptable_set_root(n->path);       /* another process's /proc/PID/root */
    }
    node_free(n);
    return r;
}
