#include <config.h>
#include <stdio.h>
#include <stdlib.h>
#include "greet.h"
int main(int argc, char **argv) {
    char *s = greet(argc > 1 ? argv[1] : "world");
    printf("%s %.3f %d\n", s, root2(), (int)SIZEOF_LONG);
    free(s);
    return 0;
}
