/*
 * File conformance: fcntl record locks between processes and across a
 * rename, the flags F_GETFL shows, F_DUPFD on O_PATH, F_SETOWN with a
 * process group, rename/link/symlink/unlink edge cases, user.* extended
 * attributes (here and in the scratch /dev/shm) and inotify, in a
 * scratch directory, compared with a native run.
 *
 *   files DIR          DIR a scratch directory
 *   files noop         (internal) the program execve'd under an inotify watch
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

static void say(const char *label, long r)
{
    printf("%s: %s\n", label, err(r));
}

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock f = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &f);
}

static void getlk(const char *label, int fd, int cmd, off_t start, off_t len, pid_t owner)
{
    struct flock f = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    int r = fcntl(fd, cmd, &f);
    if (r < 0) {
        printf("%s: %s\n", label, err(r));
        return;
    }
    printf("%s: type %s start %ld len %ld pid %s\n", label,
           f.l_type == F_UNLCK ? "UNLCK" : f.l_type == F_RDLCK ? "RDLCK" : "WRLCK",
           (long)f.l_start, (long)f.l_len,
           f.l_pid == owner ? "owner" : f.l_pid == -1 ? "-1" : f.l_pid == 0 ? "0" : "other");
}

static void locks(void)
{
    int fd = open("locked", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    say("F_SETLK write 0-4", lk(fd, F_SETLK, F_WRLCK, 0, 5));
    int go[2], back[2];
    pipe(go);
    pipe(back);
    pid_t me = getpid();
    pid_t c = fork();
    if (c == 0) {
        int f2 = open("locked", O_RDWR);
        getlk("child F_GETLK 0-9", f2, F_GETLK, 0, 10, me);
        say("child F_SETLK write 2-3", lk(f2, F_SETLK, F_WRLCK, 2, 2));
        say("child F_SETLK read 5-9", lk(f2, F_SETLK, F_RDLCK, 5, 5));
        getlk("child F_OFD_GETLK 0-0", f2, F_OFD_GETLK, 0, 1, me);
        fflush(stdout);
        write(back[1], "r", 1);
        /* Blocks until the parent unlocks. */
        say("child F_SETLKW write 0-4", lk(f2, F_SETLKW, F_WRLCK, 0, 5));
        fflush(stdout);
        write(back[1], "l", 1);
        char b;
        read(go[0], &b, 1);
        _exit(0);
    }
    char b;
    read(back[0], &b, 1);
    getlk("parent F_GETLK 5-9", fd, F_GETLK, 5, 5, c);
    struct pollfd p = {back[0], POLLIN, 0};
    printf("child blocked: %d\n", poll(&p, 1, 50) == 0);
    /* The lock is on the inode, not the name: it holds across a rename. */
    say("rename locked -> moved", rename("locked", "moved"));
    int f3 = open("moved", O_RDWR);
    getlk("F_GETLK through the new name", f3, F_GETLK, 5, 1, c);
    close(f3);    /* closing any fd of the file drops this process's locks */
    read(back[0], &b, 1);
    printf("child got the lock after close: %c\n", b);
    getlk("parent F_GETLK 0-4 now", fd, F_GETLK, 0, 5, c);
    write(go[1], "x", 1);
    waitpid(c, 0, 0);
    getlk("after the child exited", fd, F_GETLK, 0, 10, c);

    /* OFD locks: owned by the open file description, conflicting between two
     * opens of one process, shared by dup and fork. */
    int o1 = open("moved", O_RDWR), o2 = open("moved", O_RDWR);
    say("F_OFD_SETLK write on o1", lk(o1, F_OFD_SETLK, F_WRLCK, 0, 0));
    say("F_OFD_SETLK write on o2", lk(o2, F_OFD_SETLK, F_WRLCK, 0, 0));
    getlk("F_OFD_GETLK on o2", o2, F_OFD_GETLK, 0, 0, 0);
    int d = dup(o1);
    say("F_OFD_SETLK read on a dup of o1", lk(d, F_OFD_SETLK, F_RDLCK, 0, 0));
    say("F_OFD_SETLK with l_pid set", ({
        struct flock f = {.l_type = F_RDLCK, .l_pid = 1};
        fcntl(o1, F_OFD_SETLK, &f);
    }));
    say("F_SETLK on o2 (process lock vs OFD)", lk(o2, F_SETLK, F_WRLCK, 0, 1));
    say("F_OFD_SETLKW unlock o1", lk(o1, F_OFD_SETLKW, F_UNLCK, 0, 0));
    say("F_SETLK on o2 now", lk(o2, F_SETLK, F_WRLCK, 0, 1));
    say("F_SETLK bad type", lk(o2, F_SETLK, 42, 0, 1));
    say("F_SETLK negative start", lk(o2, F_SETLK, F_RDLCK, -5, 1));
    int ro = open("moved", O_RDONLY);
    say("F_SETLK write on O_RDONLY", lk(ro, F_SETLK, F_WRLCK, 0, 1));
    close(ro);
    close(d);
    close(o1);
    close(o2);
    close(fd);
}

