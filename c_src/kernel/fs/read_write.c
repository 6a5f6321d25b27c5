/*
 * Reading files of a packed image: read, pread64, readv, preadv, preadv2,
 * sendfile, copy_file_range, splice (lseek is in fd.c, fstat in stat.c,
 * mmap in mm/mm.c).
 *
 * A file of a packed image (LS_ENT_IMAGE_FILE) is opened as a dup of the
 * image file's host fd: its bytes are the window [base, base + size) of the
 * image, and every dup of the image shares one host file position.  So for
 * such a "based" fd the kernel keeps the file position itself (in its struct
 * kofd, shared by the guest's own dups as Linux shares a struct file) and
 * turns each read into a host pread at base + position, cut at the end of
 * the window.  The data is never copied into the guest's memory by the
 * kernel; mmap maps the image's pages (of a file the packer placed on a page
 * boundary: ELF objects and large files; a small file is copied).
 *
 * A generated /proc or /sys file (KF_F_GEN) is served from the bytes the
 * kernel generates, as a seq_file is (synth_fd.c).  An image or synthetic
 * directory's fd (FD_DIR, a placeholder memfd on the host) refuses them as
 * Linux's directories do: EISDIR, EINVAL for sendfile and splice.  A
 * process's mem or pagemap (FD_MEM) is read without the kernel's memory
 * (synth_mem.c); the copy calls refuse it, as Linux's (no splice_read).
 *
 * Every other fd (the common case: a volume file, a pipe, a socket) goes
 * straight to the host after one array test (fd_is_based); a call that can
 * wait is made with host_call_blocking, as the dispatcher makes 'host' calls.
 *
 * Concurrent reads of one based fd by several threads may read the same
 * bytes (the position is updated after the pread, not under a lock);
 * Linux serialises them with f_pos_lock.
 */
#include "fs.h"

/* pread of at most n bytes at file offset off of the window. */
static long window_pread(long fd, unsigned long base, unsigned long size, void *buf, size_t n,
                         long off)
{
    if (off < 0)
        return -EINVAL;
    if ((unsigned long)off >= size || n == 0)
        return 0;
    if (n > size - off)
        n = size - off;
    return hsys4(__NR_pread64, fd, (long)buf, n, base + off);
}

/* Reads into iov at file offset off (pos < 0: the fd's position, advanced). */
static long based_readv(long fd, const struct iovec *iov, int cnt, long off)
{
    if (cnt < 0 || cnt > 1024)
        return -EINVAL;
    if (fd_is_based(fd) == FD_GEN)
        return synth_fd_readv(fd, iov, cnt, off);
    if (fd_is_based(fd) == FD_DIR)
        return -EISDIR;
    if (fd_is_based(fd) == FD_MEM)
        return synth_mem_readv(fd, iov, cnt, off);
    struct kofd *o;
    unsigned long base, size;
    long r = fd_window(fd, &o, &base, &size);
    if (r < 0)
        return r;
    int cur = off < 0;
    long at = cur ? o->pos : off;
    long done = 0;
    for (int i = 0; i < cnt; i++) {
        struct iovec v;
        if ((r = copy_from_user(&v, &iov[i], sizeof v)) < 0)
            break;
        if (!v.iov_len)
            continue;
        r = window_pread(fd, base, size, v.iov_base, v.iov_len, at + done);
        if (r < 0)
            break;
        done += r;
        if ((size_t)r < v.iov_len)
            break;
    }
    if (done || r >= 0) {
        r = done;
        if (cur)
            o->pos = at + done;
    }
    kofd_put(o);
    return r;
}

/* Implements read(2); for an image file a pread at its position. */
long sys_read(int fd, void *buf, size_t n)
{
    if (!fd_is_based(fd))
        return host_call_blocking(__NR_read, fd, (long)buf, n, 0, 0, 0);
    struct iovec v = {buf, n};
    return based_readv(fd, &v, 1, -1);
}

/* Implements pread64(2). */
long sys_pread64(int fd, void *buf, size_t n, long off)
{
    if (!fd_is_based(fd))
        return host_call_blocking(__NR_pread64, fd, (long)buf, n, off, 0, 0);
    if (off < 0)
        return -EINVAL;
    struct iovec v = {buf, n};
    return based_readv(fd, &v, 1, off);
}

