/* Named threads blocked in read, poll and a futex (a condition variable),
 * then a stop with all of them waiting: for tests/test_gdb.py (`info
 * threads` names, `thread apply all bt` through the waiting calls,
 * `catch syscall`). */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rd[2], pl[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;
static int ready;

__attribute__((noinline)) static void reader_waits(void) {
    char c;
    if (read(rd[0], &c, 1) != 1)
        _exit(10);
}

__attribute__((noinline)) static void poller_waits(void) {
    struct pollfd p = {.fd = pl[0], .events = POLLIN};
    if (poll(&p, 1, -1) != 1)
        _exit(11);
}

__attribute__((noinline)) static void sleeper_waits(void) {
    pthread_mutex_lock(&mu);
    while (!go)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static const struct { const char *name; void (*wait)(void); } kinds[] = {
    {"reader", reader_waits}, {"poller", poller_waits}, {"sleeper", sleeper_waits}};

/* Each thread names itself (prctl(PR_SET_NAME)), then waits. */
static void *run(void *arg) {
    int i = (int)(long)arg;
    pthread_setname_np(pthread_self(), kinds[i].name);
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
    kinds[i].wait();
    return 0;
}

/* Every thread but this one asleep in the kernel: its state S in
 * /proc/self/task/TID/stat, after it said it is about to wait. */
static int all_asleep(void) {
    char path[300], buf[256];
    int n = 0, asleep = 1;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == getpid())
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[got] = 0;
        char *end = strrchr(buf, ')');
        asleep &= end && end[2] == 'S';
        n++;
    }
    if (d)
        closedir(d);
    return asleep && n == 3;
}

__attribute__((noinline)) void all_waiting(void) {
    __asm__ volatile("" ::: "memory");
}

int main(void) {
    pthread_t t[3];
    if (pipe(rd) || pipe(pl))
        return 1;
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], 0, run, (void *)(long)i);
    while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 3 || !all_asleep())
        usleep(1000);
    all_waiting();
    write(rd[1], "x", 1);
    write(pl[1], "x", 1);
    pthread_mutex_lock(&mu);
    go = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], 0);
    printf("done\n");
    return 0;
}
