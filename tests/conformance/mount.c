/*
 * mount conformance: a root guest is a container's root without
 * CAP_SYS_ADMIN over the host's mount namespace.  Compared with a native run
 * as root of a fresh user namespace (unshare --user --map-root-user), which
 * Linux answers the same way: arguments read, target resolved, then EPERM.
 *
 *   mount DIR      DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *label, int r)
{
    printf("%s: %s\n", label, r == 0 ? "ok" : strerrorname_np(errno));
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: mount DIR\n");
        return 2;
    }
    char *bad = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mkdir("dir", 0755);
    mkdir("dir2", 0755);
    close(open("file", O_WRONLY | O_CREAT, 0644));
    show("tmpfs on a directory", mount("none", "dir", "tmpfs", 0, "size=1m"));
    show("bind of a directory", mount("dir", "dir2", 0, MS_BIND, 0));
    show("remount read-only", mount(0, "/", 0, MS_REMOUNT | MS_RDONLY, 0));
    show("make private", mount(0, "/", 0, MS_PRIVATE | MS_REC, 0));
    show("missing target", mount("none", "missing", "tmpfs", 0, 0));
    show("target through a file", mount("none", "file/x", "tmpfs", 0, 0));
    show("bad source", mount(bad, "dir", "tmpfs", 0, 0));
    show("bad target", mount("none", bad, "tmpfs", 0, 0));
    show("bad type", mount("none", "dir", bad, 0, 0));
    show("bad data", mount("none", "dir", "tmpfs", 0, bad));
    show("umount a directory", umount2("dir", 0));
    show("umount /", umount2("/", MNT_DETACH));
    show("umount missing", umount2("missing", 0));
    show("umount bad flags", umount2("dir", 0x100));
    show("umount bad path", umount2(bad, 0));
    return 0;
}
