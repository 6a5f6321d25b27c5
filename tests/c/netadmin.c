#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

/* Network administration a guest must not have (each line: what, then OK
 * or the error), and what servers need, which it keeps. */
static void say(const char *what, int r) {
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "OK");
}

static int sock(int family, int type, int proto) {
    int s = socket(family, type, proto);
    if (s >= 0)
        close(s);
    return s;
}

int main(void) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    syscall(SYS_capget, &h, d);
    for (int cap = CAP_NET_ADMIN; cap <= CAP_NET_RAW; cap++)
        printf("capability %d: effective %d, permitted %d, bounding %d\n", cap,
               !!(d[0].effective & CAP_TO_MASK(cap)), !!(d[0].permitted & CAP_TO_MASK(cap)),
               prctl(PR_CAPBSET_READ, cap) == 1);
    say("raw IPv4 socket", sock(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    say("raw IPv6 socket", sock(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
    say("packet socket", sock(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    say("netfilter netlink socket", sock(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER));
    say("sock_diag netlink socket", sock(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG));
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_mtu = 1280;
    say("MTU of lo", ioctl(s, SIOCSIFMTU, &ifr));
    close(s);

    struct ifaddrs *ifa, *i;
    int lo = 0;
    if (getifaddrs(&ifa) == 0) {
        for (i = ifa; i; i = i->ifa_next)
            lo |= !strcmp(i->ifa_name, "lo");
        freeifaddrs(ifa);
    }
    printf("getifaddrs lists lo: %s\n", lo ? "yes" : "no");
    /* A TCP server and client on loopback. */
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    char buf[8] = {0};
    int ok = bind(l, (void *)&a, sizeof a) == 0 && listen(l, 1) == 0 &&
             getsockname(l, (void *)&a, &n) == 0 && connect(c, (void *)&a, sizeof a) == 0;
    int t = ok ? accept(l, 0, 0) : -1;
    ok = t >= 0 && write(c, "ping", 4) == 4 && read(t, buf, 4) == 4;
    printf("TCP on loopback: %s\n", ok ? buf : strerror(errno));
    return 0;
}
