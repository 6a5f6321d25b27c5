/*
 * What an execve carries over that once ended the guest (a
 * `libsubst-kernel: fatal` in the new program's boot): a working
 * directory removed before the call, which the new program still stats as
 * "." (nlink 0).  Compared with a native run.
 *
 *   execstate DIR          DIR a scratch directory
 *   execstate cwd          (internal) after the execve: a relative open
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void run_self(const char *what)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "execstate", what, (char *)0);
        printf("execve: %s\n", strerrorname_np(errno));
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("%s child: exited %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "cwd") == 0) {
        int fd = open("file", O_CREAT | O_WRONLY, 0644);
        printf("after execve: creating in the removed cwd: %s\n",
               fd < 0 ? strerrorname_np(errno) : "ok");
        struct stat st;
        int r = stat(".", &st);
        printf("after execve: stat .: %s", r < 0 ? strerrorname_np(errno) : "ok");
        printf(r < 0 ? "\n" : ", nlink %lu\n", (unsigned long)st.st_nlink);
        return 0;
    }
    char sub[4096];
    if (!realpath(argc > 1 ? argv[1] : ".", sub))
        return 1;
    strcat(sub, "/gone");

    pid_t pid;
    mkdir(sub, 0755);
    pid = fork();
    if (pid == 0) {
        printf("chdir: %s", chdir(sub) ? "failed" : "ok");
        printf(", rmdir: %s\n", rmdir(sub) ? "failed" : "ok");
        run_self("cwd");
        _exit(0);
    }
    waitpid(pid, 0, 0);
    return 0;
}
