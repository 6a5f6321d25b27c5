/*
 * Path calls one line at a time, so that a test can change the tree
 * between them (on the host, or by a line of its own): reads lines of
 * stdin, each "CALL PATH [PATH2]", makes the call and prints one line of
 * its result, flushed.  CALL is stat, lstat or statx (the file's kind,
 * size and link count, or the error's name), open (O_RDONLY | O_NONBLOCK,
 * nginx's, closed again), or rename, symlink (PATH2 -> PATH), mkdir,
 * rmdir, unlink.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind(unsigned mode)
{
    return S_ISDIR(mode) ? "directory" : S_ISREG(mode) ? "file" : S_ISLNK(mode) ? "symlink" : "other";
}

static void done(int r)
{
    if (r < 0)
        printf("%s\n", strerrorname_np(errno));
    else
        printf("ok\n");
}

int main(void)
{
    char line[8192], call[16], a[4096], b[4096];
    while (fgets(line, sizeof line, stdin)) {
        struct stat st;
        struct statx sx;
        b[0] = 0;
        if (sscanf(line, "%15s %4095s %4095s", call, a, b) < 2) {
            printf("bad line\n");
        } else if (!strcmp(call, "stat") || !strcmp(call, "lstat")) {
            if ((call[0] == 's' ? stat(a, &st) : lstat(a, &st)) < 0)
                done(-1);
            else
                printf("%s %lld %lu\n", kind(st.st_mode), (long long)st.st_size,
                       (unsigned long)st.st_nlink);
        } else if (!strcmp(call, "statx")) {
            if (statx(AT_FDCWD, a, 0, STATX_BASIC_STATS, &sx) < 0)
                done(-1);
            else
                printf("%s %llu %u mask %#x\n", kind(sx.stx_mode),
                       (unsigned long long)sx.stx_size, sx.stx_nlink, sx.stx_mask);
        } else if (!strcmp(call, "open")) {
            int fd = open(a, O_RDONLY | O_NONBLOCK);
            done(fd < 0 ? -1 : close(fd));
        } else if (!strcmp(call, "rename")) {
            done(rename(a, b));
        } else if (!strcmp(call, "symlink")) {
            done(symlink(b, a));
        } else if (!strcmp(call, "mkdir")) {
            done(mkdir(a, 0755));
        } else if (!strcmp(call, "rmdir")) {
            done(rmdir(a));
        } else if (!strcmp(call, "unlink")) {
            done(unlink(a));
        } else {
            printf("bad call %s\n", call);
        }
        fflush(stdout);
    }
    return 0;
}
