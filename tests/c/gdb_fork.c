/* A fork under a breakpoint the child also runs: the child must not die of
 * the debugger's int3 (tests/test_gdb_control.py). */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) int work(int n) { return n + 1; }

int main(void) {
    pid_t p = fork();
    if (p == 0)
        _exit(work(41));
    int st;
    waitpid(p, &st, 0);
    printf("child: %s %d\n", WIFEXITED(st) ? "exit" : "signal",
           WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return work(1);
}
