/*
 * system(3) and popen(3): both run "/bin/sh -c COMMAND", which the guest's
 * root holds because this program imports them (image/layout.py's
 * SHELL_CALLS); the shell's builtins only, so nothing else must be there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int main(void)
{
    int status = system("echo from system; exit 3");
    printf("system: exited %d status %d\n", WIFEXITED(status), WEXITSTATUS(status));
    fflush(stdout);
    FILE *p = popen("read line; echo \"popen read: $line\"; exit 5", "w");
    if (!p)
        return 1;
    fputs("a line\n", p);
    status = pclose(p);
    printf("pclose: status %d\n", WEXITSTATUS(status));
    p = popen("echo one; echo two", "r");
    char buf[64];
    while (p && fgets(buf, sizeof buf, p))
        printf("popen gave: %s", buf);
    printf("pclose: status %d\n", p ? WEXITSTATUS(pclose(p)) : -1);
    return 0;
}
