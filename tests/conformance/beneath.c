/*
 * Paths several directories deep in a volume (in the guest DIR is in the
 * working directory, a volume), compared with a native run: the host
 * resolves their directories in one openat2 when no symlink is on the way
 * and the kernel walks them otherwise (fs/beneath.c), so each case below
 * takes one way or the other: plain directories, ".." inside, a symlink in
 * the middle or at the end, ".." above the volume's root back into it,
 * a loop, a missing or non-directory component, O_DIRECTORY, O_NOFOLLOW,
 * O_CREAT|O_EXCL, and the calls on a last component (stat, lstat, mkdir,
 * rename, unlink).
 *
 *   beneath DIR        DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void say(const char *label, long r)
{
    printf("%s: %s\n", label, r < 0 ? strerrorname_np(errno) : "ok");
}

static long open_close(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    return fd < 0 ? -1 : close(fd);
}

static void kind(const char *path, int follow)
{
    struct stat st;
    int r = follow ? stat(path, &st) : lstat(path, &st);
    printf("%s %s: %s\n", follow ? "stat" : "lstat", path,
           r < 0 ? strerrorname_np(errno) : S_ISDIR(st.st_mode) ? "directory"
           : S_ISREG(st.st_mode) ? "file" : S_ISLNK(st.st_mode) ? "symlink" : "other");
}

int main(int argc, char **argv)
{
    char dir[PATH_MAX], up[PATH_MAX + 64];
    if (argc != 2 || chdir(argv[1]) < 0 || !getcwd(dir, sizeof dir)) {
        fprintf(stderr, "usage: beneath DIR\n");
        return 2;
    }
    say("mkdir a/b/c", mkdir("a", 0755) | mkdir("a/b", 0755) | mkdir("a/b/c", 0755));
    say("create a/b/c/file", open_close("a/b/c/file", O_WRONLY | O_CREAT | O_EXCL));
    say("create it again", open_close("a/b/c/file", O_WRONLY | O_CREAT | O_EXCL));
    say("open a/b/c/file", open_close("a/b/c/file", O_RDONLY | O_CLOEXEC));
    say("open a/b/../b/c/file", open_close("a/b/../b/c/file", O_RDONLY));
    say("open a/missing/file", open_close("a/missing/file", O_RDONLY));
    say("open a/b/c/file/x", open_close("a/b/c/file/x", O_RDONLY));
    say("open a/b/c/file, O_DIRECTORY", open_close("a/b/c/file", O_RDONLY | O_DIRECTORY));
    say("open a/b/c, O_DIRECTORY", open_close("a/b/c", O_RDONLY | O_DIRECTORY));
    kind("a/b/c/", 1);
    kind("a/b/c/file", 1);

    say("symlink a/l to b", symlink("b", "a/l"));
    say("open a/l/c/file", open_close("a/l/c/file", O_RDONLY));
    kind("a/l/c/file", 1);
    say("symlink a/b/c/lf to file", symlink("file", "a/b/c/lf"));
    say("open a/b/c/lf", open_close("a/b/c/lf", O_RDONLY));
    say("open a/b/c/lf, O_NOFOLLOW", open_close("a/b/c/lf", O_RDONLY | O_NOFOLLOW));
    kind("a/b/c/lf", 1);
    kind("a/b/c/lf", 0);
    say("symlink a/loop to loop", symlink("loop", "a/loop"));
    say("open a/loop/x", open_close("a/loop/x", O_RDONLY));
    say("symlink a/b/dangling to missing", symlink("missing", "a/b/dangling"));
    say("open a/b/dangling/x", open_close("a/b/dangling/x", O_RDONLY));
    say("create a/b/dangling", open_close("a/b/dangling", O_WRONLY | O_CREAT));
    kind("a/b/missing", 1);

    /* The opens of a file to read that the host makes in one openat2
     * (O_RDONLY alone, with O_CLOEXEC or O_NONBLOCK): through a symlink
     * (the walk), of a FIFO without a writer, and at the lowest free fd. */
    say("open a/l/c/file, O_NONBLOCK", open_close("a/l/c/file", O_RDONLY | O_NONBLOCK));
    say("mkfifo a/b/c/fifo", mkfifo("a/b/c/fifo", 0644));
    say("open a/b/c/fifo, O_NONBLOCK", open_close("a/b/c/fifo", O_RDONLY | O_NONBLOCK));
    int flags[] = {O_RDONLY, O_RDONLY | O_NONBLOCK, O_RDONLY | O_CLOEXEC};
    for (int i = 0; i < 3; i++) {
        int hole = dup(0), next = dup(0);
        close(hole);
        int fd = open("a/b/c/file", flags[i]);
        printf("open a/b/c/file, flags %#o: the lowest free fd %d\n", flags[i], fd == hole);
        close(fd);
        close(next);
    }

    /* ".." above the volume's root, and down into it again by its path. */
    const char *base = strrchr(dir, '/') + 1;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)(base - 1 - dir), dir);
    const char *pbase = strrchr(parent, '/') + 1;
    snprintf(up, sizeof up, "a/b/../../../../%s/%s/a/b/c/file", pbase, base);
    say("open a/b/../../../../PARENT/DIR/a/b/c/file", open_close(up, O_RDONLY));

    say("mkdir a/b/c/d", mkdir("a/b/c/d", 0755));
    say("rename a/b/c/file to a/b/c/d/moved", rename("a/b/c/file", "a/b/c/d/moved"));
    kind("a/b/c/d/moved", 1);
    kind("a/b/c/file", 1);
    say("unlink a/b/c/d/moved", unlink("a/b/c/d/moved"));
    say("rmdir a/b/c/d", rmdir("a/b/c/d"));
    say("rmdir a/b/c/d again", rmdir("a/b/c/d"));

    /* One absolute path opened again and again while what it names
     * changes: the kernel keeps where a walk of it led (fs/path.c), the
     * host still says what is there. */
    char abs[PATH_MAX + 32];
    snprintf(abs, sizeof abs, "%s/again", dir);
    say("open /ABS/again", open_close(abs, O_RDONLY | O_NONBLOCK));
    say("create /ABS/again", open_close(abs, O_WRONLY | O_CREAT | O_EXCL));
    say("open /ABS/again", open_close(abs, O_RDONLY | O_NONBLOCK));
    kind(strrchr(abs, '/') + 1, 1);
    say("unlink it", unlink("again"));
    say("open /ABS/again", open_close(abs, O_RDONLY | O_NONBLOCK));
    say("mkdir it", mkdir("again", 0755));
    say("open /ABS/again", open_close(abs, O_RDONLY | O_NONBLOCK));
    say("open /ABS/again, O_WRONLY", open_close(abs, O_WRONLY));
    say("rmdir it", rmdir("again"));
    say("symlink it to a/b/c/lf", symlink("a/b/c/lf", "again"));
    say("open /ABS/again", open_close(abs, O_RDONLY | O_NONBLOCK));
    say("open /ABS/again, O_NOFOLLOW", open_close(abs, O_RDONLY | O_NOFOLLOW));
    say("create a/b/c/file", open_close("a/b/c/file", O_WRONLY | O_CREAT));
    say("open /ABS/again", open_close(abs, O_RDONLY | O_NONBLOCK));
    kind(strrchr(abs, '/') + 1, 1);
    return 0;
}
