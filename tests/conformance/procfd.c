/*
 * Generated /proc files read as Linux's seq_file serves them: the same
 * bytes by one read, by reads of 7 bytes, by preads at offsets and after
 * an lseek to 0; a dup sharing the offset; a forked child reading on from
 * the parent's offset; fresh values at every read from offset 0 (a monitor
 * that keeps /proc/self/stat open and preads it: its minor-fault count
 * grows between two reads with pages touched in between; /proc/stat's
 * jiffies, which top re-reads after an lseek to 0); fstat, F_GETFL,
 * the fd's link, poll, mmap (refused), write (EBADF), the lseeks each kind
 * takes; sendfile and copy_file_range from one; an fd kept across execve;
 * another process's fd of one opened by its link; many such fds open at
 * once.  Only what is the same for any process is
 * printed (the files' bytes are compared with themselves).  Compared with
 * a native run.
 *
 *   procfd MODE      MODE: native or guest (not printed); procfd exec FD
 *                    is the program execve'd with an open fd
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Files whose bytes do not change while the program runs. */
static const char *const steady[] = {
    "/proc/self/cmdline", "/proc/self/comm", "/proc/self/limits", "/proc/sys/kernel/ostype",
    "/proc/cgroups", "/proc/filesystems", "/proc/self/mounts",
};

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* Reads fd to its end in pieces of at most step bytes. */
static size_t slurp(int fd, char *b, size_t cap, size_t step)
{
    size_t len = 0;
    long r;
    while (len < cap && (r = read(fd, b + len, cap - len < step ? cap - len : step)) > 0)
        len += r;
    return len;
}

static void steady_file(const char *path)
{
    static char whole[65536], part[65536], again[65536];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: open %s\n", path, err(-1));
        return;
    }
    size_t n = slurp(fd, whole, sizeof whole, sizeof whole);
    long eof = read(fd, part, 1), eof2 = read(fd, part, 1);
    lseek(fd, 0, SEEK_SET);
    size_t m = slurp(fd, part, sizeof part, 7);
    printf("%s: %s; in 7s %s; at the end %ld %ld", path, n ? "bytes" : "empty",
           m == n && !memcmp(whole, part, n) ? "same" : "differ", eof, eof2);
    int same = 1;
    for (size_t off = 0; off + 5 <= n; off += n / 5 + 1) {
        long r = pread(fd, again, 5, off);
        same &= r == 5 && !memcmp(again, whole + off, 5);
    }
    printf("; preads %s", same ? "same" : "differ");
    if (n < 14) {                   /* what follows reads 14 bytes */
        printf("\n");
        close(fd);
        return;
    }
    lseek(fd, 0, SEEK_SET);
    long a = read(fd, again, 3);
    int d = dup(fd);
    long b = read(d, again + 3, 3);
    printf("; dup shares %s at %ld", a + b == 6 && !memcmp(again, whole, 6) ? "yes" : "no",
           (long)lseek(fd, 0, SEEK_CUR));
    close(d);
    pid_t pid = fork();
    if (pid == 0) {
        long r = read(fd, again, 4);
        _exit(r == 4 && !memcmp(again, whole + 6, 4) ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    lseek(fd, 10, SEEK_SET);
    long c = read(fd, again, 4);
    printf("; child reads on %s, parent %s\n", WEXITSTATUS(st) == 0 ? "yes" : "no",
           c == 4 && !memcmp(again, whole + 10, 4) ? "yes" : "no");
    close(fd);
}

/* Field k (1-based) of /proc/self/stat's bytes b: the numbers after the name. */
static long stat_field(const char *b, int k)
{
    const char *p = strrchr(b, ')');
    for (int i = 2; p && i < k; i++)
        p = strchr(p + 1, ' ');
    return p ? strtol(p + 1, 0, 10) : -1;
}

/* The total of /proc/stat's first line (all CPUs' jiffies) read from fd
 * after an lseek to 0, as top and vmstat re-read it. */
static unsigned long long cpu_total(int fd)
{
    char b[256];
    lseek(fd, 0, SEEK_SET);
    long n = read(fd, b, sizeof b - 1);
    b[n > 0 ? n : 0] = 0;
    unsigned long long t = 0;
    for (char *p = b + 3, *e; *p && *p != '\n'; p = e) {
        t += strtoull(p, &e, 10);
        if (e == p)
            break;
    }
    return t;
}

/* A monitor's pattern: one fd, pread from 0 every time. */
static void fresh(void)
{
    char b[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    long n = pread(fd, b, sizeof b - 1, 0);
    b[n > 0 ? n : 0] = 0;
    long before = stat_field(b, 10);        /* minflt */
    size_t len = 8 << 20;
    char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 1, len);
    n = pread(fd, b, sizeof b - 1, 0);
    b[n > 0 ? n : 0] = 0;
    long after = stat_field(b, 10);
    munmap(m, len);
    /* A read in two parts is one generation; the next from 0 a new one. */
    lseek(fd, 0, SEEK_SET);
    n = read(fd, b, 20);
    n += read(fd, b + n, sizeof b - 1 - n);
    b[n > 0 ? n : 0] = 0;
    long third = stat_field(b, 10);
    printf("stat by pread at 0: %s; after lseek 0 %s\n",
           after >= before + (long)(len / 4096) / 2 ? "fresh" : "stale",
           third >= after ? "fresh" : "stale");
    close(fd);
    fd = open("/proc/stat", O_RDONLY);
    unsigned long long t0 = cpu_total(fd);
    usleep(100000);                 /* 0.1 s: every CPU's jiffies advance */
    printf("/proc/stat kept open, after 0.1 s: %s\n", cpu_total(fd) > t0 ? "fresh" : "stale");
    close(fd);
}

static void calls(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    struct stat st;
    fstat(fd, &st);
    char link[64], want[64], got[64] = "";
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    snprintf(want, sizeof want, "/proc/%d%s", getpid(), path + 10);
    long n = readlink(link, got, sizeof got - 1);
    got[n > 0 ? n : 0] = 0;
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    int pr = poll(&p, 1, 0);
    void *m = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    const char *merr = m == MAP_FAILED ? strerrorname_np(errno) : "mapped";
    long w = write(fd, "x", 1);
    const char *werr = err(w);
    printf("%s: mode %o size %ld; F_GETFL %o; link %s; poll %d %x; mmap %s; write %s", path,
           st.st_mode, (long)st.st_size, fcntl(fd, F_GETFL), strcmp(got, want) ? got : "own",
           pr, p.revents, merr, werr);
    if (m != MAP_FAILED)
        munmap(m, 4096);
    long e = lseek(fd, 2, SEEK_END);
    printf("; SEEK_END %s", err(e));
    e = lseek(fd, -1, SEEK_SET);
    printf(", -1 %s\n", err(e));
    close(fd);
}

static void copies(void)
{
    char tmpl[] = "/tmp/procfd-XXXXXX";
    int out = mkstemp(tmpl);
    unlink(tmpl);
    int fd = open("/proc/meminfo", O_RDONLY);
    long r = sendfile(out, fd, 0, 10);
    printf("sendfile meminfo %ld at %ld", r, (long)lseek(fd, 0, SEEK_CUR));
    off_t off = 3;
    r = sendfile(out, fd, &off, 5);
    printf(", at 3: %ld to %ld, fd at %ld", r, (long)off, (long)lseek(fd, 0, SEEK_CUR));
    char b[16] = "", c[16] = "";
    pread(out, b, 10, 0);
    pread(fd, c, 10, 0);
    printf(", bytes %s", memcmp(b, c, 10) ? "differ" : "same");
    loff_t o = 0;
    r = copy_file_range(fd, &o, out, 0, 10, 0);
    printf("; copy_file_range %s\n", err(r));
    close(fd);
    close(out);
}

/* An fd kept across execve reads on where it was. */
static void across_exec(const char *self)
{
    int fd = open("/proc/sys/kernel/ostype", O_RDONLY);
    char b[2];
    read(fd, b, 2);
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "exec", num, (char *)0);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    close(fd);
}

