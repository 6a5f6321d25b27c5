/*
 * Generated /proc and /sys files (synth.c's table) served as Linux's
 * seq_file serves them.  The guest's fd is the host's own file that the
 * table names (the guest's own /proc/<pid>/stat, the host's /proc/meminfo;
 * never a path the guest gave), opened with the guest's flags: fstat,
 * poll, fcntl, flock and its fd link are the host's answers, as natively
 * (a regular file of size 0; mmap refused).  Its reads (read_write.c, and
 * lseek in fd.c) are the kernel's, marked FD_GEN in fs_based: a read at
 * offset 0, or at any offset but where the last read ended, generates the
 * bytes afresh (a pread of that host file, then the guest's pids, names
 * and paths: synth_gen.c), as seq_read regenerates; a read that continues
 * the last one is served from the bytes it kept, until their end.  So a
 * monitor that preads /proc/stat every second sees every second's values,
 * and a read in pieces sees one generation.
 *
 * The bytes, the position and the last read's end belong to the open file
 * description (struct kofd, shared by dup); the bytes are freed once read
 * to their end, so an idle fd holds none.  Differs from Linux in: the
 * kernel's memory is copied at fork, so after a fork parent and child each
 * have the position they had (Linux shares it); a file generated whole at
 * its first read (Linux generates a long file's records as they are read);
 * sendfile and splice from any such file copy its bytes (Linux refuses
 * those whose host file has no splice_read, such as /proc/<pid>/stat:
 * EINVAL).
 */
#include "synth.h"

long synth_fd_open(struct fs_node *n, int flags)
{
    char hp[64];
    long r = synth_host_file(n->o.ent, n->o.arg, hp, sizeof hp);
    if (r < 0)
        return r;
    /* Read-only, with the guest's other flags (O_DIRECT refused, O_NOFOLLOW
     * and O_NONBLOCK kept, as the host's open of its file does). */
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)hp,
                    O_RDONLY | (flags & FS_VALID_OPEN_FLAGS &
                                ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_PATH)), 0);
    if (fd == -ENOENT || fd == -EACCES || fd == -EPERM)
        return -ENOENT;         /* not the host's to give: the caller's memfd */
    return fs_install_gen(fd, n);
}

/* The entry of gen fd fd, a reference (the caller puts it), or NULL. */
static struct kofd *gen_get(long fd)
{
    struct kofd *o = fd_get(fd);
    if (o && !(o->flags & KF_F_GEN)) {
        kofd_put(o);
        return 0;
    }
    return o;
}

/* The bytes a read at offset at serves, generated now unless it continues
 * the last read (taken from o: the caller gives them back, put_back); NULL
 * with 0 when that read reached their end. */
static long take(long fd, struct kofd *o, long at, struct kgen **out)
{
    struct kgen *g = 0;
    int cont = at != 0 && at == o->rpos;
    fs_lock();
    if (cont && o->gen) {
        g = o->gen;
        o->gen = 0;
    }
    fs_unlock();
    *out = g;
    if (g || (cont && o->geof))
        return 0;
    char hp[64];
    long arg = o->arg;
    /* A process's own file read by its forked child is its opener's. */
    if (synth_per_process(o->ent) && o->ent != SID_FDINFO && !arg && o->opener &&
        o->opener != fs_pid())
        arg = o->opener;
    long r = synth_host_file(o->ent, arg, hp, sizeof hp);
    if (r < 0)
        return -ESRCH;
    return synth_generate_buf(o->ent, arg, fd, hp, out);
}

/* After a read of g from at to end: o's state; g kept if not all read. */
static void put_back(struct kofd *o, struct kgen *g, long end)
{
    int eof = !g || (size_t)end >= g->len;
    fs_lock();
    o->rpos = end;
    o->geof = eof;
    if (!eof && !o->gen) {
        o->gen = g;
        g = 0;
    }
    fs_unlock();
    kfree(g);
}

