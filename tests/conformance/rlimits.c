/*
 * Resource limits across execve: RLIMIT_NOFILE lowered by the program (as
 * low as a few fds, hard and soft, or none) holds in the program it then
 * executes, which still runs — the guest kernel keeps its own fds above the
 * guest's limit, and no limit the guest sets may end the guest at the next
 * boot — and setrlimit's checks; dup, dup2, dup3 and F_DUPFD against the
 * soft limit (EINVAL, EMFILE, EBADF); an execve from a process whose every
 * fd below the limit is in use (close-on-exec), which needs none on Linux;
 * and at a limit of 0 (a vsftpd session's), the calls on paths that need
 * no fd on Linux, in the working directory (a volume in the guest) and in
 * the root, while those that make one fail with EMFILE; compared with a
 * native run.
 *
 *   rlimits DIR        DIR a scratch directory (unused)
 *   rlimits show       (internal) prints RLIMIT_NOFILE, opens fds to it
 *   rlimits dups       (internal) the dup family against the soft limit
 *   rlimits kept       (internal) fds 20 and 100, open before the limit
 *                      went below them, still the program's (100 closed
 *                      by close_range)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int show(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    int n = 0;
    while (open("/dev/null", O_RDONLY) >= 0)
        n++;
    printf("  after execve: soft %lu hard %lu, opened %d more (%s)\n", (unsigned long)r.rlim_cur,
           (unsigned long)r.rlim_max, n, strerrorname_np(errno));
    return 0;
}

static const char *res(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* The dup family at the soft limit, which lies below the hard one. */
static int dups(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    int soft = r.rlim_cur, hard = r.rlim_max;
    printf("  soft %d hard %d\n", soft, hard);
    printf("  F_DUPFD at the soft limit: %s\n", res(fcntl(0, F_DUPFD, soft)));
    printf("  F_DUPFD_CLOEXEC above it: %s\n", res(fcntl(0, F_DUPFD_CLOEXEC, soft + 3)));
    printf("  F_DUPFD at the hard limit: %s\n", res(fcntl(0, F_DUPFD, hard)));
    printf("  F_DUPFD just below: %s\n", res(fcntl(0, F_DUPFD, soft - 1)));
    printf("  F_DUPFD just below, taken: %s\n", res(fcntl(0, F_DUPFD, soft - 1)));
    while (fcntl(0, F_DUPFD_CLOEXEC, 0) >= 0)
        ;
    printf("  F_DUPFD 0, all taken: %s\n", res(fcntl(0, F_DUPFD, 0)));
    printf("  dup, all taken: %s\n", res(dup(0)));
    printf("  dup2 to the soft limit: %s\n", res(dup2(0, soft)));
    printf("  dup3 above it: %s\n", res(dup3(0, soft + 3, O_CLOEXEC)));
    printf("  dup2 above the hard limit: %s\n", res(dup2(0, hard + 1)));
    printf("  dup2 onto a used fd below it: %s\n", res(dup2(0, soft - 1)));
    printf("  dup2 of an fd to itself: %s\n", res(dup2(soft - 1, soft - 1)));
    fflush(stdout);
    return 0;
}

/* Fds above the limit, kept from before it was lowered: still usable. */
static int kept(void)
{
    int fds[] = {20, 100};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        int fd = fds[i];
        printf("  fd %d: fstat %s", fd, res(fstat(fd, &st)));
        printf(", F_GETFD %s", res(fcntl(fd, F_GETFD)));
        printf(", dup2 to itself %s", res(dup2(fd, fd)));
        printf(", dup %s", res(dup(fd)));
        if (fd == 20)
            printf(", close %s", res(close(fd)));
        printf("\n");
    }
    printf("  close_range from 3: %s", res(syscall(SYS_close_range, 3, ~0U, 0)));
    printf(", fd 100 then: %s\n", res(fcntl(100, F_GETFD)));
    fflush(stdout);
    return 0;
}

