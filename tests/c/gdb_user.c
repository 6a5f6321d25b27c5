/* What a gdb user tries on a program (tests/test_gdb.py): calls into it,
 * registers and siginfo, a signal the kernel's tgkill sends, a library
 * loaded with dlopen (a pending breakpoint) and a fork. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int counter;
char message[] = "hello world";

static void on_usr1(int s) { counter += 100 + s - s; }

__attribute__((noinline)) int add(int a, int b) { return a + b; }

__attribute__((noinline)) int loop(void) {
    int s = 0;
    for (int i = 0; i < 5; i++)
        s += i;
    return s;
}

int main(void) {
    signal(SIGUSR1, on_usr1);
    counter = add(1, 2);
    counter += loop();
    raise(SIGUSR1);
    void *h = dlopen("libz.so.1", RTLD_NOW);
    const char *(*version)(void) = h ? (const char *(*)(void))dlsym(h, "zlibVersion") : 0;
    printf("zlib %d\n", version && version()[0] != 0);
    pid_t p = fork();
    if (p == 0)
        _exit(add(40, 2));
    int st;
    waitpid(p, &st, 0);
    printf("child %d counter %d\n", WEXITSTATUS(st), counter);
    return 0;
}
