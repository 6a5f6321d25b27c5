#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "race_count.h"

/* In the guest's writable root: /d is a directory holding f ("inside"), /e
 * a symlink to where the guest's /tmp lies in its mount namespace (argv[1]),
 * whose f says "outside".  A thread swaps /d and /e (RENAME_EXCHANGE) while
 * the main one opens /d/f argv[2] times: prints how often it read
 * "inside", "outside", or could not open it, and how often it swapped. */
static volatile int stop;
static long swaps;

static void *swap(void *arg)
{
    while (!stop)
        if (syscall(SYS_renameat2, AT_FDCWD, "/d", AT_FDCWD, "/e", 2 /* RENAME_EXCHANGE */) == 0)
            swaps++;
    return arg;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        perror(path);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    long n = atol(argv[2]);
    put("/tmp/f", "outside\n");
    if (mkdir("/d", 0755) || symlink(argv[1], "/e")) {
        perror("setup");
        return 2;
    }
    put("/d/f", "inside\n");
    pthread_t t;
    pthread_create(&t, 0, swap, 0);
    struct race_count c = race_count("/d/f", n);
    stop = 1;
    pthread_join(t, 0);
    printf("inside %ld outside %ld failed %ld swaps %ld\n", c.inside, c.outside, c.failed, swaps);
    return 0;
}
