/*
 * Socket conformance: Unix stream sockets (SO_ACCEPTCONN, a send buffer
 * that grows under a blocked writer, shutdown seen by poll, credentials
 * passed and peered, abstract names) and TCP's less common options on
 * loopback, compared with a native run.  Ids and pids are printed relative
 * to the process's own, so both runs print the same.
 *
 *   sockets DIR          DIR a scratch directory
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

static void say(const char *label, long r)
{
    printf("%s: %s\n", label, err(r));
}

static int opt(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0)
        return -errno;
    return v;
}

static void events(const char *label, int fd, short want)
{
    struct pollfd p = {fd, want, 0};
    poll(&p, 1, 0);
    printf("%s:%s%s%s%s%s\n", label, p.revents & POLLIN ? " IN" : "",
           p.revents & POLLOUT ? " OUT" : "", p.revents & POLLHUP ? " HUP" : "",
           p.revents & POLLRDHUP ? " RDHUP" : "", p.revents & POLLERR ? " ERR" : "");
}

static socklen_t unaddr(struct sockaddr_un *a, const char *name, int abstract)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path + abstract, name);
    return offsetof(struct sockaddr_un, sun_path) + abstract + strlen(name) + !abstract;
}

static void listening(void)
{
    struct sockaddr_un a;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("SO_ACCEPTCONN before listen: %d\n", opt(s, SOL_SOCKET, SO_ACCEPTCONN));
    socklen_t l = unaddr(&a, "sock", 0);
    say("bind a path", bind(s, (void *)&a, l));
    say("bind the path again", bind(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&a, l));
    listen(s, 4);
    printf("SO_ACCEPTCONN after listen: %d\n", opt(s, SOL_SOCKET, SO_ACCEPTCONN));
    printf("SO_TYPE %d SO_DOMAIN %d SO_PROTOCOL %d\n", opt(s, SOL_SOCKET, SO_TYPE),
           opt(s, SOL_SOCKET, SO_DOMAIN), opt(s, SOL_SOCKET, SO_PROTOCOL));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    say("connect to the path", connect(c, (void *)&a, l));
    int d = accept(s, 0, 0);
    printf("SO_ACCEPTCONN of the accepted: %d\n", opt(d, SOL_SOCKET, SO_ACCEPTCONN));
    struct ucred cr;
    socklen_t cl = sizeof cr;
    getsockopt(d, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
    printf("SO_PEERCRED: pid self %d uid self %d gid self %d\n", cr.pid == getpid(),
           cr.uid == getuid(), cr.gid == getgid());
    cl = sizeof cr;
    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
    printf("SO_PEERCRED of the connector: pid self %d\n", cr.pid == getpid());
    say("listen on a connected socket", listen(c, 1));
    say("accept on a non-listening socket", accept(c, 0, 0));

    /* Abstract names: no file, visible to this network namespace. */
    int ab = socket(AF_UNIX, SOCK_STREAM, 0);
    char name[32];
    snprintf(name, sizeof name, "libsubst-conformance-%d", getpid());
    l = unaddr(&a, name, 1);
    say("bind abstract", bind(ab, (void *)&a, l));
    listen(ab, 1);
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    getsockname(ab, (void *)&got, &gl);
    printf("getsockname abstract: len right %d name right %d\n", gl == l,
           memcmp(got.sun_path + 1, name, strlen(name)) == 0);
    say("bind the abstract name again", bind(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&a, l));
    pid_t k = fork();
    if (k == 0) {
        int x = socket(AF_UNIX, SOCK_STREAM, 0);
        _exit(connect(x, (void *)&a, l) == 0 ? 0 : 1);
    }
    int st;
    waitpid(k, &st, 0);
    printf("a child connects to the abstract name: %d\n", WEXITSTATUS(st) == 0);
    int y = socket(AF_UNIX, SOCK_STREAM, 0);
    l = unaddr(&a, "", 1);
    say("autobind (address of just the family)", bind(y, (void *)&a, sizeof(sa_family_t)));
    gl = sizeof got;
    getsockname(y, (void *)&got, &gl);
    printf("autobind name: len %u abstract %d\n", gl, got.sun_path[0] == 0);
    close(y);
    close(ab);
    close(c);
    close(d);
    close(s);
}