static void flags(void)
{
    static const struct { int flag; const char *name; } names[] = {
        {O_WRONLY, "O_WRONLY"}, {O_RDWR, "O_RDWR"}, {O_APPEND, "O_APPEND"},
        {O_NONBLOCK, "O_NONBLOCK"}, {O_DSYNC, "O_DSYNC"}, {O_SYNC & ~O_DSYNC, "__O_SYNC"},
        {O_DIRECT, "O_DIRECT"}, {O_LARGEFILE, "O_LARGEFILE"}, {O_DIRECTORY, "O_DIRECTORY"},
        {O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"}, {O_CLOEXEC, "O_CLOEXEC"},
        {O_PATH, "O_PATH"}, {O_ASYNC, "O_ASYNC"}, {O_CREAT, "O_CREAT"}, {O_TRUNC, "O_TRUNC"},
        {O_EXCL, "O_EXCL"}, {O_NOCTTY, "O_NOCTTY"}};
    static const struct { const char *path; int flags; } opens[] = {
        {"moved", O_RDONLY}, {"moved", O_WRONLY | O_APPEND | O_CLOEXEC},
        {"moved", O_RDWR | O_CREAT | O_TRUNC | O_SYNC}, {"moved", O_RDONLY | O_NONBLOCK | O_NOATIME},
        {".", O_RDONLY | O_DIRECTORY}, {".", O_PATH}, {"moved", O_PATH | O_NOFOLLOW},
        {"/dev/null", O_WRONLY | O_NOCTTY}};
    for (unsigned i = 0; i < sizeof opens / sizeof *opens; i++) {
        int fd = open(opens[i].path, opens[i].flags, 0644);
        int fl = fcntl(fd, F_GETFL);
        printf("open %s %#x: F_GETFL", opens[i].path, opens[i].flags);
        if (fl < 0)
            printf(" %s", err(fl));
        else if ((fl & O_ACCMODE) == O_RDONLY)
            printf(" O_RDONLY");
        for (unsigned j = 0; fl >= 0 && j < sizeof names / sizeof *names; j++)
            if ((fl & names[j].flag) == names[j].flag)
                printf(" %s", names[j].name);
        printf("\n");
        close(fd);
    }
    int fd = open("moved", O_RDWR);
    say("F_SETFL O_APPEND|O_NONBLOCK|O_NOATIME|O_RDONLY|O_TRUNC",
        fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK | O_NOATIME | O_TRUNC));
    int fl = fcntl(fd, F_GETFL);
    printf("  now: append %d nonblock %d noatime %d rdwr %d trunc %d\n", !!(fl & O_APPEND),
           !!(fl & O_NONBLOCK), !!(fl & O_NOATIME), (fl & O_ACCMODE) == O_RDWR, !!(fl & O_TRUNC));
    say("F_SETFL 0", fcntl(fd, F_SETFL, 0));
    printf("  now append %d\n", !!(fcntl(fd, F_GETFL) & O_APPEND));
    printf("F_GETFD %d, F_SETFD 1 %s, F_GETFD %d\n", fcntl(fd, F_GETFD),
           err(fcntl(fd, F_SETFD, FD_CLOEXEC)), fcntl(fd, F_GETFD));
    close(fd);

    /* An O_PATH fd: F_DUPFD, F_DUPFD_CLOEXEC work; I/O does not. */
    int p = open("moved", O_PATH);
    int d = fcntl(p, F_DUPFD, 50);
    printf("F_DUPFD on O_PATH: %s at >= 50 %d, O_PATH kept %d\n", err(d), d >= 50,
           !!(fcntl(d, F_GETFL) & O_PATH));
    int e = fcntl(p, F_DUPFD_CLOEXEC, 0);
    printf("F_DUPFD_CLOEXEC on O_PATH: %s cloexec %d\n", err(e), fcntl(e, F_GETFD));
    char c;
    say("read on O_PATH", read(d, &c, 1));
    say("F_SETLK on O_PATH", lk(d, F_SETLK, F_RDLCK, 0, 1));
    say("F_SETFL on O_PATH", fcntl(d, F_SETFL, O_NONBLOCK));
    say("F_DUPFD negative", fcntl(p, F_DUPFD, -1));
    say("F_DUPFD on a closed fd", fcntl(999, F_DUPFD, 0));
    say("unknown command", fcntl(p, 12345));
    close(e);
    close(d);
    close(p);

    /* F_SETOWN with a process group (negative), F_GETOWN_EX, in a child
     * that leads its own group (a guest's first process is in its caller's
     * group, outside its pid namespace: getpgrp() is 0 there). */
    pid_t leader = fork();
    if (leader > 0) {
        waitpid(leader, 0, 0);
        return;
    }
    setpgid(0, 0);
    int pp[2];
    pipe(pp);
    say("F_SETOWN -pgrp", fcntl(pp[0], F_SETOWN, -getpgrp()));
    printf("F_GETOWN is -pgrp: %d\n", fcntl(pp[0], F_GETOWN) == -getpgrp());
    struct f_owner_ex ex;
    fcntl(pp[0], F_GETOWN_EX, &ex);
    printf("F_GETOWN_EX type %s pid is pgrp %d\n", ex.type == F_OWNER_PGRP ? "PGRP" : "?",
           ex.pid == getpgrp());
    say("F_SETOWN self", fcntl(pp[0], F_SETOWN, getpid()));
    printf("F_GETOWN is self: %d\n", fcntl(pp[0], F_GETOWN) == getpid());
    say("F_SETOWN no such pid", fcntl(pp[0], F_SETOWN, 0x3ffffff));
    ex = (struct f_owner_ex){42, 1};
    say("F_SETOWN_EX bad type", fcntl(pp[0], F_SETOWN_EX, &ex));
    say("F_SETSIG SIGUSR1", fcntl(pp[0], F_SETSIG, SIGUSR1));
    printf("F_GETSIG is SIGUSR1: %d\n", fcntl(pp[0], F_GETSIG) == SIGUSR1);
    say("F_SETSIG 99", fcntl(pp[0], F_SETSIG, 99));
    fflush(stdout);
    _exit(0);
}

