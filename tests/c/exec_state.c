/*
 * The process state execve(2) keeps ("All process attributes are preserved
 * during an execve(), except the following"), printed one attribute a line
 * so that a native run and a run under `libsubst run` from the same
 * configured caller compare line by line (tests/test_exec_state.py).
 * Values that name the host (pids, inode numbers) are printed as relations.
 *
 *   exec_state        every attribute
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void signals(void)
{
    sigset_t mask, pending;
    sigprocmask(SIG_BLOCK, 0, &mask);
    sigpending(&pending);
    printf("ignored:");
    for (int s = 1; s < NSIG; s++) {
        struct sigaction sa;
        if (sigaction(s, 0, &sa) == 0 && sa.sa_handler == SIG_IGN)
            printf(" %d", s);
    }
    printf("\nblocked:");
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&mask, s) == 1)
            printf(" %d", s);
    printf("\npending:");
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&pending, s) == 1)
            printf(" %d", s);
    printf("\n");
}

/* A timer's remaining time, in whole seconds rounded up (the caller sets
 * it well above the time a boot takes, and far from a boundary). */
static void timers(void)
{
    static const char *const names[] = {"real", "virtual", "prof"};
    for (int w = 0; w < 3; w++) {
        struct itimerval it;
        getitimer(w, &it);
        printf("itimer %s: %s, interval %ld\n", names[w],
               it.it_value.tv_sec || it.it_value.tv_usec ? "armed" : "off",
               (long)it.it_interval.tv_sec);
    }
}

static void limits(void)
{
    static const char *const names[] = {
        "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
        "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO",
        "RTTIME"};
    for (int r = 0; r < RLIM_NLIMITS; r++) {
        struct rlimit rl;
        getrlimit(r, &rl);
        printf("rlimit %s: %lld %lld\n", names[r],
               rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur,
               rl.rlim_max == RLIM_INFINITY ? -1LL : (long long)rl.rlim_max);
    }
}

static void ids(void)
{
    uid_t r, e, s;
    gid_t gr, ge, gs, groups[64];
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("uids: %d %d %d\ngids: %d %d %d\ngroups:", r, e, s, gr, ge, gs);
    int n = getgroups(64, groups);
    for (int i = 0; i < n; i++)
        printf(" %d", groups[i]);
    pid_t pid = getpid(), pgid = getpgid(0), sid = getsid(0), fg = tcgetpgrp(0);
    printf("\nsession leader: %s, group leader: %s, foreground: %s\n",
           sid == pid ? "yes" : "no", pgid == pid ? "yes" : "no",
           fg < 0 ? strerrorname_np(errno) : fg == pgid ? "own group" : "another group");
}

static void scheduling(void)
{
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    printf("nice: %d\npolicy: %d\ncpus: %d\n", nice, sched_getscheduler(0), CPU_COUNT(&set));
    long io = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
    printf("ioprio: %ld\n", io);
}

static void prctls(void)
{
    int sig = -1, reaper = -1;
    prctl(PR_GET_PDEATHSIG, &sig);
    prctl(PR_GET_CHILD_SUBREAPER, &reaper);
    printf("no_new_privs: %d\ndumpable: %d\npdeathsig: %d\nsubreaper: %d\n",
           prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
           sig, reaper);
    printf("timerslack: %d\nsecurebits: %#x\n", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0),
           prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    printf("personality: %#x\numask: %#o\n", personality(0xffffffff), umask(022));
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    syscall(SYS_capget, &h, d);
    printf("caps: effective %#x %#x, permitted %#x %#x, inheritable %#x %#x\n",
           d[0].effective, d[1].effective, d[0].permitted, d[1].permitted,
           d[0].inheritable, d[1].inheritable);
    printf("ambient raised:");
    for (int c = 0; c <= 40; c++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
            printf(" %d", c);
    printf("\n");
    char buf[32] = "";
    int fd = open("/proc/self/oom_score_adj", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    printf("oom_score_adj: %s", n > 0 ? buf : "unreadable\n");
    if (fd >= 0)
        close(fd);
}

static void cwd(void)
{
    char buf[4096];
    struct stat st;
    printf("cwd: %s\n", getcwd(buf, sizeof buf) ? buf : strerrorname_np(errno));
    if (stat(".", &st) == 0)
        printf("cwd links: %s\n", st.st_nlink ? "some" : "none");
}

/* fd's kind: what it is, as its own calls say (not /proc's link). */
static void fds(void)
{
    for (int fd = 3; fd < 64; fd++) {
        int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
        struct stat st;
        if (fl < 0 || fstat(fd, &st) < 0)
            continue;
        printf("fd %d: flags %#o, cloexec %d, mode %#o", fd, fl, fdf & FD_CLOEXEC,
               st.st_mode & S_IFMT);
        int type;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
            printf(", socket type %d", type);
        if (fcntl(fd, F_GET_SEALS) >= 0)
            printf(", seals %#x", fcntl(fd, F_GET_SEALS));
        if (S_ISREG(st.st_mode))
            printf(", size %lld, offset %lld", (long long)st.st_size,
                   (long long)lseek(fd, 0, SEEK_CUR));
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
            /* a lock this process holds is seen by another process */
            struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            pid_t c = fork();
            if (c == 0)
                _exit(fcntl(fd, F_GETLK, &lk) < 0 ? 2 : lk.l_type != F_UNLCK);
            int w;
            waitpid(c, &w, 0);
            printf(", locked %d", WEXITSTATUS(w));
        }
        printf("\n");
    }
}

int main(void)
{
    extern char **environ;
    signals();
    timers();
    limits();
    ids();
    scheduling();
    prctls();
    cwd();
    fds();
    for (char **e = environ; *e; e++) {
        printf("env:");
        for (const unsigned char *c = (const unsigned char *)*e; *c; c++)
            printf(*c > ' ' && *c < 127 && *c != '\\' ? "%c" : "\\%03o", *c);
        printf("\n");
    }
    return 0;
}
