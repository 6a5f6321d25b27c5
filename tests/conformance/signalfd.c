/*
 * signalfd conformance: reads, masks, SFD_NONBLOCK, poll, sigqueue values,
 * and the fd across fork and execve, compared with a native run.
 *
 *   signalfd DIR          DIR a scratch directory
 *   signalfd exec FD      (internal) the program execve'd with the fd open
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void block(int sig)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_BLOCK, &s, 0);
}

static void rd(const char *label, int fd, size_t size)
{
    struct signalfd_siginfo si[4];
    memset(si, 0, sizeof si);
    ssize_t n = read(fd, si, size);
    if (n < 0) {
        printf("%s: %s\n", label, strerrorname_np(errno));
        return;
    }
    printf("%s: %zd bytes", label, n);
    for (ssize_t i = 0; i < n / (ssize_t)sizeof *si; i++)
        printf(", signo %u code %d int %d pid %s", si[i].ssi_signo, si[i].ssi_code, si[i].ssi_int,
               si[i].ssi_pid == (unsigned)getpid() ? "self" : "other");
    printf("\n");
}

static int readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "exec") == 0) {
        int fd = atoi(argv[2]);
        alarm(10);
        printf("after execve: readable %d\n", readable(fd));
        rd("after execve, read", fd, sizeof(struct signalfd_siginfo));
        return 0;
    }
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: signalfd DIR\n");
        return 2;
    }
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigaddset(&m, SIGUSR2);
    block(SIGUSR1);
    block(SIGUSR2);
    int fd = signalfd(-1, &m, SFD_NONBLOCK);
    printf("signalfd: %s\n", fd >= 0 ? "ok" : strerrorname_np(errno));

    rd("empty, nonblocking", fd, sizeof(struct signalfd_siginfo));
    printf("readable when empty: %d\n", readable(fd));
    raise(SIGUSR1);
    printf("readable with one pending: %d\n", readable(fd));
    rd("buffer too small", fd, sizeof(struct signalfd_siginfo) - 1);
    rd("one signal", fd, sizeof(struct signalfd_siginfo));

    union sigval v = {.sival_int = 42};
    sigqueue(getpid(), SIGUSR2, v);
    raise(SIGUSR1);
    rd("two signals, room for four", fd, 4 * sizeof(struct signalfd_siginfo));

    /* A new mask on the same fd: SIGUSR2 no longer read. */
    sigset_t only1;
    sigemptyset(&only1);
    sigaddset(&only1, SIGUSR1);
    printf("new mask, same fd: %s\n", signalfd(fd, &only1, 0) == fd ? "ok" : strerrorname_np(errno));
    raise(SIGUSR2);
    rd("SIGUSR2 outside the mask", fd, sizeof(struct signalfd_siginfo));
    sigset_t pend;
    sigpending(&pend);
    printf("SIGUSR2 still pending: %d\n", sigismember(&pend, SIGUSR2));
    int spare = signalfd(-1, &m, SFD_NONBLOCK);
    rd("read by a second signalfd", spare, sizeof(struct signalfd_siginfo));
    close(spare);

    /* SIGKILL and SIGSTOP in the mask are ignored, as Linux does. */
    sigset_t withkill = only1;
    sigaddset(&withkill, SIGKILL);
    printf("mask with SIGKILL: %s\n", signalfd(fd, &withkill, 0) == fd ? "ok" : strerrorname_np(errno));
    printf("bad flags: %s\n", signalfd(-1, &m, 0x7) < 0 ? strerrorname_np(errno) : "ok");
    printf("not a signalfd: %s\n", signalfd(1, &m, 0) < 0 ? strerrorname_np(errno) : "ok");

    /* A blocking read woken by a signal from another process. */
    int bfd = signalfd(-1, &m, 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        usleep(100 * 1000);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    rd("blocking read, signal from a child", bfd, sizeof(struct signalfd_siginfo));
    waitpid(pid, 0, 0);

    /* After fork the child reads its own signals through the inherited fd. */
    raise(SIGUSR1);
    pid = fork();
    if (pid == 0) {
        rd("child, parent's pending signal", fd, sizeof(struct signalfd_siginfo));
        raise(SIGUSR1);
        rd("child, its own signal", fd, sizeof(struct signalfd_siginfo));
        _exit(0);
    }
    waitpid(pid, 0, 0);
    rd("parent, its own pending signal", fd, sizeof(struct signalfd_siginfo));

    /* Across execve: the fd, the blocked mask and a pending signal stay. */
    pid = fork();
    if (pid == 0) {
        char num[16];
        raise(SIGUSR1);
        snprintf(num, sizeof num, "%d", fd);
        execl("/proc/self/exe", "signalfd", "exec", num, (char *)0);
        printf("execl: %s\n", strerrorname_np(errno));
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("exec child status %d\n", WEXITSTATUS(st));
    rd("parent after the exec child", fd, sizeof(struct signalfd_siginfo));
    close(bfd);
    return 0;
}
