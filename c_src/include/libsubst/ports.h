/*
 * The relay's port channel: ports below 1024 for a root caller's guest on
 * the host's network.  The guest is root only of its own user namespace,
 * which does not own the host's network namespace, so the host refuses it
 * those ports; a native run as root would get them.  The relay (the
 * tender, still host root) binds them for it: the guest kernel
 * (c_src/kernel/net/ports.c) sends a SEQPACKET message of the address with
 * two fds (SCM_RIGHTS, libsubst/rt.h's fd_send): the socket and a reply
 * socket of its own, so concurrent guest processes never read each other's
 * answers.  The relay (c_src/tender/ports.c) answers a long: bind's result,
 * or -EACCES when it will not bind.  It binds only what the guest could
 * not: an IPv4 or IPv6 socket to a port below 1024.
 */
#ifndef LIBSUBST_PORTS_H
#define LIBSUBST_PORTS_H

#define LS_AF_INET 2
#define LS_AF_INET6 10

struct ls_port_request {             /* sockaddr_in or sockaddr_in6 */
    unsigned short family;
    unsigned char port[2];           /* network order */
    unsigned char rest[24];
};

/* The address's length as bind needs it (a longer one, such as a whole
 * sockaddr_storage, is cut to it, as Linux reads only that much), or 0
 * when the relay would not bind it. */
static inline long ls_port_wanted(const struct ls_port_request *a, long len)
{
    long need = a->family == LS_AF_INET ? 16 : a->family == LS_AF_INET6 ? 28 : 0;
    return need && len >= need && (a->port[0] << 8 | a->port[1]) < 1024 ? need : 0;
}

#endif
