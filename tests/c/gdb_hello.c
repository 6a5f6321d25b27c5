/* A program to debug under libsubst run --gdb (tests/test_gdb.py). */
#include <stdio.h>
#include <unistd.h>

int work(int n) {
    int s = 0;
    for (int i = 0; i < n; i++)
        s += i;
    return s;
}

int main(void) {
    write(1, "hello\n", 6);
    return work(10) == 45 ? 3 : 1;
}
