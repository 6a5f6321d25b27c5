/*
 * Identity changes and the parent-death signal: PR_SET_PDEATHSIG and
 * PR_GET_PDEATHSIG; an id change that changes nothing keeps the signal, one
 * that changes the effective or file-system uid or gid clears it (Linux's
 * commit_creds), in the first process (under libsubst the guest's pid 1,
 * whose host signal the kernel keeps: proc/creds.c) and in a forked child
 * (which does not inherit it); setfsuid's answer (the previous fsuid); a
 * thread's setresgid applied to every thread (glibc's SIGSETXID round);
 * compared with a native run as root.
 *
 *   creds DIR          DIR a scratch directory (unused)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int pdeath(void)
{
    int sig = -1;
    if (prctl(PR_GET_PDEATHSIG, &sig) < 0)
        return -errno;
    return sig;
}

static void ids(const char *who)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("%s: uids %u %u %u gids %u %u %u, pdeath %d\n", who, r, e, s, gr, ge, gs, pdeath());
}

static void *thread_setresgid(void *arg)
{
    printf("thread setresgid(100, 100, 100): %d\n", setresgid(100, 100, 100));
    return arg;
}

/* A call's answer, then what it leaves: printed in that order (a printf's
 * arguments are evaluated in no set order). */
static void said(const char *what, long r)
{
    int e = errno;
    printf("%s: %ld %s, pdeath %d\n", what, r, r < 0 ? strerrorname_np(e) : "", pdeath());
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    said("set SIGUSR1", prctl(PR_SET_PDEATHSIG, SIGUSR1));
    said("set 65 (invalid)", prctl(PR_SET_PDEATHSIG, 65));
    said("setresuid(-1, -1, -1)", setresuid(-1, -1, -1));
    said("setuid(0), unchanged", setuid(0));
    said("setfsuid(1234), the previous fsuid", setfsuid(1234));
    said("setfsuid(0)", setfsuid(0));

    pid_t child = fork();
    if (child == 0) {
        printf("child, inherited: pdeath %d\n", pdeath());
        prctl(PR_SET_PDEATHSIG, SIGUSR2);
        ids("child before");
        said("child setresgid(65534 x3)", setresgid(65534, 65534, 65534));
        prctl(PR_SET_PDEATHSIG, SIGUSR2);
        said("child setreuid(65534, 65534)", setreuid(65534, 65534));
        ids("child after");
        said("child setuid(0) as nobody", setuid(0));
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    pthread_t t;
    pthread_create(&t, NULL, thread_setresgid, NULL);
    pthread_join(t, NULL);
    ids("after a thread's setresgid");
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    said("setgid(100), unchanged", setgid(100));
    said("setresuid(0, 4321, 0)", setresuid(0, 4321, 0));
    ids("effective 4321");
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    said("seteuid(0)", seteuid(0));
    prctl(PR_SET_PDEATHSIG, SIGHUP);
    said("setuid(4321)", setuid(4321));
    ids("end");
    return 0;
}
