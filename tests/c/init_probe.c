/* What a program sees of its pid namespace's init (libsubst run --init;
 * natively, a shell as pid 1 that waits for it):
 *   init_probe ids       its pid and its parent's
 *   init_probe orphan    a child forks a grandchild and exits; the
 *                        grandchild, orphaned, says its new parent and
 *                        exits; then how many zombies /proc shows, once
 *                        none is left or after 10 s
 *   init_probe exit N    exits with N
 *   init_probe die N     ends by signal N under its default action
 *   init_probe signals   "ready", then the name of each of SIGINT, SIGUSR1
 *                        and SIGHUP it is sent; exit 3 at SIGTERM
 *   init_probe deaf      "ready" with SIGTERM ignored, then waits for ever
 *   init_probe stops     "ready", then waits; at SIGCONT (after a stop by a
 *                        signal's default action) says "SIGCONT", exits 5 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *s)
{
    write(1, s, strlen(s));
}

static int zombies(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        n += p && p[1] == ' ' && p[2] == 'Z';
    }
    if (d)
        closedir(d);
    return n;
}

static void orphan(void)
{
    int gone[2], done[2];
    pipe(gone);
    pipe(done);                                 /* the orphan holds its write end until it exits */
    pid_t child = fork();
    if (child == 0) {
        pid_t parent = getpid();
        if (fork() == 0) {
            char c;
            close(gone[1]);
            close(done[0]);
            read(gone[0], &c, 1);               /* end of file: the child has exited */
            while (getppid() == parent)         /* its exit re-parents this one */
                usleep(1000);
            printf("orphan's parent %d\n", getppid());
            fflush(stdout);
            _exit(0);
        }
        _exit(0);
    }
    close(gone[0]);
    close(gone[1]);
    close(done[1]);
    waitpid(child, 0, 0);
    /* The orphan's line, then its end (end of file on done): only then is
     * "no zombie" the init's reaping, not an orphan still running. */
    char c;
    while (read(done[0], &c, 1) > 0)
        ;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n;
    do {
        usleep(10000);
        n = zombies();
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (n && t.tv_sec - t0.tv_sec < 10);
    printf("zombies %d\n", n);
}

static void got(int sig)
{
    const char *name = sig == SIGINT ? "SIGINT\n" : sig == SIGUSR1 ? "SIGUSR1\n" : "SIGHUP\n";
    write(1, name, strlen(name));
}

static void cont(int sig)
{
    write(1, "SIGCONT\n", 8);
    _exit(5);
}

static void term(int sig)
{
    write(1, "SIGTERM\n", 8);
    _exit(3);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "ids")) {
        printf("pid %d ppid %d\n", getpid(), getppid());
    } else if (!strcmp(what, "orphan")) {
        orphan();
    } else if (!strcmp(what, "exit") && argc > 2) {
        return atoi(argv[2]);
    } else if (!strcmp(what, "die") && argc > 2) {
        signal(atoi(argv[2]), SIG_DFL);
        raise(atoi(argv[2]));
        return 100;
    } else if (!strcmp(what, "signals") || !strcmp(what, "deaf")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = got;
        sigaction(SIGINT, &sa, 0);
        sigaction(SIGUSR1, &sa, 0);
        sigaction(SIGHUP, &sa, 0);
        sa.sa_handler = what[0] == 'd' ? SIG_IGN : term;
        sigaction(SIGTERM, &sa, 0);
        say("ready\n");
        for (;;)
            pause();
    } else if (!strcmp(what, "stops")) {
        signal(SIGCONT, cont);
        say("ready\n");
        for (;;)
            pause();
    } else {
        fprintf(stderr, "usage: init_probe ids|orphan|exit N|die N|signals|deaf|stops\n");
        return 2;
    }
    return 0;
}
