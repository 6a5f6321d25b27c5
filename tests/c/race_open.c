#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Opens argv[1] argv[2] times, reading what it holds: prints how often it
 * read "inside", "outside", or could not open it (while the host renames
 * a directory and a symlink back and forth beneath it). */
int main(int argc, char **argv) {
    long n = atol(argv[2]), inside = 0, outside = 0, failed = 0;
    for (long i = 0; i < n; i++) {
        char buf[16] = {0};
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) {
            failed++;
            continue;
        }
        read(fd, buf, sizeof buf - 1);
        close(fd);
        inside += !strcmp(buf, "inside\n");
        outside += !strcmp(buf, "outside\n");
    }
    printf("inside %ld outside %ld failed %ld\n", inside, outside, failed);
    return 0;
}
