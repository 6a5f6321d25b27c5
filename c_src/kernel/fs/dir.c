/*
 * Directories: listing (getdents64, getdents), the working directory, and
 * mkdir/rmdir.
 *
 * Image and synthetic directories are listed by the kernel: ".", "..", then
 * the children, each record's d_off being the cookie to resume after it (the
 * fd's cursor, which lseek sets).  Volume directories, the mount points
 * included, are host fds and listed by the host.
 */
#include "fs.h"

struct dbuf {
    char *p;
    size_t cap, used;
    int old;                    /* struct linux_dirent (getdents) rather than linux_dirent64 */
};

/* Appends one record: 1, 0 if it does not fit, -EFAULT if the guest's
 * buffer cannot be written.  Built in kernel memory, then copied out. */
static int put_dent(struct dbuf *b, const struct dent *d, long off)
{
    char r[8 + 8 + 2 + 1 + 256 + 1 + 7];
    size_t reclen;
    if (d->nlen > 255)
        return 0;
    if (b->old) {
        /* d_ino, d_off (unsigned long), d_reclen, d_name, NUL, pad, d_type at the end */
        reclen = (8 + 8 + 2 + d->nlen + 2 + 7) & ~7UL;
        if (b->used + reclen > b->cap)
            return 0;
        memset(r, 0, reclen);
        *(unsigned long *)r = d->ino;
        *(unsigned long *)(r + 8) = off;
        *(unsigned short *)(r + 16) = reclen;
        memcpy(r + 18, d->name, d->nlen);
        r[reclen - 1] = d->type;
    } else {
        /* d_ino (u64), d_off (s64), d_reclen (u16), d_type (u8), d_name, NUL */
        reclen = (8 + 8 + 2 + 1 + d->nlen + 1 + 7) & ~7UL;
        if (b->used + reclen > b->cap)
            return 0;
        memset(r, 0, reclen);
        *(unsigned long *)r = d->ino;
        *(long *)(r + 8) = off;
        *(unsigned short *)(r + 16) = reclen;
        r[18] = d->type;
        memcpy(r + 19, d->name, d->nlen);
    }
    if (copy_to_user(b->p + b->used, r, reclen) < 0)
        return -EFAULT;
    b->used += reclen;
    return 1;
}

/* The directory's own inode number for ".". */
static unsigned long self_ino(const struct kofd *o)
{
    struct stat st;
    long r;
    if (o->kind == KF_IMAGE) {
        r = img_stat(o->ent, o->path ? o->path : "/", &st);
    } else {
        struct fs_obj so = {FO_SYNTH, o->ent, o->arg};
        r = synth_stat(&so, &st);
    }
    return r == 0 ? st.st_ino : 1;
}

static int next_dent(struct kofd *o, long *c, struct dent *d, struct dctx *x)
{
    if (*c == 0 || *c == 1) {
        d->ino = self_ino(o);
        d->type = FS_DT_DIR;
        d->name = *c == 0 ? "." : "..";
        d->nlen = *c + 1;
        (*c)++;
        return 1;
    }
    if (o->kind == KF_IMAGE)
        return img_dir_next(o->path ? o->path : "/", c, d);
    return synth_dir_next(o, c, d, x);
}

static long list_dir(int fd, void *buf, unsigned count, int old)
{
    if (!fd_valid(fd))
        return -EBADF;
    struct kofd *o = fd_get(fd);
    if (!o || o->kind == KF_HOST) {
        kofd_put(o);
        return hsys3(old ? __NR_getdents : __NR_getdents64, fd, (long)buf, count);
    }
    struct fs_obj so = {o->kind == KF_IMAGE ? FO_IMAGE : FO_SYNTH, o->ent, o->arg};
    if (!obj_is_dir(&so)) {
        kofd_put(o);
        return -ENOTDIR;
    }
    struct dbuf b = {buf, count, 0, old};
    struct dctx x = {0};
    struct dent d;
    long c = o->pos;
    int put = 1;
    for (;;) {
        long next = c;
        if (!next_dent(o, &next, &d, &x))
            break;
        if ((put = put_dent(&b, &d, next)) <= 0)
            break;
        c = next;
    }
    long r = b.used;
    if (r == 0 && put < 0) {
        r = put;
    } else if (r == 0) {
        /* Nothing written: the end, or not even one record fits. */
        long probe = c;
        if (next_dent(o, &probe, &d, &x))
            r = -EINVAL;
    }
    o->pos = c;
    kfree(x.fds);
    kofd_put(o);
    return r;
}

