/* The reading side of the rename races (race_open.c, race_layer.c): opens
 * path n times and counts how often it read "inside", "outside", or could
 * not open it. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct race_count { long inside, outside, failed; };

static struct race_count race_count(const char *path, long n)
{
    struct race_count c = {0, 0, 0};
    for (long i = 0; i < n; i++) {
        char buf[16] = {0};
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            c.failed++;
            continue;
        }
        read(fd, buf, sizeof buf - 1);
        close(fd);
        c.inside += !strcmp(buf, "inside\n");
        c.outside += !strcmp(buf, "outside\n");
    }
    return c;
}
