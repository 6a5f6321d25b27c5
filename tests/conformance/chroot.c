/*
 * chroot(2) conformance, as servers use it to confine a worker (rsync
 * --daemon's "use chroot", sshd's privilege separation): its errors, then
 * in a jail made in DIR what absolute paths, absolute and relative symlinks,
 * ".." at the root, getcwd (inside, and "(unreachable)" outside), a forked
 * child, a program executed inside the jail (itself, with ld.so and libc
 * copied in) and a chroot without CAP_SYS_CHROOT see.  Compared with a
 * native run in a user namespace of its own, as a container's root.
 *
 *   chroot DIR       DIR a scratch directory (made if missing)
 *   chroot --inside  what the program executed in the jail prints
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *label, long r)
{
    printf("%s: %s\n", label, r < 0 ? strerrorname_np(errno) : "ok");
}

static void put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) < 0) {
        perror(path);
        exit(1);
    }
}

/* The first line of path, or its errno. */
static void show(const char *label, const char *path)
{
    char buf[128] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: %s\n", label, strerrorname_np(errno));
        return;
    }
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    printf("%s: %s\n", label, buf);
}

static void show_cwd(const char *label)
{
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf))
        printf("%s: %s\n", label, strerrorname_np(errno));
    else if (strncmp(buf, "(unreachable)", 13) == 0)
        printf("%s: (unreachable)...\n", label);
    else
        printf("%s: %s\n", label, buf);
}

static void copy(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    long n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n)
            break;
    if (in < 0 || out < 0 || close(in) < 0 || close(out) < 0) {
        perror(to);
        exit(1);
    }
}

/* A child that executes this program again inside the jail. */
static void exec_inside(void)
{
    mkdir("jail/lib", 0755);
    mkdir("jail/lib/x86_64-linux-gnu", 0755);
    mkdir("jail/lib64", 0755);
    copy("/proc/self/exe", "jail/prog");
    copy("/lib/x86_64-linux-gnu/libc.so.6", "jail/lib/x86_64-linux-gnu/libc.so.6");
    copy("/lib64/ld-linux-x86-64.so.2", "jail/lib64/ld-linux-x86-64.so.2");
    pid_t pid = fork();
    if (pid == 0) {
        if (chroot("jail") < 0 || chdir("/sub") < 0)
            _exit(2);
        execl("/prog", "prog", "--inside", (char *)0);
        printf("execl: %s\n", strerrorname_np(errno));
        _exit(3);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("executed: %d\n", WEXITSTATUS(st));
}

/* A child without CAP_SYS_CHROOT in its effective set. */
static void without_the_capability(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) < 0)
            _exit(2);
        d[0].effective &= ~(1u << CAP_SYS_CHROOT);
        if (syscall(SYS_capset, &h, d) < 0)
            _exit(3);
        say("chroot without CAP_SYS_CHROOT", chroot("jail"));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child: %d\n", WEXITSTATUS(st));
}

/* /proc/PID/root of a chrooted child: the jail to its parent, "/" to
 * itself, and its parent's "/" to it (through an fd of /proc opened before
 * its chroot); here is the scratch directory's path, shown as DIR. */
static void proc_root(const char *here)
{
    int proc = open("/proc", O_RDONLY | O_DIRECTORY), ready[2], done[2];
    if (proc < 0 || pipe(ready) < 0 || pipe(done) < 0)
        exit(1);
    pid_t pid = fork();
    char buf[PATH_MAX], name[64];
    if (pid == 0) {
        if (chroot("jail") < 0)
            _exit(2);
        long n = readlinkat(proc, "self/root", buf, sizeof buf - 1);
        printf("child: its own root: %.*s\n", n < 0 ? 0 : (int)n, buf);
        snprintf(name, sizeof name, "%d/root", getppid());
        n = readlinkat(proc, name, buf, sizeof buf - 1);
        printf("child: its parent's root: %.*s\n", n < 0 ? 0 : (int)n, buf);
        if (write(ready[1], "x", 1) != 1 || read(done[0], buf, 1) != 1)
            _exit(3);
        _exit(0);
    }
    if (read(ready[0], buf, 1) != 1)
        exit(1);
    snprintf(name, sizeof name, "%d/root", pid);
    long n = readlinkat(proc, name, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    size_t hl = strlen(here);
    printf("the child's root: %s%s\n", strncmp(buf, here, hl) == 0 ? "DIR" : "",
           strncmp(buf, here, hl) == 0 ? buf + hl : buf);
    if (write(done[1], "x", 1) != 1)
        exit(1);
    waitpid(pid, 0, 0);
    close(proc);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "--inside") == 0) {
        show_cwd("inside: cwd");
        show("inside: /etc/hello", "/etc/hello");
        show("inside: ../../etc/hello", "../../etc/hello");
        return 0;
    }
    if (argc != 2 || (mkdir(argv[1], 0755) < 0 && errno != EEXIST) || chdir(argv[1]) < 0)
        return 1;
    mkdir("jail", 0755);
    mkdir("jail/etc", 0755);
    mkdir("jail/sub", 0755);
    put("jail/etc/hello", "hello from the jail\n");
    put("outside", "outside the jail\n");
    symlink("/etc/hello", "jail/abs");
    symlink("../etc/hello", "jail/sub/rel");
    symlink("../../../../..", "jail/sub/up");
    /* An absolute link naming the scratch directory's own path: from the
     * jail's root, where nothing has that path. */
    char here[PATH_MAX], esc[PATH_MAX + 16];
    if (!getcwd(here, sizeof here))
        return 1;
    snprintf(esc, sizeof esc, "%s/outside", here);
    symlink(esc, "jail/esc");
    symlink(here, "jail/sub/escdir");

    say("chroot of a missing path", chroot("missing"));
    say("chroot of a file", chroot("outside"));
    say("chroot of an empty path", chroot(""));
    without_the_capability();
    exec_inside();

    proc_root(here);
    say("chroot jail", chroot("jail"));
    show_cwd("cwd after chroot");
    show("relative file outside, from the old cwd", "outside");
    say("chdir /", chdir("/"));
    show_cwd("cwd");
    show("/etc/hello", "/etc/hello");
    show("/abs (an absolute symlink)", "/abs");
    show("/sub/rel (a relative symlink)", "/sub/rel");
    show("/../../etc/hello", "/../../etc/hello");
    show("/sub/up/etc/hello (a symlink climbing above)", "/sub/up/etc/hello");
    show("/esc (an absolute symlink to the old directory's path)", "/esc");
    show("/sub/escdir/outside (one to the old directory)", "/sub/escdir/outside");
    show("outside, by its old name", "../outside");
    say("chdir ..", chdir(".."));
    show_cwd("cwd after ..");
    say("chdir sub", chdir("sub"));
    show_cwd("cwd in sub");
    struct stat st;
    say("stat /sub/up", stat("/sub/up", &st));
    printf("/sub/up is the root: %d\n", stat("/sub/up/sub/rel", &st) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        show("child: /etc/hello", "/etc/hello");
        show_cwd("child: cwd");
        _exit(0);
    }
    waitpid(pid, 0, 0);
    say("chroot . again", chroot("."));
    show_cwd("cwd in the new root");
    show("/rel now", "/rel");
    return 0;
}
