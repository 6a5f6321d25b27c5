/* What a guest does to get past its limits (tests/test_limits.py), run
 * natively and under libsubst:
 *   limits forks NUIDS PER   NUIDS children each setuid() to a uid of its own
 *                            and forks up to PER more that wait: how many
 *                            forks succeeded, and why the others failed
 *   limits affinity CPU      its CPUs, then the same after asking for all,
 *                            then asking for CPU alone
 *   limits fill PATH MIB     writes up to MIB MiB to PATH ("memfd": a memfd),
 *                            printing each MiB written; then why it stopped
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int forks(int nuids, int per)
{
    int hold[2], rep[2];
    if (pipe(hold) < 0 || pipe(rep) < 0)
        return 1;
    int ok = 0, failed = 0, why = 0;
    for (int u = 0; u < nuids; u++) {
        pid_t p = fork();
        if (p < 0) {
            failed++;
            why = errno;
            continue;
        }
        if (p == 0) {
            close(hold[1]);
            int n[2] = {0, 0};       /* forks that worked; errno of the last that did not */
            /* A caller that cannot (not root) forks as itself. */
            if (setgid(2000 + u) == 0)
                setuid(2000 + u);
            for (int i = 0; i < per; i++) {
                pid_t c = fork();
                if (c == 0) {
                    char b;
                    read(hold[0], &b, 1);            /* until the first process says */
                    _exit(0);
                }
                if (c > 0)
                    n[0]++;
                else
                    n[1] = errno;
            }
            write(rep[1], n, sizeof n);
            while (wait(NULL) > 0)
                ;
            _exit(0);
        }
        ok++;
    }
    close(hold[0]);
    close(rep[1]);                   /* a child that dies early: end of file, not a hang */
    /* The children's forks count with the first process's own. */
    for (int u = 0, children = ok; u < children; u++) {
        int n[2];
        if (read(rep[0], n, sizeof n) != sizeof n)
            return 1;
        ok += n[0];
        failed += per - n[0];
        if (n[1])
            why = n[1];
    }
    close(hold[1]);                  /* every waiting child ends */
    while (wait(NULL) > 0)
        ;
    printf("forks %d failed %d%s%s\n", ok, failed, failed ? " " : "",
           failed ? strerrorname_np(why) : "");
    return 0;
}

static int affinity(int other)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    sched_getaffinity(0, sizeof s, &s);
    printf("before %d\n", CPU_COUNT(&s));
    memset(&s, 0xff, sizeof s);
    int r = sched_setaffinity(0, sizeof s, &s);
    printf("set %s\n", r == 0 ? "ok" : strerrorname_np(errno));
    CPU_ZERO(&s);
    sched_getaffinity(0, sizeof s, &s);
    printf("after");
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &s))
            printf(" %d", i);
    printf("\n");
    CPU_ZERO(&s);
    CPU_SET(other, &s);
    r = sched_setaffinity(0, sizeof s, &s);
    printf("only %d %s\n", other, r == 0 ? "ok" : strerrorname_np(errno));
    return 0;
}

static int fill(const char *path, int mib)
{
    int fd = strcmp(path, "memfd") == 0 ? memfd_create("fill", 0)
                                        : open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        printf("open %s\n", strerrorname_np(errno));
        return 1;
    }
    static char mb[1 << 20];
    memset(mb, 'x', sizeof mb);
    setvbuf(stdout, NULL, _IONBF, 0);    /* each MiB is told before the next, in case of a kill */
    for (int i = 0; i < mib; i++) {
        for (size_t done = 0; done < sizeof mb;) {
            ssize_t w = write(fd, mb + done, sizeof mb - done);
            if (w <= 0) {
                printf("stopped %s\n", w < 0 ? strerrorname_np(errno) : "short");
                return 0;
            }
            done += w;
        }
        printf("%d\n", i + 1);
    }
    printf("done\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "forks") == 0)
        return forks(atoi(argv[2]), atoi(argv[3]));
    if (argc == 3 && strcmp(argv[1], "affinity") == 0)
        return affinity(atoi(argv[2]));
    if (argc == 4 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: limits forks NUIDS PER | affinity CPU | fill PATH MIB\n");
    return 2;
}