/* Implements readv(2). */
long sys_readv(int fd, const struct iovec *iov, int cnt)
{
    if (!fd_is_based(fd))
        return host_call_blocking(__NR_readv, fd, (long)iov, cnt, 0, 0, 0);
    return based_readv(fd, iov, cnt, -1);
}

/* Implements preadv(2) (the offset comes split in two registers). */
long sys_preadv(int fd, const struct iovec *iov, int cnt, unsigned long lo, unsigned long hi)
{
    if (!fd_is_based(fd))
        return host_call_blocking(__NR_preadv, fd, (long)iov, cnt, lo, hi, 0);
    long off = (long)lo;
    if (off < 0)
        return -EINVAL;
    return based_readv(fd, iov, cnt, off);
}

/* Implements preadv2(2); for an image file the flags are ignored (its
 * pages are never "not ready" in the RWF_NOWAIT sense worth reporting). */
long sys_preadv2(int fd, const struct iovec *iov, int cnt, unsigned long lo, unsigned long hi,
                 int flags)
{
    if (!fd_is_based(fd))
        return host_call_blocking(__NR_preadv2, fd, (long)iov, cnt, lo, hi, flags);
    long off = (long)lo;
    if (off < -1)
        return -EINVAL;
    return based_readv(fd, iov, cnt, off);
}

/*
 * The copy calls take an input offset by pointer (NULL: the fd's position).
 * From an image file: the host call gets a pointer to base + offset and a
 * length cut at the window's end; the guest's offset (or the position)
 * advances by what was copied.
 */
struct copy_in {
    struct kofd *o;
    long *guest_off;            /* the guest's offset pointer, or NULL */
    long start;                 /* file offset copied from */
    long host_off;              /* base + start, what the host call moves */
};

static long copy_in_begin(long fd, long *offp, size_t *len, struct copy_in *c)
{
    unsigned long base, size;
    long r = fd_window(fd, &c->o, &base, &size);
    if (r < 0)
        return r;
    c->guest_off = offp;
    c->start = c->o->pos;
    if (offp && copy_from_user(&c->start, offp, sizeof c->start) < 0) {
        kofd_put(c->o);
        return -EFAULT;
    }
    if (c->start < 0) {
        kofd_put(c->o);
        return -EINVAL;
    }
    unsigned long left = (unsigned long)c->start < size ? size - c->start : 0;
    if (*len > left)
        *len = left;
    c->host_off = base + c->start;
    return 0;
}

static long copy_in_end(struct copy_in *c, long r)
{
    if (r > 0) {
        long end = c->start + r;
        if (!c->guest_off)
            c->o->pos = end;
        else if (copy_to_user(c->guest_off, &end, sizeof end) < 0)
            r = -EFAULT;
    }
    kofd_put(c->o);
    return r;
}

/* Implements sendfile(2). */
long sys_sendfile(int out, int in, long *offp, size_t count)
{
    if (!fd_is_based(in))
        return host_call_blocking(__NR_sendfile, out, in, (long)offp, count, 0, 0);
    if (fd_is_based(in) == FD_GEN)
        return synth_fd_copy(out, in, offp, count, 0);
    if (fd_is_based(in) == FD_DIR || fd_is_based(in) == FD_MEM)
        return -EINVAL;
    struct copy_in c;
    long r = copy_in_begin(in, offp, &count, &c);
    if (r < 0)
        return r;
    r = host_call_blocking(__NR_sendfile, out, in, (long)&c.host_off, count, 0, 0);
    return copy_in_end(&c, r);
}

/* Implements copy_file_range(2). */
long sys_copy_file_range(int in, long *offin, int out, long *offout, size_t len, unsigned flags)
{
    if (!fd_is_based(in))
        return host_call_blocking(__NR_copy_file_range, in, (long)offin, out, (long)offout, len,
                                  flags);
    if (fd_is_based(in) == FD_GEN)       /* Linux's, between file systems */
        return flags ? -EINVAL : -EXDEV;
    if (fd_is_based(in) == FD_DIR || fd_is_based(in) == FD_MEM)
        return flags || fd_is_based(in) == FD_MEM ? -EINVAL : -EISDIR;
    struct copy_in c;
    long r = copy_in_begin(in, offin, &len, &c);
    if (r < 0)
        return r;
    r = host_call_blocking(__NR_copy_file_range, in, (long)&c.host_off, out, (long)offout, len,
                           flags);
    return copy_in_end(&c, r);
}

