/* A `syscall` of the program's own (getpid), which libsubst rewrites in
 * the program itself: for tests/test_gdb.py (`catch syscall`, and the
 * program's symbols relocated though its program headers moved). */
#include <stdio.h>

int main(void) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(39L) : "rcx", "r11", "memory");
    printf("%d\n", r > 0);
    return 0;
}
