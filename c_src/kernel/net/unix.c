/*
 * Unix-domain socket addresses name files, so they go through the guest's
 * file system like any path: a socket in a volume is reached at its host
 * path; the image holds no sockets (connect: ENOENT; bind: EROFS).  Other
 * address families, abstract names and unnamed sockets pass unchanged.
 * Without this a guest could connect to any host socket by its path.  The
 * names the host gives back (getsockname, getpeername) are turned into the
 * guest's again, so a server can tell a client where it listens.
 */
#include "net/net.h"
#include "fs/fs.h"

#define AF_UNIX 1

struct sockaddr_un_k {
    unsigned short sun_family;
    char sun_path[108];
};

/* Rewrites a pathname Unix address into `out` (a host path); returns the new
 * length, 0 when the address is to be passed unchanged, or -errno. */
static long translate(const void *addr, long len, struct sockaddr_un_k *out, int creating)
{
    const struct sockaddr_un_k *in = addr;
    if (!addr || len <= (long)sizeof(unsigned short) || in->sun_family != AF_UNIX ||
        in->sun_path[0] == 0)
        return 0;
    char guest[sizeof in->sun_path + 1];
    long n = len - (long)sizeof(unsigned short);
    if (n > (long)sizeof in->sun_path)
        n = sizeof in->sun_path;
    memcpy(guest, in->sun_path, n);
    guest[n] = 0;
    struct fs_node *node = node_new();
    if (!node)
        return -ENOMEM;
    long r = fs_walk(AT_FDCWD, guest, creating ? 0 : W_FOLLOW, node);
    if (r == -ENOENT && creating && node->missing)
        r = 0;                       /* bind creates the last component */
    if (r == 0 && node->o.type != FO_VOLUME)
        r = creating ? -EROFS : -ECONNREFUSED;
    if (r == 0) {
        const struct vmount *v = &fs_mnt[node->o.ent];
        const char *rel = vol_rel(node);
        /* rel is below the mount's root: a host sysfs tree's is /sys (volume.c) */
        int k = ksnprintf(out->sun_path, sizeof out->sun_path, "%s/%s",
                          v->sys ? "/sys" : v->host, rel);
        if (creating && v->ro)
            r = -EROFS;
        else if (k >= (int)sizeof out->sun_path)
            r = -ENAMETOOLONG;       /* the host path is longer than a socket name may be */
        else
            r = sizeof(unsigned short) + k + 1;
        out->sun_family = AF_UNIX;
    }
    node_free(node);
    return r;
}

/* The address's first bytes (as many as a Unix address has) into in. */
static long copy_addr(struct sockaddr_un_k *in, const void *addr, long len)
{
    if (!addr || len <= 0)
        return 0;
    return copy_from_user(in, addr, len < (long)sizeof *in ? (size_t)len : sizeof *in);
}

/* Implements connect(2); differs from Linux in: Unix socket paths are
 * resolved in the guest's file system. */
long sys_connect(long fd, const void *addr, long len)
{
    struct sockaddr_un_k host, in;
    if (copy_addr(&in, addr, len) < 0)
        return -EFAULT;
    long n = translate(addr ? &in : 0, len, &host, 0);
    if (n < 0)
        return n;
    return host_call_blocking(__NR_connect, fd, n ? (long)&host : (long)addr, n ? n : len, 0, 0,
                              0);
}

/* Implements bind(2), as connect; differs from Linux in: a root caller's
 * guest gets ports below 1024 of the host's network from the relay
 * (net/ports.c), as the caller would. */
