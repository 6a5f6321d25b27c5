/*
 * Pseudo-terminal conformance: posix_openpt, grantpt, unlockpt, ptsname,
 * /dev/ptmx and /dev/pts/N, openpty, TIOCGPTPEER, termios and window size
 * on the pair, data and echo both ways, a new session taking the terminal
 * (setsid, TIOCSCTTY, /dev/tty, tcgetpgrp), EIO once the other side is
 * closed, compared with a native run.  Terminal numbers are printed
 * relative (the host has terminals of its own), so both runs print the same.
 *
 *   pty WORD               WORD ignored (the conformance runner's argument)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* What fd reads within a second, printed with its escapes. */
static void show_read(const char *label, int fd)
{
    char buf[256];
    struct timeval tv = {1, 0};
    fd_set in;
    FD_ZERO(&in);
    FD_SET(fd, &in);
    long n = select(fd + 1, &in, 0, 0, &tv) == 1 ? read(fd, buf, sizeof buf) : 0;
    printf("%s: ", label);
    if (n < 0)
        printf("%s", strerrorname_np(errno));
    for (long i = 0; i < n; i++)
        printf(buf[i] >= ' ' && buf[i] < 127 ? "%c" : "\\x%02x", (unsigned char)buf[i]);
    printf("\n");
}

static int listed(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= strcmp(e->d_name, name) == 0;
    if (d)
        closedir(d);
    return found;
}

static void pair(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    printf("posix_openpt: %s, grantpt: %s, unlockpt: %s\n", err(m), err(grantpt(m)),
           err(unlockpt(m)));
    unsigned n = 0;
    char want[32], name[32];
    ioctl(m, TIOCGPTN, &n);
    snprintf(want, sizeof want, "/dev/pts/%u", n);
    snprintf(name, sizeof name, "%u", n);
    printf("ptsname is /dev/pts/TIOCGPTN: %d, listed in /dev/pts: %d, ptmx listed: %d\n",
           strcmp(ptsname(m) ? ptsname(m) : "", want) == 0, listed("/dev/pts", name),
           listed("/dev/pts", "ptmx"));
    struct stat st;
    stat("/dev/ptmx", &st);
    printf("/dev/ptmx: chr %d, %u:%u, mode %o\n", S_ISCHR(st.st_mode), major(st.st_rdev),
           minor(st.st_rdev), st.st_mode & 0777);
    int s = open(want, O_RDWR | O_NOCTTY);
    stat(want, &st);
    printf("slave: open %s, chr %d, major %u, isatty master %d slave %d, ttyname %d\n",
           err(s), S_ISCHR(st.st_mode), major(st.st_rdev), isatty(m), isatty(s),
           ttyname(s) && strcmp(ttyname(s), want) == 0);

    struct termios t;
    tcgetattr(s, &t);
    printf("termios: iflag %#x oflag %#x cflag %#x lflag %#x\n", t.c_iflag, t.c_oflag,
           t.c_cflag, t.c_lflag);
    struct winsize ws = {.ws_row = 33, .ws_col = 99}, got = {0};
    printf("TIOCSWINSZ on master: %s", err(ioctl(m, TIOCSWINSZ, &ws)));
    printf(", slave sees %s", err(ioctl(s, TIOCGWINSZ, &got)));
    printf(" %ux%u\n", got.ws_row, got.ws_col);

    write(m, "hello\n", 6);
    show_read("slave reads", s);
    show_read("master reads the echo", m);
    write(s, "out\n", 4);
    show_read("master reads", m);

    cfmakeraw(&t);
    printf("raw: %s", err(tcsetattr(s, TCSANOW, &t)));
    tcgetattr(s, &t);
    printf(", lflag %#x\n", t.c_lflag);
    write(m, "x\n", 2);
    show_read("raw slave reads", s);

    int peer = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    printf("TIOCGPTPEER: %s, ttyname %d\n", err(peer),
           peer >= 0 && ttyname(peer) && strcmp(ttyname(peer), want) == 0);
    close(peer);
    close(s);
    show_read("master after the slave's close", m);
    close(m);
}

/* A child takes the terminal as its controlling one, in a session of its own. */
static void session(void)
{
    int m, s;
    printf("openpty: %s\n", err(openpty(&m, &s, 0, 0, 0)));
    pid_t pid = fork();
    if (pid == 0) {
        close(m);
        int ok = setsid() == getpid();
        int ctty = ioctl(s, TIOCSCTTY, 0);
        int tty = open("/dev/tty", O_RDWR);
        char line[128];
        snprintf(line, sizeof line, "setsid %d TIOCSCTTY %s /dev/tty %s pgrp %d sid %d\n", ok,
                 ctty < 0 ? strerrorname_np(errno) : "ok", tty < 0 ? strerrorname_np(errno) : "ok",
                 tcgetpgrp(s) == getpid(), tcgetsid(s) == getpid());
        write(tty >= 0 ? tty : s, line, strlen(line));
        _exit(0);
    }
    close(s);
    show_read("the child says", m);
    int st;
    waitpid(pid, &st, 0);
    printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(m);
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    pair();
    session();
    printf("isatty on a pipe: ");
    int p[2];
    pipe(p);
    int r = isatty(p[0]);
    printf("%d %s\n", r, strerrorname_np(errno));
    return 0;
}
