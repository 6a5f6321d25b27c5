/*
 * inotify.  A watch names a file by path, so the file system resolves it:
 * a volume's file is watched through the host's /proc magic link of an
 * O_PATH fd opened beneath the mount, an image file that is a host file
 * through its host path.  The inotify instance, the events and removing a
 * watch are the host's.
 */
#include "fs.h"

#define IN_DONT_FOLLOW 0x02000000

/* Implements inotify_add_watch(2); differs from Linux in: the image's own
 * directories and files made by libsubst, and the synthetic /proc, /sys
 * and /dev, cannot be watched (EACCES): they never change. */
long sys_inotify_add_watch(int ifd, const char *path, unsigned int mask)
{
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    int follow = !(mask & IN_DONT_FOLLOW);
    long r = fs_walk(AT_FDCWD, path, follow ? W_FOLLOW : 0, n);
    long fd = -EACCES;
    char hf[LS_HOST_FILE_PATH_MAX];
    if (r == 0 && n->o.type == FO_VOLUME)
        fd = vol_path(n, follow ? 0 : O_NOFOLLOW);
    else if (r == 0 && n->o.type == FO_IMAGE && n->o.ent >= 0 && img_on_host(n->o.ent))
        fd = hsys4(__NR_openat, AT_FDCWD, (long)img_host_path(n->o.ent, hf), O_PATH | O_CLOEXEC, 0);
    node_free(n);
    if (r < 0)
        return r;
    if (fd < 0)
        return fd;
    char hp[40];
    ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", fd);
    /* The magic link is the object itself: the host must follow it. */
    r = hsys3(__NR_inotify_add_watch, ifd, (long)hp, mask & ~IN_DONT_FOLLOW);
    hsys1(__NR_close, fd);
    return r;
}
