/*
 * socket(2): the families and types the sandbox allows go to the host
 * (hostcalls.py pins them); a netlink protocol it refuses is answered as a
 * Linux built without that protocol answers (EPROTONOSUPPORT), not by the
 * filter's EPERM, so programs take it for "not supported" and carry on.
 */
#include "net/net.h"

#define AF_NETLINK 16
#define NETLINK_ROUTE 0

/* Implements socket(2); differs from Linux in: netlink protocols other
 * than NETLINK_ROUTE (sock_diag would list the host's Unix sockets under
 * --net host) answer EPROTONOSUPPORT. */
long sys_socket(long domain, long type, long protocol)
{
    if (domain == AF_NETLINK && protocol != NETLINK_ROUTE)
        return -EPROTONOSUPPORT;
    return hsys3(__NR_socket, domain, type, protocol);
}
