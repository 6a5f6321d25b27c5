/*
 * exit_group from one thread while the others sit in every state a thread
 * can be in: spinning in user code, in nanosleep, waiting on a futex, in a
 * blocked read of a pipe, and in a raw `syscall` (the trap path) nanosleep.
 * argv[1] names which thread calls exit (main, or "worker": one of the
 * sleepers, so the process's first thread is among those that must go).
 * Prints one line once every thread is in place; exits 3.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int ready, futex_word, pipefd[2];
static volatile unsigned long spins;

static void arrived(void)
{
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
}

static void *spin(void *arg)
{
    arrived();
    for (;;)
        spins++;
    return arg;
}

static void *sleeper(void *arg)
{
    arrived();
    struct timespec ts = {3600, 0};
    for (;;)
        nanosleep(&ts, 0);
    return arg;
}

static void *raw_sleeper(void *arg)
{
    arrived();
    struct timespec ts = {3600, 0};
    for (;;)
        syscall(SYS_nanosleep, &ts, 0);
    return arg;
}

static void *futex_waiter(void *arg)
{
    arrived();
    for (;;)
        syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, 0, 0, 0);
    return arg;
}

static void *reader(void *arg)
{
    char c;
    arrived();
    for (;;)
        read(pipefd[0], &c, 1);
    return arg;
}

static void *exiter(void *arg)
{
    while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 5)
        usleep(1000);
    printf("all in place\n");
    fflush(stdout);
    usleep(20000);                   /* let each one enter its call */
    exit(3);
    return arg;
}

int main(int argc, char **argv)
{
    void *(*fns[])(void *) = {spin, sleeper, raw_sleeper, futex_waiter, reader};
    pthread_t t;
    if (pipe(pipefd))
        return 1;
    for (unsigned i = 0; i < sizeof fns / sizeof *fns; i++)
        if (pthread_create(&t, 0, fns[i], 0))
            return 1;
    if (argc > 1 && strcmp(argv[1], "worker") == 0) {
        pthread_create(&t, 0, exiter, 0);
        sleeper(0);
    }
    exiter(0);
    return 0;
}
