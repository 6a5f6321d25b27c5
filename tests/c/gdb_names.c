/* A thread named by another (pthread_setname_np writes its
 * /proc/self/task/TID/comm): for tests/test_gdb.py's `info threads`. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int fds[2];

static void *waiter(void *arg) {
    char c;
    read(fds[0], &c, 1);
    return arg;
}

__attribute__((noinline)) void named(void) {
    __asm__ volatile("" ::: "memory");
}

int main(void) {
    pthread_t t;
    pipe(fds);
    pthread_create(&t, 0, waiter, 0);
    int r = pthread_setname_np(t, "named-by-main");
    pthread_setname_np(pthread_self(), "main-thread");
    named();
    write(fds[1], "x", 1);
    pthread_join(t, 0);
    printf("setname %d\n", r);
    return 0;
}
