/*
 * Name-space changes and symlink reading: unlink, rename, link, symlink,
 * readlink.  On a volume (and in the writable root's layer, where an image
 * file's stub is renamed or unlinked as it is, and copied up before it is
 * linked) the change is the host's, made on the last component relative to
 * its parent opened beneath the mount root; with --read-only the image is
 * read-only (EROFS); the synthetic trees refuse (EACCES); across mounts, or
 * between a volume and the image, rename and link give EXDEV.  A rename
 * moves the paths this process's fds and cwd record (fd_renamed).
 */
#include "fs.h"

/* What refuses a change to an existing object of a non-volume node. */
static long refuse(const struct fs_obj *o)
{
    return o->type == FO_IMAGE ? -EROFS : -EACCES;
}

/* Implements unlinkat(2); differs from Linux in: the image is read-only. */
long sys_unlinkat(int dirfd, const char *path, int flags)
{
    if (flags & ~AT_REMOVEDIR)
        return -EINVAL;
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(dirfd, path, 0, n);
    if (r == 0 && n->last_dot)
        /* As do_rmdir and do_unlinkat, before looking at the object. */
        r = !(flags & AT_REMOVEDIR) ? -EISDIR
            : n->last_dot == 1      ? -EINVAL
            : n->last_dot == 2      ? -ENOTEMPTY
                                    : -EBUSY;
    else if (r == 0 && !(flags & AT_REMOVEDIR))
        upper_rename_node(n);
    if (r == 0 && n->o.type == FO_VOLUME) {
        if (vol_ro(n)) {
            r = -EROFS;
        } else if (strcmp(vol_rel(n), ".") == 0) {
            r = -EBUSY;                 /* a mount point */
        } else {
            const char *name;
            long pfd = vol_parent(n, &name);
            r = pfd;
            if (pfd >= 0) {
                r = hsys3(__NR_unlinkat, pfd, (long)name, flags);
                hsys1(__NR_close, pfd);
                /* A directory gone from a volume: a path through it is no
                 * longer known resolved (fs_obj.resolved). */
                if (n->o.ent == fs_upper || (flags & AT_REMOVEDIR))
                    upper_changed();
            }
        }
    } else if (r == 0) {
        int dir = obj_is_dir(&n->o);
        if ((flags & AT_REMOVEDIR) && !dir)
            r = -ENOTDIR;
        else if (!(flags & AT_REMOVEDIR) && dir)
            r = -EISDIR;
        else if (n->path[1] == 0)
            r = -EBUSY;
        else if (synth_in_proc(n->path))
            r = -EPERM;                 /* procfs has no unlink or rmdir (vfs_unlink) */
        else
            r = refuse(&n->o);
    }
    node_free(n);
    return r;
}

/* Implements unlink(2) as unlinkat(AT_FDCWD, path, 0). */
long sys_unlink(const char *path)
{
    return sys_unlinkat(AT_FDCWD, path, 0);
}

/*
 * Walks the two paths of rename/link.  Returns 0 when both are on the same
 * writable volume (the caller then acts with the parents), or the error: the
 * source must exist; the destination may be missing in its last component.
 * A last component "." or "..", or a path of slashes, gives old_dot (the source's; 0 lets it be)
 * or new_dot (the destination's), as Linux refuses those names.  link:
 * the caller links a to b.
 */
static long two_paths(int od, const char *op, int ofollow, int nd, const char *np,
                      struct fs_node *a, struct fs_node *b, long old_dot, long new_dot, int link)
{
    long r = fs_walk(od, op, ofollow ? W_FOLLOW : 0, a);
    if (r < 0)
        return r;
    r = fs_walk(nd, np, 0, b);
    if (r < 0 && !(r == -ENOENT && b->missing))
        return r;
    /* ".", ".." or the root last: never a name to change (do_renameat2,
     * filename_create). */
    if (old_dot && a->last_dot)
        return old_dot;
    if (r == 0 && b->last_dot)
        return new_dot;
    int found = r == 0;
    /* A stub is copied up before a link in the layer, as overlayfs does:
     * the names then share one file, whose changes through one the other
     * shows (a link of the stub would be a second stub).  Only for a new
     * name (the walk leaves a name the layer has not got without a mode). */
    if (link && b->o.type == FO_VOLUME && b->o.ent == fs_upper && !b->o.mode &&
        (r = upper_copy_up(a, 1)) < 0)
        return r;
    if ((r = upper_index(a)) < 0 || (found && (r = upper_index(b)) < 0))
        return r;
    upper_rename_node(a);
    if (found)
        upper_rename_node(b);
    int bvol = found && b->o.type == FO_VOLUME;
    if (a->o.type == FO_VOLUME && bvol) {
        if (a->o.ent != b->o.ent)
            return -EXDEV;
        if (vol_ro(a))
            return -EROFS;
        /* A mount's root ("/" on the writable root) is a directory, which
         * vfs_link refuses (EPERM) once the new name is known not to exist
         * (filename_create's EEXIST comes first); any other link the host
         * answers. */
        if (link && strcmp(vol_rel(a), ".") == 0)
            return vol_lmode(b->o.ent, b->path) ? -EEXIST : -EPERM;
        if (link)
            return 0;
        return strcmp(vol_rel(a), ".") == 0 || strcmp(vol_rel(b), ".") == 0 ? -EBUSY : 0;
    }
    if (a->o.type == FO_VOLUME || bvol || a->o.type != b->o.type)
        return -EXDEV;
    return refuse(&a->o);
}