static void credentials(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int on = 1;
    say("SO_PASSCRED", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    printf("SO_PASSCRED now: %d\n", opt(sv[1], SOL_SOCKET, SO_PASSCRED));
    pid_t c = fork();
    if (c == 0) {
        write(sv[0], "a", 1);            /* no explicit credentials: the kernel adds them */
        struct ucred cr = {getpid(), getuid(), getgid()};
        char cbuf[CMSG_SPACE(sizeof cr)];
        struct iovec io = {"b", 1};
        struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
                           .msg_controllen = sizeof cbuf};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_CREDENTIALS;
        cm->cmsg_len = CMSG_LEN(sizeof cr);
        memcpy(CMSG_DATA(cm), &cr, sizeof cr);
        sendmsg(sv[0], &m, 0);
        cr.pid = 1 << 22;              /* not ours: EPERM for anyone without CAP_SYS_ADMIN */
        memcpy(CMSG_DATA(cm), &cr, sizeof cr);
        _exit(sendmsg(sv[0], &m, 0) < 0 ? errno : 0);
    }
    for (int i = 0; i < 2; i++) {
        char b, cbuf[CMSG_SPACE(sizeof(struct ucred))];
        struct iovec io = {&b, 1};
        struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
                           .msg_controllen = sizeof cbuf};
        recvmsg(sv[1], &m, 0);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        struct ucred cr = {0};
        if (cm && cm->cmsg_type == SCM_CREDENTIALS)
            memcpy(&cr, CMSG_DATA(cm), sizeof cr);
        printf("message %c: credentials %d, pid the child %d, uid %d gid %d\n", b, cm != 0,
               cr.pid == c, cr.uid == getuid(), cr.gid == getgid());
    }
    int st;
    waitpid(c, &st, 0);
    printf("send another pid's credentials: %s\n",
           WEXITSTATUS(st) ? strerrorname_np(WEXITSTATUS(st)) : "ok");
    close(sv[0]);
    close(sv[1]);
}

static int writer_fd;

static void *writer(void *arg)
{
    static char buf[4096];
    long total = 0, n;
    while (total < (long)arg && (n = write(writer_fd, buf, sizeof buf)) > 0)
        total += n;
    return (void *)total;
}

static void buffers(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    printf("SO_SNDBUF 4096 reads as %d\n", opt(sv[0], SOL_SOCKET, SO_SNDBUF));
    int tiny = 1;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    printf("SO_SNDBUF 1 reads as the minimum: %d\n", opt(sv[0], SOL_SOCKET, SO_SNDBUF) > 1);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    /* Fill it, then a blocked writer is woken when the buffer grows. */
    int fl = 1;
    while (send(sv[0], &fl, 1, MSG_DONTWAIT) == 1)
        ;
    printf("full: %s\n", strerrorname_np(errno));
    events("poll on a full sender", sv[0], POLLOUT);
    writer_fd = sv[0];
    pthread_t t;
    pthread_create(&t, 0, writer, (void *)4096L);
    struct pollfd p = {sv[0], POLLOUT, 0};
    poll(&p, 1, 50);
    int big = 1 << 20;
    say("SO_SNDBUF 1 MiB under a blocked writer", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big,
                                                             sizeof big));
    void *res;
    pthread_join(t, &res);
    printf("the writer finished: %ld bytes\n", (long)res);
    char drain[65536];
    while (recv(sv[1], drain, sizeof drain, MSG_DONTWAIT) > 0)
        ;

    /* shutdown as poll shows it on each side. */
    events("before shutdown, peer", sv[1], POLLIN | POLLOUT | POLLRDHUP);
    shutdown(sv[0], SHUT_WR);
    events("after SHUT_WR, peer", sv[1], POLLIN | POLLOUT | POLLRDHUP);
    events("after SHUT_WR, self", sv[0], POLLIN | POLLOUT | POLLRDHUP);
    printf("read at EOF: %zd\n", read(sv[1], drain, 1));
    say("write after SHUT_WR", send(sv[0], "x", 1, MSG_NOSIGNAL));
    /* A poller blocked in poll is woken by the peer's shutdown. */
    int pv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pv);
    pid_t c = fork();
    if (c == 0) {
        struct pollfd q = {pv[1], POLLRDHUP, 0};
        int n = poll(&q, 1, 10000);
        _exit(n == 1 && (q.revents & POLLRDHUP) ? 0 : 1);
    }
    usleep(20000);
    shutdown(pv[0], SHUT_RDWR);
    int st;
    waitpid(c, &st, 0);
    printf("a blocked poller woken with POLLRDHUP: %d\n", WEXITSTATUS(st) == 0);
    events("after the peer's SHUT_RDWR", pv[1], POLLIN | POLLOUT | POLLRDHUP);
    close(pv[0]);
    events("after the peer closed", pv[1], POLLIN | POLLOUT | POLLRDHUP);
    close(pv[1]);
    close(sv[0]);
    events("after close, peer", sv[1], POLLIN | POLLOUT | POLLRDHUP);
    say("shutdown bad how", shutdown(sv[1], 7));
    say("shutdown not a socket", shutdown(pv[1], SHUT_RD));
    close(sv[1]);
}

