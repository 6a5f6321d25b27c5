/*
 * The image's generated /etc files and the synthetic /proc files, read as
 * a program reads them: each file's bytes the same by read, pread, mmap
 * and after an lseek; its size by fstat and SEEK_END; two opens with
 * offsets of their own and one inode, a dup sharing its open's; F_GETFL
 * and a write (EBADF) of a read-only open; FIONREAD; the same bytes in a
 * forked child and after an execve, whose program has no fd it did not
 * open.  /proc/self/stat and status: the name each shows (the program's,
 * then one it sets, with a byte status escapes), and two opens with a
 * page-fault count of their own.  ioctl on each kind of fd, and on every
 * number above the program's own (EBADF: none is open).  The errors of the
 * stat, access, open and execve of names that are not there.
 * Contents differ from the host's (the guest's /etc is its own), so only
 * what a program can rely on is printed.  Compared with a native run.
 *
 *   genfiles MODE      MODE: native or guest (not printed)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const etc[] = {"/etc/passwd", "/etc/group", "/etc/hostname"};

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* The whole file by read(2) into a malloc'd buffer; its length in *n. */
static char *slurp(int fd, size_t *n)
{
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    long r;
    while ((r = read(fd, b + len, cap - len)) > 0)
        if ((len += r) == cap)
            b = realloc(b, cap *= 2);
    *n = len;
    return b;
}

static void etc_file(const char *path)
{
    int a = open(path, O_RDONLY | O_CLOEXEC), b = open(path, O_RDONLY);
    if (a < 0 || b < 0) {
        printf("%s: open %s\n", path, err(-1));
        return;
    }
    struct stat sa, sb;
    fstat(a, &sa);
    fstat(b, &sb);
    int n1 = 0;
    ioctl(a, FIONREAD, &n1);
    size_t n;
    char *bytes = slurp(a, &n);
    printf("%s: fstat size = bytes read %d, FIONREAD %d, one inode %d, regular %d\n", path,
           (size_t)sa.st_size == n, n1 == (int)n, sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev,
           S_ISREG(sa.st_mode));
    printf("  F_GETFL %#o and %#o, FD_CLOEXEC %d and %d\n", fcntl(a, F_GETFL), fcntl(b, F_GETFL),
           fcntl(a, F_GETFD), fcntl(b, F_GETFD));
    printf("  write %s", err(write(a, "x", 1)));
    printf(", ftruncate %s\n", err(ftruncate(a, 0)));
    /* b's offset is its own; a dup shares it. */
    char c;
    int d = dup(b);
    long r1 = read(b, &c, 1);
    printf("  another open reads from 0 %d", r1 == 1 && c == bytes[0]);
    printf(", a dup goes on at %ld", (long)lseek(d, 0, SEEK_CUR));
    printf(", SEEK_END %d\n", lseek(b, 0, SEEK_END) == (off_t)n);
    char *p = malloc(n + 1);
    long got = pread(b, p, n, 0);
    printf("  pread the same %d", got == (long)n && memcmp(p, bytes, n) == 0);
    lseek(b, n / 2, SEEK_SET);
    got = read(b, p, n);
    printf(", from the middle %d", got == (long)(n - n / 2) && memcmp(p, bytes + n / 2, got) == 0);
    void *m = mmap(0, n, PROT_READ, MAP_PRIVATE, b, 0);
    printf(", mmap the same %d", m != MAP_FAILED && memcmp(m, bytes, n) == 0);
    errno = 0;
    void *w = mmap(0, n, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
    printf(", shared writable mmap %s\n", w == MAP_FAILED ? strerrorname_np(errno) : "ok");
    if (m != MAP_FAILED)
        munmap(m, n);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int f = open(path, O_RDONLY | O_CLOEXEC);
        size_t k;
        char *again = slurp(f, &k);
        _exit(!(k == n && memcmp(again, bytes, n) == 0));
    }
    int status;
    waitpid(pid, &status, 0);
    printf("  a forked child reads the same %d\n", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(p);
    free(bytes);
    close(a);
    close(b);
    close(d);
}

/* The start of a file, NUL-terminated. */
static void head(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    long n = read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
}

/* The names /proc/self/stat (between its parentheses), the first line of
 * status and comm show. */
static void names(const char *what)
{
    char buf[4096], s[64], t[128], comm[64];
    head("/proc/self/stat", buf, sizeof buf);
    char *o = strchr(buf, '('), *c = strrchr(buf, ')');
    snprintf(s, sizeof s, "%.*s", o && c ? (int)(c - o - 1) : 0, o ? o + 1 : "");
    head("/proc/self/status", buf, sizeof buf);
    char *nl = strchr(buf, '\n');
    snprintf(t, sizeof t, "%.*s", nl ? (int)(nl - buf) : 0, buf);
    head("/proc/self/comm", comm, sizeof comm);
    comm[strcspn(comm, "\n")] = 0;
    printf("%s: stat (%s), status %s, comm %s\n", what, s, t, comm);
}

/* The minflt field (the 10th) of a /proc/self/stat fd read now. */
static long minflt(int fd)
{
    char buf[1024];
    long n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    char *p = strrchr(buf, ')');
    long v = -1;
    for (int field = 2; p && *p; p++)
        if (*p == ' ' && ++field == 10)
            v = strtol(p + 1, 0, 10);
    return v;
}

static void proc_files(void)
{
    names("as started");
    prctl(PR_SET_NAME, "renamed");
    names("renamed");
    prctl(PR_SET_NAME, "back\\slash");
    names("with a backslash");
    /* A stat read after page faults counts them; one read before does not. */
    int a = open("/proc/self/stat", O_RDONLY);
    long before = minflt(a);
    size_t len = 64 << 20;
    char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < len; i += 4096)
        m[i] = 1;
    int b = open("/proc/self/stat", O_RDONLY);
    long after = minflt(b);
    printf("/proc/self/stat: a later open counts the faults since %d\n", after >= before + 10000);
    printf("  F_GETFL %#o", fcntl(b, F_GETFL));
    printf(", write %s\n", err(write(b, "x", 1)));
    munmap(m, len);
    close(a);
    close(b);
}

