/*
 * Calls that name another process by its pid, as monitoring tools make
 * them (psutil's Process.rlimit, cpu_affinity, nice, ionice): a child's
 * limits read and set with prlimit, its affinity, priority and I/O
 * priority, and the errors for a pid that names no process, compared with
 * a native run; and a child's /proc/<pid> read the moment its execve has
 * closed a close-on-exec pipe (Python's subprocess waits so), which shows
 * the new program, and the paths its fd links name (files in /tmp and in
 * the working directory, a pipe).  Nothing printed depends on the
 * machine: limits are compared with the caller's own.
 *
 *   pidcalls DIR          DIR a scratch directory (unused)
 *   pidcalls --sleep ARG  (internal) the program exec'd: waits to be killed
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* The child: answers each byte read from `in` with its RLIMIT_CORE and
 * RLIMIT_NOFILE soft and hard limits, until end of file. */
static void child(int in, int out)
{
    char c;
    while (read(in, &c, 1) == 1) {
        struct rlimit core, nofile;
        getrlimit(RLIMIT_CORE, &core);
        getrlimit(RLIMIT_NOFILE, &nofile);
        unsigned long v[4] = {core.rlim_cur, core.rlim_max, nofile.rlim_cur, nofile.rlim_max};
        if (write(out, v, sizeof v) != sizeof v)
            break;
    }
    _exit(0);
}

static void ask(int to, int from, unsigned long v[4])
{
    if (write(to, "?", 1) != 1 || read(from, v, 4 * sizeof *v) != 4 * sizeof *v)
        memset(v, 0xff, 4 * sizeof *v);
}

static long slurp(pid_t pid, const char *name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    int fd = open(path, O_RDONLY);
    long n = fd < 0 ? -1 : read(fd, buf, cap);
    if (fd >= 0)
        close(fd);
    return n;
}

/* Rounds of: fork, execve of this program with a variable set, and, once
 * the close-on-exec pipe closed, its cmdline, comm, environ and exe. */
static void after_exec(void)
{
    static const char want[] = "pidcalls\0--sleep\0two words";
    char self[4096], exe[4096], buf[8192];
    long k = readlink("/proc/self/exe", self, sizeof self - 1);
    self[k > 0 ? k : 0] = 0;
    int cmdline = 0, comm = 0, environ = 0, link = 0, rounds = 20;
    for (int i = 0; i < rounds; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return;
        pid_t c = fork();
        if (c == 0) {
            setenv("PIDCALLS", "exec'd", 1);
            execl(self, "pidcalls", "--sleep", "two words", (char *)0);
            _exit(127);
        }
        char b;
        close(p[1]);
        if (read(p[0], &b, 1) != 0)
            printf("the pipe did not close at the execve\n");
        close(p[0]);
        long n = slurp(c, "cmdline", buf, sizeof buf);
        cmdline += n == sizeof want && memcmp(buf, want, n) == 0;
        n = slurp(c, "comm", buf, sizeof buf);
        comm += n == 9 && memcmp(buf, "pidcalls\n", 9) == 0;
        n = slurp(c, "environ", buf, sizeof buf - 1);
        int found = 0;
        for (long off = 0; n > 0 && off < n; off += strlen(buf + off) + 1)
            found |= strcmp(buf + off, "PIDCALLS=exec'd") == 0;
        environ += found;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/exe", c);
        k = readlink(path, exe, sizeof exe - 1);
        exe[k > 0 ? k : 0] = 0;
        link += strcmp(exe, self) == 0;
        kill(c, SIGKILL);
        waitpid(c, 0, 0);
    }
    printf("after execve, of %d: cmdline %d, comm %d, environ %d, exe %d\n", rounds, cmdline,
           comm, environ, link);
}