long sys_bind(long fd, const void *addr, long len)
{
    struct sockaddr_un_k host, in;
    if (copy_addr(&in, addr, len) < 0)
        return -EFAULT;
    long n = translate(addr ? &in : 0, len, &host, 1);
    if (n < 0)
        return n;
    if (n > 0)
        upper_making(fs_upper);
    long r = hsys3(__NR_bind, fd, n ? (long)&host : (long)addr, n ? n : len);
    if (n > 0)
        upper_made(fs_upper);           /* the socket's name, wherever it was made */
    if (r == 0 && n > 0) {
        char guest[sizeof in.sun_path + 1];
        size_t k = len - sizeof(unsigned short) < sizeof in.sun_path
                       ? len - sizeof(unsigned short) : sizeof in.sun_path;
        memcpy(guest, in.sun_path, k);
        guest[k] = 0;                   /* the name runs to its first NUL, as Linux's */
        unix_name_record(host.sun_path, guest);
    }
    return r == -EACCES && !n ? port_bind(fd, addr, len) : r;
}

/* The guest's name for host socket path `host`: the name a bind gave it
 * (unix_names.c), else below the innermost volume holding it, at that
 * volume's guest path.  Its length, -ENOENT when no volume holds it,
 * -ENAMETOOLONG when cap cannot hold it. */
long unix_guest_path(const char *host, char *out, size_t cap)
{
    long n = unix_name_find(host, out, cap);
    if (n >= 0)
        return n;
    const struct vmount *best = 0;
    size_t bl = 0;
    for (int i = 0; i < fs_nmnt; i++) {
        size_t hl = strlen(fs_mnt[i].host);
        if (hl >= bl && strncmp(host, fs_mnt[i].host, hl) == 0 && host[hl] == '/') {
            best = &fs_mnt[i];
            bl = hl;
        }
    }
    if (!best)
        return -ENOENT;
    int k = ksnprintf(out, cap, "%s%s", best->guest, host + bl);
    return k >= (int)cap ? -ENAMETOOLONG : k;
}

/* The guest's path for a host socket path below a volume's host directory,
 * rewritten in place; returns the address's new length (unchanged when no
 * volume holds it, or when the guest's name is longer than a name may be). */
static long untranslate(struct sockaddr_un_k *a, long len)
{
    long n = len - (long)sizeof(unsigned short);
    if (len > (long)sizeof *a || n <= 0 || a->sun_family != AF_UNIX || a->sun_path[0] == 0)
        return len;
    char host[sizeof a->sun_path + 1];
    memcpy(host, a->sun_path, n);
    host[n] = 0;
    long k = unix_guest_path(host, a->sun_path, sizeof a->sun_path);
    if (k < 0) {
        memcpy(a->sun_path, host, n);
        return len;
    }
    return sizeof(unsigned short) + k + 1;
}

/* getsockname or getpeername (peer) with the guest's name for a Unix path.
 * One host call per site, its number an immediate: pack --specialize reads
 * the host calls a kernel makes from its code. */
static long sock_name(int peer, long fd, void *addr, int *lenp)
{
    union {
        struct sockaddr_un_k un;
        char storage[128];                      /* sockaddr_storage */
    } a;
    int hlen = sizeof a;
    long r = peer ? hsys3(__NR_getpeername, fd, (long)&a, (long)&hlen)
                  : hsys3(__NR_getsockname, fd, (long)&a, (long)&hlen);
    if (r < 0)
        return r;                               /* ENOTCONN before the length, as Linux */
    int ulen;
    if (copy_from_user(&ulen, lenp, sizeof ulen) < 0)
        return -EFAULT;
    if (ulen < 0)
        return -EINVAL;
    long len = untranslate(&a.un, hlen);
    size_t n = len < (long)sizeof a ? (size_t)len : sizeof a;   /* truncated as the host's */
    if (copy_to_user(addr, &a, (size_t)ulen < n ? (size_t)ulen : n) < 0)
        return -EFAULT;
    int out = len;
    return copy_to_user(lenp, &out, sizeof out) < 0 ? -EFAULT : 0;
}

/* Implements getsockname(2); differs from Linux in: a Unix socket's path
 * is the guest's name for it. */
long sys_getsockname(long fd, void *addr, int *lenp)
{
    return sock_name(0, fd, addr, lenp);
}

/* Implements getpeername(2), as getsockname. */
long sys_getpeername(long fd, void *addr, int *lenp)
{
    return sock_name(1, fd, addr, lenp);
}