static void exec_child(int fd)
{
    char b[64];
    long n = read(fd, b, sizeof b);
    struct stat st;
    fstat(fd, &st);
    printf("after execve: %ld bytes, %.*s", n, (int)(n > 0 ? n : 0), b);
    printf("after execve: mode %o; F_GETFL %o\n", st.st_mode,
           fcntl(fd, F_GETFL) & O_ACCMODE);
}

/* Another process's fd of a /proc file, opened by its link, is that
 * process's file: the same bytes as the file opened by name. */
static void others_fd(void)
{
    int fd = open("/proc/self/maps", O_RDONLY);
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        static char a[65536], b[65536];
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/%d", parent, fd);
        int x = open(path, O_RDONLY);
        snprintf(path, sizeof path, "/proc/%d/maps", parent);
        int y = open(path, O_RDONLY);
        size_t n = slurp(x, a, sizeof a, sizeof a), m = slurp(y, b, sizeof b, sizeof b);
        printf("another's fd of its maps: %s\n", x < 0 ? err(x)
               : n == m && !memcmp(a, b, n) ? "its maps" : "other bytes");
        _exit(0);
    }
    waitpid(pid, 0, 0);
    close(fd);
}

/* Many open at once, each read in part (its bytes kept), then closed. */
static void many(void)
{
    enum { N = 400 };
    static int fds[N];
    char b[8];
    int ok = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = open(i % 2 ? "/proc/self/status" : "/proc/meminfo", O_RDONLY);
        ok += fds[i] >= 0 && read(fds[i], b, 5) == 5 && !memcmp(b, i % 2 ? "Name:" : "MemTo", 5);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    printf("%d of %d open at once read\n", ok, N);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc > 2 && strcmp(argv[1], "exec") == 0) {
        exec_child(atoi(argv[2]));
        return 0;
    }
    for (size_t i = 0; i < sizeof steady / sizeof *steady; i++)
        steady_file(steady[i]);
    fresh();
    calls("/proc/self/stat");
    calls("/proc/self/cmdline");
    calls("/proc/self/status");
    copies();
    across_exec(argv[0]);
    others_fd();
    many();
    return 0;
}
