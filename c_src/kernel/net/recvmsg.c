/*
 * recvmsg(2) and recvmmsg(2): the host receives into a copy of the guest's
 * headers whose control buffers are the kernel's; the kernel then refuses
 * the directory fds an SCM_RIGHTS part brings, before the guest sees them.
 *
 * A directory's fd from outside the guest (a host process's, through a
 * socket of --preserve-fds or a volume) would be a host root to resolve
 * names from: --preserve-fds refuses one at start, and this is the same
 * refusal for one that comes later.  The receiving kernel knows no guest
 * path for it, whoever sent it (another guest process's is a host fd
 * there too, its path its sender's kernel's), so every directory is
 * refused, as Linux refuses a file an LSM's file_receive hook rejects:
 * scm_detach_fds stops at the first fd it cannot install, the fds before
 * it stay, the rest are not installed, and MSG_CTRUNC says so.  Differs
 * from Linux in: the host installed them all first (close-on-exec: an
 * execve meanwhile keeps none), and the kernel closes them from the first
 * directory on as the call returns, with every copy another thread made
 * meanwhile by dup, dup2, dup3 or F_DUPFD (close_copies; those wait while
 * it looks: fd_refuse_begin).  Another thread that uses the fd number it
 * guessed in that window still reaches the directory itself (a listing;
 * fchmod, fchown, an xattr where the caller's user owns it) but no name
 * below it (the guest's walk never starts at a host fd without a guest
 * path, and Landlock checks a resolved file's host path), and a fork in
 * the window gives the child a copy.
 *
 * A process's mem or pagemap that a part brings (its sender's, or one of
 * another guest process) gets the entry its open would have given
 * (synth_mem_adopt), so that its reads leave the kernel's memory out, as
 * those of an fd the guest opened; another thread that reads the fd number
 * it guessed before the call returns reads the host's file.
 *
 * A message without control buffer brings no fd (Linux drops them:
 * MSG_CTRUNC) and is received by the host straight into the guest's
 * header.  The host writes at most CTL_MAX bytes of control data per
 * message (Linux's SCM_MAX_FD fds are 1 KiB of it).
 */
#include "net/net.h"
#include "fs/fs.h"

#define CTL_MAX 8192
#define CTL_STACK 2048
#define SCM_MAX_FD 253

