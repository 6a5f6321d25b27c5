/*
 * The state fcntl(2) keeps per open file description, on directories the
 * guest kernel serves (an image directory, a /proc directory) beside one
 * of a volume (the scratch directory): the owner and signal of F_SETOWN,
 * F_SETOWN_EX and F_SETSIG, F_NOTIFY and F_SETLEASE, each set on one
 * directory and read on another and on a second open of the same one, as
 * Linux keeps them; the bad arguments Linux refuses; and a forked child's
 * view.  Compared with a native run.
 *
 *   dirstate DIR        DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* One result, printed as it comes: " WHAT r" (an errno's name). */
static void say(const char *what, long r)
{
    if (r < 0)
        printf(" %s %s", what, strerrorname_np(errno));
    else
        printf(" %s %ld", what, r);
}

/* F_GETOWN as the process sees it: its own pid is "self". */
static void owner(const char *what, int fd)
{
    long r = fcntl(fd, F_GETOWN);
    if (r != 0 && (r == getpid() || r == -getpgrp()))
        printf(" %s %s", what, r == getpid() ? "self" : "-own group");
    else
        say(what, r);
}

static void owner_ex(const char *what, int fd)
{
    struct f_owner_ex ex = {-1, -1};
    if (fcntl(fd, F_GETOWN_EX, &ex) < 0) {
        say(what, -1);
        return;
    }
    printf(" %s type %d %s", what, ex.type,
           ex.pid == 0 ? "0" : ex.pid == getpid() ? "self" : ex.pid == getpgrp() ? "own group" :
           ex.pid == gettid() ? "own thread" : "other");
}

static void per_description(const char *name, const char *a, const char *b)
{
    int fa = open(a, O_RDONLY | O_DIRECTORY), fb = open(b, O_RDONLY | O_DIRECTORY);
    int fa2 = open(a, O_RDONLY | O_DIRECTORY), dup_a = dup(fa);
    if (fa < 0 || fb < 0 || fa2 < 0 || dup_a < 0) {
        printf("%s: open %s\n", name, strerrorname_np(errno));
        return;
    }
    printf("%s:", name);
    owner("owner", fa);
    owner("other", fb);
    say("sig", fcntl(fa, F_GETSIG));
    owner_ex("owner_ex", fa);
    say("\n  setown self", fcntl(fa, F_SETOWN, getpid()));
    owner("->", fa);
    owner("other dir", fb);
    owner("second open", fa2);
    owner("dup", dup_a);
    owner_ex("owner_ex", fa);
    owner_ex("other", fb);
    say("\n  setown -group", fcntl(fa, F_SETOWN, -getpgrp()));
    owner("->", fa);
    owner_ex("owner_ex", fa);
    say("setown absent", fcntl(fa, F_SETOWN, 999999));
    say("-absent", fcntl(fa, F_SETOWN, -999999));
    owner("->", fa);
    struct f_owner_ex ex = {F_OWNER_TID, gettid()};
    say("\n  setown_ex tid", fcntl(fb, F_SETOWN_EX, &ex));
    owner_ex("->", fb);
    owner("getown", fb);
    ex = (struct f_owner_ex){F_OWNER_PGRP, getpgrp()};
    say("pgrp", fcntl(fb, F_SETOWN_EX, &ex));
    owner_ex("->", fb);
    ex = (struct f_owner_ex){7, getpid()};
    say("bad type", fcntl(fb, F_SETOWN_EX, &ex));
    ex = (struct f_owner_ex){F_OWNER_PID, 999999};
    say("absent", fcntl(fb, F_SETOWN_EX, &ex));
    say("bad pointer", fcntl(fb, F_SETOWN_EX, (void *)8));
    say("getown_ex bad pointer", fcntl(fb, F_GETOWN_EX, (void *)8));
    say("\n  setown 0", fcntl(fb, F_SETOWN, 0));
    owner("->", fb);
    owner_ex("owner_ex", fb);
    say("\n  setsig USR1", fcntl(fa, F_SETSIG, SIGUSR1));
    say("->", fcntl(fa, F_GETSIG));
    say("other dir", fcntl(fb, F_GETSIG));
    say("second open", fcntl(fa2, F_GETSIG));
    say("dup", fcntl(dup_a, F_GETSIG));
    say("bad", fcntl(fa, F_SETSIG, 65));
    say("0", fcntl(fa2, F_SETSIG, 0));
    say("->", fcntl(fa2, F_GETSIG));
    say("\n  notify", fcntl(fa, F_NOTIFY, DN_CREATE | DN_MULTISHOT));
    say("off", fcntl(fa, F_NOTIFY, 0));
    say("lease", fcntl(fa, F_GETLEASE));
    say("setlease rd", fcntl(fa, F_SETLEASE, F_RDLCK));
    say("unlck", fcntl(fa, F_SETLEASE, F_UNLCK));
    say("bad", fcntl(fa, F_SETLEASE, 9));
    say("->", fcntl(fa, F_GETLEASE));
    say("other", fcntl(fb, F_GETLEASE));
    /* A child sees what its parent set (a fork shares descriptions). */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        long r = fcntl(fa, F_GETOWN);
        printf("\n  child: owner %s", r == getppid() ? "parent" : "other");
        say("sig", fcntl(dup_a, F_GETSIG));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, 0, 0);
    printf("\n");
    close(fa);
    close(fb);
    close(fa2);
    close(dup_a);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    /* Its own process group: a guest's first process's is outside its pid
     * namespace (getpgrp() is 0 there). */
    setpgid(0, 0);
    static const char *const pairs[][3] = {
        {"image dirs", "/usr", "/usr/lib"},
        {"proc dirs", "/proc", "/proc/self"},
        {"image and proc", "/usr", "/proc/self/fd"},
        {"volume dir and image", ".", "/usr"},
    };
    for (unsigned i = 0; i < sizeof pairs / sizeof *pairs; i++)
        per_description(pairs[i][0], pairs[i][1], pairs[i][2]);
    return 0;
}
