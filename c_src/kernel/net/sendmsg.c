/*
 * sendmsg(2) and sendmmsg(2): the host sends; the kernel first notes the
 * sockets a message's SCM_RIGHTS data carries.  Once sent and closed by the
 * sender they are in flight: no fd holds them until the receiver takes
 * them, and Linux still lists them in /proc/net/unix.  Under --net host the
 * guest kernel knows its sockets in the host's list only by what the
 * guest's processes hold (fs/synth_net.c), so it keeps the inodes of the
 * last IF_SLOTS sockets sent in a ring of the memory the guest's processes
 * share (struct kshared), as the names of its binds (unix_names.c).
 * Guest-writable memory: an inode read there only ever selects a line the
 * guest is shown.  A message without control data costs one copy of its
 * header.
 */
#include "net/net.h"

#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define CONTROL_MAX 4096                /* a message's control data looked at */
#define UIO_MAXIOV 1024                 /* sendmmsg's most messages */

struct kmsghdr {                        /* struct msghdr */
    void *name;
    int namelen;
    void *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    unsigned flags;
};
struct kcmsghdr {                       /* struct cmsghdr, its data after it */
    size_t len;
    int level, type;
};

static void inflight_record(unsigned long ino)
{
    uint32_t gen = __atomic_fetch_add(&K_shared->inflight_next, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&K_shared->inflight[gen % IF_SLOTS], ino, __ATOMIC_RELAXED);
}

void inflight_each(void (*fn)(void *, unsigned long), void *arg)
{
    /* Nothing sent yet: the ring's page stays untouched (unallocated). */
    if (!K_shared || !__atomic_load_n(&K_shared->inflight_next, __ATOMIC_RELAXED))
        return;
    for (int i = 0; i < IF_SLOTS; i++) {
        unsigned long ino = __atomic_load_n(&K_shared->inflight[i], __ATOMIC_RELAXED);
        if (ino)
            fn(arg, ino);
    }
}

/* Notes each socket among the fds of the SCM_RIGHTS parts of m's control
 * data (the first CONTROL_MAX bytes); what it cannot read the host refuses. */
static void note_rights(const struct kmsghdr *m)
{
    if (!K_shared || !m->control || m->controllen < sizeof(struct kcmsghdr))
        return;
    size_t n = m->controllen < CONTROL_MAX ? m->controllen : CONTROL_MAX;
    char *buf = kmalloc(n);
    if (!buf || copy_from_user(buf, m->control, n) < 0) {
        kfree(buf);
        return;
    }
    for (size_t off = 0; off + sizeof(struct kcmsghdr) <= n;) {
        const struct kcmsghdr *c = (const void *)(buf + off);
        if (c->len < sizeof *c || c->len > n - off)
            break;
        if (c->level == SOL_SOCKET && c->type == SCM_RIGHTS) {
            const int *fds = (const int *)(c + 1);
            for (size_t i = 0; i < (c->len - sizeof *c) / sizeof(int); i++) {
                struct stat st;
                if (hsys2(__NR_fstat, fds[i], (long)&st) == 0 && S_ISSOCK(st.st_mode))
                    inflight_record(st.st_ino);
            }
        }
        off += (c->len + sizeof(size_t) - 1) & ~(sizeof(size_t) - 1);
    }
    kfree(buf);
}

/* Implements sendmsg(2) (the host's). */
long sys_sendmsg(long fd, const void *msg, long flags)
{
    struct kmsghdr m;
    if (msg && copy_from_user(&m, msg, sizeof m) == 0 && m.controllen)
        note_rights(&m);
    return host_call_blocking(__NR_sendmsg, fd, (long)msg, flags, 0, 0, 0);
}

/* Implements sendmmsg(2) (the host's). */
long sys_sendmmsg(long fd, void *vec, long vlen, long flags)
{
    struct { struct kmsghdr hdr; unsigned len; } mm;    /* struct mmsghdr */
    for (long i = 0; vec && i < vlen && i < UIO_MAXIOV; i++) {
        if (copy_from_user(&mm, (char *)vec + i * sizeof mm, sizeof mm) < 0)
            break;
        if (mm.hdr.controllen)
            note_rights(&mm.hdr);
    }
    return host_call_blocking(__NR_sendmmsg, fd, (long)vec, vlen, flags, 0, 0);
}
