/*
 * Control data conformance: sendmsg and sendmmsg with several control
 * messages (SCM_CREDENTIALS, SCM_RIGHTS) whose whole is past 4 KiB, the
 * fds read back by the receiver (the same files), a socket sent past 4 KiB
 * and closed by the sender still listed in /proc/net/unix (in flight), and
 * the limits Linux sets (SCM_MAX_FD fds in all, net.core.optmem_max bytes,
 * INT_MAX), compared with a native run.  Ids and pids are printed relative
 * to the process's own, so both runs print the same.
 *
 *   cmsg DIR          DIR a scratch directory (unused)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCM_MAX_FD 253
#define CREDS 140                       /* 140 * CMSG_SPACE(12) = 4480 bytes */
#define CTL (CREDS * 32 + 2 * (16 + 4 * SCM_MAX_FD) + 64)

static char ctl[CTL], rctl[CTL];

/* Appends a control message at *c (moved past it). */
static struct cmsghdr *put(struct msghdr *m, struct cmsghdr *c, int type, const void *data,
                           size_t len)
{
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(c), data, len);
    m->msg_controllen = (char *)c - (char *)m->msg_control + CMSG_SPACE(len);
    return (struct cmsghdr *)((char *)c + CMSG_SPACE(len));
}

/* CREDS credentials, then fds[0..n1) and fds[n1..n1+n2) in two SCM_RIGHTS. */
static void build(struct msghdr *m, struct iovec *io, const int *fds, int n1, int n2)
{
    memset(m, 0, sizeof *m);
    m->msg_iov = io;
    m->msg_iovlen = 1;
    m->msg_control = ctl;
    struct cmsghdr *c = (struct cmsghdr *)ctl;
    struct ucred uc = {getpid(), getuid(), getgid()};
    for (int i = 0; i < CREDS; i++)
        c = put(m, c, SCM_CREDENTIALS, &uc, sizeof uc);
    c = put(m, c, SCM_RIGHTS, fds, n1 * sizeof(int));
    if (n2)
        put(m, c, SCM_RIGHTS, fds + n1, n2 * sizeof(int));
}

static unsigned long inode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 ? 0 : st.st_ino;
}

