/* A deterministic mix of system calls for the tracer's tests: the same calls,
 * in the same order, natively under strace and as a libsubst guest.  Files,
 * a pipe, a socket pair, a signal to itself, identity and clock calls, a
 * thread, a failing open, and a child that execs this program again
 * ("child") and exits 3. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
    got = sig;
}

static void *thread_main(void *arg)
{
    (void)arg;
    write(1, "thread\n", 7);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        write(1, "child\n", 6);
        return 3;
    }
    int p[2], sv[2];
    char buf[16];
    if (pipe2(p, O_CLOEXEC) || write(p[1], "ab", 2) != 2 || read(p[0], buf, 2) != 2)
        return 1;
    close(p[0]);
    close(p[1]);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || send(sv[0], "cd", 2, 0) != 2 ||
        recv(sv[1], buf, 2, 0) != 2)
        return 1;
    close(sv[0]);
    close(sv[1]);
    signal(SIGUSR1, on_usr1);
    kill(getpid(), SIGUSR1);
    if (got != SIGUSR1)
        return 1;
    struct timespec ts;
    if (getuid() != geteuid() || syscall(SYS_clock_getres, CLOCK_MONOTONIC, &ts))
        return 1;
    if (open("no-such-file", O_RDONLY) != -1 || mkdir("trace-dir", 0755) || rmdir("trace-dir"))
        return 1;
    pthread_t t;
    if (pthread_create(&t, 0, thread_main, 0) || pthread_join(t, 0))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[0], argv[0], "child", (char *)0);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 3)
        return 1;
    printf("done\n");
    return 0;
}