/* A child's fd links: a file in /tmp, one in DIR, a pipe. */
static void other_fds(const char *dir)
{
    char tmp[64], here[8192], cwd[4096], got[8192], path[64];
    snprintf(tmp, sizeof tmp, "/tmp/pidcalls-%d", getpid());
    if (!getcwd(cwd, sizeof cwd))
        return;
    snprintf(here, sizeof here, "%s/%s/pidcalls-file", cwd, dir);
    int ready[2], hold[2];
    if (pipe(ready) < 0 || pipe(hold) < 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        alarm(60);                   /* a fork's child has no alarm of its own */
        close(hold[1]);
        int a = open(tmp, O_RDWR | O_CREAT, 0600), b = open(here, O_RDWR | O_CREAT, 0600);
        dup2(a, 10);
        dup2(b, 11);
        dup2(hold[0], 12);
        char x;
        if (write(ready[1], "r", 1) == 1)
            read(hold[0], &x, 1);
        _exit(0);
    }
    char x;
    close(hold[0]);
    if (read(ready[0], &x, 1) != 1)
        return;
    const char *want[] = {tmp, here, "pipe:["};
    for (int fd = 10; fd <= 12; fd++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", c, fd);
        long n = readlink(path, got, sizeof got - 1);
        got[n > 0 ? n : 0] = 0;
        printf("other fd %d: %s, as opened %d\n", fd, n < 0 ? strerrorname_np(errno) : "ok",
               strncmp(got, want[fd - 10], strlen(want[fd - 10])) == 0 &&
               (fd == 12 || !got[strlen(want[fd - 10])]));
    }
    close(hold[1]);
    waitpid(c, 0, 0);
    unlink(tmp);
    unlink(here);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    if (argc == 3 && strcmp(argv[1], "--sleep") == 0)
        for (;;)
            pause();
    int down[2], up[2];
    if (argc != 2 || pipe(down) < 0 || pipe(up) < 0) {
        fprintf(stderr, "usage: pidcalls DIR\n");
        return 2;
    }
    pid_t c = fork();
    if (c == 0) {
        close(down[1]);
        close(up[0]);
        child(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);

    struct rlimit mine, its;
    getrlimit(RLIMIT_NOFILE, &mine);
    long r = prlimit(c, RLIMIT_NOFILE, 0, &its);
    printf("prlimit(child, NOFILE) get: %s, as mine: %d\n", err(r),
           r == 0 && its.rlim_cur == mine.rlim_cur && its.rlim_max == mine.rlim_max);
    r = prlimit(getpid(), RLIMIT_NOFILE, 0, &its);
    printf("prlimit(self by pid, NOFILE) get: %s, as mine: %d\n", err(r),
           r == 0 && its.rlim_cur == mine.rlim_cur && its.rlim_max == mine.rlim_max);

    /* Set the child's limits; it reads them back itself. */
    struct rlimit core = {4096, 8192};
    r = prlimit(c, RLIMIT_CORE, &core, 0);
    struct rlimit low = {64, mine.rlim_max - 1};
    long r2 = prlimit(c, RLIMIT_NOFILE, &low, &its);
    printf("prlimit(child, CORE) set: %s; NOFILE set: %s, old as mine: %d\n", err(r), err(r2),
           r2 == 0 && its.rlim_cur == mine.rlim_cur && its.rlim_max == mine.rlim_max);
    unsigned long v[4];
    ask(down[1], up[0], v);
    printf("child sees CORE %lu %lu, NOFILE %lu, hard one below mine: %d\n", v[0], v[1], v[2],
           v[3] == mine.rlim_max - 1);
    getrlimit(RLIMIT_CORE, &its);
    printf("my CORE unchanged: %d\n", its.rlim_cur != 4096 || its.rlim_max != 8192);

    /* Raising the child's hard limit back: refused without CAP_SYS_RESOURCE
     * over the host; as the guest is root of its own user namespace, the
     * native run is made as one (unshare --user --map-root-user). */
    struct rlimit back = {64, mine.rlim_max};
    r = prlimit(c, RLIMIT_NOFILE, &back, 0);
    printf("prlimit(child, NOFILE) raise hard: %s\n", err(r));
    r = prlimit(c, 1000, 0, &its);
    printf("prlimit(child, 1000): %s\n", err(r));

    cpu_set_t a, b;
    CPU_ZERO(&a);
    CPU_ZERO(&b);
    r = sched_getaffinity(c, sizeof a, &a);
    sched_getaffinity(0, sizeof b, &b);
    printf("sched_getaffinity(child): %s, as mine: %d\n", err(r), r == 0 && CPU_EQUAL(&a, &b));
    r = setpriority(PRIO_PROCESS, c, 7);
    errno = 0;
    long p = getpriority(PRIO_PROCESS, c);
    printf("setpriority(child, 7): %s; getpriority: %ld %s\n", err(r), p, errno ? strerrorname_np(errno) : "ok");
    r = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, c);
    printf("ioprio_get(child): %s\n", err(r));

    close(down[1]);
    int st;
    waitpid(c, &st, 0);
    printf("child: exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* The child is reaped: its pid names nothing now. */
    r = prlimit(c, RLIMIT_NOFILE, 0, &its);
    printf("prlimit(reaped child): %s\n", err(r));
    r = prlimit(c, RLIMIT_CORE, &core, 0);
    printf("prlimit(reaped child) set: %s\n", err(r));
    r = prlimit(-1, RLIMIT_NOFILE, 0, &its);
    printf("prlimit(-1): %s\n", err(r));
    r = sched_getaffinity(c, sizeof a, &a);
    printf("sched_getaffinity(reaped child): %s\n", err(r));
    errno = 0;
    p = getpriority(PRIO_PROCESS, c);
    printf("getpriority(reaped child): %ld %s\n", p, errno ? strerrorname_np(errno) : "ok");
    after_exec();
    other_fds(argv[1]);
    return 0;
}