/* Applies a two-name host call (renameat2 or linkat) to nodes a and b. */
static long host_two(long nr, struct fs_node *a, struct fs_node *b, long flags)
{
    const char *na, *nb;
    long pa = vol_parent(a, &na);
    if (pa < 0)
        return pa;
    long pb = vol_parent(b, &nb);
    if (pb < 0) {
        hsys1(__NR_close, pa);
        return pb;
    }
    upper_making(b->o.ent);
    long r = hsys5(nr, pa, (long)na, pb, (long)nb, flags);
    upper_made(b->o.ent);
    hsys1(__NR_close, pa);
    hsys1(__NR_close, pb);               /* a rename's or link's new name */
    if (nr == __NR_renameat2 && (a->o.ent == fs_upper || r == 0))
        upper_changed();                /* a link replaces nothing; a rename in a volume may
                                         * move a directory (fs_obj.resolved) */
    if (nr == __NR_renameat2 && r == 0)
        fd_renamed(a->path, b->path, flags & RENAME_EXCHANGE);
    return r;
}

/* Implements renameat2(2); differs from Linux in: the image is read-only;
 * renames between a volume and anything else give EXDEV. */
long sys_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                   unsigned flags)
{
    struct fs_node *a = node_new(), *b = node_new();
    long r = -ENOMEM;
    if (a && b) {
        r = two_paths(olddirfd, oldpath, 0, newdirfd, newpath, a, b, -EBUSY,
                      flags & RENAME_NOREPLACE ? -EEXIST : -EBUSY, 0);
        if (r == 0)
            r = host_two(__NR_renameat2, a, b, flags);
    }
    node_free(a);
    node_free(b);
    return r;
}

/* Implements renameat(2) as renameat2(..., 0). */
long sys_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    return sys_renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

/* Implements rename(2) as renameat2(AT_FDCWD, ..., AT_FDCWD, ..., 0). */
long sys_rename(const char *oldpath, const char *newpath)
{
    return sys_renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

/* Implements linkat(2); differs from Linux in: the image is read-only; links
 * between a volume and anything else give EXDEV; AT_EMPTY_PATH works only
 * for a volume fd, as a host linkat. */
long sys_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    struct fs_node *a = node_new(), *b = node_new();
    long r = -ENOMEM;
    if (!a || !b)
        goto out;
    if ((flags & AT_EMPTY_PATH) && oldpath && !*oldpath) {
        /* Link an open fd: only a plain host fd, to a volume. */
        struct kofd *o = fd_valid(olddirfd) ? fd_get(olddirfd) : 0;
        int plain = fd_valid(olddirfd) && kofd_plain(o);
        kofd_put(o);
        r = fs_walk(newdirfd, newpath, 0, b);
        if (!plain)
            r = fd_valid(olddirfd) ? -EXDEV : -EBADF;
        else if (r == 0 && b->o.type == FO_VOLUME && vol_ro(b))
            r = -EROFS;
        else if (r == 0 && b->o.type == FO_VOLUME) {
            const char *nb;
            long pb = vol_parent(b, &nb);
            r = pb;
            if (pb >= 0) {
                upper_making(b->o.ent);
                r = hsys5(__NR_linkat, olddirfd, (long)"", pb, (long)nb, AT_EMPTY_PATH);
                hsys1(__NR_close, pb);
                upper_made(b->o.ent);
            }
        } else if (r == 0 || (r == -ENOENT && b->missing)) {
            r = -EXDEV;
        }
        goto out;
    }
    r = two_paths(olddirfd, oldpath, flags & AT_SYMLINK_FOLLOW, newdirfd, newpath, a, b, 0,
                  -EEXIST, 1);
    if (r == 0)
        r = host_two(__NR_linkat, a, b, flags & AT_SYMLINK_FOLLOW);
out:
    node_free(a);
    node_free(b);
    return r;
}