/* Implements getdents64(2); differs from Linux in: image and synthetic
 * directories are listed by the kernel (d_off is a cookie, see dir.c). */
long sys_getdents64(int fd, void *buf, unsigned count)
{
    return list_dir(fd, buf, count, 0);
}

/* Implements getdents(2) (struct linux_dirent); as getdents64. */
long sys_getdents(int fd, void *buf, unsigned count)
{
    return list_dir(fd, buf, count, 1);
}

/* The guest path of the volume directory fd (mount m) opened, its symlinks
 * resolved by the host: the mount point and fd's host path below the
 * mount's root, read from the host's /proc/self/fd.  -errno if fd is not
 * below the root any more (moved away meanwhile). */
static long vol_physical(int m, long fd, char *out)
{
    char link[32], *root = kmalloc(LS_PATH_MAX), *dir = kmalloc(LS_PATH_MAX);
    long r = -ENOMEM;
    if (root && dir) {
        ksnprintf(link, sizeof link, "/proc/self/fd/%d", fs_mnt[m].root);
        long rl = hsys4(__NR_readlinkat, AT_FDCWD, (long)link, (long)root, LS_PATH_MAX - 1);
        ksnprintf(link, sizeof link, "/proc/self/fd/%ld", fd);
        long dl = hsys4(__NR_readlinkat, AT_FDCWD, (long)link, (long)dir, LS_PATH_MAX - 1);
        r = rl < 0 ? rl : dl < 0 ? dl : 0;
        if (r == 0) {
            root[rl] = dir[dl] = 0;
            if (rl == 1)
                rl = 0;                 /* the root is the host's "/" */
            if (strncmp(dir, root, rl) != 0 || (dir[rl] != '/' && dir[rl] != 0))
                r = -ENOENT;
            else if (fs_mnt[m].glen + strlen(dir + rl) + 2 > LS_PATH_MAX)
                r = -ENAMETOOLONG;
            else
                ksnprintf(out, LS_PATH_MAX, "%s%s", fs_mnt[m].glen ? fs_mnt[m].guest : "",
                          dir[rl] ? dir + rl : fs_mnt[m].glen ? "" : "/");
        }
    }
    kfree(root);
    kfree(dir);
    return r;
}

/* The directory n names, checked (ENOTDIR); for a volume's, its physical
 * guest path put in n->path (the host resolved its symlinks, and Linux's
 * getcwd shows that path), and, with host, the host's cwd made that
 * directory (*host then 1), so that "." still names it once it is removed. */
long fs_dir_enter(struct fs_node *n, int *host)
{
    if (host)
        *host = 0;
    if (n->o.type == FO_SYNTH && n->o.ent == SID_CWDHOST) {
        if (host)
            *host = 1;                  /* "." of a removed one: it stays */
        return 0;
    }
    if (n->o.type != FO_VOLUME)
        return obj_is_dir(&n->o) ? 0 : -ENOTDIR;
    long fd = vol_path(n, O_DIRECTORY);
    if (fd < 0)
        return fd;
    long r = 0;
    if (n->o.ent != fs_upper && fs_mnt[n->o.ent].alone)
        r = vol_physical(n->o.ent, fd, n->path);
    if (r == 0 && host)
        *host = hsys1(__NR_fchdir, fd) == 0;
    hsys1(__NR_close, fd);
    return r;
}

/* Linux names an unlinked directory's path "... (deleted)". */
int cwd_removed(void)
{
    static const char mark[] = " (deleted)";
    const long m = sizeof mark - 1;
    if (!cwd_on_host())
        return 0;
    char *link = kmalloc(LS_PATH_MAX);
    if (!link)
        return 0;
    long n = hsys4(__NR_readlinkat, AT_FDCWD, (long)"/proc/self/cwd", (long)link, LS_PATH_MAX);
    int r = n >= m && n < LS_PATH_MAX && memcmp(link + n - m, mark, m) == 0;
    kfree(link);
    return r;
}

/* Implements getcwd(2): ENOENT once the working directory was removed, as
 * Linux answers for an unlinked one, the path seen from the process's root
 * (chroot: root.c), "(unreachable)" before one outside it; differs from
 * Linux in: the guest's cwd is a path the kernel holds (and, in a volume or
 * the writable root's layer, the host's cwd, which "." names once it is
 * removed), so a directory renamed is still shown by its old path, and one
 * made again at the path is taken for the removed one. */
