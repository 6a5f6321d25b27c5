/* One case of the writable root's behaviour on the files of a directory
 * (argv[2]): run natively on a copy of them and in the guest on the image's,
 * where each is a stub until changed (c_src/kernel/fs/upper.c); the test
 * compares what the two print.  Each case uses the files named after it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *dir;

static const char *at(const char *name)
{
    static char buf[2][4096];
    static int i;
    i ^= 1;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void said(const char *what, long r)
{
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
}

static void show(const char *name)
{
    struct stat st;
    if (stat(at(name), &st) < 0) {
        printf("stat %s: %s\n", name, strerror(errno));
        return;
    }
    /* The times set here are before 2001; a write's are now, which the
     * native and the guest run may see in different seconds. */
    printf("%s: mode %o size %ld links %ld mtime %ld\n", name, st.st_mode, (long)st.st_size,
           (long)st.st_nlink, st.st_mtime < 1000000000 ? (long)st.st_mtime : -1L);
}

static void first_line(const char *what, int fd)
{
    char b[64] = {0};
    long r = pread(fd, b, sizeof b - 1, 0);
    printf("%s: %ld bytes, %.*s\n", what, r, (int)strcspn(b, "\n"), b);
}

static const struct timespec times[2] = {{1000000, 0}, {2000000, 0}};

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *c = argv[1];
    dir = argv[2];
    int fd, fd2;
    if (!strcmp(c, "stat")) {           /* a stub shows the image file's attributes */
        show("stat");
        struct stat a, b;
        fd = open(at("stat"), O_RDONLY);
        fstat(fd, &a);
        stat(at("stat"), &b);
        printf("fstat is stat: %d\n", a.st_ino == b.st_ino && a.st_mode == b.st_mode &&
                                         a.st_mtime == b.st_mtime && a.st_size == b.st_size);
    } else if (!strcmp(c, "rdwr")) {    /* opened for writing, read before any write */
        fd = open(at("rdwr"), O_RDWR);
        first_line("read", fd);
        said("write", pwrite(fd, "R", 1, 0));
        first_line("read", fd);
        show("rdwr");
    } else if (!strcmp(c, "rename")) {  /* a stub renamed over another */
        said("rename", rename(at("rename"), at("rename2")));
        fd = open(at("rename2"), O_RDONLY);
        first_line("read", fd);
        show("rename2");
        show("rename");
    } else if (!strcmp(c, "utimes")) {  /* by path: copied up, times set */
        said("utimensat", utimensat(AT_FDCWD, at("utimes"), times, 0));
        show("utimes");
    } else if (!strcmp(c, "truncate")) {
        said("truncate", truncate(at("truncate"), 3));
        fd = open(at("truncate"), O_RDONLY);
        first_line("read", fd);
        said("O_RDONLY|O_TRUNC", fd2 = open(at("truncate2"), O_RDONLY | O_TRUNC));
        struct stat st;
        stat(at("truncate2"), &st);
        printf("size %ld\n", (long)st.st_size);
    } else if (!strcmp(c, "reopen")) {  /* /proc/self/fd/N of a read-only fd, reopened to write */
        char p[64];
        fd = open(at("reopen"), O_RDONLY);
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        said("reopen", fd2 = open(p, O_WRONLY));
        said("write", write(fd2, "W", 1));
        fd = open(at("reopen"), O_RDONLY);
        first_line("read", fd);
    } else if (!strcmp(c, "dents")) {   /* getdents: a stub's type and inode are stat's */
        int regs = 0, inos = 0, n = 0;
        DIR *d = opendir(dir);
        for (struct dirent *e; (e = readdir(d));) {
            struct stat st;
            if (strncmp(e->d_name, "dents", 5) || fstatat(dirfd(d), e->d_name, &st, 0) < 0)
                continue;
            n++;
            regs += e->d_type == DT_REG;
            inos += e->d_ino == st.st_ino;
        }
        printf("%d entries, %d regular, %d inodes as stat's\n", n, regs, inos);
    } else if (!strcmp(c, "fdtimes")) { /* an fd opened read-only changes times and mode */
        fd = open(at("fdtimes"), O_RDONLY);
        said("futimens", futimens(fd, times));
        said("fchmod", fchmod(fd, 0600));
        said("fchown", fchown(fd, getuid(), getgid()));
        fd2 = open(at("fdtimes2"), O_PATH);
        said("utimensat O_PATH", utimensat(fd2, "", times, AT_EMPTY_PATH));
        show("fdtimes");
        show("fdtimes2");
    } else if (!strcmp(c, "shared")) {  /* fds and mappings opened before a write see it */
        fd = open(at("shared"), O_RDONLY);
        char *m = mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (fork() == 0) {
            fd2 = open(at("shared"), O_WRONLY);
            _exit(write(fd2, "CHANGED", 7) != 7);
        }
        wait(0);
        first_line("read-only fd", fd);
        printf("mapping: %.7s\n", m);
    } else if (!strcmp(c, "shared2")) { /* this process's fds see a copy-up at once */
        char b[64] = {0};
        fd = open(at("shared2"), O_RDONLY | O_NONBLOCK);
        int dupfd = dup(fd), cl = open(at("shared2"), O_RDONLY | O_CLOEXEC);
        said("read 3", read(fd, b, 3));
        said("append", write(fd2 = open(at("shared2"), O_WRONLY | O_APPEND), "CHANGED\n", 8));
        long r = read(dupfd, b, sizeof b - 1);
        b[r > 0 ? r : 0] = 0;
        for (char *q = b; (q = strchr(q, '\n'));)
            *q = '|';
        printf("the dup reads on: %ld bytes, %s\n", r, b);
        first_line("the other fd", cl);
        int fl = fcntl(fd, F_GETFL);
        printf("read-only %d, non-blocking %d, close-on-exec %d %d\n",
               (fl & O_ACCMODE) == O_RDONLY, !!(fl & O_NONBLOCK), fcntl(fd, F_GETFD),
               fcntl(cl, F_GETFD));
        said("write to the read-only fd", write(fd, "x", 1));
        struct stat a, s2;
        fstat(fd, &a);
        stat(at("shared2"), &s2);
        printf("fstat is stat: %d\n", a.st_dev == s2.st_dev && a.st_ino == s2.st_ino &&
                                         a.st_size == s2.st_size);
        said("truncate", truncate(at("shared2"), 4));
        fstat(cl, &a);
        printf("size through the other fd: %ld\n", (long)a.st_size);
    } else if (!strcmp(c, "movedsub")) { /* a stub's directory renamed: its fds follow */
        char p[64], l[4096] = {0};
        fd = open(at("sub/inner"), O_RDONLY);
        int d = open(at("sub"), O_RDONLY | O_DIRECTORY);
        said("rename", rename(at("sub"), at("sub2")));
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        said("readlink", readlink(p, l, sizeof l - 1));
        printf("link's name: %s\n", strstr(l, "/sub") ? strstr(l, "/sub") : l);
        said("fchmod", fchmod(fd, 0600));
        said("openat", fd2 = openat(d, "inner", O_RDONLY));
        first_line("read", fd2);
        show("sub2/inner");
        show("sub/inner");
    } else if (!strcmp(c, "xattr")) {   /* user.* attributes set by path and through an fd */
        char v[16] = {0};
        said("removexattr", removexattr(at("xattr"), "user.none"));
        said("setxattr", setxattr(at("xattr"), "user.a", "by path", 7, 0));
        said("getxattr", getxattr(at("xattr"), "user.a", v, sizeof v - 1));
        printf("value: %s\n", v);
        fd = open(at("xattr2"), O_RDONLY);
        said("fsetxattr", fsetxattr(fd, "user.b", "by fd", 5, 0));
        memset(v, 0, sizeof v);
        said("fgetxattr", fgetxattr(fd, "user.b", v, sizeof v - 1));
        printf("value: %s\n", v);
        memset(v, 0, sizeof v);
        said("getxattr", getxattr(at("xattr2"), "user.b", v, sizeof v - 1));
        printf("value: %s\n", v);
        first_line("read", fd);
        show("xattr");
        show("xattr2");
    } else if (!strcmp(c, "device")) {  /* every file of the root is on the root's device,
                                         * and an fd of a file is that file */
        struct stat a, b;
        close(open(at("device-new"), O_CREAT | O_WRONLY, 0644));
        stat(at("device"), &a);
        stat(at("device-new"), &b);
        printf("same device: %d\n", a.st_dev == b.st_dev);
        fd = open(at("device"), O_RDONLY);      /* an fd of it is the same file */
        fstat(fd, &b);
        close(fd);
        printf("fstat is stat: %d\n", a.st_dev == b.st_dev && a.st_ino == b.st_ino);
        fd = open(at("device"), O_PATH);
        fstat(fd, &b);
        close(fd);
        printf("O_PATH fstat is stat: %d\n", a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    } else if (!strcmp(c, "link")) {    /* a hard link is the same file */
        said("link", link(at("link"), at("link-new")));
        show("link");
        fd = open(at("link-new"), O_WRONLY | O_APPEND);
        said("append", write(fd, "L", 1));
        fd = open(at("link"), O_RDONLY);
        first_line("read", fd);
        show("link");
    } else if (!strcmp(c, "names")) {   /* a stub's name against other kinds of calls */
        said("O_CREAT|O_EXCL", open(at("names"), O_CREAT | O_EXCL | O_WRONLY, 0600));
        said("O_DIRECTORY", open(at("names"), O_RDONLY | O_DIRECTORY));
        said("trailing slash", open(at("names/"), O_RDONLY));
        said("under it", open(at("names/x"), O_RDONLY));
        said("mkdir", mkdir(at("names"), 0755));
        said("rmdir", rmdir(at("names")));
        said("chdir", chdir(at("names")));
        said("symlink", symlink("x", at("names")));
        said("mkfifo", mkfifo(at("names"), 0600));
        said("link onto", link(at("names2"), at("names")));
        said("mkdir d", mkdir(at("names-dir"), 0755));
        said("rename onto dir", rename(at("names"), at("names-dir")));
        said("rename dir onto", rename(at("names-dir"), at("names")));
        said("O_NOFOLLOW", fd = open(at("names"), O_RDONLY | O_NOFOLLOW));
        first_line("read", fd);
        said("truncate up", truncate(at("names2"), 100000));
        show("names2");
        said("unlink", unlink(at("names")));
        said("gone", open(at("names"), O_RDONLY));
        said("O_CREAT again", fd = open(at("names"), O_CREAT | O_RDWR, 0600));
        first_line("read", fd);
        show("names");
    } else if (!strcmp(c, "dirfd")) {   /* the *at calls on a directory fd of the layer */
        int d = open(dir, O_RDONLY | O_DIRECTORY);
        said("openat append", fd = openat(d, "dirfd", O_WRONLY | O_APPEND));
        said("write", write(fd, "D", 1));
        said("fchmodat", fchmodat(d, "dirfd2", 0600, 0));
        said("renameat", renameat(d, "dirfd2", d, "dirfd-new"));
        said("unlinkat", unlinkat(d, "dirfd", 0));
        said("mkfifoat", mkfifoat(d, "dirfd-fifo", 0600));
        show("dirfd-new");
        show("dirfd-fifo");
        fd = openat(d, "dirfd-new", O_RDONLY);
        first_line("read", fd);
    } else if (!strcmp(c, "statfs")) {  /* a file is on its directory's file system */
        struct statfs d, f, o;
        statfs(dir, &d);
        statfs(at("statfs"), &f);
        fstatfs(fd = open(at("statfs"), O_RDONLY), &o);
        printf("statfs: type %d blocks %d, fstatfs: type %d blocks %d\n",
               f.f_type == d.f_type, f.f_blocks == d.f_blocks, o.f_type == d.f_type,
               o.f_blocks == d.f_blocks);
    } else if (!strcmp(c, "moved")) {   /* a stub renamed, a file made at its name */
        char p[64], l[4096] = {0};
        fd = open(at("moved"), O_RDONLY);
        said("rename", rename(at("moved"), at("moved2")));
        close(open(at("moved"), O_CREAT | O_WRONLY, 0644));
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        said("readlink", readlink(p, l, sizeof l - 1));
        printf("link's name: %s\n", strrchr(l, '/') ? strrchr(l, '/') + 1 : l);
        said("reopen", fd2 = open(p, O_WRONLY | O_APPEND));
        said("append", write(fd2, "W", 1));
        show("moved");
        show("moved2");
    } else {
        return 2;
    }
    return 0;
}