static void ioctls(void)
{
    int p[2], on = 1, n = -1;
    if (pipe(p) < 0 || write(p[1], "abc", 3) != 3)
        return;
    printf("pipe: FIONREAD %s", err(ioctl(p[0], FIONREAD, &n)));
    printf(" %d\n", n);
    printf("  FIONBIO %s", err(ioctl(p[0], FIONBIO, &on)));
    printf(", F_GETFL %#o\n", fcntl(p[0], F_GETFL));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("socket: FIONBIO %s", err(ioctl(s, FIONBIO, &on)));
    printf(", F_GETFL %#o", fcntl(s, F_GETFL));
    on = 0;
    printf(", off %s", err(ioctl(s, FIONBIO, &on)));
    printf(", F_GETFL %#o\n", fcntl(s, F_GETFL));
    const char *dirs[] = {"/etc", "/proc/self", "/proc"};
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        int d = open(dirs[i], O_RDONLY | O_DIRECTORY), e = open(dirs[i], O_RDONLY | O_DIRECTORY);
        on = 1;
        printf("%s: FIONBIO %s", dirs[i], err(ioctl(d, FIONBIO, &on)));
        printf(", F_GETFL %#o, another open's %#o", fcntl(d, F_GETFL), fcntl(e, F_GETFL));
        printf(", TCGETS %s\n", err(ioctl(d, TCGETS, &n)));
        close(d);
        close(e);
    }
    /* An ioctl answers EBADF exactly where fcntl does, on every number up
     * to past the hard limit (the guest kernel's own fds among them). */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    long hi = rl.rlim_max < 1 << 20 ? (long)rl.rlim_max + 128 : 1 << 20, differ = 0;
    for (long fd = 0; fd < hi; fd++) {
        int bad = ioctl(fd, FIONREAD, &n) < 0 && errno == EBADF;
        differ += bad != (fcntl(fd, F_GETFD) < 0 && errno == EBADF);
    }
    printf("fds where ioctl and fcntl disagree on EBADF: %ld\n", differ);
    close(p[0]);
    close(p[1]);
    close(s);
}

/* Names that are not there, in the image's directories (in a guest, the
 * writable root's layer answers from its walk): each call's error. */
static void misses(void)
{
    static const char *const paths[] = {"/usr/bin/libsubst-no-such", "/usr/bin/libsubst-no-such/",
                                        "/etc/passwd/x", "/etc/libsubst-no-such/x",
                                        "/usr/lib/libsubst-no-such.so"};
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
        struct stat st;
        struct statx sx;
        printf("%s: stat %s", paths[i], err(stat(paths[i], &st)));
        printf(", lstat %s", err(lstat(paths[i], &st)));
        printf(", access %s", err(access(paths[i], F_OK)));
        printf(", statx %s", err(statx(AT_FDCWD, paths[i], 0, STATX_BASIC_STATS, &sx)));
        printf(", open %s", err(open(paths[i], O_RDONLY)));
        char *argv[] = {(char *)paths[i], 0};
        printf(", execve %s\n", err(execve(paths[i], argv, argv + 1)));
    }
}

/* After an execve: the fds the program has, by /proc/self/fd. */
static int after_exec(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    printf("after execve: %d fds (0, 1, 2 and the listing's)\n", n);
    etc_file("/etc/passwd");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "exec"))
        return after_exec();
    if (argc != 2) {
        fprintf(stderr, "usage: genfiles MODE\n");
        return 2;
    }
    for (unsigned i = 0; i < sizeof etc / sizeof *etc; i++)
        etc_file(etc[i]);
    proc_files();
    ioctls();
    misses();
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "exec", (char *)0);
    perror("execl");
    return 1;
}
