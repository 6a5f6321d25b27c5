/*
 * The guest's namespaces, made by the tender before anything of the
 * guest runs.  The process libsubst's monitor started clones the guest's
 * first process into new user, mount, pid, IPC, UTS and cgroup namespaces
 * (and a network namespace with --net none) and stays outside as the relay
 * (relay.c), which writes its id maps.  The guest holds no capability on
 * the host.
 *
 * Host files.  The guest's mount namespace has a root of its own (root.c).
 * For a root caller the relay idmaps the image files and the volumes into
 * the guest's user namespace, so host root's files are the guest root's,
 * as they are to a native run, and what guest root writes to a volume is
 * host root's.
 */
#include "tender.h"
#include "host_constants.h"
#include <linux/capability.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/sockios.h>

/* The program's own user and group (an OCI config's process.user, through
 * libsubst-runtime): the guest's first process has been root of its user
 * namespace to build it; the program runs as bi->uid, bi->gid with no
 * supplementary group, as setuid(2) leaves it: no capability.  Nothing to
 * do when they are already its ids (every `libsubst run`). */
long tender_become_user(void)
{
    long r = 0;
    if (hsys0(__NR_getgid) != tender_bi->gid &&
        ((r = hsys2(__NR_setgroups, 0, 0)) < 0 ||
         (r = hsys3(__NR_setresgid, tender_bi->gid, tender_bi->gid, tender_bi->gid)) < 0))
        return r;
    if (r >= 0 && hsys0(__NR_getuid) != tender_bi->uid)
        r = hsys3(__NR_setresuid, tender_bi->uid, tender_bi->uid, tender_bi->uid);
    /* The change cleared the parent-death signal and made the process not
     * dumpable (commit_creds): armed and set again as guest_side and
     * ls_kernel_load set them, or the guest would outlive its relay (a
     * relay that dies between the change and this prctl is not seen). */
    if (r >= 0) {
        hsys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
        hsys2(__NR_prctl, PR_SET_DUMPABLE, 1);
    }
    return r;
}

static long count_source(const char *path, const char *where, int is_dir, int ro, void *arg)
{
    ++*(int *)arg;
    return 0;
}

/* The guest's side: the relay's trees, one per source (an fd or -errno;
 * *size: the array's bytes), or NULL when the relay sends none (an
 * unprivileged caller's). */
static int *receive_trees(int sock, unsigned long *size)
{
    int n = 0, got = 0;
    tender_for_each_source(count_source, &n);
    *size = (n ? n : 1) * sizeof(int);
    int *trees = 0;
    for (;;) {
        struct tree_batch b;
        int fds[TREE_BATCH], nfds = TREE_BATCH;
        long len = fd_recv(sock, &b, sizeof b, fds, &nfds);
        if (len <= 0 || b.count < 0)
            hsys1(__NR_exit_group, 125);           /* the relay died, or has said why */
        if (b.count == 0)
            return trees;
        if (!trees) {
            long p = hsys6(__NR_mmap, 0, *size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p < 0 && p > -4096)
                tender_fatal("cannot start the guest's namespaces: out of memory");
            trees = (int *)p;
            for (int i = 0; i < n; i++)
                trees[i] = -ENOENT;      /* what the relay does not send is absent */
        }
        int next = 0;
        for (int i = 0; i < b.count && got < n; i++)
            trees[got++] = b.res[i] < 0 ? b.res[i] : next < nfds ? fds[next++] : -EBADF;
    }
}

static void loopback_up(void)
{
    /* struct ifreq, netdevice(7): <linux/if.h> drags in the host libc's headers. */
    struct { char ifr_name[16]; short ifr_flags; char pad[22]; } ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    long r, s = hsys3(__NR_socket, 2 /* AF_INET */, 2 /* SOCK_DGRAM */ | O_CLOEXEC, 0);
    if (s < 0 || hsys3(__NR_ioctl, s, SIOCGIFFLAGS, (long)&ifr) < 0)
        tender_fatal("--net none: cannot find the loopback interface");
    ifr.ifr_flags |= 1;              /* IFF_UP */
    if ((r = hsys3(__NR_ioctl, s, SIOCSIFFLAGS, (long)&ifr)) < 0)
        tender_fatal("--net none: cannot bring loopback up: error %ld", -r);
    hsys1(__NR_close, s);
}

/* The guest never administers a network: with --net none its root would
 * otherwise own the namespace's (addresses, MTU, nf_tables, raw and packet
 * sockets).  Dropped from the bounding set too, so no execve regains them. */
static void drop_net_admin(void)
{
    static const int caps[] = {CAP_NET_ADMIN, CAP_NET_RAW};
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    long r = hsys2(__NR_capget, (long)&h, (long)d);
    for (unsigned i = 0; r >= 0 && i < sizeof caps / sizeof caps[0]; i++) {
        d[0].effective &= ~CAP_TO_MASK(caps[i]);
        d[0].permitted &= ~CAP_TO_MASK(caps[i]);
        d[0].inheritable &= ~CAP_TO_MASK(caps[i]);
        r = hsys2(__NR_prctl, PR_CAPBSET_DROP, caps[i]);
    }
    if (r < 0 || (r = hsys2(__NR_capset, (long)&h, (long)d)) < 0)
        tender_fatal("cannot drop the guest's network-administration capabilities: error %ld", -r);
}