static void touch(const char *p)
{
    close(open(p, O_WRONLY | O_CREAT, 0644));
}

static void names(void)
{
    mkdir("d", 0755);
    mkdir("d/sub", 0755);
    touch("d/f");
    touch("g");
    symlink("d", "ld");
    symlink("nowhere", "dangling");
    symlink("loop2", "loop1");
    symlink("loop1", "loop2");
    symlink("g", "lg");

    say("rename to a trailing slash (file)", rename("g", "h/"));
    say("rename a file with a trailing slash", rename("g/", "h"));
    say("rename dir with trailing slashes", rename("d/sub/", "d/sub2/"));
    say("rename dir back", rename("d/sub2", "d/sub"));
    say("rename onto . ", rename("d/f", "."));
    say("rename . ", rename(".", "x"));
    say("rename ..", rename("..", "x"));
    say("rename d/sub/.. ", rename("d/sub/..", "x"));
    /* The root as a component: never the last name of a directory.  The
     * other name is on the root's own mount: Linux answers EXDEV before
     * EBUSY when the two are on different mounts, which depends on where
     * the working directory is mounted (natively and in the guest). */
    say("rename /", rename("/", "/libsubst-no-such"));
    say("rename onto /", rename("/libsubst-no-such", "/"));
    say("rename //.. ", rename("//..", "/libsubst-no-such"));
    say("unlink /", unlink("/"));
    say("rmdir /", rmdir("/"));
    say("rmdir /.", rmdir("/."));
    say("mkdir /", mkdir("/", 0755));
    say("symlink onto /", symlink("x", "/"));
    say("link onto /", link("g", "/"));
    /* The root as a link's source: a directory (EPERM), once the new name,
     * on the root's own mount, is known not to exist (else EEXIST). */
    say("link /", link("/", "/libsubst-no-such"));
    say("link /.", link("/.", "/libsubst-no-such"));
    say("link //", link("//", "/libsubst-no-such"));
    say("link / onto /etc", link("/", "/etc"));
    say("link /etc", link("/etc", "/libsubst-no-such"));
    say("rename dir into itself", rename("d", "d/sub/x"));
    say("rename dir onto nonempty dir", rename("d/sub", "d"));
    mkdir("e", 0755);
    touch("e/x");
    say("rename dir onto nonempty dir e", rename("d/sub", "e"));
    say("rmdir nonempty", rmdir("e"));
    say("rename file onto dir", rename("g", "e"));
    say("rename dir onto file", rename("e", "g"));
    say("rename through a symlinked dir", rename("ld/f", "ld/f2"));
    printf("  d/f2 exists: %d\n", access("d/f2", F_OK) == 0);
    say("rename a symlink to a dir, trailing slash", rename("ld/", "ld2"));
    say("rename a symlink itself", rename("ld", "ld2"));
    say("rename same file to itself", rename("g", "g"));
    say("rename hard links of one file", (link("g", "g2"), rename("g", "g2")));
    printf("  g still there: %d\n", access("g", F_OK) == 0);
    say("renameat2 RENAME_NOREPLACE onto existing", renameat2(AT_FDCWD, "g", AT_FDCWD, "g2",
                                                              RENAME_NOREPLACE));
    say("renameat2 RENAME_EXCHANGE", renameat2(AT_FDCWD, "g", AT_FDCWD, "e", RENAME_EXCHANGE));
    say("renameat2 RENAME_EXCHANGE back", renameat2(AT_FDCWD, "g", AT_FDCWD, "e",
                                                     RENAME_EXCHANGE));
    say("renameat2 EXCHANGE with a missing one", renameat2(AT_FDCWD, "g", AT_FDCWD, "none",
                                                           RENAME_EXCHANGE));
    say("renameat2 both flags", renameat2(AT_FDCWD, "g", AT_FDCWD, "e",
                                          RENAME_EXCHANGE | RENAME_NOREPLACE));
    say("renameat2 unknown flag", renameat2(AT_FDCWD, "g", AT_FDCWD, "e", 1 << 10));
    say("rename to /proc (EXDEV)", rename("g2", "/proc/self/x"));
    say("link to a dir", link("d", "d3"));
    say("link with a trailing slash", link("g/", "g3"));
    say("link onto an existing name", link("g", "g2"));
    say("link of a dangling symlink", link("dangling", "dl2"));
    say("linkat AT_SYMLINK_FOLLOW of a dangling symlink",
        linkat(AT_FDCWD, "dangling", AT_FDCWD, "dl3", AT_SYMLINK_FOLLOW));
    say("linkat AT_SYMLINK_FOLLOW of lg", linkat(AT_FDCWD, "lg", AT_FDCWD, "lg3",
                                                 AT_SYMLINK_FOLLOW));
    struct stat a, b;
    lstat("lg3", &a);
    stat("g", &b);
    printf("  lg3 is g: %d\n", a.st_ino == b.st_ino && S_ISREG(a.st_mode));
    say("linkat bad flag", linkat(AT_FDCWD, "g", AT_FDCWD, "g4", 1));
    say("symlink onto existing", symlink("x", "g"));
    say("symlink empty target", symlink("", "empty"));
    say("symlink with a trailing slash", symlink("x", "s/"));
    say("unlink a dir", unlink("d"));
    say("unlink with a trailing slash", unlink("g/"));
    say("unlink a symlink to a dir with a slash", unlink("ld2/"));
    say("unlink dangling", unlink("dl2"));
    say("unlink .", unlink("."));
    say("rmdir .", rmdir("."));
    say("rmdir ..", rmdir(".."));
    say("rmdir d/sub/.", rmdir("d/sub/."));
    say("rmdir a symlink", rmdir("ld2"));
    say("unlinkat AT_REMOVEDIR on a file", unlinkat(AT_FDCWD, "g2", AT_REMOVEDIR));
    say("unlinkat bad flag", unlinkat(AT_FDCWD, "g2", 1));
    say("open O_CREAT through a dangling symlink", open("dangling", O_WRONLY | O_CREAT, 0644));
    printf("  nowhere made: %d\n", access("nowhere", F_OK) == 0);
    unlink("nowhere");
    say("open O_CREAT|O_EXCL through a dangling symlink",
        open("dangling", O_WRONLY | O_CREAT | O_EXCL, 0644));
    say("open a loop", open("loop1", O_RDONLY));
    say("open a loop O_NOFOLLOW", open("loop1", O_RDONLY | O_NOFOLLOW));
    say("stat through a loop", stat("loop1/x", &a));
    say("lstat a loop", lstat("loop1", &a));
    say("open O_NOFOLLOW a symlink", open("lg", O_RDONLY | O_NOFOLLOW));
    say("open O_DIRECTORY a file", open("g", O_RDONLY | O_DIRECTORY));
    say("open a file with a trailing slash", open("g/", O_RDONLY));
    say("open O_CREAT with a trailing slash", open("new/", O_WRONLY | O_CREAT, 0644));
    say("mkdir with a trailing slash", mkdir("m/", 0755));
    say("mkdir existing", mkdir("d", 0755));
    say("mkdir through a dangling symlink", mkdir("dangling", 0755));
    say("stat a/./b/../", stat("d/./sub/../", &a));
    say("stat through a file", stat("g/x", &a));
    char t[40] = {0};
    long n = readlink("lg", t, 1);
    printf("readlink into 1 byte: %ld %s\n", n, t);
    say("readlink a file", readlink("g", t, sizeof t));
    say("readlink empty buffer", readlink("lg", t, 0));
    char deep[300];
    strcpy(deep, "d");
    for (int i = 0; i < 45; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        symlink(i ? deep : "g", name);
        snprintf(deep, sizeof deep, "c%d", i);
    }
    say("a chain of 40 symlinks", open("c39", O_RDONLY));
    say("a chain of 41 symlinks", open("c40", O_RDONLY));
}

