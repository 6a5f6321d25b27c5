/*
 * /proc/net conformance: the files monitoring tools read (psutil's
 * net_connections, netstat, ifconfig) list the caller's own sockets by the
 * inode its /proc/<pid>/fd links show (socket:[N]), Unix sockets with the
 * paths they were bound at, a forked child's too, and no longer once
 * closed; /proc/net is self/net; /sys/class/net has a directory per
 * interface, with the files sysfs shows; a connection not yet accepted is
 * listed (inode 0, at its listener's path), and so is a socket in flight
 * (sent with SCM_RIGHTS, closed by the sender, not yet received: held by no
 * fd), with sendmsg and sendmmsg.  Paths are printed relative to
 * the working directory and ports as "P", so both runs print the same.
 *
 *   procnet DIR          DIR a scratch directory
 *   procnet DIR own      Unix sockets only, in a network namespace of the
 *                        program's own, sockets in flight too
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char cwd[4096];

/* The inode of fd's socket, from its /proc/<pid>/fd link; 0 if none. */
static unsigned long inode_of(pid_t pid, int fd)
{
    char path[64], link[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    unsigned long ino = 0;
    if (n > 0) {
        link[n] = 0;
        sscanf(link, "socket:[%lu]", &ino);
    }
    return ino;
}

/* The line of /proc/net/<file> whose inode field (field: its place) is ino. */
static int find(const char *file, int field, unsigned long ino, char *line, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/net/%s", file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    int found = 0;
    while (!found && fgets(line, cap, f)) {
        char *save, *tok = strtok_r(line, " \n", &save);
        for (int i = 0; tok && i < field; i++)
            tok = strtok_r(0, " \n", &save);
        if (tok && strtoul(tok, 0, 10) == ino && ino) {
            /* the rest: Unix's path, if any */
            char *rest = strtok_r(0, "\n", &save);
            memmove(line, rest ? rest : "", strlen(rest ? rest : "") + 1);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* A Unix socket's line: listed or not, and its path relative to cwd. */
static void unix_line(const char *label, pid_t pid, int fd)
{
    char line[8192];
    int r = find("unix", 6, inode_of(pid, fd), line, sizeof line);
    if (r <= 0) {
        printf("%s: %s\n", label, r < 0 ? strerrorname_np(-r) : "not listed");
        return;
    }
    size_t n = strlen(cwd);
    const char *p = line;
    while (*p == ' ')
        p++;
    if (!*p)
        printf("%s: listed, no path\n", label);
    else if (strncmp(p, cwd, n) == 0 && p[n] == '/')
        printf("%s: listed at ./%s\n", label, p + n + 1);
    else
        printf("%s: listed at %s\n", label, p[0] != '/' ? p : "a path outside the cwd");
}

/* A Unix socket bound at cwd/name, or at abstract name. */
static int unix_bound(int type, const char *name, int abstract)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char path[sizeof cwd + 64];
    snprintf(path, sizeof path, "%s/%s", cwd, name);
    if (strlen(path) >= sizeof a.sun_path - 1)
        abstract = 1;                    /* a working directory too deep to bind in */
    strcpy(a.sun_path + abstract, abstract ? name : path);
    int s = socket(AF_UNIX, type, 0);
    socklen_t l = offsetof(struct sockaddr_un, sun_path) + abstract + strlen(a.sun_path + abstract) +
                  !abstract;
    if (bind(s, (void *)&a, l) < 0)
        printf("bind %s: %s\n", name, strerrorname_np(errno));
    return s;
}

/* The lines of /proc/net/unix with inode 0 at cwd/name: connections to
 * name's listener that it has not accepted. */
static int pending(const char *name)
{
    char line[8192], want[sizeof cwd + 64], path[sizeof want];
    snprintf(want, sizeof want, "%s/%s", cwd, name);
    FILE *f = fopen("/proc/net/unix", "r");
    int n = 0;
    unsigned long ino;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %s", &ino, path) == 2 && ino == 0 &&
            strcmp(path, want) == 0)
            n++;
    if (f)
        fclose(f);
    return n;
}

/* A socket sent over a socket pair (by sendmsg, or by sendmmsg when mm)
 * and closed by the sender: held by no fd, in flight until received. */
static void in_flight(int mm)
{
    int pair[2], x = socket(AF_UNIX, SOCK_DGRAM, 0);
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec io = {"x", 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &x, sizeof x);
    unsigned long ino = inode_of(getpid(), x);
    struct mmsghdr mmsg = {.msg_hdr = m};
    if (mm ? sendmmsg(pair[0], &mmsg, 1, 0) != 1 : sendmsg(pair[0], &m, 0) < 0)
        printf("send: %s\n", strerrorname_np(errno));
    close(x);
    char line[8192];
    printf("a socket in flight (%s): %s\n", mm ? "sendmmsg" : "sendmsg",
           find("unix", 6, ino, line, sizeof line) > 0 ? "listed" : "not listed");
    close(pair[0]);
    close(pair[1]);
}

static void unix_sockets(void)
{
    char abs[64];
    unlink("stream.sock");
    unlink("dgram.sock");
    int s = unix_bound(SOCK_STREAM, "stream.sock", 0);
    listen(s, 4);
    int d = unix_bound(SOCK_DGRAM, "dgram.sock", 0);
    snprintf(abs, sizeof abs, "procnet-%d", getpid());
    int a = unix_bound(SOCK_STREAM, abs, 1);
    int pair[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    unix_line("unix stream, listening", getpid(), s);
    int early = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t sl = sizeof sa;
    getsockname(s, (void *)&sa, &sl);
    printf("pending connections before: %d\n", pending("stream.sock"));
    if (connect(early, (void *)&sa, sl) < 0)
        printf("connect stream.sock: %s\n", strerrorname_np(errno));
    printf("pending connections, one not accepted: %d\n", pending("stream.sock"));
    close(accept(s, 0, 0));
    printf("pending connections, accepted: %d\n", pending("stream.sock"));
    close(early);
    unix_line("unix datagram", getpid(), d);
    char label[96];
    snprintf(label, sizeof label, "unix abstract (@procnet-PID)");
    char line[8192];
    int r = find("unix", 6, inode_of(getpid(), a), line, sizeof line);
    snprintf(abs, sizeof abs, "@procnet-%d", getpid());
    printf("%s: %s\n", label, r > 0 && strcmp(line, abs) == 0 ? "listed at its name" : "not as named");
    /* Bound by a relative name: listed, and named by getsockname, as bound. */
    unlink("relative.sock");
    int rel = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un ra = {.sun_family = AF_UNIX, .sun_path = "relative.sock"};
    if (bind(rel, (void *)&ra, sizeof ra) < 0)
        printf("bind relative.sock: %s\n", strerrorname_np(errno));
    unix_line("unix bound by a relative name", getpid(), rel);
    socklen_t rl = sizeof ra;
    memset(&ra, 0, sizeof ra);
    getsockname(rel, (void *)&ra, &rl);
    printf("getsockname: %s, length %d\n", ra.sun_path, (int)rl);
    /* A client that connects by the absolute path sees the name as bound. */
    listen(rel, 1);
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un ca = {.sun_family = AF_UNIX};
    char full[sizeof cwd + 32];
    snprintf(full, sizeof full, "%s/relative.sock", cwd);
    if (strlen(full) < sizeof ca.sun_path) {
        strcpy(ca.sun_path, full);
        if (connect(cl, (void *)&ca, sizeof ca) < 0)
            printf("connect by the absolute path: %s\n", strerrorname_np(errno));
        rl = sizeof ca;
        memset(&ca, 0, sizeof ca);
        getpeername(cl, (void *)&ca, &rl);
        printf("getpeername: %s, length %d\n", ca.sun_path, (int)rl);
    }
    close(cl);
    close(rel);
    unlink("relative.sock");
    unix_line("socketpair end 0", getpid(), pair[0]);
    unix_line("socketpair end 1", getpid(), pair[1]);

    /* A child's socket, read by the parent through the child's fd link. */
    int sync[2];
    pipe(sync);
    pid_t c = fork();
    if (c == 0) {
        unlink("child.sock");
        int k = unix_bound(SOCK_STREAM, "child.sock", 0);
        char fd = k;
        write(sync[1], &fd, 1);
        pause();
        _exit(0);
    }
    char fd;
    read(sync[0], &fd, 1);
    unix_line("a child's socket", c, fd);
    kill(c, SIGKILL);
    waitpid(c, 0, 0);

    unsigned long ino = inode_of(getpid(), s);
    close(s);
    printf("closed: %s\n", find("unix", 6, ino, line, sizeof line) > 0 ? "listed" : "gone");
    close(d);
    close(a);
    close(pair[0]);
    close(pair[1]);
    unlink("stream.sock");
    unlink("dgram.sock");
    unlink("child.sock");
}

/* fd's line of /proc/net/<file> (tcp, tcp6, udp, udp6): its local
 * address, the port "P" when it is port, and its state. */
static void inet_line(const char *file, const char *label, int fd, int port)
{
    char path[64], line[1024], sl[16], local[64], remote[64], st[8];
    unsigned long ino = inode_of(getpid(), fd), i = 0;
    snprintf(path, sizeof path, "/proc/net/%s", file);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s %s: %s\n", file, label, strerrorname_np(errno));
        return;
    }
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "%15s %63s %63s %7s %*s %*s %*s %*s %*s %lu", sl, local, remote,
                       st, &i) == 5 && i == ino;
    fclose(f);
    if (!found) {
        printf("%s %s: not listed\n", file, label);
        return;
    }
    char ports[8];
    snprintf(ports, sizeof ports, ":%04X", port);
    char *p = strstr(local, ports);
    if (p && !p[strlen(ports)])
        strcpy(p, ":P");
    printf("%s %s: local %s, state %s\n", file, label, local, st);
}

static int inet_port(int fd)
{
    struct sockaddr_in6 a;
    socklen_t l = sizeof a;
    getsockname(fd, (void *)&a, &l);
    return ntohs(a.sin6_port);
}

static void inet_sockets(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int l = socket(AF_INET, SOCK_STREAM, 0);
    bind(l, (void *)&a, sizeof a);
    listen(l, 4);
    inet_line("tcp", "listening", l, inet_port(l));
    socklen_t al = sizeof a;
    getsockname(l, (void *)&a, &al);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (void *)&a, sizeof a);
    int s = accept(l, 0, 0);
    inet_line("tcp", "accepted", s, inet_port(l));
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (bind(l6, (void *)&a6, sizeof a6) == 0) {
        listen(l6, 4);
        inet_line("tcp6", "listening", l6, inet_port(l6));
    }
    a.sin_port = 0;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    bind(u, (void *)&a, sizeof a);
    inet_line("udp", "bound", u, inet_port(u));
    int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
    if (bind(u6, (void *)&a6, sizeof a6) == 0)
        inet_line("udp6", "bound", u6, inet_port(u6));
    close(l);
    close(c);
    close(s);
    close(l6);
    close(u);
    close(u6);
}