static int is_dir(int fd)
{
    struct stat st;
    return hsys2(__NR_fstat, fd, (long)&st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether guest fd fd shares an open file with the refused directory fd
 * dir: the host's F_DUPFD_QUERY (Linux 6.10), which compares two fds of the
 * caller's own table only (kcmp, which did this before, takes any pid of the
 * guest's: another process's table, seccomp could not pin it to the
 * caller).  A host without it (EINVAL): the same directory, unless the
 * guest opened it by a path of its own (received fds and their copies have
 * none; one an execve kept has none either, and is closed with them). */
static int same_file(long fd, long dir)
{
    long same = hsys3(__NR_fcntl, fd, F_DUPFD_QUERY, dir);
    if (same != -EINVAL)
        return same == 1;
    struct stat a, b;
    return !fd_has_path(fd) && hsys2(__NR_fstat, fd, (long)&a) == 0 &&
           hsys2(__NR_fstat, dir, (long)&b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

struct refused { const int *dirs; size_t n; };

static void close_copy(long fd, void *arg)
{
    const struct refused *r = arg;
    size_t k = 0;
    while (k < r->n && r->dirs[k] != fd)
        k++;
    if (k < r->n)
        return;                         /* one of the refused */
    for (k = 0; k < r->n; k++)
        if (same_file(fd, r->dirs[k])) {
            kofd_put(fd_detach(fd));
            hsys1(__NR_close, fd);
            return;
        }
}

/* Closes every guest fd other than the refused dirs[0..n) that shares an
 * open file with one of them (a copy another thread made before the
 * refusal: same_file), found in /proc/self/fd; with dups kept out
 * (fd_refuse_begin), none is made meanwhile. */
static void close_copies(const int *dirs, size_t n)
{
    fd_each_guest(close_copy, &(struct refused){dirs, n});
}

/* m's control data (ctl, m->controllen bytes the host wrote) without
 * the directory fds of its SCM_RIGHTS part and those after them, and
 * without any copy of those directories another thread made meanwhile.
 * The host received them close-on-exec (an execve meanwhile keeps none);
 * those given to the guest lose it unless it asked for it (cloexec). */
static void refuse_dirs(struct kmsghdr *m, char *ctl, int cloexec)
{
    for (size_t off = 0; off + sizeof(struct kcmsghdr) <= m->controllen;) {
        struct kcmsghdr *c = (struct kcmsghdr *)(ctl + off);
        size_t left = m->controllen - off;
        if (c->len < sizeof *c || c->len > left)
            return;
        size_t space = CMSG_ALIGN(c->len) < left ? CMSG_ALIGN(c->len) : left;
        if (c->level == SOL_SOCKET && c->type == SCM_RIGHTS) {
            int *fds = (int *)(c + 1);
            size_t n = (c->len - sizeof *c) / sizeof(int), i = 0;
            while (i < n && !is_dir(fds[i]))
                i++;
            if (i < n) {
                int dirs[SCM_MAX_FD];     /* Linux's most fds in one message */
                size_t nd = 0;
                fd_refuse_begin();
                for (size_t j = i; j < n && nd < SCM_MAX_FD; j++)
                    if (is_dir(fds[j]))
                        dirs[nd++] = fds[j];
                close_copies(dirs, nd);
                for (size_t j = i; j < n; j++)
                    hsys1(__NR_close, fds[j]);
                fd_refuse_end();
                m->flags |= MSG_CTRUNC;
                c->len = sizeof *c + i * sizeof(int);
                size_t keep = i ? CMSG_ALIGN(c->len) : 0;
                memmove(ctl + off + keep, ctl + off + space, left - space);
                m->controllen -= space - keep;
                space = keep;
            }
            for (size_t j = 0; j < i; j++) {
                synth_mem_adopt(fds[j]);
                if (!cloexec)
                    hsys3(__NR_fcntl, fds[j], F_SETFD, 0);
            }
        }
        off += space;
    }
}

/* The fds of m's SCM_RIGHTS parts closed: the guest could not be told. */
static void close_rights(const struct kmsghdr *m, const char *ctl)
{
    for (size_t off = 0; off + sizeof(struct kcmsghdr) <= m->controllen;) {
        const struct kcmsghdr *c = (const struct kcmsghdr *)(ctl + off);
        if (c->len < sizeof *c || c->len > m->controllen - off)
            return;
        if (c->level == SOL_SOCKET && c->type == SCM_RIGHTS)
            for (size_t j = 0; j < (c->len - sizeof *c) / sizeof(int); j++)
                hsys1(__NR_close, ((const int *)(c + 1))[j]);
        off += CMSG_ALIGN(c->len);
    }
}

/* What the host wrote into m (control data at ctl) back into the guest's
 * header at um, whose control buffer is guest: as Linux writes them, its
 * name length, control length and flags.  0 or -EFAULT. */
static long give_back(struct kmsghdr *m, char *ctl, struct kmsghdr *um, void *guest, int cloexec)
{
    refuse_dirs(m, ctl, cloexec);
    /* Linux reports MSG_CMSG_CLOEXEC in msg_flags as the caller asked it; the
     * host was always asked. */
    m->flags = (m->flags & ~MSG_CMSG_CLOEXEC) | (cloexec ? MSG_CMSG_CLOEXEC : 0);
    if (copy_to_user(guest, ctl, m->controllen) < 0 ||
        copy_to_user(&um->namelen, &m->namelen, sizeof m->namelen) < 0 ||
        copy_to_user(&um->controllen, &m->controllen, sizeof m->controllen) < 0 ||
        copy_to_user(&um->flags, &m->flags, sizeof m->flags) < 0) {
        close_rights(m, ctl);
        return -EFAULT;
    }
    return 0;
}

/* Implements recvmsg(2) (the host's; see above). */
long sys_recvmsg(long fd, void *msg, long flags)
{
    struct kmsghdr m;
    if (copy_from_user(&m, msg, sizeof m) < 0)
        return -EFAULT;
    if (!m.control || !m.controllen)
        return host_call_blocking(__NR_recvmsg, fd, (long)msg, flags, 0, 0, 0);
    void *guest = m.control;
    char stack[CTL_STACK];
    m.controllen = m.controllen < CTL_MAX ? m.controllen : CTL_MAX;
    m.control = m.controllen <= sizeof stack ? stack : kmalloc(m.controllen);
    if (!m.control)
        return -ENOMEM;
    long r = host_call_blocking(__NR_recvmsg, fd, (long)&m, flags | MSG_CMSG_CLOEXEC, 0, 0, 0);
    if (r >= 0 && give_back(&m, m.control, msg, guest, flags & MSG_CMSG_CLOEXEC) < 0)
        r = -EFAULT;
    if (m.control != stack)
        kfree(m.control);
    return r;
}

/* Implements recvmmsg(2) (the host's; see above): each message's header
 * given back as recvmsg's, and its length. */
long sys_recvmmsg(long fd, void *vec, long vlen, long flags, void *timeout)
{
    struct kmmsghdr *uv = vec;
    unsigned n = (unsigned long)vlen < UIO_MAXIOV ? (unsigned)vlen : UIO_MAXIOV;
    size_t ctl = 0;
    for (unsigned i = 0; i < n; i++) {
        struct kmsghdr m;
        if (copy_from_user(&m, &uv[i].hdr, sizeof m) < 0) {
            n = i;                      /* the messages before it, or the host's EFAULT */
            break;
        }
        if (m.control && m.controllen)
            ctl += m.controllen < CTL_MAX ? m.controllen : CTL_MAX;
    }
    if (!ctl || !n)
        return host_call_blocking(__NR_recvmmsg, fd, (long)vec, vlen, flags, (long)timeout, 0);
    struct kmmsghdr *kv = kmalloc(n * sizeof *kv + ctl);
    if (!kv)
        return -ENOMEM;
    if (copy_from_user(kv, uv, n * sizeof *kv) < 0) {
        kfree(kv);
        return -EFAULT;
    }
    void *guest[UIO_MAXIOV];
    char *next = (char *)(kv + n);
    for (unsigned i = 0; i < n; i++) {
        struct kmsghdr *m = &kv[i].hdr;
        guest[i] = m->control;
        if (!m->control || !m->controllen) {
            m->control = 0;             /* room for none, as the guest's */
            m->controllen = 0;
            continue;
        }
        m->controllen = m->controllen < CTL_MAX ? m->controllen : CTL_MAX;
        if (next + m->controllen > (char *)(kv + n) + ctl) {
            m->controllen = 0;          /* the guest changed it meanwhile */
            m->control = 0;
            continue;
        }
        m->control = next;
        next += m->controllen;
    }
    long r = host_call_blocking(__NR_recvmmsg, fd, (long)kv, n, flags | MSG_CMSG_CLOEXEC, (long)timeout, 0);
    for (long i = 0; i < r; i++) {
        struct kmsghdr *m = &kv[i].hdr;
        if (give_back(m, m->control, &uv[i].hdr, guest[i], flags & MSG_CMSG_CLOEXEC) < 0 || copy_to_user(&uv[i].len, &kv[i].len, sizeof kv[i].len) < 0) {
            for (long j = i + 1; j < r; j++)
                if (kv[j].hdr.control)
                    close_rights(&kv[j].hdr, kv[j].hdr.control);
            r = i ? i : -EFAULT;
            break;
        }
    }
    kfree(kv);
    return r;
}
