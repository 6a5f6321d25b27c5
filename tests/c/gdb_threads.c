/* Two spinning threads, a watched global, then a signal: for tests/test_gdb.py. */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

volatile int counter;
int watched;

static void *spin(void *arg) {
    for (;;) {
        counter++;
        usleep(1000);
    }
    return arg;
}

int main(void) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], 0, spin, 0);
    while (counter < 50)
        usleep(1000);
    write(1, "threads\n", 8);      /* line 23: a breakpoint with three threads alive */
    watched = 42;
    raise(SIGUSR1);
    return 0;
}