static void tcp(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (void *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(s, (void *)&a, &l);
    say("TCP_DEFER_ACCEPT 5", setsockopt(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, &(int){5}, sizeof(int)));
    printf("TCP_DEFER_ACCEPT reads as >= 5: %d\n", opt(s, IPPROTO_TCP, TCP_DEFER_ACCEPT) >= 5);
    say("TCP_FASTOPEN 5", setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN, &(int){5}, sizeof(int)));
    listen(s, 4);
    printf("SO_ACCEPTCONN tcp: %d\n", opt(s, SOL_SOCKET, SO_ACCEPTCONN));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    static const struct { int level, name, value; const char *label; } opts[] = {
        {IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"},
        {IPPROTO_TCP, TCP_CORK, 1, "TCP_CORK"},
        {IPPROTO_TCP, TCP_KEEPIDLE, 30, "TCP_KEEPIDLE"},
        {IPPROTO_TCP, TCP_KEEPINTVL, 7, "TCP_KEEPINTVL"},
        {IPPROTO_TCP, TCP_KEEPCNT, 3, "TCP_KEEPCNT"},
        {IPPROTO_TCP, TCP_USER_TIMEOUT, 1234, "TCP_USER_TIMEOUT"},
        {IPPROTO_TCP, TCP_QUICKACK, 1, "TCP_QUICKACK"},
        {IPPROTO_TCP, TCP_LINGER2, 10, "TCP_LINGER2"},
        {IPPROTO_TCP, TCP_SYNCNT, 3, "TCP_SYNCNT"},
        {IPPROTO_TCP, TCP_WINDOW_CLAMP, 20000, "TCP_WINDOW_CLAMP"},
        {IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4096, "TCP_NOTSENT_LOWAT"},
        {IPPROTO_TCP, TCP_KEEPIDLE, 0, "TCP_KEEPIDLE 0"},
        {IPPROTO_TCP, TCP_SYNCNT, 500, "TCP_SYNCNT 500"},
        {SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
        {SOL_SOCKET, SO_OOBINLINE, 1, "SO_OOBINLINE"},
        {SOL_SOCKET, SO_PRIORITY, 3, "SO_PRIORITY"},
        {SOL_SOCKET, SO_RCVLOWAT, 10, "SO_RCVLOWAT"},
        {IPPROTO_IP, IP_TOS, 0x10, "IP_TOS"},
        {IPPROTO_IP, IP_TTL, 9, "IP_TTL"},
    };
    for (unsigned i = 0; i < sizeof opts / sizeof *opts; i++) {
        int r = setsockopt(c, opts[i].level, opts[i].name, &opts[i].value, sizeof(int));
        printf("%s %d: %s, reads %d\n", opts[i].label, opts[i].value, err(r),
               opt(c, opts[i].level, opts[i].name));
    }
    struct linger lg = {1, 2};
    say("SO_LINGER", setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    socklen_t ll = sizeof lg;
    getsockopt(c, SOL_SOCKET, SO_LINGER, &lg, &ll);
    printf("SO_LINGER reads %d %d\n", lg.l_onoff, lg.l_linger);
    say("short optlen", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, 1));
    say("TCP_CONGESTION reno", setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, "reno", 4));
    char cc[16] = {0};
    socklen_t cl = sizeof cc;
    getsockopt(c, IPPROTO_TCP, TCP_CONGESTION, cc, &cl);
    printf("TCP_CONGESTION reads %s\n", cc);
    say("unknown TCP option", setsockopt(c, IPPROTO_TCP, 9999, &on, sizeof on));
    say("connect", connect(c, (void *)&a, sizeof a));
    int d = accept(s, 0, 0);
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl);
    printf("TCP_INFO: state ESTABLISHED %d, length whole %d\n", ti.tcpi_state == 1,
           tl == sizeof ti);
    printf("TCP_MAXSEG of a connection > 0: %d\n", opt(c, IPPROTO_TCP, TCP_MAXSEG) > 0);
    send(c, "!", 1, MSG_OOB);
    send(c, "ab", 2, 0);
    char b[4];
    struct pollfd p = {d, POLLPRI, 0};
    poll(&p, 1, 1000);
    printf("urgent data seen as POLLPRI: %d\n", !!(p.revents & POLLPRI));
    shutdown(c, SHUT_WR);
    p = (struct pollfd){d, POLLIN | POLLRDHUP, 0};
    poll(&p, 1, 1000);
    printf("TCP SHUT_WR: peer RDHUP %d\n", !!(p.revents & POLLRDHUP));
    close(d);
    close(c);
    close(s);
    (void)b;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    if (argc != 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: sockets DIR\n");
        return 2;
    }
    listening();
    credentials();
    buffers();
    tcp();
    return 0;
}
