/*
 * storm conformance: signals that arrive while the program is in its
 * system calls, whose handlers make system calls of their own (the
 * async-signal-safe ones: open, write, close, stat, getpid, kill,
 * sigprocmask).  A fast interval timer (ITIMER_REAL with SA_RESTART,
 * ITIMER_PROF without), pthread_kill from another thread and kill from
 * another process interrupt a loop of open/openat/close/stat/read/write/
 * pipe/dup/fcntl/mmap/munmap/socket calls for a while; every call must
 * answer as without the signals, the handlers' writes must all be in their
 * file, and no fd may be left over.  Then slow calls under a fast timer:
 * a pipe's read, accept, a FIFO's open and F_SETLKW go on under
 * SA_RESTART (the handler gives them what they wait for) and fail with
 * EINTR without it; nanosleep and poll fail with EINTR either way.
 *
 * The work runs in a child, which the parent kills after 60 s: work that
 * hangs (a handler waiting for a lock the call it interrupted holds) ends
 * by SIGKILL and the run fails, saying so after the last phase it ended.
 * Before it kills the work, the parent says what each of its threads was
 * waiting in, for a hang seen only in CI.
 *
 *   storm MODE       MODE ignored (native or guest)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PHASE_NS 300000000L         /* each storm's length */

/* Counted atomically: two threads' handlers run at once. */
static int handled, wrote, handler_errors;
#define COUNT(c) __atomic_fetch_add(&(c), 1, __ATOMIC_RELAXED)
static int loop_errors;
static pthread_mutex_t errors_lock = PTHREAD_MUTEX_INITIALIZER;

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* What a handler does: a record appended to its file, a stat, the
 * process's pid and a signal 0 to it, its mask changed and put back. */
static void on_signal(int sig)
{
    int saved = errno;
    (void)sig;
    COUNT(handled);
    int fd = open("handler.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "h", 1) != 1)
        COUNT(handler_errors);
    else
        COUNT(wrote);
    if (fd >= 0 && close(fd) != 0)
        COUNT(handler_errors);
    struct stat st;
    if (stat("handler.log", &st) != 0 || kill(getpid(), 0) != 0)
        COUNT(handler_errors);
    sigset_t usr2, old;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &usr2, &old) != 0 || sigprocmask(SIG_SETMASK, &old, 0) != 0)
        COUNT(handler_errors);
    errno = saved;
}

static void handle(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigaction(sig, &sa, 0);
}

#define CHECK(cond) do { if (!(cond)) { errors++; } } while (0)

/* One round of the calls the signals interrupt; the number of calls that
 * did not answer as they must. */
static int one_round(int id)
{
    int errors = 0;
    char name[32], buf[8];
    snprintf(name, sizeof name, "loop%d.tmp", id);
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "abcd", 4) == 4);
    CHECK(pread(fd, buf, 4, 0) == 4 && memcmp(buf, "abcd", 4) == 0);
    int d = dup(fd);
    CHECK(d >= 0 && fcntl(d, F_GETFD) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
    CHECK(lseek(d, 0, SEEK_CUR) == 4);
    CHECK(close(d) == 0 && close(fd) == 0);
    int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && read(fd, buf, 8) == 4);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 4 && stat(name, &st) == 0 && st.st_size == 4);
    CHECK(close(fd) == 0 && close(dir) == 0);
    CHECK(stat("/proc/self/stat", &st) == 0);
    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && read(fd, buf, 1) == 1 && close(fd) == 0);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(write(p[1], "x", 1) == 1 && read(p[0], buf, 1) == 1 && buf[0] == 'x');
    CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0 && read(p[0], buf, 1) == -1 && errno == EAGAIN);
    CHECK(close(p[0]) == 0 && close(p[1]) == 0);
    char *m = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        m[4096] = 1;
        CHECK(munmap(m, 8192) == 0);
    }
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0 && close(s) == 0);
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "abc", 3) == 3 && close(fd) == 0);
    return errors;
}

static volatile int stop;

static void *loop_thread(void *arg)
{
    int id = (int)(long)arg, errors = 0;
    while (!stop)
        errors += one_round(id);
    pthread_mutex_lock(&errors_lock);
    loop_errors += errors;
    pthread_mutex_unlock(&errors_lock);
    return 0;
}

/* For ns and until the handler ran `least` times (a loaded machine gives
 * a process-time timer few ticks), at most 20 s. */
