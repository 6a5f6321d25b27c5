/*
 * The /proc files a process may write: its threads' names (comm, which
 * pthread_setname_np writes for a thread other than the caller), its
 * oom_score_adj, and what stays refused (another process's comm, a lower
 * oom_score_adj than the process started with, a read-only entry),
 * compared with a native run in a user namespace as
 * the guest's (no capability over the host's).
 *
 *   procwrite native|guest
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* The first line of path, or the error's name. */
static const char *line(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return strerrorname_np(errno);
    long n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return strerrorname_np(errno);
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

/* Writes s to path as a shell's `echo s > path` does (O_TRUNC); what is
 * said names the file as what (paths with pids differ between runs). */
static void put(const char *path, const char *what, const char *s)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    int e = errno;
    printf("write %s %s: open %s", what, s, fd < 0 ? strerrorname_np(e) : "ok");
    if (fd >= 0) {
        printf(", write %s", err(write(fd, s, strlen(s))));
        close(fd);
    }
    printf("\n");
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int done;
static pid_t worker_tid;

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    worker_tid = gettid();
    pthread_cond_broadcast(&cond);
    while (!done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    char name[16];
    prctl(PR_GET_NAME, name);
    printf("worker's own PR_GET_NAME: %s\n", name);
    return 0;
}

static void threads(void)
{
    char buf[64], path[64];
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    pthread_mutex_lock(&lock);
    while (!worker_tid)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    /* Another thread's name: glibc writes /proc/self/task/TID/comm. */
    printf("setname other: %s\n", strerrorname_np(pthread_setname_np(t, "worker-one")) ?: "0");
    printf("getname other: %d %s\n", pthread_getname_np(t, buf, sizeof buf), buf);
    printf("setname other, 16 bytes: %s\n",
           strerrorname_np(pthread_setname_np(t, "0123456789abcdef")) ?: "0");
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", worker_tid);
    printf("task comm: %s\n", line(path, buf, sizeof buf));
    snprintf(path, sizeof path, "/proc/%d/task/%d/comm", getpid(), worker_tid);
    put(path, "/proc/PID/task/TID/comm", "by-pid-path");
    printf("task comm by pid: %s\n", line(path, buf, sizeof buf));
    /* Longer than comm: Linux keeps the first 15 bytes. */
    put(path, "/proc/PID/task/TID/comm", "a-name-longer-than-fifteen");
    printf("task comm, long: %s\n", line(path, buf, sizeof buf));
    /* Its own, through the file. */
    printf("setname self: %s\n", strerrorname_np(pthread_setname_np(pthread_self(), "main-one"))
                                     ?: "0");
    put("/proc/self/comm", "/proc/self/comm", "main-two");
    printf("/proc/self/comm: %s\n", line("/proc/self/comm", buf, sizeof buf));
    put("/proc/thread-self/comm", "/proc/thread-self/comm", "main-three");
    prctl(PR_GET_NAME, buf);
    printf("PR_GET_NAME: %s\n", buf);
    /* O_RDWR, as glibc opens it, and an access check. */
    int fd = open("/proc/self/comm", O_RDWR);
    printf("comm O_RDWR: %s\n", err(fd));
    if (fd >= 0)
        close(fd);
    struct stat st;
    long r = stat("/proc/self/comm", &st);
    printf("comm mode: %s %o\n", err(r), st.st_mode & 07777);
    printf("comm W_OK: %s\n", err(access("/proc/self/comm", W_OK)));
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    pthread_join(t, 0);
}

/* Another process's comm: open is allowed to its owner, the write is not. */
static void other_process(void)
{
    char path[64], buf[64];
    pid_t c = fork();
    if (c == 0) {
        prctl(PR_SET_NAME, "child-name");
        pause();
        _exit(0);
    }
    snprintf(path, sizeof path, "/proc/%d/comm", c);
    for (int i = 0; i < 1000 && strcmp(line(path, buf, sizeof buf), "child-name"); i++)
        usleep(1000);
    put(path, "/proc/CHILD/comm", "parent-says");
    printf("child comm: %s\n", line(path, buf, sizeof buf));
    kill(c, SIGKILL);
    waitpid(c, 0, 0);
}

static void oom(void)
{
    char buf[64];
    printf("oom_score_adj: %s\n", line("/proc/self/oom_score_adj", buf, sizeof buf));
    put("/proc/self/oom_score_adj", "oom_score_adj", "500");
    printf("oom_score_adj: %s\n", line("/proc/self/oom_score_adj", buf, sizeof buf));
    put("/proc/self/oom_score_adj", "oom_score_adj", "100");          /* down, not below its start */
    printf("oom_score_adj: %s\n", line("/proc/self/oom_score_adj", buf, sizeof buf));
    put("/proc/self/oom_score_adj", "oom_score_adj", "-500");         /* below: CAP_SYS_RESOURCE */
    put("/proc/self/oom_score_adj", "oom_score_adj", "2000");         /* out of range */
    printf("oom_score_adj: %s\n", line("/proc/self/oom_score_adj", buf, sizeof buf));
}

/* A process's own read-only entry, and a forked child's own comm.  (The
 * machine's sysctls are never written here: the native run is the host's
 * root, whose user namespace maps it to itself.) */
static void children(void)
{
    int fd = open("/proc/self/stat", O_WRONLY);
    printf("/proc/self/stat written: %s\n", fd >= 0 && write(fd, "1\n", 2) == 2 ? "yes" : "no");
    if (fd >= 0)
        close(fd);
    /* A forked child names itself through its own /proc/self/comm. */
    pid_t c = fork();
    if (c == 0) {
        char buf[64];
        put("/proc/self/comm", "a child's /proc/self/comm", "child-self");
        printf("the child's comm: %s\n", line("/proc/self/comm", buf, sizeof buf));
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, 0, 0);
}

int main(void)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    threads();
    other_process();
    oom();
    children();
    return 0;
}
