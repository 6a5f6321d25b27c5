/*
 * pidfd_send_signal conformance: through a pidfd and through an fd of a
 * /proc/<pid> directory (Linux takes both), to the caller and to a child,
 * with and without siginfo, and the fds and flags Linux refuses, compared
 * with a native run.
 *
 *   pidfd DIR          DIR a scratch directory (unused)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void handler(int sig)
{
    got = sig;
}

static void report(const char *label, long r)
{
    printf("%s: %s\n", label, r < 0 ? strerrorname_np(errno) : "ok");
    fflush(stdout);
}

static long send(int fd, int sig, siginfo_t *info, unsigned flags)
{
    return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static int proc_dir(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void status(const char *label, int st)
{
    if (WIFSIGNALED(st))
        printf("%s: killed by %s\n", label, sigabbrev_np(WTERMSIG(st)));
    else
        printf("%s: status %d\n", label, WEXITSTATUS(st));
}

int main(void)
{
    signal(SIGUSR1, handler);
    int self = proc_dir(getpid());
    report("self, signal 0", send(self, 0, 0, 0));
    got = 0;
    report("self, SIGUSR1", send(self, SIGUSR1, 0, 0));
    printf("handler ran: %d\n", got == SIGUSR1);
    siginfo_t si = {.si_signo = SIGUSR1, .si_code = SI_QUEUE, .si_pid = getpid()};
    got = 0;
    report("self, SIGUSR1 with SI_QUEUE info", send(self, SIGUSR1, &si, 0));
    printf("handler ran: %d\n", got == SIGUSR1);
    report("self, unknown flag", send(self, SIGUSR1, 0, 0x100));
    report("self, bad signal", send(self, 65, 0, 0));

    int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    got = 0;
    report("pidfd_open's fd, SIGUSR1", send(pidfd, SIGUSR1, 0, 0));
    printf("handler ran: %d\n", got == SIGUSR1);

    char task[64];
    snprintf(task, sizeof task, "/proc/self/task/%d", (int)gettid());
    int taskfd = open(task, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    report("a task's directory", send(taskfd, SIGUSR1, 0, 0));
    int file = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    report("a /proc file", send(file, SIGUSR1, 0, 0));
    report("a closed fd", send(1000, SIGUSR1, 0, 0));
    int p[2];
    pipe(p);
    report("a pipe", send(p[0], SIGUSR1, 0, 0));

    pid_t child = fork();
    if (child == 0) {
        for (;;)
            pause();
    }
    int cfd = proc_dir(child);
    si.si_signo = SIGTERM;
    si.si_code = SI_USER;
    report("child, SIGTERM with SI_USER info", send(cfd, SIGTERM, &si, 0));
    report("child, SIGTERM", send(cfd, SIGTERM, 0, 0));
    int st;
    waitpid(child, &st, 0);
    status("child", st);
    report("child reaped, signal 0", send(cfd, 0, 0, 0));
    return 0;
}
