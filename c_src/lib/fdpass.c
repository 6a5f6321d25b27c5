/*
 * Passing descriptors over a Unix socket (SCM_RIGHTS, unix(7)): the relay
 * hands the guest its idmapped trees, the guest hands the relay a socket
 * to bind.  One message carries data and up to LS_FDPASS_MAX fds.
 */
#include "libsubst/rt.h"

#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define MSG_NOSIGNAL 0x4000
#define MSG_CMSG_CLOEXEC 0x40000000

struct kiovec { const void *base; size_t len; };
struct kmsghdr {                     /* struct msghdr */
    void *name;
    int namelen;
    struct kiovec *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    unsigned flags;
};
struct kcmsg {                       /* struct cmsghdr with room for the fds */
    size_t len;
    int level, type;
    int fds[LS_FDPASS_MAX];
};
#define CMSG_HDR (sizeof(size_t) + 2 * sizeof(int))

long fd_send(int sock, const void *data, size_t len, const int *fds, int nfds)
{
    struct kiovec iov = {data, len};
    struct kcmsg c = {.len = CMSG_HDR + nfds * sizeof(int), .level = SOL_SOCKET,
                      .type = SCM_RIGHTS};
    memcpy(c.fds, fds, nfds * sizeof(int));
    struct kmsghdr m = {.iov = &iov, .iovlen = 1, .control = nfds ? &c : 0,
                        .controllen = nfds ? (c.len + 7) & ~7UL : 0};
    /* A peer gone already is an error, not a SIGPIPE. */
    return hsys3(__NR_sendmsg, sock, (long)&m, MSG_NOSIGNAL);
}

long fd_recv(int sock, void *data, size_t len, int *fds, int *nfds)
{
    struct kiovec iov = {data, len};
    struct kcmsg c;
    c.len = 0;
    struct kmsghdr m = {.iov = &iov, .iovlen = 1, .control = &c, .controllen = sizeof c};
    long r = hsys3(__NR_recvmsg, sock, (long)&m, MSG_CMSG_CLOEXEC);
    int got = 0;
    if (r >= 0 && c.len > CMSG_HDR && c.level == SOL_SOCKET && c.type == SCM_RIGHTS)
        got = (c.len - CMSG_HDR) / sizeof(int);
    for (int i = 0; i < got; i++) {
        if (i < *nfds)
            fds[i] = c.fds[i];
        else
            hsys1(__NR_close, c.fds[i]);     /* more than the caller has room for */
    }
    *nfds = got < *nfds ? got : *nfds;
    return r;
}
