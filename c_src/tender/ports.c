/*
 * Ports below 1024, the relay's side (libsubst/ports.h): one request from
 * a guest process, bound here, where the relay is still the caller (host
 * root) on the host's network.
 */
#include "tender.h"
#include "libsubst/ports.h"

#define SOL_SOCKET 1
#define SO_DOMAIN 39

long port_serve(int chan)
{
    struct ls_port_request a;
    int fds[2], nfds = 2;
    long len = fd_recv(chan, &a, sizeof a, fds, &nfds);
    if (len <= 0)
        return len;
    if (nfds == 2) {
        long answer = -EACCES;
        int domain = 0;
        unsigned dlen = sizeof domain;
        if ((len = ls_port_wanted(&a, len)) &&
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
