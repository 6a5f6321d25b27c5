/*
 * Working directory conformance: getcwd(2) and getcwd(3) in a directory
 * that was removed (ENOENT, getcwd(2)'s "unlinked" case), what still works
 * there ("." stats and opens the removed directory, nlink 0 and no
 * entries; ".." is its parent; nothing can be made in it; fchdir back
 * out), and chdir's edge cases: a file, "", a dangling symlink, through a
 * symlink (getcwd shows the physical path), a buffer too small, "/.." — in
 * a scratch directory (a volume), in a directory made under /tmp and one
 * under /var/tmp (the guest's writable root), compared with a native run.
 *
 *   cwd DIR          DIR a scratch directory
 */
#define _GNU_SOURCE
#include <dirent.h>
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
    struct stat st;
    long r;
    say("stat .", r = stat(".", &st));
    if (r == 0)
        printf("  . is a directory %d, nlink %lu\n", S_ISDIR(st.st_mode), (unsigned long)st.st_nlink);
    say("fstatat AT_FDCWD \"\" AT_EMPTY_PATH", r = fstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH));
    if (r == 0)
        printf("  nlink %lu\n", (unsigned long)st.st_nlink);
    say("stat ./.", stat("./.", &st));
    say("stat ./f", stat("./f", &st));
    say("access .", access(".", F_OK));
    say("open .", r = open(".", O_RDONLY | O_DIRECTORY));
    if (r >= 0) {
        DIR *d = fdopendir(r);
        int n = 0;
        while (readdir(d))
            n++;
        printf("  entries %d\n", n);
        closedir(d);
    }
    say("create ./g", r = open("./g", O_WRONLY | O_CREAT, 0644));
    if (r >= 0)
        close(r);
    say("mkdir ./e", mkdir("./e", 0755));
    say("stat ..", r = stat("..", &st));
    struct stat bs;
    if (r == 0 && stat(base, &bs) == 0)
        printf("  .. is the parent %d\n", st.st_ino == bs.st_ino && st.st_dev == bs.st_dev);
    say("chdir .", chdir("."));
    raw_getcwd("getcwd(2) after chdir .", PATH_MAX);
    say("create a file", r = open("f", O_WRONLY | O_CREAT, 0644));
    if (r >= 0)
        close(r);
    say("mkdir", mkdir("d", 0755));
    say("chdir ..", chdir(".."));
    show_cwd("getcwd(3) after chdir ..", base);
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
    char tmp[] = "/tmp/cwd-XXXXXX", var[] = "/var/tmp/cwd-XXXXXX";
    if (!mkdtemp(tmp) || !mkdtemp(var)) {
        perror("mkdtemp");
        return 1;
    }
    printf("[scratch directory]\n");
    in(argv[1]);
    printf("[/tmp]\n");
    in(tmp);
    printf("[/var/tmp]\n");
    in(var);
    say("chdir /..", chdir("/.."));
    show_cwd("getcwd(3)", "");
    rmdir(tmp);
    rmdir(var);
    return 0;
}
