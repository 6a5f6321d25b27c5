/*
 * The syscall-path micro-benchmark: ns per call of a few system calls made
 * through the C library, as a program makes them.  Run natively, in the
 * guest with glibc substituted (fastcalls) and in the guest on the trap
 * path, it measures what substitution buys.  `libsubst bench syscalls` runs
 * it; the same binary serves all three runs.
 *
 * usage: syscall-bench ITERATIONS REPEATS FILE
 * prints one line per operation: NAME MEDIAN_NS MIN_NS
 * Every call's result is checked: if one failed, it says which and exits 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long iters;
static const char *file;
static int zero_fd, null_fd, pipe_fds[2];
static volatile long sink;
static long failed;      /* calls that did not do their work: the run is then worthless */

static void op_getppid(void) { sink += getppid(); }
static void op_clock(void) { struct timespec ts; failed += clock_gettime(CLOCK_MONOTONIC, &ts) != 0; sink += ts.tv_nsec; }
static void op_read(void) { char c = 1; failed += read(zero_fd, &c, 1) != 1 || c != 0; }
static void op_write(void) { failed += write(null_fd, "x", 1) != 1; }
static void op_pipe(void) { char c = 'x'; failed += write(pipe_fds[1], &c, 1) != 1; c = 0; failed += read(pipe_fds[0], &c, 1) != 1 || c != 'x'; }
static void op_open(void) { int fd = open(file, O_RDONLY | O_CLOEXEC); failed += fd < 0 || close(fd) != 0; }

static const struct { const char *name; void (*fn)(void); long divisor; } ops[] = {
    {"getppid", op_getppid, 1},
    {"clock_gettime", op_clock, 1},
    {"read_1_dev_zero", op_read, 1},
    {"write_1_dev_null", op_write, 1},
    {"pipe_write_read", op_pipe, 1},
    {"open_close", op_open, 1},
};

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s ITERATIONS REPEATS FILE\n", argv[0]);
        return 2;
    }
    iters = atol(argv[1]);
    int repeats = atoi(argv[2]);
    file = argv[3];
    zero_fd = open("/dev/zero", O_RDONLY);
    null_fd = open("/dev/null", O_WRONLY);
    if (zero_fd < 0 || null_fd < 0 || pipe(pipe_fds) < 0 || iters < 1 || repeats < 1 || repeats > 64) {
        perror("syscall-bench: setup");
        return 1;
    }
    double t[64];
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (long k = 0; k < iters / 10; k++)   /* warm up */
            ops[i].fn();
        for (int r = 0; r < repeats; r++) {
            double t0 = now_ns();
            for (long k = 0; k < iters; k++)
                ops[i].fn();
            t[r] = (now_ns() - t0) / iters;
        }
        if (failed) {
            fprintf(stderr, "syscall-bench: %ld calls of %s failed\n", failed, ops[i].name);
            return 1;
        }
        qsort(t, repeats, sizeof t[0], cmp);
        printf("%s %.1f %.1f\n", ops[i].name, t[repeats / 2], t[0]);
    }
    return 0;
}
