/*
 * The access mode and status flags an open file description keeps, for
 * each kind of file the guest kernel serves: an image file (/etc/passwd, a
 * library, the program through /proc/self/exe), a synthetic file
 * (/proc/self/stat), directories (/etc, /proc/self), a volume's file, and
 * O_PATH ones of each.  For each: F_GETFL, fdinfo's flags, the mode of
 * the fd's /proc/self/fd link, and what a read and a write get; then
 * F_SETFL's round trip, which a dup and a forked child share and another
 * open of the same file does not (a directory's: without the fork), and
 * ioctl's FIONBIO likewise.
 * Compared with a native run.
 *
 *   openmodes DIR      DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* fdinfo's flags: line of fd, -1 if it has none. */
static long fdinfo_flags(int fd)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(p, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "flags:", 6) == 0)
            v = strtol(line + 6, 0, 8);
    if (f)
        fclose(f);
    return v;
}

static void show(const char *what, int fd)
{
    char p[64];
    struct stat st;
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    long l = lstat(p, &st);
    printf("%s: F_GETFL %#o, fdinfo %#lo, link %s %03o\n", what, fcntl(fd, F_GETFL),
           fdinfo_flags(fd), err(l), l < 0 ? 0 : st.st_mode & 0777);
}

static void io(const char *what, int fd)
{
    char c;
    errno = 0;
    long r = read(fd, &c, 1);
    printf("  %s: read %s", what, r < 0 ? err(r) : r ? "a byte" : "nothing");
    r = write(fd, "x", 1);
    printf(", write %s\n", r < 0 ? err(r) : "ok");
}

static void both(const char *path, int flags, const char *what)
{
    int fd = open(path, flags);
    if (fd < 0) {
        printf("%s: open %s\n", what, err(fd));
        return;
    }
    show(what, fd);
    if (!(flags & O_DIRECTORY))
        io(what, fd);
    close(fd);
}

/* F_SETFL on one open of path: seen through a dup and (forks) by a forked
 * child, not by a second open of the same file. */
static void setfl(const char *path, int forks)
{
    int a = open(path, O_RDONLY), b = open(path, O_RDONLY | O_CLOEXEC);
    int d = dup(a);
    printf("%s: F_SETFL O_NONBLOCK|O_APPEND %s\n", path,
           err(fcntl(a, F_SETFL, O_NONBLOCK | O_APPEND)));
    show("  it", a);
    show("  its dup", d);
    show("  another open", b);
    if (!forks)
        goto done;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        show("  in a child", a);
        fflush(stdout);
        _exit(fcntl(a, F_SETFL, O_APPEND) < 0);
    }
    int status;
    waitpid(pid, &status, 0);
    show("  after the child's F_SETFL O_APPEND", d);
done:
    printf("F_SETFL 0 %s\n", err(fcntl(d, F_SETFL, 0)));
    show("  it", a);
    close(a);
    close(b);
    close(d);
}

/* FIONBIO on one open of path: its flags, a dup's, another open's. */
static void fionbio(const char *path, int flags)
{
    int a = open(path, flags), b = open(path, flags), d = dup(a), on = 1;
    printf("%s: FIONBIO %s\n", path, err(ioctl(a, FIONBIO, &on)));
    show("  it", a);
    show("  its dup", d);
    show("  another open", b);
    on = 0;
    /* The request as the kernel reads it: an unsigned int. */
    printf("  FIONBIO 0 %s\n", err(syscall(SYS_ioctl, d, 0x100000000UL | FIONBIO, &on)));
    show("  it", a);
    close(a);
    close(b);
    close(d);
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: openmodes DIR\n");
        return 2;
    }
    int fd = open("file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "data", 4) != 4 || close(fd) < 0) {
        perror("file");
        return 1;
    }
    const struct { const char *path; const char *name; } files[] = {
        {"/etc/passwd", "an image file"},
        {"/lib/x86_64-linux-gnu/libc.so.6", "a library"},
        {"/proc/self/exe", "the program"},
        {"/proc/self/stat", "a synthetic file"},
        {"file", "a volume's file"},
    };
    const struct { int flags; const char *name; } modes[] = {
        {O_RDONLY, "O_RDONLY"},
        {O_RDONLY | O_CLOEXEC, "O_RDONLY|O_CLOEXEC"},
        {O_RDONLY | O_NONBLOCK | O_APPEND, "O_RDONLY|O_NONBLOCK|O_APPEND"},
        {O_RDONLY | O_NOFOLLOW, "O_RDONLY|O_NOFOLLOW"},
        {O_PATH, "O_PATH"},
        {O_PATH | O_CLOEXEC, "O_PATH|O_CLOEXEC"},
    };
    char what[128];
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++)
        for (unsigned j = 0; j < sizeof modes / sizeof *modes; j++) {
            snprintf(what, sizeof what, "%s %s", files[i].name, modes[j].name);
            both(files[i].path, modes[j].flags, what);
        }
    const struct { const char *path; const char *name; } dirs[] = {
        {"/etc", "an image directory"},
        {"/proc/self", "a synthetic directory"},
        {".", "a volume's directory"},
    };
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(what, sizeof what, "%s O_DIRECTORY", dirs[i].name);
        both(dirs[i].path, O_RDONLY | O_DIRECTORY, what);
        snprintf(what, sizeof what, "%s O_PATH|O_DIRECTORY", dirs[i].name);
        both(dirs[i].path, O_PATH | O_DIRECTORY, what);
    }
    if (symlink("/etc/passwd", "link") < 0)
        perror("symlink");
    both("/proc/self/exe", O_PATH | O_NOFOLLOW, "a synthetic link O_PATH|O_NOFOLLOW");
    both("/lib64/ld-linux-x86-64.so.2", O_PATH | O_NOFOLLOW, "an image link O_PATH|O_NOFOLLOW");
    both("link", O_PATH | O_NOFOLLOW, "a volume's link O_PATH|O_NOFOLLOW");
    setfl("/etc/passwd", 1);
    setfl("/proc/self/stat", 1);
    setfl("file", 1);
    /* A directory of the image or /proc keeps its status flags in the
     * kernel's table, which a fork copies (README, Known limits). */
    setfl("/etc", 0);
    setfl("/proc/self", 0);
    fionbio("/etc/passwd", O_RDONLY);
    fionbio("/proc/self/stat", O_RDONLY);
    fionbio("/etc", O_RDONLY | O_DIRECTORY);
    fionbio("/proc/self", O_RDONLY | O_DIRECTORY);
    fionbio("/etc", O_PATH);
    int p = open("/etc", O_PATH);
    printf("F_SETFL on an O_PATH directory: %s\n", err(fcntl(p, F_SETFL, O_NONBLOCK)));
    close(p);
    return 0;
}
