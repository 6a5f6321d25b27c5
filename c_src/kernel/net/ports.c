/*
 * Ports below 1024 for a root caller's guest on the host's network.  The
 * guest is root only of its own user namespace, which does not own the
 * host's network namespace, so the host refuses it those ports; a native
 * run as root would get them.  The relay, still host root, binds them for
 * it: the guest kernel sends the socket and the address over a Unix
 * socket (SCM_RIGHTS) with a reply socket of its own, so concurrent guest
 * processes never read each other's answers.  The relay binds only what
 * the guest could not: an IPv4 or IPv6 socket to a port below 1024.
 */
#include "kernel.h"

#define AF_INET 2
#define AF_INET6 10
#define AF_UNIX 1
#define SOCK_SEQPACKET 5
#define SOL_SOCKET 1
#define SO_DOMAIN 39

struct port_request {                /* sockaddr_in or sockaddr_in6 */
    unsigned short family;
    unsigned char port[2];           /* network order */
    unsigned char rest[24];
};

int port_fd = -1;                    /* this guest's end of the relay's channel */

/* The address's length as bind needs it (a longer one, such as a whole
 * sockaddr_storage, is cut to it, as Linux reads only that much), or 0
 * when the relay would not bind it. */
static long wanted(const struct port_request *a, long len)
{
    long need = a->family == AF_INET ? 16 : a->family == AF_INET6 ? 28 : 0;
    return need && len >= need && (a->port[0] << 8 | a->port[1]) < 1024 ? need : 0;
}

/* The guest's side: bind(fd, addr, len) by the relay; -EACCES as the host
 * answered when the relay will not or cannot. */
long port_bind(long fd, const void *addr, long len)
{
    struct port_request a;
    if (port_fd < 0 || len < 4)
        return -EACCES;
    memcpy(&a, addr, len < (long)sizeof a ? len : (long)sizeof a);
    if (!(len = wanted(&a, len)))
        return -EACCES;
    int reply[2];
    long r = hsys4(__NR_socketpair, AF_UNIX, SOCK_SEQPACKET | O_CLOEXEC, 0, (long)reply);
    if (r < 0)
        return -EACCES;
    int fds[2] = {fd, reply[1]};
    r = fd_send(port_fd, &a, len, fds, 2);
    hsys1(__NR_close, reply[1]);
    long answer = -EACCES;
    if (r >= 0) {
        while ((r = hsys3(__NR_read, reply[0], (long)&answer, sizeof answer)) == -EINTR)
            ;
        if (r != sizeof answer)
            answer = -EACCES;
    }
    hsys1(__NR_close, reply[0]);
    return answer;
}

/* The relay's side: one request from chan; 0 at end of file (no guest
 * process holds the channel any more), < 0 on error. */
long port_serve(int chan)
{
    struct port_request a;
    int fds[2], nfds = 2;
    long len = fd_recv(chan, &a, sizeof a, fds, &nfds);
    if (len <= 0)
        return len;
    if (nfds == 2) {
        long answer = -EACCES;
        int domain = 0;
        unsigned dlen = sizeof domain;
        if ((len = wanted(&a, len)) &&
            hsys5(__NR_getsockopt, fds[0], SOL_SOCKET, SO_DOMAIN, (long)&domain, (long)&dlen) == 0 &&
            domain == a.family)
            answer = hsys3(__NR_bind, fds[0], (long)&a, len);
        /* Whatever the guest passed as its reply socket, never wait on it
         * nor die of it. */
        hsys6(__NR_sendto, fds[1], (long)&answer, sizeof answer,
              0x40 /* MSG_DONTWAIT */ | 0x4000 /* MSG_NOSIGNAL */, 0, 0);
    }
    for (int i = 0; i < nfds; i++)
        hsys1(__NR_close, fds[i]);
    return 1;
}