_Static_assert(sizeof tender_bi->groups / sizeof tender_bi->groups[0] == LS_BOOT_GROUPS,
               "bootinfo.h's groups has LS_BOOT_GROUPS entries");

/* In the new namespaces, once the relay has written the id maps.  sock is
 * the guest's end of the socket the relay holds open for its life. */
static int guest_side(int root, const int *fds, int sock)
{
    long r;
    /* The caller's groups, as an execve keeps them (the numbers the
     * guest's namespace maps: as its uid 0 is the root caller's). */
    uint32_t groups[LS_BOOT_GROUPS];
    long ngroups = 0;
    for (uint32_t i = 0; i < tender_bi->ngroups && i < LS_BOOT_GROUPS; i++)
        if (tender_bi->groups[i] < LS_GUEST_IDS)
            groups[ngroups++] = tender_bi->groups[i];
    if (root && ((r = hsys2(__NR_setgroups, ngroups, (long)groups)) < 0 ||
                 (r = hsys3(__NR_setresgid, 0, 0, 0)) < 0 ||
                 (r = hsys3(__NR_setresuid, 0, 0, 0)) < 0))
        tender_fatal("cannot become root of the guest's user namespace: error %ld", -r);
    /* After the uid change, which clears it.  A relay that died before this
     * prctl sends no signal: its end of the socket has closed, which
     * makes the guest's end readable (end of file), so the guest ends. */
    hsys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
    struct { int fd; short events, revents; } p = {sock, 1 /* POLLIN */, 0};
    long now[2] = {0, 0};
    if (hsys5(__NR_ppoll, (long)&p, 1, (long)now, 0, 0) != 0)
        hsys1(__NR_exit_group, 128 + SIGKILL);
    hsys1(__NR_close, sock);
    const char *h = tender_str(tender_bi->hostname);
    if (*h)
        hsys2(__NR_sethostname, (long)h, strlen(h));
    if (tender_bi->flags & LS_BOOT_NET_NONE)
        loopback_up();
    drop_net_admin();
    return tender_make_root(fds);
}

int tender_namespaces(struct ls_sandbox *sb)
{
    int root = hsys0(__NR_geteuid) == 0;
    int hs[2];                       /* the relay's trees and word to the guest */
    if (hsys4(__NR_socketpair, 1 /* AF_UNIX */, 5 /* SOCK_SEQPACKET */ | O_CLOEXEC, 0, (long)hs) < 0)
        tender_fatal("cannot start the guest's namespaces: no socket");
    /* A root caller's guest on the host's network: ports below 1024. */
    int chan[2] = {-1, -1};
    if (root && !(tender_bi->flags & LS_BOOT_NET_NONE) &&
        hsys4(__NR_socketpair, 1 /* AF_UNIX */, 5 /* SOCK_SEQPACKET */ | O_CLOEXEC, 0, (long)chan) < 0)
        chan[0] = chan[1] = -1;
    /* hostcalls.NAMESPACES.  The cgroup namespace is rooted at the run's cgroup
     * (libsubst/monitor/cgroup.py), which the relay joined before it started,
     * so the guest sees no other. */
    long flags = LS_GUEST_NAMESPACES | SIGCHLD;
    if (tender_bi->flags & LS_BOOT_NET_NONE)
        flags |= CLONE_NEWNET;
    /* --init: the word the init leaves the program's status in, shared
     * because it is mapped before the clone (handover.h). */
    uint32_t *init_status = 0;
    if (tender_bi->flags & LS_BOOT_INIT) {
        long p = hsys6(__NR_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                       -1, 0);
        if (p < 0 && p > -4096)
            tender_fatal("--init: cannot map the init's status word: error %ld", -p);
        init_status = (uint32_t *)p;
    }
    long child = hsys5(__NR_clone, flags, 0, 0, 0, 0);
    if (child < 0)
        tender_fatal("cannot make the guest's namespaces: error %ld (does this host allow user "
                     "namespaces? Linux refuses them inside a chroot)", -child);

    if (child == 0) {
        /* The forwarded signals stay blocked until the kernel's handlers
         * are in (tender_main): pid 1 of a pid namespace is spared what it
         * has no handler for, so a SIGTERM passed on now would be lost. */
        hsys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
        hsys1(__NR_close, hs[0]);
        unsigned long size;
        int *trees = receive_trees(hs[1], &size);
        if (chan[0] >= 0) {
            hsys1(__NR_close, chan[0]);
            sb->port_fd = chan[1];
        }
        sb->init_status = init_status;
        int own_proc = guest_side(root, trees, hs[1]);
        if (trees)
            hsys2(__NR_munmap, (long)trees, size);
        return own_proc;
    }

    hsys1(__NR_close, hs[1]);
    if (chan[1] >= 0)
        hsys1(__NR_close, chan[1]);
    relay_start(child, root, hs[0], chan[0], init_status);
}
