/*
 * The host's sysfs trees the guest sees whole and read-only (handover.h):
 * LS_HOST_TREES, and LS_HOST_LINK_DIRS with the device directories their
 * links lead to (/sys/block/vda -> ../devices/.../block/vda), so that
 * /sys/block/vda resolves as on the host.  The tender
 * binds each, the kernel serves what was bound: both list them here, the
 * tender from the host's /sys, the kernel from its mount namespace.
 */
#include "libsubst/rt.h"
#include "libsubst/handover.h"
#include "libsubst/hostcall.h"
#include <asm/unistd.h>
#include <linux/fcntl.h>

#define DIRENT_NAME 19                   /* struct linux_dirent64's d_name */

/* The directory link (a relative link of sysfs's, in dir) leads to, into
 * out: 0, or -1 unless it is a plain path below /sys/devices. */
static int target(const char *dir, const char *link, char *out, size_t cap)
{
    size_t dl = strlen(dir);
    while (strncmp(link, "../", 3) == 0) {
        while (dl > 0 && dir[dl - 1] != '/')
            dl--;
        if (dl > 0)
            dl--;                    /* and the '/' */
        link += 3;
    }
    for (const char *c = link; *c; c++)
        if ((c == link || c[-1] == '/') && c[0] == '.')
            return -1;               /* no "." or ".." past the leading ones */
    if (dl + 1 + strlen(link) + 1 > cap)
        return -1;
    memcpy(out, dir, dl);
    out[dl] = '/';
    strlcpy(out + dl + 1, link, cap - dl - 1);
    return strncmp(out, "/sys/devices/", 13) == 0 ? 0 : -1;
}

/* fn for dir and for each directory its links lead to. */
static int link_dir(const char *dir, int (*fn)(const char *, void *), void *arg)
{
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;                    /* this host has none */
    char buf[2048], link[256], path[300];
    long n, r = fn(dir, arg);
    while (r >= 0 && (n = hsys3(__NR_getdents64, fd, (long)buf, sizeof buf)) > 0) {
        for (long off = 0; r >= 0 && off < n; off += *(unsigned short *)(buf + off + 16)) {
            long l = hsys4(__NR_readlinkat, fd, (long)(buf + off + DIRENT_NAME), (long)link,
                           sizeof link - 1);
            if (l <= 0)
                continue;
            link[l] = 0;
            if (target(dir, link, path, sizeof path) == 0)
                r = fn(path, arg);
        }
    }
    hsys1(__NR_close, fd);
    return r < 0 ? -1 : 0;
}

int ls_for_each_host_tree(int (*fn)(const char *path, void *arg), void *arg)
{
    static const char *const trees[] = LS_HOST_TREES, *const dirs[] = LS_HOST_LINK_DIRS;
    for (unsigned i = 0; i < sizeof trees / sizeof *trees; i++)
        if (fn(trees[i], arg) < 0)
            return -1;
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++)
        if (link_dir(dirs[i], fn, arg) < 0)
            return -1;
    return 0;
}