/* Implements link(2) as linkat(AT_FDCWD, ..., AT_FDCWD, ..., 0). */
long sys_link(const char *oldpath, const char *newpath)
{
    return sys_linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

/* Implements symlinkat(2); differs from Linux in: the image is read-only.
 * The target is stored verbatim; a volume symlink is resolved by the host
 * beneath the mount, so an absolute target does not resolve there. */
long sys_symlinkat(const char *target, int newdirfd, const char *linkpath)
{
    if (!target)
        return -EFAULT;
    if (!*target)
        return -ENOENT;
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(newdirfd, linkpath, 0, n);
    if (r == 0 && n->last_dot) {
        r = -EEXIST;
    } else if (r == 0 && n->o.type == FO_VOLUME) {
        if (vol_ro(n)) {
            r = -EROFS;
        } else {
            const char *name;
            long pfd = vol_parent(n, &name);
            r = pfd;
            if (pfd >= 0) {
                upper_making(n->o.ent);
                r = hsys3(__NR_symlinkat, (long)target, pfd, (long)name);
                hsys1(__NR_close, pfd);
                upper_made(n->o.ent);
            }
        }
    } else if (r == 0) {
        r = -EEXIST;
    } else if (r == -ENOENT && n->missing) {
        r = refuse(&n->o);
    }
    node_free(n);
    return r;
}

/* Implements symlink(2) as symlinkat(target, AT_FDCWD, linkpath). */
long sys_symlink(const char *target, const char *linkpath)
{
    return sys_symlinkat(target, AT_FDCWD, linkpath);
}

static long copy_out(const char *s, char *buf, long size)
{
    long n = strlen(s);
    if (n > size)
        n = size;
    memcpy(buf, s, n);
    return n;
}

/* readlinkat into a kernel buffer. */
static long readlink_k(int dirfd, const char *path, char *buf, long size)
{
    if (path && !*path) {
        /* Linux reads the link an O_PATH|O_NOFOLLOW fd stands for. */
        if (!fd_valid(dirfd))
            return dirfd == AT_FDCWD ? -ENOENT : -EBADF;
        struct kofd *o = fd_get(dirfd);
        long r;
        if (!o || o->kind == KF_HOST) {
            r = hsys4(__NR_readlinkat, dirfd, (long)"", (long)buf, size);
        } else if (o->kind == KF_IMAGE && img_kind(o->ent) == LS_ENT_SYMLINK) {
            r = copy_out(bi_str(img_ent(o->ent)->target), buf, size);
        } else if (o->kind == KF_SYNTH) {
            struct fs_obj so = {FO_SYNTH, o->ent, o->arg};
            r = synth_type(&so) == ST_LINK ? synth_readlink(&so, buf, size) : -ENOENT;
        } else {
            r = -ENOENT;
        }
        kofd_put(o);
        return r;
    }
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(dirfd, path, 0, n);
    if (r == 0) {
        switch (n->o.type) {
        case FO_VOLUME: {
            const char *name;
            long pfd = vol_parent(n, &name);
            r = pfd;
            if (pfd >= 0) {
                r = hsys4(__NR_readlinkat, pfd, (long)name, (long)buf, size);
                hsys1(__NR_close, pfd);
            }
            break;
        }
        case FO_IMAGE:
            r = img_kind(n->o.ent) == LS_ENT_SYMLINK
                    ? copy_out(bi_str(img_ent(n->o.ent)->target), buf, size)
                    : -EINVAL;
            break;
        default:
            r = synth_type(&n->o) == ST_LINK ? synth_readlink(&n->o, buf, size) : -EINVAL;
            break;
        }
    }
    node_free(n);
    return r;
}

/* Implements readlinkat(2); differs from Linux in: /proc/self/exe reads as
 * the program's AT_EXECFN; /proc/self/fd/N as the guest path N was opened by. */
long sys_readlinkat(int dirfd, const char *path, char *buf, long size)
{
    if (size <= 0)
        return -EINVAL;
    char *k = kmalloc(LS_PATH_MAX);
    if (!k)
        return -ENOMEM;
    long r = readlink_k(dirfd, path, k, size < LS_PATH_MAX ? size : LS_PATH_MAX);
    if (r > 0 && copy_to_user(buf, k, r) < 0)
        r = -EFAULT;
    kfree(k);
    return r;
}

/* Implements readlink(2) as readlinkat(AT_FDCWD, ...). */
long sys_readlink(const char *path, char *buf, long size)
{
    return sys_readlinkat(AT_FDCWD, path, buf, size);
}
