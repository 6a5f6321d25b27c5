/*
 * What glibc dlopens itself: libgcc_s.so.1, to unwind a thread that
 * pthread_exit ends or pthread_cancel cancels (running its cleanup
 * handlers), and for backtrace(3).  Without it glibc aborts ("libgcc_s.so.1
 * must be installed for pthread_exit to work"), as stunnel4 did in a guest.
 */
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void cleanup(void *what)
{
    printf("cleanup: %s\n", (const char *)what);
}

static void *exits(void *arg)
{
    pthread_cleanup_push(cleanup, "pthread_exit");
    pthread_exit(arg);
    pthread_cleanup_pop(0);
    return 0;
}

static void *cancelled(void *arg)
{
    pthread_cleanup_push(cleanup, "pthread_cancel");
    for (;;)
        pause();
    pthread_cleanup_pop(0);
    return arg;
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    pthread_t t;
    void *ret;
    pthread_create(&t, 0, exits, "exit value");
    pthread_join(t, &ret);
    printf("joined: %s\n", (const char *)ret);
    pthread_create(&t, 0, cancelled, 0);
    pthread_cancel(t);
    pthread_join(t, &ret);
    printf("cancelled: %d\n", ret == PTHREAD_CANCELED);
    void *frames[8];
    printf("backtrace: %d\n", backtrace(frames, 8) > 0);
    pthread_exit(0);          /* the main thread too: the process exits 0 */
}