static void loop_for(long ns, int least)
{
    long start = now_ns();
    while (now_ns() < start + ns || (__atomic_load_n(&handled, __ATOMIC_RELAXED) < least &&
                                     now_ns() < start + 20000000000L))
        loop_errors += one_round(0);
}

/* The invariants of one storm (its handler ran at least `least` times),
 * and the counters back to zero. */
static void report(const char *what, int fds_before, int least)
{
    struct stat st;
    long size = stat("handler.log", &st) == 0 ? st.st_size : 0;
    printf("%s: loop errors %d, handler errors %d, handler ran %s, its writes all there %s, "
           "fds left over %d\n", what, loop_errors, handler_errors, handled >= least ? "yes" : "no",
           size == wrote ? "yes" : "no", count_fds() - fds_before);
    unlink("handler.log");
    loop_errors = 0;
    handled = wrote = handler_errors = 0;
}

static void timer_storm(int which, int sig, int flags, const char *what)
{
    int fds = count_fds();
    handle(sig, on_signal, flags);
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(which, &it, 0);
    loop_for(PHASE_NS, 20);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(which, &off, 0);
    handle(sig, SIG_IGN, 0);
    report(what, fds, 20);
}

static void thread_storm(void)
{
    int fds = count_fds();
    handle(SIGUSR1, on_signal, SA_RESTART);
    pthread_t t[2];
    stop = 0;
    for (long i = 0; i < 2; i++)
        pthread_create(&t[i], 0, loop_thread, (void *)(i + 1));
    long start = now_ns();
    struct timespec gap = {0, 20000};
    while (now_ns() < start + PHASE_NS || (__atomic_load_n(&handled, __ATOMIC_RELAXED) < 20 &&
                                           now_ns() < start + 20000000000L)) {
        pthread_kill(t[0], SIGUSR1);
        pthread_kill(t[1], SIGUSR1);
        nanosleep(&gap, 0);
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], 0);
    report("pthread_kill to two threads", fds, 20);
}

static void process_storm(void)
{
    int fds = count_fds();
    handle(SIGUSR1, on_signal, SA_RESTART);
    pid_t me = getpid(), c = fork();
    if (c == 0) {
        struct timespec gap = {0, 20000};
        for (;;) {
            kill(me, SIGUSR1);
            nanosleep(&gap, 0);
        }
    }
    loop_for(PHASE_NS, 20);
    kill(c, SIGKILL);
    waitpid(c, 0, 0);
    report("kill from another process", fds, 20);
}

/* Slow calls under a fast timer whose handler makes calls too.  The
 * timer's first tick lands before or in the call; under SA_RESTART the
 * 200th gives the call what it waits for (wake): a byte in the pipe, a
 * connection, the FIFO's writer, the lock's holder killed. */
static volatile sig_atomic_t ticks;
static void (*wake)(void);
static int wake_fd = -1, pipe_w = -1;
static char sock_path[64];
static pid_t holder;

static void on_tick(int sig)
{
    int saved = errno;
    on_signal(sig);
    if (++ticks == 200 && wake)
        wake();
    errno = saved;
}

static void wake_pipe(void)
{
    if (write(pipe_w, "w", 1) != 1)
        COUNT(handler_errors);
}

static void wake_accept(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, sock_path);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0)
        COUNT(handler_errors);
    wake_fd = s;                        /* open until the accept has taken it */
}

/* Reader and writer at once (a FIFO's O_RDWR never waits): the
 * interrupted open is no reader while its handler runs. */
