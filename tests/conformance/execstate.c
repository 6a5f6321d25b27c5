/*
 * What an execve carries over that once ended the guest (a
 * `libsubst-kernel: fatal` in the new program's boot): a working
 * directory removed before the call, which the new program still stats as
 * "." (nlink 0); fds of directories the program kept open (an image's
 * and /proc's are the kernel's own), which still list and keep their
 * status flags.  Compared with a native run.
 *
 *   execstate DIR          DIR a scratch directory
 *   execstate cwd          (internal) after the execve: a relative open
 *   execstate dirs FD...   (internal) after the execve: the fds kept
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A kept directory fd: its flags, and whether it lists its entries. */
static void show_dir(const char *what, int fd)
{
    DIR *d = fdopendir(dup(fd));
    struct dirent *e;
    int n = 0, self = 0;
    if (d)
        rewinddir(d);                       /* the offset a dup shares */
    while (d && (e = readdir(d)))
        n++, self |= strcmp(e->d_name, "self") == 0 || strcmp(e->d_name, "passwd") == 0;
    if (d)
        closedir(d);
    printf("%s: F_GETFL %#o, lists %s\n", what, fcntl(fd, F_GETFL),
           n > 2 && self ? "its entries" : "nothing");
}

static void run_self(const char *what, const char *a, const char *b)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "execstate", what, a, b, (char *)0);
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
    if (argc > 3 && strcmp(argv[1], "dirs") == 0) {
        show_dir("after execve: /etc", atoi(argv[2]));
        show_dir("after execve: /proc", atoi(argv[3]));
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
        run_self("cwd", 0, 0);
        _exit(0);
    }
    waitpid(pid, 0, 0);
    int etc = open("/etc", O_RDONLY | O_DIRECTORY | O_NONBLOCK);
    int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_APPEND);
    show_dir("before execve: /etc", etc);
    show_dir("before execve: /proc", proc);
    char a[16], b[16];
    snprintf(a, sizeof a, "%d", etc);
    snprintf(b, sizeof b, "%d", proc);
    run_self("dirs", a, b);
    return 0;
}
