/* One thread calling hit() in a tight loop while the main thread starts
 * and joins short threads one after another: under `break *hit`, the
 * server's stop of every thread meets the main thread in clone's event
 * stop again and again (tests/test_gdb_control.py). */
#include <pthread.h>
#include <stdio.h>

volatile long counter;

__attribute__((noinline)) void hit(long i) { __atomic_fetch_add(&counter, i, __ATOMIC_RELAXED); }

static void *spin(void *arg) {
    for (long i = 0; i < 300000; i++)
        hit(1);
    return arg;
}

static void *nothing(void *arg) { return arg; }

int main(void) {
    pthread_t s, t;
    pthread_create(&s, 0, spin, 0);
    for (int i = 0; i < 3000; i++) {
        pthread_create(&t, 0, nothing, 0);
        pthread_join(t, 0);
    }
    pthread_join(s, 0);
    printf("%ld\n", counter);
    return 0;
}
