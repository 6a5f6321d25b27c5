/* Internal interface of c_src/kernel/net/: socket(2) (socket.c), Unix socket paths (unix.c),
 * the sockets sent in messages (sendmsg.c), the fds received (recvmsg.c) and
 * ports below 1024 (ports.c, kernel.h's port_bind). */
#ifndef LS_NET_H
#define LS_NET_H

#include "kernel.h"

long sys_socket(long domain, long type, long protocol);
long sys_connect(long fd, const void *addr, long len);
long sys_bind(long fd, const void *addr, long len);
long sys_getsockname(long fd, void *addr, int *lenp);
long sys_getpeername(long fd, void *addr, int *lenp);
/* The guest's name for a host Unix socket path (unix.c): the name it was
 * bound by, else its volume's guest path; its length or -errno. */
long unix_guest_path(const char *host, char *out, size_t cap);
/* unix_names.c: a bind's pair of names; the guest's name of the newest
 * pair for host (its length, or -ENOENT). */
void unix_name_record(const char *host, const char *guest);
long unix_name_find(const char *host, char *out, size_t cap);
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define MSG_CTRUNC 8
#define MSG_CMSG_CLOEXEC 0x40000000
#define UIO_MAXIOV 1024                 /* recvmmsg's and sendmmsg's most messages */
struct kmsghdr {                        /* struct msghdr */
    void *name;
    int namelen;
    void *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    unsigned flags;
};
struct kmmsghdr {                       /* struct mmsghdr */
    struct kmsghdr hdr;
    unsigned len;
};
struct kcmsghdr {                       /* struct cmsghdr, its data after it */
    size_t len;
    int level, type;
};
#define CMSG_ALIGN(n) (((n) + sizeof(size_t) - 1) & ~(sizeof(size_t) - 1))

/* sendmsg.c: the host's sendmsg and sendmmsg, noting the sockets sent
 * (SCM_RIGHTS); fn(arg, inode) for each of the last IF_SLOTS sent. */
long sys_sendmsg(long fd, const void *msg, long flags);
long sys_sendmmsg(long fd, void *vec, long vlen, long flags);
void inflight_each(void (*fn)(void *, unsigned long), void *arg);
/* recvmsg.c: the host's recvmsg and recvmmsg, without the directory fds
 * their SCM_RIGHTS parts bring. */
long sys_recvmsg(long fd, void *msg, long flags);
long sys_recvmmsg(long fd, void *vec, long vlen, long flags, void *timeout);

#endif