/* Whether /proc/net/unix has a line of inode ino. */
static int listed(unsigned long ino)
{
    char line[8192];
    unsigned long i;
    int found = 0;
    FILE *f = fopen("/proc/net/unix", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu", &i) == 1 && i == ino)
            found = 1;
    if (f)
        fclose(f);
    return found;
}

/* Receives one message on s and says what its control data holds: the
 * credentials against the process's own, the fds against the files of the
 * inodes want (taken before the sender closed any). */
static void receive(int s, const unsigned long *want, int n)
{
    char b;
    struct iovec io = {&b, 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = rctl,
                       .msg_controllen = sizeof rctl};
    long r = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    printf("  recvmsg: %s, flags %#x\n", r < 0 ? strerrorname_np(errno) : "ok", m.msg_flags);
    int got = 0, same = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); r >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred uc;
            memcpy(&uc, CMSG_DATA(c), sizeof uc);
            printf("  credentials: pid %+d uid %+d gid %+d\n", uc.pid - getpid(),
                   (int)(uc.uid - getuid()), (int)(uc.gid - getgid()));
            continue;
        }
        int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        printf("  rights: %d fds\n", k);
        for (int i = 0; i < k; i++, got++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            same += got < n && inode_of(fd) == want[got];
            close(fd);
        }
    }
    printf("  %d fds, %d the files sent\n", got, same);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    int pair[2], on = 1, fds[SCM_MAX_FD + 1];
    unsigned long inos[SCM_MAX_FD + 1];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) < 0 ||
        setsockopt(pair[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0)
        return 2;
    for (int i = 0; i < SCM_MAX_FD + 1; i++)
        inos[i] = inode_of(fds[i] = i % 2 ? open("/dev/null", O_RDONLY)
                                            : socket(AF_UNIX, SOCK_DGRAM, 0));
    struct iovec io = {"x", 1};
    struct msghdr m;

    /* Several messages past 4 KiB: 3 fds, then a socket alone at the end. */
    int x = socket(AF_UNIX, SOCK_DGRAM, 0), last[4] = {fds[0], fds[1], fds[2], x};
    unsigned long ino = inode_of(x), last_inos[4] = {inos[0], inos[1], inos[2], ino};
    build(&m, &io, last, 3, 1);
    printf("sendmsg, %zu bytes of control data: %s\n", (size_t)m.msg_controllen,
           sendmsg(pair[0], &m, 0) < 0 ? strerrorname_np(errno) : "ok");
    close(x);
    printf("  the socket sent past 4 KiB, closed: %s\n", listed(ino) ? "listed" : "not listed");
    receive(pair[1], last_inos, 4);

    /* SCM_MAX_FD fds in all, over two parts; then one more. */
    for (int n = SCM_MAX_FD; n <= SCM_MAX_FD + 1; n++) {
        build(&m, &io, fds, 100, n - 100);
        long r = sendmsg(pair[0], &m, 0);
        printf("sendmsg, %d fds in two parts: %s\n", n, r < 0 ? strerrorname_np(errno) : "ok");
        if (r >= 0)
            receive(pair[1], inos, n);
    }

    /* sendmmsg: two such messages, each with a socket past 4 KiB. */
    static char ctl2[CTL];
    struct mmsghdr mm[2];
    int y[2] = {socket(AF_UNIX, SOCK_DGRAM, 0), socket(AF_UNIX, SOCK_DGRAM, 0)};
    unsigned long yino[2] = {inode_of(y[0]), inode_of(y[1])};
    for (int i = 0; i < 2; i++) {
        int part[2] = {fds[1], y[i]};
        build(&m, &io, part, 1, 1);
        if (i == 0) {                   /* the next build writes ctl again */
            memcpy(ctl2, ctl, m.msg_controllen);
            m.msg_control = ctl2;
        }
        mm[i] = (struct mmsghdr){.msg_hdr = m};
    }
    int r = sendmmsg(pair[0], mm, 2, 0);
    printf("sendmmsg, 2 messages: %d%s%s\n", r, r < 0 ? " " : "", r < 0 ? strerrorname_np(errno) : "");
    close(y[0]);
    close(y[1]);
    printf("  their sockets, closed: %s, %s\n", listed(yino[0]) ? "listed" : "not listed",
           listed(yino[1]) ? "listed" : "not listed");
    for (int i = 0; i < (r > 0 ? r : 0); i++) {
        unsigned long part[2] = {inos[1], yino[i]};
        receive(pair[1], part, 2);
    }

    /* Beyond what Linux copies: more than optmem_max, more than INT_MAX. */
    size_t big = 1 << 20;
    char *huge = calloc(1, big);
    build(&m, &io, fds, 1, 0);
    memcpy(huge, ctl, m.msg_controllen);
    m.msg_control = huge;
    m.msg_controllen = big;
    printf("sendmsg, 1 MiB of control data: %s\n",
           sendmsg(pair[0], &m, 0) < 0 ? strerrorname_np(errno) : "ok");
    m.msg_controllen = (size_t)INT_MAX + 1;
    printf("sendmsg, INT_MAX + 1 bytes of control data: %s\n",
           sendmsg(pair[0], &m, 0) < 0 ? strerrorname_np(errno) : "ok");
    /* A header that claims more than the buffer holds. */
    build(&m, &io, fds, 1, 0);
    ((struct cmsghdr *)ctl)->cmsg_len = m.msg_controllen + 1;
    printf("sendmsg, a header longer than the control data: %s\n",
           sendmsg(pair[0], &m, 0) < 0 ? strerrorname_np(errno) : "ok");
    free(huge);
    return 0;
}
