/* The layout a program sees: where its code (main) and its break (sbrk(0),
 * taken before anything allocates) are, and whether a forked child sees
 * the same. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    void *brk = sbrk(0);
    printf("main %p brk %p\n", (void *)main, brk);
    fflush(stdout);
    printf("fork brk %p\n", sbrk(0));     /* printf's buffer may have moved it */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child main %p brk %p\n", (void *)main, sbrk(0));
        return 0;
    }
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
