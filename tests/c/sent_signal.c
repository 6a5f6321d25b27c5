/* A crash signal sent, not a fault: `sent_signal SIG HOW` forks a child
 * that sends itself signal number SIG (HOW: kill, tgkill, sigqueue or
 * raise) under its default action, prints how the child ended, then does
 * the same itself.  Linux ends both by the signal (si_code SI_USER,
 * SI_TKILL or SI_QUEUE: nothing faulted). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void send_self(int sig, const char *how)
{
    if (!strcmp(how, "kill"))
        kill(getpid(), sig);
    else if (!strcmp(how, "tgkill"))
        syscall(SYS_tgkill, getpid(), gettid(), sig);
    else if (!strcmp(how, "sigqueue"))
        sigqueue(getpid(), sig, (union sigval){.sival_int = 7});
    else
        raise(sig);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int sig = atoi(argv[1]);
    pid_t pid = fork();
    if (pid == 0) {
        send_self(sig, argv[2]);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("child killed by %s\n", sigabbrev_np(WTERMSIG(st)));
    else
        printf("child exit %d\n", WEXITSTATUS(st));
    fflush(stdout);
    send_self(sig, argv[2]);
    printf("still here\n");
    return 0;
}
