#include <stdio.h>
#include <stdlib.h>

#include "race_count.h"

/* Opens argv[1] argv[2] times, reading what it holds: prints how often it
 * read "inside", "outside", or could not open it (while the host renames
 * a directory and a symlink back and forth beneath it). */
int main(int argc, char **argv) {
    struct race_count c = race_count(argv[1], atol(argv[2]));
    printf("inside %ld outside %ld failed %ld\n", c.inside, c.outside, c.failed);
    return 0;
}
