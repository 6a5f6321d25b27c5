/*
 * Descriptor calls: close, dup, fcntl, ioctl, lseek.  The host does the work on the
 * real descriptors; the kernel keeps its table in step and keeps the guest
 * away from the kernel's own fds, which lie at and above K.nofile_limit.
 */
#include "fs.h"
#include <asm/ioctls.h>

/* Implements close(2). */
long sys_close(int fd)
{
    if (!fd_valid(fd))
        return -EBADF;
    struct kofd *o = fd_detach(fd);
    long r = hsys1(__NR_close, fd);
    kofd_put(o);
    return r;
}

static long close_part(unsigned first, unsigned last, unsigned flags)
{
    if (!(flags & CLOSE_RANGE_CLOEXEC))
        fd_detach_range(first, last);
    return hsys3(__NR_close_range, first, last, flags);
}

/* Implements close_range(2); differs from Linux in: the kernel's reserve
 * of fds above the guest's RLIMIT_NOFILE cap is left out of the range
 * (above it lie only fds the guest kept while its limit went below them),
 * so a guest fd kept there stays open. */
long sys_close_range(unsigned first, unsigned last, unsigned flags)
{
    if (first > last)
        return -EINVAL;
    unsigned cap = K.nofile_limit, top = cap + KFD_RESERVED;
    long r = 0;
    if (first < cap)
        r = close_part(first, last < cap ? last : cap - 1, flags);
    if (r == 0 && last >= top)
        r = close_part(first > top ? first : top, last, flags);
    return r;
}

/* A fresh fd made by the host from oldfd: checks it and shares oldfd's entry. */
static long dup_done(long r, int oldfd)
{
    if (r < 0)
        return r;
    if (!fd_valid(r)) {
        hsys1(__NR_close, r);
        return -EMFILE;
    }
    if (fd_install(r, fd_get(oldfd)) < 0) {
        hsys1(__NR_close, r);
        return -ENOMEM;
    }
    return r;
}

/* Implements dup(2). */
long sys_dup(int fd)
{
    if (!fd_valid(fd))
        return -EBADF;
    fd_dup_enter();
    long r = dup_done(hsys1(__NR_dup, fd), fd);
    fd_dup_leave();
    return r;
}

/* Implements dup2(2); newfd cannot name a kernel fd. */
long sys_dup2(int oldfd, int newfd)
{
    if (!fd_valid(oldfd) || !fd_valid(newfd))
        return -EBADF;
    if (oldfd == newfd)
        return fd_host_open(oldfd) ? newfd : -EBADF;
    fd_dup_enter();
    long r = dup_done(hsys2(__NR_dup2, oldfd, newfd), oldfd);
    fd_dup_leave();
    return r;
}

/* Implements dup3(2); newfd cannot name a kernel fd. */
long sys_dup3(int oldfd, int newfd, int flags)
{
    if (!fd_valid(oldfd) || !fd_valid(newfd))
        return -EBADF;
    fd_dup_enter();
    long r = dup_done(hsys3(__NR_dup3, oldfd, newfd, flags), oldfd);
    fd_dup_leave();
    return r;
}

/* F_GETFL and F_SETFL of a packed image's file: its status flags are the
 * kernel's (kofd arg), kept off the image fd its host fd shares a
 * description with (O_DIRECT there would fail the kernel's own reads). */
static long based_fl(int fd, int cmd, long arg)
{
    struct kofd *o;
    unsigned long base, size;
    long r = fd_window(fd, &o, &base, &size);
    if (r < 0)
        return r;
    if (cmd == F_SETFL)
        o->arg = (o->arg & ~FS_SETFL_FLAGS) | (arg & FS_SETFL_FLAGS);
    r = cmd == F_SETFL ? 0 : kofd_getfl(o, O_LARGEFILE | o->arg);
    kofd_put(o);
    return r;
}

/* F_GETFL and F_SETFL of an image or synthetic directory (or an O_PATH fd
 * of a file the kernel serves): the status flags are its entry's, kept off
 * the placeholder description its host fd shares with every other. */
