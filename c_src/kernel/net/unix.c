/*
 * Unix-domain socket addresses name files, so they go through the guest's
 * file system like any path: a socket in a volume is reached at its host
 * path; the image holds no sockets (connect: ENOENT; bind: EROFS).  Other
 * address families, abstract names and unnamed sockets pass unchanged.
 * Without this a guest could connect to any host socket by its path.
 */
#include "kernel.h"
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
        int k = ksnprintf(out->sun_path, sizeof out->sun_path, "%s/%s", v->host, rel);
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
    return hsys3(__NR_connect, fd, n ? (long)&host : (long)addr, n ? n : len);
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
    long r = hsys3(__NR_bind, fd, n ? (long)&host : (long)addr, n ? n : len);
    return r == -EACCES && !n ? port_bind(fd, addr, len) : r;
}