/* In a child: RLIMIT_NOFILE 8, fds 20 and 100 open, then `self kept`. */
static void exec_kept(const char *self)
{
    printf("fds above the limit, then execve:\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(1, 20);
        dup2(1, 100);
        struct rlimit r = {8, 8};
        setrlimit(RLIMIT_NOFILE, &r);
        execl(self, self, "kept", (char *)0);
        printf("  execve: %s\n", strerrorname_np(errno));
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("  status %d\n", st);
}

/* In a child: RLIMIT_NOFILE soft 8 hard 64, every fd below 8 taken
 * (close-on-exec), then `self dups`: the execve needs no fd. */
static void exec_full(const char *self)
{
    printf("full, then execve:\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit r = {8, 64};
        setrlimit(RLIMIT_NOFILE, &r);
        int n = 0;
        while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
            n++;
        printf("  opened %d (%s)\n", n, strerrorname_np(errno));
        fflush(stdout);
        execl(self, self, "dups", (char *)0);
        printf("  execve: %s\n", strerrorname_np(errno));
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("  status %d\n", st);
}

#define NOFD(call) printf("  %-36s %s\n", #call, res(call))

/* In a child: RLIMIT_NOFILE soft 0, then path calls, none of which needs
 * an fd on Linux, and three that make one. */
static void no_fds(void)
{
    printf("no fds:\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit r = {0, 64};
        struct stat st;
        struct statfs sf;
        char buf[64];
        int p[2];
        setrlimit(RLIMIT_NOFILE, &r);
        NOFD(mkdir("nofd", 0700));
        NOFD(access("nofd", W_OK));
        NOFD(faccessat(AT_FDCWD, "nofd", X_OK, AT_EACCESS));
        NOFD(stat("nofd", &st));
        NOFD(statfs("nofd", &sf));
        NOFD(chmod("nofd", 0755));
        NOFD(utimensat(AT_FDCWD, "nofd", 0, 0));
        NOFD(symlink("nofd", "nofd/link"));
        NOFD(readlink("nofd/link", buf, sizeof buf));
        NOFD(rename("nofd/link", "nofd/moved"));
        NOFD(unlink("nofd/moved"));
        NOFD(truncate("nofd/missing", 0));
        NOFD(chdir("nofd"));
        NOFD(chdir(".."));
        NOFD(rmdir("nofd"));
        NOFD(access("/", R_OK));
        NOFD(access("/etc/passwd", R_OK));
        NOFD(stat("/etc", &st));
        NOFD(open("/etc/passwd", O_RDONLY));
        NOFD(socket(AF_INET, SOCK_STREAM, 0));
        NOFD(pipe(p));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("  status %d\n", st);
}

/* In a child: sets RLIMIT_NOFILE to soft/hard and executes `self show`. */
static void exec_with(const char *self, unsigned long soft, unsigned long hard)
{
    printf("soft %lu hard %lu:\n", soft, hard);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit r = {soft, hard};
        if (setrlimit(RLIMIT_NOFILE, &r) < 0) {
            printf("  setrlimit: %s\n", strerrorname_np(errno));
            _exit(1);
        }
        execl(self, self, "show", (char *)0);
        printf("  execve: %s\n", strerrorname_np(errno));
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("  killed by %s\n", sigabbrev_np(WTERMSIG(st)));
    else
        printf("  exit %d\n", WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "show") == 0)
        return show();
    if (argc == 2 && strcmp(argv[1], "dups") == 0)
        return dups();
    if (argc == 2 && strcmp(argv[1], "kept") == 0)
        return kept();
    if (argc != 2) {
        fprintf(stderr, "usage: rlimits DIR\n");
        return 2;
    }
    const char *self = "/proc/self/exe";
    exec_with(self, 64, 64);
    exec_with(self, 20, 300);
    exec_with(self, 8, 8);
    exec_with(self, 0, 0);      /* the program cannot even load libc.so.6: as natively */
    exec_with(self, 2, 2);
    exec_full(self);
    exec_kept(self);
    no_fds();
    printf("the first program:\n");
    fflush(stdout);
    if (fork() == 0) {
        struct rlimit r = {8, 64};
        setrlimit(RLIMIT_NOFILE, &r);
        _exit(dups());
    }
    wait(0);
    struct rlimit r, bad = {100, 50};
    getrlimit(RLIMIT_NOFILE, &r);
    printf("soft above hard: %s\n", setrlimit(RLIMIT_NOFILE, &bad) < 0 ? strerrorname_np(errno) : "ok");
    struct rlimit low = {r.rlim_cur < 100 ? r.rlim_cur : 100, 100}, back;
    printf("lowered: %s\n", setrlimit(RLIMIT_NOFILE, &low) < 0 ? strerrorname_np(errno) : "ok");
    getrlimit(RLIMIT_NOFILE, &back);
    printf("reads back: soft %lu hard %lu\n", (unsigned long)back.rlim_cur,
           (unsigned long)back.rlim_max);
    return 0;
}
