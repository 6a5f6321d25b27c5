/* Processes copy up the same image files at once: for each file named on
 * the command line, argv[1] children wait on a pipe, then each opens the
 * file to append one line and writes it.  Prints, per file, how many of the
 * appended lines it holds after; natively, all of them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    for (int f = 2; f < argc; f++) {
        int go[2];
        if (pipe(go) < 0)
            return 2;
        for (int i = 0; i < n; i++) {
            if (fork() == 0) {
                char c;
                close(go[1]);
                if (read(go[0], &c, 1) != 0)
                    _exit(2);
                int fd = open(argv[f], O_WRONLY | O_APPEND);
                _exit(fd < 0 || write(fd, "appended\n", 9) != 9);
            }
        }
        close(go[0]);
        close(go[1]);                   /* all children start */
        int failed = 0, st;
        while (wait(&st) > 0)
            failed += !WIFEXITED(st) || WEXITSTATUS(st);
        FILE *in = fopen(argv[f], "r");
        char line[64];
        int lines = 0;
        while (in && fgets(line, sizeof line, in))
            lines += !strcmp(line, "appended\n");
        printf("%d lines appended, %d failed\n", lines, failed);
    }
    return 0;
}
