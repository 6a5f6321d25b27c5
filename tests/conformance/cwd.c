/*
 * Working directory conformance: getcwd(2) and getcwd(3) in a directory
 * that was removed (ENOENT, getcwd(2)'s "unlinked" case), what still works
 * there (fchdir back out), and chdir's edge cases: a file, "", a
 * dangling symlink, through a symlink (getcwd shows the physical path), a
 * buffer too small, "/.." — in a scratch directory and in a directory made
 * under /tmp, compared with a native run.
 *
 *   cwd DIR          DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

static void say(const char *label, long r)
{
    printf("  %s: %s\n", label, err(r));
}

/* getcwd(2) itself: its length, or its errno. */
static void raw_getcwd(const char *label, unsigned long size)
{
    char buf[PATH_MAX];
    long r = syscall(SYS_getcwd, buf, size);
    if (r < 0)
        printf("  %s: %s\n", label, strerrorname_np(errno));
    else
        printf("  %s: length %s\n", label, r == (long)strlen(buf) + 1 ? "ok" : "wrong");
}

/* The working directory relative to base ("." when it is base). */
static void show_cwd(const char *label, const char *base)
{
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) {
        printf("  %s: %s\n", label, strerrorname_np(errno));
        return;
    }
    size_t n = strlen(base);
    printf("  %s: %s\n", label, strncmp(buf, base, n) ? buf : buf[n] ? buf + n + 1 : ".");
}

static void removed(const char *base)
{
    printf("removed:\n");
    int back = open(".", O_RDONLY | O_DIRECTORY);
    mkdir("gone", 0755);
    say("chdir", chdir("gone"));
    say("rmdir ../gone", rmdir("../gone"));
    show_cwd("getcwd(3)", base);
    raw_getcwd("getcwd(2)", PATH_MAX);
    /* Linux still stats and opens "." there (nlink 0), and knows a
     * directory made again at the path for another; the guest kernel,
     * which holds the cwd as a path, does neither (README, known limits). */
    long r;
    say("create a file", r = open("f", O_WRONLY | O_CREAT, 0644));
    if (r >= 0)
        close(r);
    say("mkdir", mkdir("d", 0755));
    say("fchdir back", fchdir(back));
    show_cwd("getcwd(3) after", base);
    close(back);
}

static void edges(const char *base)
{
    printf("edges:\n");
    close(open("file", O_WRONLY | O_CREAT, 0644));
    mkdir("real", 0755);
    symlink("real", "link");
    symlink("nowhere", "dangling");
    say("chdir a file", chdir("file"));
    say("chdir \"\"", chdir(""));
    say("chdir a dangling symlink", chdir("dangling"));
    say("chdir file/", chdir("file/"));
    say("chdir a missing one", chdir("missing"));
    int fd = open("file", O_RDONLY);
    say("fchdir a file", fchdir(fd));
    close(fd);
    say("fchdir a bad fd", fchdir(999));
    say("chdir through a symlink", chdir("link"));
    show_cwd("getcwd(3)", base);
    raw_getcwd("getcwd(2) size 0", 0);
    raw_getcwd("getcwd(2) size 1", 1);
    raw_getcwd("getcwd(2) one short", strlen(base) + strlen("/real"));
    raw_getcwd("getcwd(2) just right", strlen(base) + strlen("/real") + 1);
    say("chdir ..", chdir(".."));
    show_cwd("getcwd(3)", base);
    say("chdir real/../real/.", chdir("real/../real/."));
    show_cwd("getcwd(3)", base);
    say("chdir ../", chdir("../"));
    unlink("file");
    unlink("link");
    unlink("dangling");
    rmdir("real");
}

static void in(const char *dir)
{
    char base[PATH_MAX];
    if (chdir(dir) < 0 || !getcwd(base, sizeof base)) {
        perror(dir);
        exit(1);
    }
    removed(base);
    edges(base);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cwd DIR\n");
        return 2;
    }
    char tmp[] = "/tmp/cwd-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    printf("[scratch directory]\n");
    in(argv[1]);
    printf("[/tmp]\n");
    in(tmp);
    say("chdir /..", chdir("/.."));
    show_cwd("getcwd(3)", "");
    rmdir(tmp);
    return 0;
}
