/*
 * The fds SCM_RIGHTS messages bring, as the receiver sees them: for each
 * message its fd count, MSG_CTRUNC, and each fd's kind with what it holds
 * (a file's first line, a directory's number of entries); then the lowest
 * free fd (what was received and not given is closed).  tests/test_exec_state.py
 * compares a guest's run with a native one: a directory fd is refused in
 * the guest, as --preserve-fds refuses one.
 *
 *   recv_fds msg N    N messages from fd 3 (a datagram socket), by recvmsg
 *   recv_fds mmsg N   the same by one recvmmsg
 *   recv_fds fork     a child sends its working directory between two files
 *                     (named a and b in it) to this process, which has the
 *                     directory open itself too: that fd stays open (only
 *                     copies of a refused fd are closed)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXFD 8

static void show(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        printf("  fd: not open\n");
    } else if (S_ISDIR(st.st_mode)) {
        DIR *d = fdopendir(fd);
        int n = 0;
        while (d && readdir(d))
            n++;
        printf("  fd: directory of %d entries\n", n);
        if (d)
            closedir(d);
        return;
    } else {
        char line[64] = "";
        ssize_t r = read(fd, line, sizeof line - 1);
        line[r > 0 ? r : 0] = 0;
        line[strcspn(line, "\n")] = 0;
        printf("  fd: file \"%s\"\n", line);
    }
    close(fd);
}

static void report(int i, const struct msghdr *m, ssize_t len)
{
    int fds[MAXFD], n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && n < MAXFD; k++)
                memcpy(&fds[n++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
    printf("message %d: %zd bytes, %d fds, MSG_CTRUNC %d, MSG_CMSG_CLOEXEC %d\n", i, len, n,
           !!(m->msg_flags & MSG_CTRUNC), !!(m->msg_flags & MSG_CMSG_CLOEXEC));
    for (int k = 0; k < n; k++)
        show(fds[k]);
}

struct slot {
    char data[16];
    union {
        char buf[CMSG_SPACE(MAXFD * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec io;
};

static void prepare(struct msghdr *m, struct slot *s)
{
    memset(m, 0, sizeof *m);
    s->io = (struct iovec){s->data, sizeof s->data};
    m->msg_iov = &s->io;
    m->msg_iovlen = 1;
    m->msg_control = s->ctl.buf;
    m->msg_controllen = sizeof s->ctl.buf;
}

static void send_three(int sock)
{
    int fds[3] = {open("a", O_RDONLY), open(".", O_RDONLY | O_DIRECTORY), open("b", O_RDONLY)};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } ctl;
    struct iovec io = {"child", 5};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    if (sendmsg(sock, &m, 0) < 0)
        perror("sendmsg");
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 1, sock = 3, own = -1;
    if (argc < 2 || n < 1 || n > 4) {
        fprintf(stderr, "usage: recv_fds msg|mmsg N | fork\n");
        return 2;
    }
    if (!strcmp(argv[1], "fork")) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
            return perror("socketpair"), 1;
        pid_t pid = fork();
        if (pid == 0) {
            send_three(sv[1]);
            _exit(0);
        }
        close(sv[1]);
        own = open(".", O_RDONLY | O_DIRECTORY);
        waitpid(pid, 0, 0);
        sock = sv[0];
    }
    struct slot s[4];
    struct mmsghdr mm[4];
    for (int i = 0; i < n; i++)
        prepare(&mm[i].msg_hdr, &s[i]);
    if (!strcmp(argv[1], "mmsg")) {
        int got = recvmmsg(sock, mm, n, 0, 0);
        if (got < 0)
            return perror("recvmmsg"), 1;
        for (int i = 0; i < got; i++)
            report(i, &mm[i].msg_hdr, mm[i].msg_len);
    } else {
        for (int i = 0; i < n; i++) {
            ssize_t len = recvmsg(sock, &mm[i].msg_hdr, 0);
            if (len < 0)
                return perror("recvmsg"), 1;
            report(i, &mm[i].msg_hdr, len);
        }
    }
    if (sock != 3)
        close(sock);
    if (own >= 0)
        printf("own fd of the directory still open: %d\n", fcntl(own, F_GETFD) >= 0);
    printf("lowest free fd: %d\n", dup(0));
    return 0;
}