/* /proc/net/dev names the interfaces netlink does (if_nameindex). */
static void interfaces(void)
{
    char buf[512];
    char link[64];
    ssize_t n = readlink("/proc/net", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    printf("/proc/net -> %s\n", link);
    FILE *f = fopen("/proc/net/dev", "r");
    if (!f) {
        printf("/proc/net/dev: %s\n", strerrorname_np(errno));
        return;
    }
    int listed = 0, known = 0;
    struct if_nameindex *ix = if_nameindex();
    while (fgets(buf, sizeof buf, f)) {
        char *colon = strchr(buf, ':');
        if (!colon || strchr(buf, '|'))
            continue;
        *colon = 0;
        char *name = buf + strspn(buf, " ");
        listed++;
        for (struct if_nameindex *i = ix; i && i->if_index; i++)
            known += strcmp(i->if_name, name) == 0;
    }
    fclose(f);
    int all = 0;
    for (struct if_nameindex *i = ix; i && i->if_index; i++)
        all++;
    if_freenameindex(ix);
    printf("/proc/net/dev: lo listed %s, every interface netlink names: %s\n",
           listed > 0 ? "yes" : "no", listed == all && known == all ? "yes" : "no");
    DIR *dir = opendir("/proc/self/net");
    const char *want[] = {"dev", "if_inet6", "tcp", "tcp6", "udp", "udp6", "unix"};
    int have = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        for (size_t i = 0; i < sizeof want / sizeof *want; i++)
            have += strcmp(e->d_name, want[i]) == 0;
    if (dir)
        closedir(dir);
    printf("/proc/self/net lists dev, if_inet6, tcp, tcp6, udp, udp6, unix: %s\n",
           have == 7 ? "yes" : "no");
}

/* /sys/class/net: a directory for every interface netlink names; lo's files. */
static void sysfs_interfaces(void)
{
    const char *files[] = {"address", "flags", "ifindex", "mtu", "tx_queue_len", "type"};
    struct if_nameindex *ix = if_nameindex();
    int listed = 0, all = 0;
    DIR *dir = opendir("/sys/class/net");
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        for (struct if_nameindex *i = ix; i && i->if_index; i++)
            listed += strcmp(e->d_name, i->if_name) == 0;
    if (dir)
        closedir(dir);
    for (struct if_nameindex *i = ix; i && i->if_index; i++, all++) {
        /* Only loopback's values are printed: the host's other interfaces
         * may come and go (containers) between the native and guest runs. */
        if (strcmp(i->if_name, "lo") != 0)
            continue;
        printf("/sys/class/net/%s:", i->if_name);
        for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
            char path[128], v[64] = "";
            snprintf(path, sizeof path, "/sys/class/net/%s/%s", i->if_name, files[k]);
            FILE *f = fopen(path, "r");
            if (!f || !fgets(v, sizeof v, f))
                snprintf(v, sizeof v, "%s", strerrorname_np(errno));
            if (f)
                fclose(f);
            v[strcspn(v, "\n")] = 0;
            printf(" %s=%s", files[k], v);
        }
        printf("\n");
    }
    if_freenameindex(ix);
    printf("/sys/class/net lists every interface: %s\n", listed == all ? "yes" : "no");
    printf("/sys/class/net/no-such-if: %s\n",
           access("/sys/class/net/no-such-if", F_OK) < 0 ? strerrorname_np(errno) : "there");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    alarm(60);
    if (argc < 2 || chdir(argv[1]) < 0 || !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "usage: procnet DIR\n");
        return 2;
    }
    if (argc == 3 && strcmp(argv[2], "own") == 0) {
        unix_sockets();
        in_flight(0);
        in_flight(1);
        return 0;
    }
    interfaces();
    sysfs_interfaces();
    unix_sockets();
    in_flight(0);
    in_flight(1);
    inet_sockets();
    return 0;
}
