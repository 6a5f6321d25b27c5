/*
 * fstatat(fd, "", AT_EMPTY_PATH), how glibc's fstat reaches the kernel
 * (nginx's once per request), against fstat(2) of the same fd, for each
 * kind of file the guest kernel serves: a volume's file, an image file (the
 * program itself), a synthetic /proc file, a pipe, a socket, a directory,
 * AT_FDCWD; and the edges: no AT_EMPTY_PATH, a closed fd, flags Linux does
 * not know (which it ignores for an fd's own stat), a NULL path, a bad path
 * pointer, "" as the last byte before an unmapped page, a name beside
 * AT_EMPTY_PATH; and statx(fd, "", AT_EMPTY_PATH), the other call the
 * dispatcher reaches without copying an empty path; one fd number holding
 * each kind of file in turn (closed and opened again, dup2'd over), whose
 * fstat must follow it.  Compared with a native run.
 *
 *   fstat DIR        DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *kind(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISFIFO(m) ? "fifo"
           : S_ISSOCK(m) ? "socket" : S_ISCHR(m) ? "char device" : "other";
}

/* The raw call, as glibc's fstat makes it: glibc's own fstatat would turn
 * some of the refused forms into fstat. */
static long newfstatat(int fd, const char *path, struct stat *st, int flags)
{
    return syscall(SYS_newfstatat, fd, path, st, flags);
}

static void both(const char *what, int fd)
{
    struct stat a, b;
    memset(&a, 0xa5, sizeof a);
    memset(&b, 0x5a, sizeof b);
    long ra = newfstatat(fd, "", &a, AT_EMPTY_PATH);
    int ea = errno;
    long rb = fstat(fd, &b);
    if (ra < 0 || rb < 0) {
        printf("%s: %s / %s\n", what, ra < 0 ? strerrorname_np(ea) : "ok",
               rb < 0 ? strerrorname_np(errno) : "ok");
        return;
    }
    int same = a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode &&
               a.st_nlink == b.st_nlink && a.st_uid == b.st_uid && a.st_size == b.st_size &&
               a.st_blksize == b.st_blksize;
    printf("%s: %s, %s as fstat's", what, kind(a.st_mode), same ? "the same" : "NOT the same");
    if (S_ISREG(a.st_mode) && a.st_size > 0)
        printf(", %lld bytes", (long long)a.st_size);
    printf("\n");
}

/* fd's fstat against a stat of the path it now names. */
static void as_path(const char *what, int fd, const char *path)
{
    struct stat a, b;
    int ok = newfstatat(fd, "", &a, AT_EMPTY_PATH) == 0 && stat(path, &b) == 0 &&
             a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode &&
             a.st_size == b.st_size;
    printf("%s: %s as its path's stat\n", what, ok ? "the same" : "NOT the same");
}

/* One number, each kind in turn: the kernel's record of what an fd is
 * (its byte in fs_kept, read without the lock) follows every change. */
