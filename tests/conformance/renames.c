/*
 * Open fds and the working directory follow a rename, compared with a
 * native run: after a file, its directory, or two directories exchanged
 * (renameat2 RENAME_EXCHANGE) are renamed, /proc/self/fd/N names the new
 * path, a directory fd's *at calls act in the renamed directory, the fd's
 * link reopens the same file, and getcwd shows the new name of a renamed
 * working directory -- in a scratch directory (a volume in the guest) and in
 * a directory made under /tmp (the guest's scratch).  The guest's kernel
 * records those paths (c_src/kernel/fs/fdtable.c, fd_renamed).
 *
 *   renames DIR      DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[PATH_MAX];

static void say(const char *label, long r)
{
    printf("  %s: %s\n", label, r < 0 ? strerrorname_np(errno) : "ok");
}

/* p relative to base ("." when it is base). */
static const char *rel(const char *p)
{
    size_t n = strlen(base);
    return strncmp(p, base, n) ? p : p[n] ? p + n + 1 : ".";
}

/* Where fd's link in /proc/self/fd leads, relative to base. */
static void link_of(const char *label, int fd)
{
    char p[64], l[PATH_MAX] = {0};
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    if (readlink(p, l, sizeof l - 1) < 0)
        printf("  %s: %s\n", label, strerrorname_np(errno));
    else
        printf("  %s: %s\n", label, rel(l));
}

/* What fd's link opens: the file's first line. */
static void reopen(const char *label, int fd)
{
    char p[64], b[64] = {0};
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    int r = open(p, O_RDONLY);
    if (r < 0 || read(r, b, sizeof b - 1) < 0) {
        printf("  %s: %s\n", label, strerrorname_np(errno));
    } else {
        printf("  %s: %.*s\n", label, (int)strcspn(b, "\n"), b);
    }
    if (r >= 0)
        close(r);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) {
        perror(path);
        exit(1);
    }
    close(fd);
}

static void show_cwd(const char *label)
{
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf))
        printf("  %s: %s\n", label, strerrorname_np(errno));
    else
        printf("  %s: %s\n", label, rel(buf));
}

static void in(const char *dir)
{
    if (chdir(dir) < 0 || !getcwd(base, sizeof base)) {
        perror(dir);
        exit(1);
    }
    mkdir("d", 0755);
    write_file("d/f", "f's line\n");
    int fd = open("d/f", O_RDONLY), pfd = open("d/f", O_PATH), dfd = open("d", O_DIRECTORY);
    int dup_fd = dup(fd);
    printf("a file renamed:\n");
    say("rename", rename("d/f", "d/g"));
    link_of("fd", fd);
    link_of("dup", dup_fd);
    link_of("O_PATH fd", pfd);
    write_file("d/f", "a new f\n");
    reopen("fd's link opens", fd);
    printf("its directory renamed:\n");
    say("rename", rename("d", "e"));
    link_of("fd", fd);
    link_of("directory fd", dfd);
    int at = openat(dfd, "g", O_RDONLY);
    say("openat(dirfd, g)", at);
    link_of("openat's fd", at);
    say("mkdirat(dirfd, sub)", mkdirat(dfd, "sub", 0755));
    struct stat st;
    say("e/sub exists", stat("e/sub", &st));
    say("fchmod of the fd", fchmod(fd, 0600));
    say("stat e/g", stat("e/g", &st));
    printf("  its mode: %o\n", st.st_mode & 0777);
    printf("the working directory renamed:\n");
    say("chdir e", chdir("e"));
    say("rename", rename("../e", "../h"));
    show_cwd("getcwd");
    say("open g", close(open("g", O_RDONLY)));
    say("chdir ..", chdir(".."));
    printf("two directories exchanged:\n");
    mkdir("x", 0755);
    mkdir("y", 0755);
    write_file("x/in-x", "x\n");
    int xfd = open("x/in-x", O_RDONLY), xd = open("x", O_DIRECTORY), yd = open("y", O_DIRECTORY);
    say("RENAME_EXCHANGE", renameat2(AT_FDCWD, "x", AT_FDCWD, "y", RENAME_EXCHANGE));
    link_of("x's file", xfd);
    link_of("x's fd", xd);
    link_of("y's fd", yd);
    say("openat(x's fd, in-x)", close(openat(xd, "in-x", O_RDONLY)));
    close(at);
    close(fd);
    close(dup_fd);
    close(pfd);
    close(dfd);
    close(xfd);
    close(xd);
    close(yd);
    /* What is left: h/{f,g,sub}, y/in-x (x and y exchanged), x. */
    unlink("h/f");
    unlink("h/g");
    rmdir("h/sub");
    rmdir("h");
    unlink("y/in-x");
    rmdir("x");
    rmdir("y");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: renames DIR\n");
        return 2;
    }
    char tmp[] = "/tmp/renames-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    printf("[scratch directory]\n");
    in(argv[1]);
    printf("[/tmp]\n");
    in(tmp);
    say("all removed", rmdir(tmp));
    return 0;
}
