/*
 * How long after a child's last instruction its parent notices the end:
 * sigwaitinfo returning its SIGCHLD, a SIGCHLD handler running, waitpid
 * returning.  The child writes its clock into memory both share just
 * before _exit; the parent reads its own when it notices.  Prints, per
 * way, the median gap in µs over N children (each checked to exit 7).
 *
 *   child-exit N
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile long handled_at;

static long now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void on_chld(int s)
{
    (void)s;
    handled_at = now();
}

static int by_value(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0;
    volatile long *exited = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    long *gap = malloc(sizeof(long) * (n > 0 ? n : 1));
    if (n <= 0 || exited == MAP_FAILED || !gap) {
        fprintf(stderr, "usage: child-exit N\n");
        return 2;
    }
    static const char *const ways[] = {"sigwaitinfo", "handler", "waitpid"};
    sigset_t chld, none;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigemptyset(&none);
    for (int way = 0; way < 3; way++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = way == 1 ? on_chld : SIG_DFL;
        sigaction(SIGCHLD, &sa, 0);
        sigprocmask(way < 2 ? SIG_BLOCK : SIG_UNBLOCK, &chld, 0);
        for (int i = 0; i < n; i++) {
            handled_at = 0;
            pid_t p = fork();
            if (p == 0) {
                *exited = now();
                _exit(7);
            }
            long at;
            int st;
            if (way == 0) {
                siginfo_t si;
                sigwaitinfo(&chld, &si);
                at = now();
            } else if (way == 1) {
                while (!handled_at)
                    sigsuspend(&none);
                at = handled_at;
            }
            if (waitpid(p, &st, 0) != p || st != 7 << 8) {
                fprintf(stderr, "a child did not exit 7\n");
                return 1;
            }
            if (way == 2)
                at = now();
            gap[i] = at - *exited;
        }
        sigprocmask(SIG_UNBLOCK, &chld, 0);
        qsort(gap, n, sizeof gap[0], by_value);
        printf("%s %.1f\n", ways[way], gap[n / 2] / 1e3);
    }
    return 0;
}
