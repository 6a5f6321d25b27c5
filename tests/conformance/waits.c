/*
 * waits conformance: a signal that arrives while a call waits for
 * something else runs its handler during the wait, on every way the
 * kernel makes the call; then the call goes on under SA_RESTART (the
 * handler gives it what it waits for) or fails with EINTR.  The opens of
 * a FIFO, for reading (with and without O_CLOEXEC) and writing, by a name
 * with a '/' (one openat2 beneath the root) and without; flock LOCK_EX
 * and F_OFD_SETLKW against a lock another process holds.
 *
 * A watchdog child kills the process after 60 s: a wait the signal cannot
 * interrupt hangs, and the run fails.
 *
 *   waits MODE       MODE ignored (native or guest)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "watchdog.h"

static volatile int ticks;
static void (*wake)(void);

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
    wake();
}

/* SIGALRM every 50 ms, its handler's flags (SA_RESTART or not): one that
 * comes before the call waits is followed by another during it. */
static void arm(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, 0);
    ticks = 0;
    struct itimerval it = {{0, 50000}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, 0);
}

static void disarm(void)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, 0);
}

static void nothing(void)
{
}

static void show(const char *what, int restart, int r, int err)
{
    disarm();
    printf("%-40s %-10s %s, handler ran: %s\n", what, restart ? "SA_RESTART" : "no restart",
           r >= 0 ? "done" : strerror(err), ticks ? "yes" : "no");
}

/* ---- a FIFO's open: the handler opens both ends (O_RDWR never waits) */

static const char *fifo;
static int wake_fd = -1;

static void wake_fifo(void)
{
    if (wake_fd < 0)
        wake_fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

static void open_fifo(const char *path, int flags, const char *what)
{
    for (int restart = 0; restart < 2; restart++) {
        fifo = path;
        wake = restart ? wake_fifo : nothing;
        arm(restart ? SA_RESTART : 0);
        int fd = open(path, flags);
        int err = errno;
        show(what, restart, fd, err);
        if (fd >= 0)
            close(fd);
        if (wake_fd >= 0)
            close(wake_fd);
        wake_fd = -1;
    }
}

/* ---- a lock another process holds: the handler kills it */

static pid_t holder;

static void kill_holder(void)
{
    kill(holder, SIGKILL);
}

/* A child that takes the lock on path (flock, or an OFD lock) and waits. */
static pid_t hold(const char *path, int ofd)
{
    int ready[2];
    char c;
    if (pipe(ready) < 0)
        return -1;
    pid_t p = fork();
    if (p == 0) {
        int fd = open(path, O_RDWR | O_CREAT, 0600);
        struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (ofd ? fcntl(fd, F_OFD_SETLK, &l) : flock(fd, LOCK_EX))
            _exit(1);
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    read(ready[0], &c, 1);
    close(ready[0]);
    return p;
}

static void lock_wait(const char *path, int ofd, const char *what)
{
    for (int restart = 0; restart < 2; restart++) {
        holder = hold(path, ofd);
        wake = restart ? kill_holder : nothing;
        int fd = open(path, O_RDWR);
        arm(restart ? SA_RESTART : 0);
        struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int r = ofd ? fcntl(fd, F_OFD_SETLKW, &l) : flock(fd, LOCK_EX);
        int err = errno;
        show(what, restart, r, err);
        close(fd);
        kill(holder, SIGKILL);
        waitpid(holder, 0, 0);
    }
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    pid_t watchdog = watchdog_start(60);
    mkdir("d", 0700);
    mkfifo("d/w.fifo", 0600);
    mkfifo("w.fifo", 0600);
    for (int slash = 0; slash < 2; slash++) {
        const char *path = slash ? "d/w.fifo" : "w.fifo";
        char what[64];
        snprintf(what, sizeof what, "open(%s, O_RDONLY)", path);
        open_fifo(path, O_RDONLY, what);
        snprintf(what, sizeof what, "open(%s, O_RDONLY | O_CLOEXEC)", path);
        open_fifo(path, O_RDONLY | O_CLOEXEC, what);
        snprintf(what, sizeof what, "open(%s, O_WRONLY)", path);
        open_fifo(path, O_WRONLY, what);
    }
    unlink("d/w.fifo");
    unlink("w.fifo");
    lock_wait("d/lock", 0, "flock(LOCK_EX)");
    lock_wait("d/lock", 1, "fcntl(F_OFD_SETLKW)");
    unlink("d/lock");
    rmdir("d");
    watchdog_end(watchdog);
    return 0;
}