static void one_number(void)
{
    int n = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    as_path("an fd number, the program", n, "/proc/self/exe");
    close(n);
    int fd = open("file", O_RDONLY | O_NONBLOCK);
    printf("reopened at the same number: %s\n", fd == n ? "yes" : "no");
    as_path("that number, a volume's file", fd, "file");
    int img = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    dup2(img, fd);
    as_path("that number, the program dup2'd over it", fd, "/proc/self/exe");
    int vol = open("file", O_RDONLY);
    dup2(vol, fd);
    as_path("that number, a volume's file dup2'd over it", fd, "file");
    dup3(img, fd, O_CLOEXEC);
    as_path("that number, the program dup3'd over it", fd, "/proc/self/exe");
    close(fd);
    int d = open(".", O_RDONLY | O_DIRECTORY);
    printf("a directory at that number: %s\n", d == n ? "yes" : "no");
    as_path("that number, a directory", d, ".");
    close(d);
    close(img);
    close(vol);
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: fstat DIR\n");
        return 2;
    }
    int fd = open("file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "0123456789", 10) != 10 || close(fd) < 0) {
        perror("file");
        return 1;
    }
    one_number();
    /* As nginx opens what it serves. */
    fd = open("file", O_RDONLY | O_NONBLOCK);
    both("a volume's file", fd);
    close(fd);
    fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    both("the program (an image file)", fd);
    close(fd);
    fd = open("/proc/self/stat", O_RDONLY);
    both("/proc/self/stat", fd);
    close(fd);
    int p[2];
    if (pipe(p) < 0) {
        perror("pipe");
        return 1;
    }
    both("a pipe's read end", p[0]);
    both("a pipe's write end", p[1]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    both("a socket", s);
    fd = open(".", O_RDONLY | O_DIRECTORY);
    both("a directory", fd);
    close(fd);

    struct stat st;
    printf("AT_FDCWD \"\": %s\n", newfstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH) < 0
                                      ? strerrorname_np(errno) : kind(st.st_mode));
    printf("a pipe, \"\" without AT_EMPTY_PATH: %s\n",
           newfstatat(p[0], "", &st, 0) < 0 ? strerrorname_np(errno) : "ok");
    close(p[0]);
    printf("a closed fd: %s\n",
           newfstatat(p[0], "", &st, AT_EMPTY_PATH) < 0 ? strerrorname_np(errno) : "ok");
    printf("fd -5: %s\n", newfstatat(-5, "", &st, AT_EMPTY_PATH) < 0 ? strerrorname_np(errno) : "ok");
    printf("an unknown flag, AT_FDCWD: %s\n",
           newfstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH | 0x40000000) < 0 ? strerrorname_np(errno)
                                                                          : "ok");
    /* Linux 6.11 on answers an fd's own stat before it reads the path or
     * looks at the flags (the guest kernel does as the newer one; a host
     * older than that is not compared here). */
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
        (major > 6 || (major == 6 && minor >= 11))) {
        printf("an unknown flag: %s\n", newfstatat(p[1], "", &st, AT_EMPTY_PATH | 0x40000000) < 0
                                            ? strerrorname_np(errno) : "ok");
        printf("a NULL path: %s\n", newfstatat(p[1], NULL, &st, AT_EMPTY_PATH) < 0
                                        ? strerrorname_np(errno) : kind(st.st_mode));
    }
    printf("a bad buffer: %s\n",
           newfstatat(p[1], "", (struct stat *)8, AT_EMPTY_PATH) < 0 ? strerrorname_np(errno) : "ok");
    printf("a bad path pointer: %s\n",
           newfstatat(p[1], (const char *)8, &st, AT_EMPTY_PATH) < 0 ? strerrorname_np(errno) : "ok");
    char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED || munmap(page + 4096, 4096) < 0) {
        perror("mmap");
        return 1;
    }
    page[4095] = 0;
    printf("\"\" before an unmapped page: %s\n", newfstatat(p[1], page + 4095, &st, AT_EMPTY_PATH) < 0
                                                ? strerrorname_np(errno) : kind(st.st_mode));
    fd = open("file", O_RDONLY);
    printf("a name and AT_EMPTY_PATH, a file's fd: %s\n",
           newfstatat(fd, "file", &st, AT_EMPTY_PATH) < 0 ? strerrorname_np(errno) : "ok");
    struct statx sx;
    struct stat b;
    long r = syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx);
    if (r < 0 || fstat(fd, &b) < 0)
        printf("statx \"\" AT_EMPTY_PATH: %s\n", strerrorname_np(errno));
    else
        printf("statx \"\" AT_EMPTY_PATH: %s, %llu bytes\n",
               sx.stx_ino == b.st_ino && sx.stx_mode == b.st_mode ? "as fstat's" : "NOT as fstat's",
               (unsigned long long)sx.stx_size);
    printf("statx \"\" AT_EMPTY_PATH, a bad path pointer: %s\n",
           syscall(SYS_statx, fd, (const char *)8, AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) < 0
               ? strerrorname_np(errno) : "ok");
    printf("statx \"\" without AT_EMPTY_PATH: %s\n",
           syscall(SYS_statx, fd, "", 0, STATX_BASIC_STATS, &sx) < 0 ? strerrorname_np(errno) : "ok");
    close(fd);
    return 0;
}
