/*
 * The writable root's fds follow their file when it is copied up (issue 14).
 *
 * An fd opened on a stub is the image's bytes: a window of the packed image,
 * a sealed memfd, the image's host file, or, with O_PATH, a placeholder.
 * When the stub is copied up -- an open to write or truncate, a change by
 * path, or an attribute change through an fd (upper_copy_up_fd) -- every fd
 * of this process that was opened on that stub (its entry records the stub's
 * inode) is moved onto the copy: the copy reopened read-only (an fd of the
 * image is never writable: an open to write copies up first) or O_PATH, with
 * the fd's status flags, at its position, and dup3'd onto the fd's number
 * with its close-on-exec flag.  So the process sees one file, as overlayfs
 * has shown since Linux 4.19.  What still differs, as overlayfs before 4.19:
 * the fds of the guest's other processes (a forked child shares the open
 * file, not this table) and mappings made before the copy-up keep the
 * image's bytes.  A read by another thread that races the move may fail or
 * come up short, as one racing a dup2 onto its fd may.
 */
#include "fs.h"

/* Status flags an fd keeps when moved; the access mode is read-only. */
#define KEPT_FLAGS (O_APPEND | O_NONBLOCK | O_NOATIME | O_LARGEFILE | O_DSYNC | __O_SYNC)

/* Opens the copy (host fd copy) as image fd fd with entry o is opened: a
 * host fd at fd's position, or -errno. */
static long reopen(long fd, const struct kofd *o, long copy)
{
    long fl = O_PATH;
    if (o->flags & KF_F_BASED) {
        fl = o->arg & KEPT_FLAGS;       /* the image fd's are not the guest's: fd.c */
    } else if (o->kind != KF_IMAGE) {
        fl = hsys2(__NR_fcntl, fd, F_GETFL);
        if (fl < 0)
            return fl;
        fl &= KEPT_FLAGS | O_PATH;
    }
    long pos = 0;
    if (o->flags & KF_F_BASED)
        pos = o->pos;
    else if (!(fl & O_PATH))
        pos = hsys3(__NR_lseek, fd, 0, SEEK_CUR);
    if (pos < 0)
        return pos;
    char hp[40];
    ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", copy);
    long nfd = hsys4(__NR_openat, AT_FDCWD, (long)hp, O_RDONLY | O_CLOEXEC | fl, 0);
    long r = nfd >= 0 && pos ? hsys3(__NR_lseek, nfd, pos, SEEK_SET) : 0;
    if (r < 0) {
        hsys1(__NR_close, nfd);
        return r;
    }
    return nfd;
}

void upper_move_fds(unsigned long ino, long copy)
{
    struct kofd *o;
    for (long fd = 0; (fd = fd_next_stub(ino, fd, &o)) >= 0; fd++) {
        /* One new open for each entry: the fds that share it (dups) share
         * the copy's too, as they shared a position. */
        long nfd = reopen(fd, o, copy);
        struct kofd *n = nfd >= 0 ? kofd_new(KF_HOST, 0, 0, 0, o->path) : 0;
        if (n)
            fd_replace(o, nfd, n);
        if (nfd >= 0)
            hsys1(__NR_close, nfd);
        kofd_put(n);
        kofd_put(o);
    }
}

long upper_copy_up_fd(long fd)
{
    struct kofd *o = fd_get(fd);
    long r = 0;
    if (o && o->ino && o->path) {
        /* The stub is copied up at its name: an fd's path follows the
         * renames this process makes (fd_renamed); a stub unlinked, or
         * renamed by another process, has no name this process knows, and
         * its fd stays the image's. */
        struct fs_node *n = node_new();
        r = n ? fs_walk(AT_FDCWD, o->path, 0, n) : -ENOMEM;
        if (r == 0 && n->o.type == FO_IMAGE && n->o.ino == o->ino)
            r = upper_copy_up(n, 1);
        else if (r != -ENOMEM)
            r = 0;
        node_free(n);
    }
    kofd_put(o);
    return r;
}
