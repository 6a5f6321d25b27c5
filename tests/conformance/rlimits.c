/*
 * Resource limits across execve: RLIMIT_NOFILE lowered by the program (as
 * low as a few fds, hard and soft) holds in the program it then executes,
 * which still runs — the guest kernel keeps its own fds above the guest's
 * limit, and no limit the guest sets may end the guest at the next boot —
 * and setrlimit's checks, compared with a native run.
 *
 *   rlimits DIR        DIR a scratch directory (unused)
 *   rlimits show       (internal) prints RLIMIT_NOFILE, opens fds to it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
    if (argc != 2) {
        fprintf(stderr, "usage: rlimits DIR\n");
        return 2;
    }
    const char *self = "/proc/self/exe";
    exec_with(self, 64, 64);
    exec_with(self, 20, 300);
    exec_with(self, 8, 8);
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
