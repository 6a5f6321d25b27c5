/* Crashes three calls deep with a NULL-page write: for the core-file tests. */
#include <stdio.h>
#include <string.h>
int depth(int *p, int n) { if (n == 0) { *p = 42; return 1; } return depth(p, n - 1) + 1; }
int main(void) { puts("about to crash"); fflush(stdout); return depth((int *)16, 3); }
