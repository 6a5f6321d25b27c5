#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Calls each system call named on the command line as NR:MASK, through
 * libc's syscall(): argument i is a pointer to zeroed memory where bit i of
 * MASK is set (an empty path, a NULL list, a zero struct), else -1 (an
 * invalid fd, pid, size and flag set at once).  Prints "NR: ERRNO" or
 * "NR: value"; a line before each call says which one a kill cut short. */
static char zero[1 << 16];

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *end;
        long nr = strtol(argv[i], &end, 10), mask = strtol(end + 1, 0, 10), a[6];
        for (int k = 0; k < 6; k++)
            a[k] = mask & (1 << k) ? (long)memset(zero, 0, sizeof zero) : -1L;
        printf("calling %ld\n", nr);
        fflush(stdout);
        errno = 0;
        long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (r == -1 && errno)
            printf("%ld: %s\n", nr, strerrorname_np(errno));
        else
            printf("%ld: value\n", nr);
    }
    return 0;
}