static long placeholder_fl(int fd, struct kofd *o, int cmd, long arg)
{
    long host = hsys3(__NR_fcntl, fd, F_GETFL, 0);
    if (host < 0 || cmd == F_GETFL)
        return kofd_getfl(o, host);
    if (host & O_PATH)
        return -EBADF;
    if (arg & O_DIRECT)
        return -EINVAL;
    o->fl = arg & FS_SETFL_FLAGS;
    return 0;
}

/* The state Linux keeps per open file description, of an image or
 * synthetic directory, whose host fd shares the placeholder's description
 * with every other: F_SETOWN's and F_SETOWN_EX's owner and F_SETSIG's
 * signal are its entry's.  The owner is set and read on a description of
 * the placeholder opened for the call (rare calls: the open's cost is no
 * matter), so that Linux checks it (ESRCH, EINVAL, EFAULT) and answers for
 * it (0 once the owner is gone).  F_NOTIFY is Linux's answer for a
 * directory, 0, but no event comes (an image or /proc directory changes
 * only through the kernel); F_SETLEASE is EINVAL there, F_GETLEASE F_UNLCK. */
static long placeholder_own(struct kofd *o, int cmd, long arg)
{
    switch (cmd) {
    case F_GETSIG:
        return o->sig;
    case F_SETSIG:
        if ((unsigned long)arg > 64)        /* valid_signal: 0 to _NSIG */
            return -EINVAL;
        o->sig = arg;
        return 0;
    case F_NOTIFY:
        return 0;
    case F_GETLEASE:
        return F_UNLCK;
    case F_SETLEASE:
        return -EINVAL;
    }
    char hp[40];
    ksnprintf(hp, sizeof hp, "/proc/self/fd/%d", fs_placeholder_fd);
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)hp, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    struct f_owner_ex ex = {.type = o->own_type, .pid = o->own_pid};
    long r = 0;
    if (o->owned && hsys3(__NR_fcntl, fd, F_SETOWN_EX, (long)&ex) < 0) {
        ex.pid = 0;             /* gone: Linux keeps the type and answers pid 0 */
        r = hsys3(__NR_fcntl, fd, F_SETOWN_EX, (long)&ex);
    }
    if (r == 0)
        r = hsys3(__NR_fcntl, fd, cmd, arg);
    if (r >= 0 && (cmd == F_SETOWN || cmd == F_SETOWN_EX) &&
        (r = hsys3(__NR_fcntl, fd, F_GETOWN_EX, (long)&ex)) == 0) {
        o->own_type = ex.type;
        o->own_pid = ex.pid;
        o->owned = 1;
    }
    hsys1(__NR_close, fd);
    return r;
}

/* Implements fcntl(2); differs from Linux in: F_DUPFD cannot reach the
 * kernel's fds (EINVAL at or above the guest's RLIMIT_NOFILE cap).  All other
 * commands are the host's, but F_GETFL and F_SETFL of a packed image's file
 * and of a placeholder, and a placeholder's owner, signal, F_NOTIFY and
 * lease (placeholder_own; a forked child's F_SETFL, F_SETOWN or F_SETSIG of
 * one, or F_SETFL of a packed image's file, is not seen by its parent, and
 * an execve forgets a placeholder's owner and signal). */
long sys_fcntl(int fd, int cmd, long arg)
{
    if (!fd_valid(fd))
        return -EBADF;
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
        if (arg < 0 || !fd_valid(arg))
            return -EINVAL;
        fd_dup_enter();
        long r = dup_done(hsys3(__NR_fcntl, fd, cmd, arg), fd);
        fd_dup_leave();
        return r;
    }
    if ((cmd == F_GETFL || cmd == F_SETFL) && fd_is_based(fd) == FD_WINDOW)
        return based_fl(fd, cmd, arg);
    struct kofd *o;
    long r;
    switch (cmd) {
    case F_GETOWN: case F_SETOWN: case F_GETOWN_EX: case F_SETOWN_EX: case F_GETSIG:
    case F_SETSIG: case F_NOTIFY: case F_GETLEASE: case F_SETLEASE:
        o = fd_get(fd);
        /* An O_PATH placeholder's are the host's: EBADF, as Linux's. */
        if (o && o->kind != KF_HOST && !(hsys3(__NR_fcntl, fd, F_GETFL, 0) & O_PATH))
            r = placeholder_own(o, cmd, arg);
        else
            r = hsys3(__NR_fcntl, fd, cmd, arg);
        kofd_put(o);
        return r;
    case F_GETFL: case F_SETFL:
        break;
    case F_SETLKW: case F_OFD_SETLKW:
        return host_call_blocking(__NR_fcntl, fd, cmd, arg, 0, 0, 0);
    default:
        return hsys3(__NR_fcntl, fd, cmd, arg);
    }
    o = fd_get(fd);
    if (o && o->kind != KF_HOST)
        r = placeholder_fl(fd, o, cmd, arg);
    else if ((r = hsys3(__NR_fcntl, fd, cmd, arg)) >= 0 && cmd == F_GETFL)
        r = kofd_getfl(o, r);
    kofd_put(o);
    return r;
}

