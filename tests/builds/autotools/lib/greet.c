#include <config.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include "greet.h"
char *greet(const char *who) {
    char *s = malloc(strlen(who) + 32);
    strcpy(s, "hello, "); strcat(s, who);
    return s;
}
double root2(void) { return sqrt(2.0) * cos(0.0); }
