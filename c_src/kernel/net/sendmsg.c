/*
 * sendmsg(2) and sendmmsg(2): the host sends; the kernel then notes the
 * sockets a message's SCM_RIGHTS data carries.  Once sent and closed by the
 * sender they are in flight: no fd holds them until the receiver takes
 * them, and Linux still lists them in /proc/net/unix.  Under --net host the
 * guest kernel knows its sockets in the host's list only by what the
 * guest's processes hold (fs/synth_net.c), so it keeps the inodes of the
 * last IF_SLOTS sockets sent in a ring of the memory the guest's processes
 * share (struct kshared), as the names of its binds (unix_names.c).
 * Guest-writable memory: an inode read there only ever selects a line the
 * guest is shown.  A message without control data costs one copy of its
 * header after the send.
 */
#include "net/net.h"

#define FD_CHUNK 64                     /* fds of an SCM_RIGHTS part read at once */

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
 * data, after the host sent m: the host took all of it (Linux reads up to
 * net.core.optmem_max bytes, any number of messages, at most SCM_MAX_FD
 * fds in all) and found every header whole, so it is read here a header
 * and a few fds at a time, with no copy of the whole and no limit of its
 * own.  Those fds are still the sender's: the guest closes them later. */
static void note_rights(const struct kmsghdr *m)
{
    if (!K_shared || !m->control)
        return;
    const char *ctl = m->control;
    for (size_t off = 0; off + sizeof(struct kcmsghdr) <= m->controllen;) {
        struct kcmsghdr c;
        if (copy_from_user(&c, ctl + off, sizeof c) < 0 || c.len < sizeof c ||
            c.len > m->controllen - off)
            return;                     /* changed since the send: the guest's own view */
        if (c.level == SOL_SOCKET && c.type == SCM_RIGHTS) {
            size_t n = (c.len - sizeof c) / sizeof(int);
            for (size_t i = 0; i < n; i += FD_CHUNK) {
                int fds[FD_CHUNK];
                size_t k = n - i < FD_CHUNK ? n - i : FD_CHUNK;
                if (copy_from_user(fds, ctl + off + sizeof c + i * sizeof(int),
                                   k * sizeof(int)) < 0)
                    return;
                for (size_t j = 0; j < k; j++) {
                    struct stat st;
                    if (hsys2(__NR_fstat, fds[j], (long)&st) == 0 && S_ISSOCK(st.st_mode))
                        inflight_record(st.st_ino);
                }
            }
        }
        off += CMSG_ALIGN(c.len);
    }
}

/* Implements sendmsg(2) (the host's). */
long sys_sendmsg(long fd, const void *msg, long flags)
{
    long r = host_call_blocking(__NR_sendmsg, fd, (long)msg, flags, 0, 0, 0);
    struct kmsghdr m;
    if (r >= 0 && copy_from_user(&m, msg, sizeof m) == 0 && m.controllen)
        note_rights(&m);
    return r;
}

/* Implements sendmmsg(2) (the host's): the messages it sent. */
long sys_sendmmsg(long fd, void *vec, long vlen, long flags)
{
    long r = host_call_blocking(__NR_sendmmsg, fd, (long)vec, vlen, flags, 0, 0);
    struct kmmsghdr mm;
    for (long i = 0; i < r; i++) {
        if (copy_from_user(&mm, (char *)vec + i * sizeof mm, sizeof mm) < 0)
            break;
        if (mm.hdr.controllen)
            note_rights(&mm.hdr);
    }
    return r;
}