long synth_fd_readv(long fd, const struct iovec *iov, int cnt, long off)
{
    struct kofd *o = gen_get(fd);
    if (!o)
        return -EBADF;
    int cur = off < 0;
    long at = cur ? o->pos : off, r = 0;
    size_t want = 0;
    for (int i = 0; i < cnt && r == 0; i++) {
        struct iovec v;
        if ((r = copy_from_user(&v, &iov[i], sizeof v)) == 0)
            want += v.iov_len;
    }
    struct kgen *g = 0;
    if (r < 0 || !want || (r = take(fd, o, at, &g)) < 0) {
        kofd_put(o);
        return r;
    }
    long done = 0;
    size_t len = g ? g->len : 0;
    for (int i = 0; i < cnt && (size_t)(at + done) < len; i++) {
        struct iovec v;
        if ((r = copy_from_user(&v, &iov[i], sizeof v)) < 0)
            break;
        size_t n = len - (at + done) < v.iov_len ? len - (at + done) : v.iov_len;
        if (n && (r = copy_to_user(v.iov_base, g->data + at + done, n)) < 0)
            break;
        done += n;
    }
    if (done || r >= 0) {
        r = done;
        if (cur)
            o->pos = at + done;
    }
    put_back(o, g, at + done);
    kofd_put(o);
    return r;
}

long synth_fd_copy(long out, long in, long *offp, size_t len, int splice)
{
    struct kofd *o = gen_get(in);
    if (!o)
        return -EBADF;
    long at = o->pos, r = 0;
    struct stat st;
    if (offp && copy_from_user(&at, offp, sizeof at) < 0)
        r = -EFAULT;
    else if (at < 0)
        r = -EINVAL;
    else if (splice && (r = hsys2(__NR_fstat, out, (long)&st)) == 0 && !S_ISFIFO(st.st_mode))
        r = -EINVAL;            /* splice: one end a pipe, and this one is not */
    struct kgen *g = 0;
    if (r < 0 || !len || (r = take(in, o, at, &g)) < 0) {
        kofd_put(o);
        return r;
    }
    long done = 0;
    size_t have = g && (size_t)at < g->len ? g->len - at : 0;
    if (len > have)
        len = have;
    while ((size_t)done < len) {
        r = host_call_blocking(__NR_write, out, (long)(g->data + at + done), len - done, 0, 0, 0);
        if (r <= 0)
            break;
        done += r;
    }
    if (done)
        r = done;
    if (r >= 0) {
        long end = at + done;
        if (!offp)
            o->pos = end;
        else if (copy_to_user(offp, &end, sizeof end) < 0)
            r = -EFAULT;
    }
    put_back(o, g, at + done);
    kofd_put(o);
    return r;
}

long synth_fd_lseek(long fd, long off, int whence)
{
    struct kofd *o = gen_get(fd);
    if (!o)
        return -EBADF;
    /* seq_lseek: from the start or here only; the others' (cmdline,
     * /proc/sys) generic_file_llseek, of a file of size 0. */
    int seq = synth_seq(o->ent);
    long to = -EINVAL;
    if (whence == SEEK_SET)
        to = off;
    else if (whence == SEEK_CUR)
        to = o->pos + off;
    else if (whence == SEEK_END && !seq)
        to = off;
    else if ((whence == SEEK_DATA || whence == SEEK_HOLE) && !seq)
        to = -ENXIO;
    if (to < 0 && to != -ENXIO)
        to = -EINVAL;
    if (to >= 0)
        o->pos = to;
    kofd_put(o);
    return to;
}

long synth_fd_for_exec(long fd)
{
    struct kofd *o = gen_get(fd);
    if (!o)
        return 0;
    struct kgen *g = 0;
    long pos = o->pos;
    long r = take(fd, o, pos, &g);      /* the bytes it was reading, if it was */
    if (r >= 0 && !g)
        r = take(fd, o, 0, &g);
    kofd_put(o);
    if (r < 0)
        return r;
    long m = fs_sealed_memfd("proc", g->data, g->len, 1, 0444);
    kfree(g);
    int kf;
    long fl = hsys2(__NR_fcntl, fd, F_GETFL);
    return fs_exec_copy(fd, fs_reopen(m, (fl < 0 ? 0 : fl & FS_REOPEN_FLAGS) | O_CLOEXEC, &kf),
                        pos);
}
