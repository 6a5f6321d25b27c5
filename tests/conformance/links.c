/*
 * Symlinks that lead out of the directory they are in, compared with a
 * native run: in the guest DIR is in a volume (the working directory) and
 * /tmp is its scratch, so each link below leaves one mount for another (an
 * absolute target elsewhere, "..": above the volume's root), which the walk
 * follows there as Linux's does: open, stat, exec, chdir, create and mkdir
 * through them, and the errors (ENOTDIR, ELOOP, ENOENT) at the same points;
 * a program or script exec'd through one named as it was given (AT_EXECFN,
 * the script's argument); links to a directory of the same mount opened
 * with O_DIRECTORY.
 *
 *   links DIR          DIR a scratch directory
 *   links child        (internal) the program exec'd through a link
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *label, long r)
{
    printf("%s: %s\n", label, r < 0 ? strerrorname_np(errno) : "ok");
    fflush(stdout);
}

static long open_close(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    return fd < 0 ? -1 : close(fd);
}

static const char *kind(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return strerrorname_np(errno);
    return S_ISDIR(st.st_mode) ? "directory" : S_ISREG(st.st_mode) ? "file" : "other";
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "child") == 0) {
        /* argv: [interpreter, "child", script] for a script. */
        const char *want = getenv("LINKS_NAME"), *execfn = (const char *)getauxval(AT_EXECFN);
        printf("child ran, AT_EXECFN as given: %d", want && execfn && !strcmp(execfn, want));
        if (argc > 2)
            printf(", script argument as given: %d", want && !strcmp(argv[2], want));
        printf("\n");
        return 0;
    }
    char dir[PATH_MAX], exe[PATH_MAX], tmp[64], path[PATH_MAX + 64];
    if (argc != 2 || chdir(argv[1]) < 0 || !getcwd(dir, sizeof dir)) {
        fprintf(stderr, "usage: links DIR\n");
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return 1;
    exe[n] = 0;
    snprintf(tmp, sizeof tmp, "/tmp/links-conformance-%d", (int)getpid());

    say("symlink to /etc", symlink("/etc", "etc"));
    printf("etc/passwd: %s\n", kind("etc/passwd"));
    say("open etc/passwd", open_close("etc/passwd", O_RDONLY));
    printf("etc/: %s\n", kind("etc/"));
    say("symlink to /etc/passwd", symlink("/etc/passwd", "passwd"));
    say("open passwd", open_close("passwd", O_RDONLY));
    say("open passwd, O_NOFOLLOW", open_close("passwd", O_RDONLY | O_NOFOLLOW));
    say("open passwd/", open_close("passwd/", O_RDONLY));
    printf("passwd/x: %s\n", kind("passwd/x"));
    say("access passwd", access("passwd", R_OK));
    say("symlink up, past /", symlink("../../../../../../../../../../../../../../../etc", "up"));
    printf("up/passwd: %s\n", kind("up/passwd"));
    say("symlink to nowhere", symlink("/nonexistent-links-conformance", "nowhere"));
    printf("nowhere: %s\n", kind("nowhere"));
    printf("nowhere/x: %s\n", kind("nowhere/x"));

    /* Links to a directory of the same mount, absolute and relative. */
    say("mkdir sub", mkdir("sub", 0755));
    snprintf(path, sizeof path, "%s/sub", dir);
    say("symlink to DIR/sub", symlink(path, "abs-sub"));
    say("symlink to sub", symlink("sub", "rel-sub"));
    say("open DIR/sub's link, O_DIRECTORY", open_close("abs-sub", O_RDONLY | O_DIRECTORY));
    say("open sub's link, O_DIRECTORY", open_close("rel-sub", O_RDONLY | O_DIRECTORY));
    say("open passwd, O_DIRECTORY", open_close("passwd", O_RDONLY | O_DIRECTORY));
    say("open sub's link, O_DIRECTORY|O_NOFOLLOW",
        open_close("rel-sub", O_RDONLY | O_DIRECTORY | O_NOFOLLOW));

    say("symlink to the program", symlink(exe, "self"));
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LINKS_NAME", "self", 1);
        execl("self", "links", "child", (char *)0);
        printf("exec: %s\n", strerrorname_np(errno));
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("exec through it: status %d\n", WEXITSTATUS(st));
    /* A script in DIR, run through a link in /tmp. */
    FILE *f = fopen("script", "w");
    fprintf(f, "#!%s child\n", exe);
    fclose(f);
    chmod("script", 0755);
    char script[PATH_MAX + 64], script_link[80];
    snprintf(script, sizeof script, "%s/script", dir);
    snprintf(script_link, sizeof script_link, "%s-script", tmp);
    say("symlink in /tmp to DIR/script", symlink(script, script_link));
    fflush(stdout);
    if ((pid = fork()) == 0) {
        setenv("LINKS_NAME", script_link, 1);
        execl(script_link, "script", (char *)0);
        printf("exec: %s\n", strerrorname_np(errno));
        _exit(127);
    }
    waitpid(pid, &st, 0);
    printf("script through it: status %d\n", WEXITSTATUS(st));
    unlink(script_link);

    /* From /tmp back into DIR: a file and a directory made through it. */
    say("symlink in /tmp to DIR", symlink(dir, tmp));
    snprintf(path, sizeof path, "%s/made", tmp);
    say("create through it", open_close(path, O_WRONLY | O_CREAT | O_EXCL));
    printf("made: %s\n", kind("made"));
    snprintf(path, sizeof path, "%s/made-dir", tmp);
    say("mkdir through it", mkdir(path, 0755));
    printf("made-dir: %s\n", kind("made-dir"));
    snprintf(path, sizeof path, "%s/made-dir/", tmp);
    say("rmdir through it", rmdir(path));
    snprintf(path, sizeof path, "%s/made", tmp);
    say("unlink through it", unlink(path));
    printf("made: %s\n", kind("made"));

    /* A loop between the two: each leaves one for the other. */
    snprintf(path, sizeof path, "%s/loop", dir);
    char back[PATH_MAX + 64];
    snprintf(back, sizeof back, "%s-loop", tmp);
    say("symlink DIR/loop to /tmp", symlink(back, "loop"));
    say("symlink /tmp back to DIR/loop", symlink(path, back));
    printf("loop: %s\n", kind("loop"));

    say("chdir etc", chdir("etc"));
    char cwd[PATH_MAX];
    printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerrorname_np(errno));
    unlink(tmp);
    unlink(back);
    return 0;
}