long sys_getcwd(char *buf, unsigned long size)
{
    struct stat st;
    char *c = kmalloc(LS_PATH_MAX);
    if (!c)
        return -ENOMEM;
    cwd_get(c);
    long r = cwd_removed() ? -ENOENT : stat_fd(AT_FDCWD, &st);
    if (r < 0) {                        /* the path leads nowhere any more */
        kfree(c);
        return r == -ENOMEM ? r : -ENOENT;
    }
    const char *seen = fs_root_rel(c);
    const char *pre = seen ? "" : "(unreachable)";
    if (!seen)
        seen = c;
    unsigned long pl = strlen(pre), n = pl + strlen(seen) + 1;
    r = n;
    if (size < n)
        r = -ERANGE;
    else if (copy_to_user(buf, pre, pl) < 0 || copy_to_user(buf + pl, seen, n - pl) < 0)
        r = -EFAULT;
    kfree(c);
    return r;
}

long fs_chdir_path(const char *path)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    int host;
    long r = fs_walk(AT_FDCWD, path, W_FOLLOW, n);
    if (r == 0)
        r = fs_dir_enter(n, &host);
    if (r == 0)
        cwd_set(n->path, host);
    node_free(n);
    return r;
}

/* Implements chdir(2); differs from Linux in: search permission is not
 * checked on image and synthetic directories. */
long sys_chdir(const char *path)
{
    return fs_chdir_path(path);
}

/* Implements fchdir(2) by the guest path the fd was opened by. */
long sys_fchdir(int fd)
{
    if (!fd_valid(fd))
        return -EBADF;
    char *p = kmalloc(LS_PATH_MAX);
    if (!p)
        return -ENOMEM;
    long r = fd_copy_path(fd, p, LS_PATH_MAX);
    if (r == -ENOENT)
        r = fd_host_open(fd) ? -ENOTDIR : -EBADF;
    else if (r >= 0)
        r = fs_chdir_path(p);
    kfree(p);
    return r;
}

/* Implements mkdirat(2); differs from Linux in: the image is read-only (EROFS). */
long sys_mkdirat(int dirfd, const char *path, int mode)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(dirfd, path, 0, n);
    if (r == 0 && n->last_dot) {
        r = -EEXIST;                    /* as filename_create */
    } else if (r == 0 && n->o.type == FO_VOLUME) {
        if (vol_ro(n)) {
            r = -EROFS;
        } else {
            const char *name;
            long pfd = vol_parent(n, &name);
            r = pfd;
            if (pfd >= 0) {
                upper_making(n->o.ent);
                r = hsys3(__NR_mkdirat, pfd, (long)name, mode);
                hsys1(__NR_close, pfd);
                upper_made(n->o.ent);
            }
        }
    } else if (r == 0) {
        r = -EEXIST;
    } else if (r == -ENOENT && n->missing) {
        r = n->o.type == FO_IMAGE ? -EROFS : -EACCES;
    }
    node_free(n);
    return r;
}

/* Implements mknodat(2) (FIFOs, sockets, regular files; devices as the host
 * allows); differs from Linux in: the image is read-only (EROFS).
 * (Not wired while the syscall table has mknodat as unimplemented.) */
long sys_mknodat(int dirfd, const char *path, int mode, unsigned dev)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long r = fs_walk(dirfd, path, 0, n);
    if (r == 0 && n->last_dot) {
        r = -EEXIST;                    /* as filename_create */
    } else if (r == 0 && n->o.type == FO_VOLUME) {
        if (vol_ro(n)) {
            r = -EROFS;
        } else {
            const char *name;
            long pfd = vol_parent(n, &name);
            r = pfd;
            if (pfd >= 0) {
                upper_making(n->o.ent);
                r = hsys4(__NR_mknodat, pfd, (long)name, mode, dev);
                hsys1(__NR_close, pfd);
                upper_made(n->o.ent);
            }
        }
    } else if (r == 0) {
        r = -EEXIST;
    } else if (r == -ENOENT && n->missing) {
        r = n->o.type == FO_IMAGE ? -EROFS : -EACCES;
    }
    node_free(n);
    return r;
}

/* Implements mknod(2) as mknodat(AT_FDCWD, ...). */
long sys_mknod(const char *path, int mode, unsigned dev)
{
    return sys_mknodat(AT_FDCWD, path, mode, dev);
}

/* Implements mkdir(2) as mkdirat(AT_FDCWD, ...). */
long sys_mkdir(const char *path, int mode)
{
    return sys_mkdirat(AT_FDCWD, path, mode);
}

/* Implements rmdir(2) as unlinkat(AT_FDCWD, path, AT_REMOVEDIR). */
long sys_rmdir(const char *path)
{
    return sys_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}