/* open returns the lowest free fd, however deep the path (POSIX; a shell's
 * `close(0); open(...)` relies on it), with O_CLOEXEC kept. */
static void lowest_fd(const char *dir)
{
    char sub[256], f[300];
    snprintf(sub, sizeof sub, "%s/low-%d", dir, getpid());
    snprintf(f, sizeof f, "%s/deeper", sub);
    mkdir(sub, 0755);
    mkdir(f, 0755);
    snprintf(f, sizeof f, "%s/deeper/f", sub);
    int a = open(".", O_RDONLY), b = open(".", O_RDONLY);
    close(a);
    int c = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    printf("lowest fd in %s: O_CREAT takes the freed one %d, close-on-exec %d", dir, c == a,
           fcntl(c, F_GETFD) == FD_CLOEXEC);
    close(c);
    c = open(f, O_RDONLY);
    int d = open(sub, O_RDONLY | O_DIRECTORY);
    printf(", then again %d, the next one after b %d\n", c == a, d > b);
    close(b);
    close(c);
    close(d);
    unlink(f);
    snprintf(f, sizeof f, "%s/deeper", sub);
    rmdir(f);
    rmdir(sub);
}

/* user.* extended attributes on a file of dir: get, set, list, remove,
 * sizes and their errors. */
static void xattrs(const char *dir)
{
    char f[256], l[256], buf[8192];
    snprintf(f, sizeof f, "%s/xa-%d", dir, getpid());
    snprintf(l, sizeof l, "%s/xa-link-%d", dir, getpid());
    touch(f);
    symlink(strrchr(f, '/') + 1, l);
    printf("xattrs in %s:\n", dir[0] == '/' ? "a scratch tmpfs" : "the directory");
    printf("  list none: %zd\n", listxattr(f, buf, sizeof buf));
    printf("  get missing: %s\n", err(getxattr(f, "user.a", buf, sizeof buf)));
    say("  set user.a", setxattr(f, "user.a", "hello", 5, 0));
    say("  set user.a XATTR_CREATE", setxattr(f, "user.a", "x", 1, XATTR_CREATE));
    say("  set user.b XATTR_REPLACE", setxattr(f, "user.b", "x", 1, XATTR_REPLACE));
    say("  set user.b empty", setxattr(f, "user.b", "", 0, XATTR_CREATE));
    static char big[70000];
    memset(big, 'v', sizeof big);
    say("  set user.big 4000 bytes", setxattr(f, "user.big", big, 4000, 0));
    printf("  size of user.a: %zd, of user.b: %zd, of user.big: %zd\n",
           getxattr(f, "user.a", 0, 0), getxattr(f, "user.b", 0, 0),
           getxattr(f, "user.big", 0, 0));
    ssize_t n = getxattr(f, "user.a", buf, sizeof buf);
    printf("  get user.a: %zd %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    printf("  get into too small a buffer: %s\n", err(getxattr(f, "user.a", buf, 2)));
    n = listxattr(f, buf, sizeof buf);
    int names = 0;
    for (char *p = buf; p < buf + n; p += strlen(p) + 1)
        names += !strncmp(p, "user.", 5);
    printf("  list: %zd bytes, %d user names\n", n, names);
    printf("  list into too small a buffer: %s\n", err(listxattr(f, buf, 3)));
    printf("  list through the symlink: %zd, of the symlink itself: %zd\n",
           listxattr(l, buf, sizeof buf), llistxattr(l, buf, sizeof buf));
    say("  lsetxattr user.* on a symlink", lsetxattr(l, "user.a", "x", 1, 0));
    say("  setxattr through the symlink", setxattr(l, "user.c", "via", 3, 0));
    n = getxattr(f, "user.c", buf, sizeof buf);
    printf("  user.c on the file: %zd\n", n);
    int fd = open(f, O_RDONLY);
    say("  fsetxattr user.d", fsetxattr(fd, "user.d", "fd", 2, 0));
    printf("  fgetxattr user.d: %zd\n", fgetxattr(fd, "user.d", buf, sizeof buf));
    say("  fremovexattr user.d", fremovexattr(fd, "user.d"));
    close(fd);
    say("  set a name with no namespace", setxattr(f, "plain", "x", 1, 0));
    say("  set an empty name", setxattr(f, "", "x", 1, 0));
    memset(buf, 'n', 300);
    memcpy(buf, "user.", 5);
    buf[300] = 0;
    say("  set a name too long", setxattr(f, buf, "x", 1, 0));
    say("  set a value too large", setxattr(f, "user.huge", big, 70000, 0));
    say("  set bad flags", setxattr(f, "user.a", "x", 1, 4));
    say("  remove user.a", removexattr(f, "user.a"));
    say("  remove user.a again", removexattr(f, "user.a"));
    say("  set on a directory", setxattr(dir, "user.dir", "d", 1, 0));
    removexattr(dir, "user.dir");
    /* trusted.* and security.*: a container's root has no CAP_SYS_ADMIN
     * over the host's file system (xattr_permission, cap_inode_setxattr). */
    static const char *refused[] = {"trusted.a", "security.a", "trusted."};
    for (unsigned i = 0; i < sizeof refused / sizeof *refused; i++) {
        const char *name = refused[i];
        fd = open(f, O_RDONLY);
        printf("  %s: set %s", name, err(setxattr(f, name, "x", 1, 0)));
        printf(", fset %s", err(fsetxattr(fd, name, "x", 1, 0)));
        printf(", lset %s", err(lsetxattr(f, name, "x", 1, XATTR_CREATE)));
        printf(", too large %s", err(setxattr(f, name, big, 70000, 0)));
        printf(", get %s", err(getxattr(f, name, buf, sizeof buf)));
        printf(", remove %s\n", err(removexattr(f, name)));
        close(fd);
    }
    say("  set system.a", setxattr(f, "system.a", "x", 1, 0));
    say("  set on /dev/null", setxattr("/dev/null", "user.a", "x", 1, 0));
    say("  set on a missing file", setxattr("nothing-here", "user.a", "x", 1, 0));
    unlink(f);
    unlink(l);
}

static void notify(void)
{
    int in = inotify_init1(IN_NONBLOCK);
    touch("w");
    symlink("w", "lw");
    int w1 = inotify_add_watch(in, "lw", IN_ALL_EVENTS);
    int w2 = inotify_add_watch(in, "lw", IN_ALL_EVENTS | IN_DONT_FOLLOW);
    printf("watch through a symlink is the file's: %d, IN_DONT_FOLLOW a second: %d\n", w1 > 0,
           w2 > 0 && w2 != w1);
    truncate("w", 5);
    setxattr("w", "user.watched", "1", 1, 0);
    int fd = open("w", O_WRONLY);
    ftruncate(fd, 2);
    close(fd);
    chmod("w", 0600);
    unlink("lw");
    char buf[4096];
    ssize_t n = read(in, buf, sizeof buf);
    for (char *p = buf; n > 0 && p < buf + n;) {
        struct inotify_event *ev = (struct inotify_event *)p;
        printf("event on %s:", ev->wd == w1 ? "file" : ev->wd == w2 ? "link" : "?");
        static const struct { unsigned m; const char *n; } ms[] = {
            {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
            {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"},
            {IN_OPEN, "OPEN"}, {IN_DELETE_SELF, "DELETE_SELF"}, {IN_IGNORED, "IGNORED"}};
        for (unsigned i = 0; i < sizeof ms / sizeof *ms; i++)
            if (ev->mask & ms[i].m)
                printf(" %s", ms[i].n);
        printf("\n");
        p += sizeof *ev + ev->len;
    }
    /* An execve as a watcher sees it: the program opened, read, closed
     * (how many reads is the loader's business, so only the kinds). */
    int src = open("/proc/self/exe", O_RDONLY), dst = open("prog", O_WRONLY | O_CREAT, 0755);
    char chunk[65536];
    while ((n = read(src, chunk, sizeof chunk)) > 0)
        write(dst, chunk, n);
    close(src);
    close(dst);
    int w3 = inotify_add_watch(in, "prog", IN_ALL_EVENTS);
    pid_t c = fork();
    if (c == 0) {
        execl("prog", "prog", "noop", (char *)0);
        _exit(99);
    }
    int st;
    waitpid(c, &st, 0);
    unsigned kinds = 0;
    n = read(in, buf, sizeof buf);
    for (char *p = buf; n > 0 && p < buf + n; p += sizeof(struct inotify_event) +
                                                   ((struct inotify_event *)p)->len)
        if (((struct inotify_event *)p)->wd == w3)
            kinds |= ((struct inotify_event *)p)->mask;
    printf("execve (exit %d) seen as: OPEN %d ACCESS %d CLOSE_NOWRITE %d MODIFY %d\n",
           WEXITSTATUS(st), !!(kinds & IN_OPEN), !!(kinds & IN_ACCESS),
           !!(kinds & IN_CLOSE_NOWRITE), !!(kinds & IN_MODIFY));
    say("watch a dangling symlink", inotify_add_watch(in, "dangling", IN_ALL_EVENTS));
    say("watch with no events", inotify_add_watch(in, "w", 0));
    say("watch bad flags", inotify_add_watch(in, "w", IN_MASK_ADD | IN_MASK_CREATE | IN_OPEN));
    close(in);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    if (argc == 2 && strcmp(argv[1], "noop") == 0)
        return 0;
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: files DIR\n");
        return 2;
    }
    locks();
    flags();
    names();
    xattrs(".");
    xattrs("/dev/shm");
    lowest_fd(".");
    lowest_fd("/dev/shm");
    lowest_fd("/tmp");
    notify();
    return 0;
}
