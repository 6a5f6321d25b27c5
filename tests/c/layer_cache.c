/* One process changes names in DIR while another looks at them: the looker
 * reads every path before and after each change, so a kernel that cached
 * what it saw first would show it again, a name it found missing too.  The looker is a forked child
 * ("fork") or that child after an execve of this program ("exec").
 * Prints what the looker sees, step by step; natively, the files as they are.
 *
 * usage: layer_cache DIR fork|exec
 * DIR holds files a, b, c, e, dir1/f and sub/x (each "NAME line\n"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static const char *const paths[] = {"a", "b", "b2", "c", "e", "sub", "sub/x", "dir1/f",
                                    "dir2/f", "new", "l", "d2", "d2/g", "fifo", "hl", "sock",
                                    "d3/h"};

static void look(const char *step)
{
    char p[4096], buf[64];
    printf("-- %s\n", step);
    for (unsigned i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, paths[i]);
        struct stat st;
        if (lstat(p, &st) != 0) {
            printf("%s: lstat %s\n", paths[i], strerror(errno));
            continue;
        }
        printf("%s: %s %ld", paths[i], S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "link"
                                       : "file", S_ISREG(st.st_mode) ? (long)st.st_size : 0L);
        int fd = open(p, O_RDONLY | O_NONBLOCK);   /* a FIFO's open does not wait */
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (n >= 0) {
            buf[n] = 0;
            for (char *s = buf; *s; s++)
                if (*s == '\n')
                    *s = '|';
        }
        printf(" %s\n", fd < 0 ? strerror(errno) : n < 0 ? "(not readable)" : buf);
        if (fd >= 0)
            close(fd);
    }
    fflush(stdout);
}

static void put(const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0)
        perror(p), exit(2);
}

static void must(int ok, const char *what)
{
    if (!ok)
        perror(what), exit(2);
}

/* The changes, each made once the looker has looked (it writes a byte on
 * `ready`); the looker looks again after each (a byte on `go`). */
static void change(int step, int dfd)
{
    switch (step) {
    case 0: {                           /* a copy-up */
        int fd = openat(dfd, "a", O_WRONLY | O_APPEND);
        must(fd >= 0 && write(fd, "changed\n", 8) == 8 && close(fd) == 0, "append a");
        break;
    }
    case 1:
        must(renameat(dfd, "b", dfd, "b2") == 0, "rename b b2");
        break;
    case 2:
        must(unlinkat(dfd, "c", 0) == 0, "unlink c");
        break;
    case 3:                             /* a name replaced by a rename */
        put("new", "new line\n");
        must(renameat(dfd, "new", dfd, "b2") == 0, "rename new b2");
        break;
    case 4:                             /* a directory replaced by a file */
        must(unlinkat(dfd, "sub/x", 0) == 0 && unlinkat(dfd, "sub", AT_REMOVEDIR) == 0, "rm sub");
        put("sub", "sub is a file\n");
        break;
    case 5:
        must(renameat(dfd, "dir1", dfd, "dir2") == 0, "rename dir1 dir2");
        break;
    case 6:                             /* names that appear */
        must(mkdirat(dfd, "d2", 0755) == 0 && symlinkat("a", dfd, "l") == 0, "mkdir, symlink");
        put("new", "new again\n");
        break;
    case 7:                             /* a file replaced by a symlink, one by a directory */
        must(unlinkat(dfd, "e", 0) == 0 && symlinkat("b2", dfd, "e") == 0, "e a symlink");
        must(unlinkat(dfd, "new", 0) == 0 && mkdirat(dfd, "new", 0755) == 0, "new a dir");
        break;
    case 8: {                           /* names that appear by the other calls that make one */
        int fd = openat(dfd, "d2/g", O_WRONLY | O_CREAT | O_EXCL, 0644);
        must(fd >= 0 && close(fd) == 0, "create d2/g");
        must(mkfifoat(dfd, "fifo", 0644) == 0 && linkat(dfd, "a", dfd, "hl", 0) == 0,
             "mkfifo, link");
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        must(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 && close(s) == 0, "bind");
        break;
    }
    case 9:                             /* a directory of files renamed to a new name */
        must(renameat(dfd, "d2", dfd, "d3") == 0 && renameat(dfd, "d3/g", dfd, "d3/h") == 0,
             "rename d2 d3");
        break;
    }
}

#define STEPS 10

static int looker(int go, int ready)
{
    char c = 0, name[16];
    for (int step = 0; step < STEPS; step++) {
        snprintf(name, sizeof name, "before %d", step);
        look(name);
        look(name);                     /* twice: the second from any cache */
        if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
            return 2;
        snprintf(name, sizeof name, "after %d", step);
        look(name);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5) {                    /* the looker, after its execve */
        dir = argv[1];
        return looker(atoi(argv[3]), atoi(argv[4]));
    }
    if (argc != 3 || (strcmp(argv[2], "fork") && strcmp(argv[2], "exec")))
        return fprintf(stderr, "usage: layer_cache DIR fork|exec\n"), 2;
    dir = argv[1];
    int go[2], ready[2], dfd = open(dir, O_RDONLY | O_DIRECTORY);
    must(dfd >= 0 && pipe(go) == 0 && pipe(ready) == 0, "setup");
    pid_t pid = fork();
    must(pid >= 0, "fork");
    if (pid == 0) {
        close(go[1]);
        close(ready[0]);
        if (strcmp(argv[2], "fork") == 0)
            _exit(looker(go[0], ready[1]));
        char g[16], r[16];
        snprintf(g, sizeof g, "%d", go[0]);
        snprintf(r, sizeof r, "%d", ready[1]);
        execl("/proc/self/exe", argv[0], dir, "looker", g, r, (char *)0);
        _exit(127);
    }
    close(go[0]);
    close(ready[1]);
    char c;
    for (int step = 0; step < STEPS; step++) {
        must(read(ready[0], &c, 1) == 1, "wait for the looker");
        change(step, dfd);
        must(write(go[1], &c, 1) == 1, "let the looker look");
    }
    int st;
    must(waitpid(pid, &st, 0) == pid, "wait");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