/* lseek of a packed image's file: the kernel's own position (read_write.c). */
static long based_lseek(int fd, long off, int whence)
{
    struct kofd *o;
    unsigned long base, size;
    long r = fd_window(fd, &o, &base, &size);
    if (r < 0)
        return r;
    long to;
    switch (whence) {
    case SEEK_SET:
        to = off;
        break;
    case SEEK_CUR:
        to = o->pos + off;
        break;
    case SEEK_END:
        to = (long)size + off;
        break;
    case SEEK_DATA:     /* one extent of data, no holes */
        to = off >= 0 && (unsigned long)off < size ? off : -ENXIO;
        break;
    case SEEK_HOLE:
        to = off >= 0 && (unsigned long)off < size ? (long)size : -ENXIO;
        break;
    default:
        to = -EINVAL;
    }
    if (to < 0 && whence <= SEEK_END)
        to = -EINVAL;
    if (to >= 0)
        o->pos = to;
    kofd_put(o);
    return to;
}

/* Implements ioctl(2): the host's, but FIONBIO on an fd whose status
 * flags its entry keeps (a placeholder's, a packed image file's), which
 * would set O_NONBLOCK on the description it shares with every other
 * placeholder, or with the image: it is F_SETFL's. */
long sys_ioctl(int fd, unsigned long cmd, long arg)
{
    if (!fd_valid(fd))
        return -EBADF;
    if ((unsigned)cmd != FIONBIO)       /* Linux's request is an unsigned int */
        return host_call_blocking(__NR_ioctl, fd, cmd, arg, 0, 0, 0);
    struct kofd *o = fd_get(fd);
    int kept = fd_flags_kept(o);
    kofd_put(o);
    if (!kept)
        return hsys3(__NR_ioctl, fd, cmd, arg);
    long fl = sys_fcntl(fd, F_GETFL, 0);
    int on;
    if (fl < 0 || (fl & O_PATH))
        return fl < 0 ? fl : -EBADF;
    if (copy_from_user(&on, (const void *)arg, sizeof on) < 0)
        return -EFAULT;
    return sys_fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Implements lseek(2); differs from Linux in: on an image or synthetic
 * directory the offset is the getdents cookie (SEEK_SET to a d_off, or 0 to
 * rewind; SEEK_CUR 0 tells it). */
long sys_lseek(int fd, long off, int whence)
{
    if (fd_is_based(fd) == FD_WINDOW || fd_is_based(fd) == FD_GEN)
        return fd_is_based(fd) == FD_GEN ? synth_fd_lseek(fd, off, whence)
                                         : based_lseek(fd, off, whence);
    if (!fd_valid(fd))
        return -EBADF;
    struct kofd *o = fd_get(fd);
    if (!o || o->kind == KF_HOST) {
        /* A generated /proc file made a memfd (synth_generate); Linux's is
         * a seq_file. */
        int seq = o && (o->flags & KF_F_SYNTH) && synth_seq(o->ent);
        kofd_put(o);
        if (seq && whence != SEEK_SET && whence != SEEK_CUR)
            return -EINVAL;
        return hsys3(__NR_lseek, fd, off, whence);
    }
    long r = -EINVAL;
    if (whence == 0 /* SEEK_SET */ && off >= 0)
        r = o->pos = off;
    else if (whence == 1 /* SEEK_CUR */ && off == 0)
        r = o->pos;
    kofd_put(o);
    return r;
}
