/* Three threads calling hit() in a tight loop while the main thread starts
 * and joins short threads one after another: under `break *hit`, several
 * reach the breakpoint while gdb's server stops the others, and the stop
 * meets the main thread in clone's event stop (tests/test_gdb_control.py).
 * Built -O0, hit() starts with a one-byte push: resumed one byte past its
 * int3, a thread returns to a wrong address. */
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
    pthread_t t[3], s;
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], 0, spin, 0);
    for (int i = 0; i < 2000; i++) {
        pthread_create(&s, 0, nothing, 0);
        pthread_join(s, 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], 0);
    printf("%ld\n", counter);
    return 0;
}