static void wake_fifo(void)
{
    if ((wake_fd = open("storm.fifo", O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
        COUNT(handler_errors);
}

static void wake_lock(void)
{
    if (kill(holder, SIGKILL) != 0)
        COUNT(handler_errors);
}

static void show(const char *what, const char *mode, long r)
{
    printf("%s, %s: %ld %s\n", what, mode, r < 0 ? -1L : r, r < 0 ? strerrorname_np(errno) : "");
}

/* call() under the timer: its result (0 for an fd), errno kept. */
static long timed(long (*call)(void), void (*w)(void))
{
    struct itimerval it = {{0, 100}, {0, 100}}, off = {{0, 0}, {0, 0}};
    wake = w;
    ticks = 0;
    setitimer(ITIMER_REAL, &it, 0);
    long r = call();
    int e = errno;
    setitimer(ITIMER_REAL, &off, 0);
    wake = 0;
    if (wake_fd >= 0)
        close(wake_fd);
    wake_fd = -1;
    errno = e;
    return r;
}

static int pipe_r = -1, listener = -1, lock_fd = -1;

static long fd_result(long r)
{
    if (r >= 0)
        close(r);
    return r < 0 ? r : 0;
}

static long read_pipe(void)
{
    char c;
    return read(pipe_r, &c, 1);
}

static long accept_one(void)
{
    return fd_result(accept4(listener, 0, 0, SOCK_CLOEXEC));
}

static long open_fifo(void)
{
    return fd_result(open("storm.fifo", O_RDONLY | O_CLOEXEC));
}

static long lock_wait(void)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    return fcntl(lock_fd, F_SETLKW, &fl);
}

static long sleep_5s(void)
{
    struct timespec ts = {5, 0}, left = {0, 0};
    long r = nanosleep(&ts, &left);
    if (r == 0 || left.tv_sec == 0)
        printf("nanosleep slept its whole time\n");
    return r;
}

static long poll_5s(void)
{
    struct pollfd pf = {-1, POLLIN, 0};
    return poll(&pf, 1, 5000);
}

/* A child holding a record lock on storm.lock until it is killed. */
static pid_t hold_lock(void)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0)
        return -1;
    pid_t c = fork();
    if (c == 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(lock_fd, F_SETLK, &fl) != 0 || write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char r;
    if (read(ready[0], &r, 1) != 1)
        c = -1;
    close(ready[0]);
    close(ready[1]);
    return c;
}

static void slow_calls(int restart)
{
    const char *mode = restart ? "SA_RESTART" : "no SA_RESTART";
    int fds = count_fds(), p[2];
    char name[64];
    handle(SIGALRM, on_tick, restart ? SA_RESTART : 0);

    pipe2(p, O_CLOEXEC);
    pipe_r = p[0], pipe_w = p[1];
    show("read of a pipe", mode, timed(read_pipe, wake_pipe));
    close(p[0]);
    close(p[1]);

    snprintf(sock_path, sizeof sock_path, "storm%d.sock", getpid());
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, sock_path);
    bind(listener, (struct sockaddr *)&a, sizeof a);
    listen(listener, 4);
    show("accept", mode, timed(accept_one, wake_accept));
    close(listener);
    unlink(sock_path);

    mkfifo("storm.fifo", 0600);
    show("open of a FIFO", mode, timed(open_fifo, wake_fifo));
    unlink("storm.fifo");

    lock_fd = open("storm.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    holder = hold_lock();
    show("fcntl F_SETLKW", mode, timed(lock_wait, wake_lock));
    kill(holder, SIGKILL);
    waitpid(holder, 0, 0);
    close(lock_fd);
    unlink("storm.lock");

    show("nanosleep", mode, timed(sleep_5s, 0));
    show("poll", mode, timed(poll_5s, 0));

    handle(SIGALRM, SIG_IGN, 0);
    snprintf(name, sizeof name, "slow calls, %s", mode);
    report(name, fds, 1);
}

static int work(void)
{
    unlink("handler.log");
    timer_storm(ITIMER_REAL, SIGALRM, SA_RESTART, "ITIMER_REAL, SA_RESTART");
    timer_storm(ITIMER_PROF, SIGPROF, 0, "ITIMER_PROF, no SA_RESTART");
    thread_storm();
    process_storm();
    slow_calls(1);
    slow_calls(0);
    unlink("loop0.tmp");
    unlink("loop1.tmp");
    unlink("loop2.tmp");
    printf("done\n");
    return 0;
}

/* To stderr, which the test shows: what each thread of the hung work is
 * doing, its state and the system call it waits in ("running": none, as a
 * thread spinning on a lock). */
static void show_hung(pid_t pid)
{
    char path[96], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        static const char *const what[] = {"stat", "syscall"};
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "/proc/%d/task/%.16s/%s", pid, e->d_name, what[i]);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
            buf[n > 0 ? n : 0] = 0;
            char *state = strrchr(buf, ')');   /* stat: up to the state */
            if (i == 0 && state && state[1] && state[2])
                strcpy(state + 3, "\n");
            if (n > 0)
                fprintf(stderr, "hung task %s %s: %s", e->d_name, what[i], buf);
            if (fd >= 0)
                close(fd);
        }
    }
    if (d)
        closedir(d);
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, 0);
    pid_t worker = fork();
    if (worker == 0) {
        sigprocmask(SIG_UNBLOCK, &chld, 0);
        _exit(work());
    }
    struct timespec minute = {60, 0};
    if (sigtimedwait(&chld, 0, &minute) < 0) {
        printf("the work hung: killed\n");
        show_hung(worker);
        kill(worker, SIGKILL);
    }
    int status;
    waitpid(worker, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
