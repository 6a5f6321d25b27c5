/*
 * Path calls one line at a time, so that a test can change the tree
 * between them (on the host, or by a line of its own): reads lines of
 * stdin, each "CALL PATH [PATH2]", makes the call and prints one line of
 * its result, flushed.  CALL is stat, lstat or statx (the file's kind,
 * size and link count, or the error's name; a regular file's stat also
 * whether every field is its fstat's once opened), open (O_RDONLY | O_NONBLOCK,
 * nginx's, closed again), or rename, symlink (PATH2 -> PATH), mkdir,
 * rmdir, unlink, cd.
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

/* Whether st is, field by field, the fstat of path opened now. */
static const char *as_fstat(const char *path, const struct stat *st)
{
    struct stat f;
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &f) < 0)
        return "unopened";
    close(fd);
    return st->st_dev == f.st_dev && st->st_ino == f.st_ino && st->st_mode == f.st_mode &&
           st->st_nlink == f.st_nlink && st->st_uid == f.st_uid && st->st_gid == f.st_gid &&
           st->st_rdev == f.st_rdev && st->st_size == f.st_size &&
           st->st_blksize == f.st_blksize && st->st_blocks == f.st_blocks &&
           st->st_mtim.tv_sec == f.st_mtim.tv_sec && st->st_mtim.tv_nsec == f.st_mtim.tv_nsec &&
           st->st_ctim.tv_sec == f.st_ctim.tv_sec && st->st_ctim.tv_nsec == f.st_ctim.tv_nsec
               ? "as fstat" : "not as fstat";
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
                printf("%s %lld %lu%s%s\n", kind(st.st_mode), (long long)st.st_size,
                       (unsigned long)st.st_nlink, S_ISREG(st.st_mode) ? " " : "",
                       S_ISREG(st.st_mode) ? as_fstat(a, &st) : "");
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
        } else if (!strcmp(call, "cd")) {
            done(chdir(a));
        } else {
            printf("bad call %s\n", call);
        }
        fflush(stdout);
    }
    return 0;
}
