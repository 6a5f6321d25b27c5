#include <stdio.h>
int main(void) { printf("probe%d", (int)sizeof(void *)); return 0; }