/* Implements splice(2). */
long sys_splice(int in, long *offin, int out, long *offout, size_t len, unsigned flags)
{
    if (!fd_is_based(in))
        return host_call_blocking(__NR_splice, in, (long)offin, out, (long)offout, len, flags);
    if (fd_is_based(in) == FD_GEN)
        return offout ? -ESPIPE : synth_fd_copy(out, in, offin, len, 1);
    if (fd_is_based(in) == FD_DIR || fd_is_based(in) == FD_MEM)
        return -EINVAL;
    struct copy_in c;
    long r = copy_in_begin(in, offin, &len, &c);
    if (r < 0)
        return r;
    r = host_call_blocking(__NR_splice, in, (long)&c.host_off, out, (long)offout, len, flags);
    return copy_in_end(&c, r);
}

long fs_mmap_window(long fd, long off, unsigned long *hoff, unsigned long *avail)
{
    struct kofd *o;
    unsigned long base, size;
    long r = fd_window(fd, &o, &base, &size);
    if (r < 0)
        return r;
    kofd_put(o);
    if (off < 0 || (off & (LS_PAGE - 1)))
        return -EINVAL;
    *hoff = base + off;
    *avail = (unsigned long)off < size ? size - off : 0;
    return (base & (LS_PAGE - 1)) ? 1 : 0;
}

int fs_fd_is_based(long fd)
{
    return fd_is_based(fd) == FD_WINDOW;
}

/*
 * Before a host execve: a based fd the new program inherits (not
 * close-on-exec) would reach it as a plain dup of the image file, whose
 * host position is shared and whose bytes are the whole image.  Each is
 * replaced, under the same number and flags, by a sealed memfd holding the
 * file's bytes at the same position: a copy, but the right file.  Returns 0
 * or the first -errno (the fds already replaced stay replaced: still right).
 */
long fs_unbase_for_exec(void)
{
    for (long fd = 0; fd < fs_based_len; fd++) {
        if (!fd_is_based(fd) || fd_is_based(fd) == FD_DIR || fd_is_based(fd) == FD_MEM ||
            (hsys2(__NR_fcntl, fd, F_GETFD) & FD_CLOEXEC))
            continue;
        if (fd_is_based(fd) == FD_GEN) {
            long r = synth_fd_for_exec(fd);
            if (r < 0)
                return r;
            continue;
        }
        struct kofd *o;
        unsigned long base, size;
        if (fd_window(fd, &o, &base, &size) < 0)
            continue;
        long pos = o->pos, ent = o->ent;
        kofd_put(o);
        long m = fs_memfd_new(path_base(img_path(ent)), 1);
        if (m < 0)
            return m;
        long r = 0;
        char buf[4096];
        for (unsigned long at = 0; at < size && r >= 0; at += r) {
            r = hsys4(__NR_pread64, fd, (long)buf, size - at < sizeof buf ? size - at : sizeof buf,
                      base + at);
            if (r == 0)
                r = -EIO;
            if (r > 0)
                r = kwrite_all(m, buf, r) < 0 ? -EIO : r;
        }
        if (r < 0) {
            hsys1(__NR_close, m);
            return r;
        }
        if ((r = fs_exec_copy(fd, fs_memfd_seal(m, img_ent(ent)->mode & 07777), pos)) < 0)
            return r;
    }
    return 0;
}

long fs_exec_copy(long fd, long m, long pos)
{
    if (m < 0)
        return m;
    hsys3(__NR_lseek, m, pos, SEEK_SET);
    hsys3(__NR_fcntl, m, F_SETFL, hsys2(__NR_fcntl, fd, F_GETFL));
    long r = hsys3(__NR_dup3, m, fd, 0);
    hsys1(__NR_close, m);
    if (r < 0)
        return r;
    kofd_put(fd_detach(fd));
    return 0;
}
