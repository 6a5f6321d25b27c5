/*
 * Ports below 1024, the guest's side: bind(2) of such a port, which the
 * host refuses the guest, is asked of the tender's relay over its channel
 * (libsubst/ports.h).
 */
#include "kernel.h"
#include "libsubst/ports.h"

#define AF_UNIX 1
#define SOCK_SEQPACKET 5

int port_fd = -1;                    /* this guest's end of the relay's channel */

/* bind(fd, addr, len) by the relay; -EACCES as the host answered when the
 * relay will not or cannot. */
long port_bind(long fd, const void *addr, long len)
{
    struct ls_port_request a;
    if (port_fd < 0 || len < 4)
        return -EACCES;
    memcpy(&a, addr, len < (long)sizeof a ? len : (long)sizeof a);
    if (!(len = ls_port_wanted(&a, len)))
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
