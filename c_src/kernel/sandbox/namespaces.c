/*
 * The guest's namespaces, made by the boot stub before anything of the
 * guest runs.  The process libsubst's monitor started clones the guest's
 * first process into new user, mount, pid, IPC and UTS namespaces (and a
 * network namespace with --net none) and stays outside as the relay.
 *
 * Identity.  A root caller's guest is root of its user namespace, which
 * is host uids and gids host_uid.. and host_gid.. (65536 of each, so a
 * server can still drop to its service user); any other caller is itself
 * inside, mapped to itself.  Either way the guest holds no capability on
 * the host.
 *
 * Host files.  The guest's mount namespace has a root of its own: an
 * empty, read-only tmpfs holding, each at its host path, only the image's
 * host files (read-only), the declared volumes, a few device nodes,
 * /sys/devices/system/cpu, /sys/kernel/mm/transparent_hugepage and a proc of
 * the guest's pid namespace.  For a
 * root caller the relay idmaps the image files and the volumes into the
 * guest's user namespace, so host root's files are the guest root's, as
 * they are to a native run, and what guest root writes to a volume is
 * host root's.
 */
#include "kernel.h"
#include <linux/capability.h>
#include "libsubst/signals.h"
#include <linux/mount.h>
#include <linux/prctl.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/sockios.h>

#define MNT_DETACH 2                 /* umount2(2); <sys/mount.h> is the host libc's */

#define IDS 65536                    /* uids (and gids) of a root caller's guest */

int sandbox_own_proc;                /* /proc is the guest's pid namespace's, not the host's */

long trap_install(int sig, void (*fn)(int, siginfo_t *, void *));
long sandbox_seccomp_relay(void);

/* ---- the relay ---- */

static int relay_child;

/* A signal the terminal sent reached the guest's process group itself
 * (c_src/include/libsubst/signals.h): only one sent to the relay is passed on. */
static void relay_forward(int sig, siginfo_t *si, void *ctx)
{
    if (si->si_code != LS_SI_KERNEL)
        hsys2(__NR_kill, relay_child, sig);
}

/* Binds ports below 1024 for the guest (net/ports.c) until its first
 * process ends or no guest process holds the channel any more. */
static void serve_ports(int pidfd, int chan)
{
    struct { int fd; short events, revents; } p[2] = {
        {pidfd, 1 /* POLLIN */, 0}, {chan, 1, 0}};
    while (p[0].fd >= 0 && p[1].fd >= 0) {
        long r = hsys5(__NR_ppoll, (long)p, 2, 0, 0, 0);
        if (r < 0 && r != -EINTR)
            break;
        if (r > 0 && p[0].revents)
            break;                       /* the guest's first process has ended */
        /* At end of file a SEQPACKET socket is readable too: port_serve
         * says so, and then no guest process holds the channel any more. */
        if (r > 0 && p[1].revents && port_serve(chan) <= 0)
            p[1].fd = -1;
    }
    if (p[0].fd >= 0)
        hsys1(__NR_close, p[0].fd);
}

/* Passes on the signals the monitor sends, binds ports for the guest, and
 * ends as the guest's first process ends: with its status, or killed by
 * the same signal. */
static void __attribute__((noreturn)) relay(long child, int chan)
{
    relay_child = child;
    for (int sig = 1; sig <= 64; sig++)
        if (LS_FORWARDED_SIGNALS & (1UL << (sig - 1)))
            trap_install(sig, relay_forward);
    int pidfd = chan >= 0 ? hsys2(__NR_pidfd_open, child, 0) : -1;
    if (pidfd < 0 && chan >= 0) {
        hsys1(__NR_close, chan);         /* the guest's requests fail at once, not hang */
        chan = -1;
    }
    /* A guest killed by a signal that dumps core ends the relay so too:
     * never a core of this root process. */
    struct rlimit nocore = {0, 0};
    hsys4(__NR_prlimit64, 0, RLIMIT_CORE, (long)&nocore, 0);
    long r = sandbox_seccomp_relay();
    if (r < 0)
        kpanic("cannot install the relay's seccomp filter: error %ld", -r);
    if (chan >= 0)
        serve_ports(pidfd, chan);
    int status = 0;
    while ((r = hsys4(__NR_wait4, child, (long)&status, 0, 0)) == -EINTR)
        ;
    if (r < 0 || (status & 0x7f) == 0)
        hsys1(__NR_exit_group, r < 0 ? 125 : (status >> 8) & 0xff);
    int sig = status & 0x7f;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    hsys4(__NR_rt_sigaction, sig, (long)&dfl, 0, sizeof(sigset_t));
    unsigned long unblock = 1UL << (sig - 1);
    hsys4(__NR_rt_sigprocmask, SIG_UNBLOCK, (long)&unblock, 0, sizeof unblock);
    hsys2(__NR_kill, hsys0(__NR_getpid), sig);
    hsys1(__NR_exit_group, 128 + sig);
    __builtin_unreachable();
}

static long write_file(const char *path, const char *text)
{
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    long r = hsys3(__NR_write, fd, (long)text, strlen(text));
    hsys1(__NR_close, fd);
    return r < 0 ? r : 0;
}

static long write_id_maps(long child, int root)
{
    char path[64], text[64];
    long r;
    if (!root) {                     /* an unprivileged writer maps only itself */
        ksnprintf(path, sizeof path, "/proc/%ld/setgroups", child);
        if ((r = write_file(path, "deny")) < 0)
            return r;
    }
    for (int gid = 0; gid < 2; gid++) {
        long own = hsys0(gid ? __NR_getgid : __NR_getuid);
        if (root)
            ksnprintf(text, sizeof text, "0 %u %u", gid ? K.bi->host_gid : K.bi->host_uid, IDS);
        else
            ksnprintf(text, sizeof text, "%ld %ld 1", own, own);
        ksnprintf(path, sizeof path, "/proc/%ld/%s", child, gid ? "gid_map" : "uid_map");
        if ((r = write_file(path, text)) < 0)
            return r;
    }
    return 0;
}

/* ---- the host paths shown in the guest's mount namespace ---- */

/* Calls fn(path, is_dir, ro, arg) for each, in the order the relay idmaps
 * them and the guest mounts them: image files, then volumes (parents
 * first: the monitor sorts them by host path).  Scratch mounts are no host
 * path: make_root makes them. */
static int for_each_source(long (*fn)(const char *, int, int, void *), void *arg)
{
    const struct ls_fs_entry *e = (const struct ls_fs_entry *)(K.blk + K.bi->entries_off);
    for (uint32_t i = 0; i < K.bi->nentries; i++)
        if (e[i].kind == LS_ENT_HOST_FILE && fn(bi_str(e[i].target), 0, 1, arg) < 0)
            return -1;
    const struct ls_mount *m = (const struct ls_mount *)(K.blk + K.bi->mounts_off);
    for (uint32_t i = 0; i < K.bi->nmounts; i++)
        if (!(m[i].flags & LS_MNT_SCRATCH) &&
            fn(bi_str(m[i].host), 1, m[i].flags & LS_MNT_RDONLY, arg) < 0)
            return -1;
    return 0;
}

/* A detached copy of the mount tree at path (a recursive bind, so a
 * volume keeps the mounts below it), read-only if ro, idmapped into userns
 * if userns >= 0 and its file systems allow (*idmapped says whether). */
static long clone_tree(const char *path, int ro, long userns, int *idmapped)
{
    long t = hsys3(__NR_open_tree, AT_FDCWD, (long)path,
                   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (t < 0)
        return t;
    struct mount_attr a = {.attr_set = ro ? MOUNT_ATTR_RDONLY : 0, .userns_fd = userns};
    if (userns >= 0) {
        a.attr_set |= MOUNT_ATTR_IDMAP;
        if (hsys5(__NR_mount_setattr, t, (long)"", AT_EMPTY_PATH | AT_RECURSIVE, (long)&a,
                  sizeof a) == 0) {
            *idmapped = 1;
            return t;
        }
        a.attr_set &= ~MOUNT_ATTR_IDMAP;     /* seen as nobody's, but there */
    }
    long r = 0;
    if (a.attr_set &&
        (r = hsys5(__NR_mount_setattr, t, (long)"", AT_EMPTY_PATH | AT_RECURSIVE, (long)&a,
                   sizeof a)) < 0) {
        hsys1(__NR_close, t);
        return r;
    }
    return t;
}

/* The relay's idmapped trees go to the guest over a SEQPACKET socket, a
 * batch a message: int count, then count results in source order (0: the
 * next fd of the message's SCM_RIGHTS; or -errno); count 0 ends the list,
 * count -1 says the relay failed.  A closed socket (recv: 0) says it died. */
#define BATCH LS_FDPASS_MAX
struct batch {
    int count;
    int res[BATCH];
};

struct trees {
    int sock;
    long userns;
    struct batch b;
    int fds[BATCH], nfds;
};

static void send_batch(struct trees *t)
{
    /* A guest gone already: an error, and the relay reaps it next. */
    fd_send(t->sock, &t->b, sizeof(int) * (1 + t->b.count), t->fds, t->nfds);
    for (int i = 0; i < t->nfds; i++)
        hsys1(__NR_close, t->fds[i]);
    t->b.count = t->nfds = 0;
}

static long relay_clone(const char *path, int is_dir, int ro, void *arg)
{
    struct trees *t = arg;
    int idmapped = 0;
    long tree = clone_tree(path, ro, t->userns, &idmapped);
    if (tree >= 0 && !idmapped && is_dir)
        kwarn("volume %s: its file system cannot be idmapped, so the guest sees host ids "
              "other than its own as nobody's", path);
    t->b.res[t->b.count++] = tree < 0 ? tree : 0;
    if (tree >= 0)
        t->fds[t->nfds++] = tree;
    if (t->b.count == BATCH)
        send_batch(t);
    return 0;
}

static long count_source(const char *path, int is_dir, int ro, void *arg)
{
    ++*(int *)arg;
    return 0;
}

/* The guest's side: the relay's trees, one per source (an fd or -errno),
 * or NULL when the relay sends none (an unprivileged caller's). */
static int *receive_trees(int sock)
{
    int n = 0, got = 0;
    for_each_source(count_source, &n);
    int *trees = 0;
    for (;;) {
        struct batch b;
        int fds[BATCH], nfds = BATCH;
        long len = fd_recv(sock, &b, sizeof b, fds, &nfds);
        if (len <= 0 || b.count < 0)
            hsys1(__NR_exit_group, 125);           /* the relay died, or has said why */
        if (b.count == 0)
            return trees;
        if (!trees) {
            if (!(trees = kmalloc((n ? n : 1) * sizeof *trees)))
                kpanic("cannot start the guest's namespaces: out of memory");
            for (int i = 0; i < n; i++)
                trees[i] = -ENOENT;      /* what the relay does not send is absent */
        }
        int next = 0;
        for (int i = 0; i < b.count && got < n; i++)
            trees[got++] = b.res[i] < 0 ? b.res[i] : next < nfds ? fds[next++] : -EBADF;
    }
}

/* ---- the guest's side ---- */

/* mkdir -p of rel's parents (and rel itself if dir) beneath root; a
 * component that exists is fine. */
static long make_path(int root, char *rel, int dir)
{
    for (char *p = rel; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        long r = hsys3(__NR_mkdirat, root, (long)rel, 0755);
        *p = '/';
        if (r < 0 && r != -EEXIST)
            return r;
    }
    long r = dir ? hsys3(__NR_mkdirat, root, (long)rel, 0755)
                 : hsys4(__NR_openat, root, (long)rel, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (r >= 0 && !dir)
        hsys1(__NR_close, r);
    return r == -EEXIST && dir ? 0 : r;
}

struct view {
    int root;                        /* the new root, attached */
    const int *fds;                  /* the relay's idmapped trees, or NULL */
    int next;
};

static long place(const char *path, int is_dir, int ro, void *arg)
{
    struct view *v = arg;
    int unused;
    long src = v->fds ? v->fds[v->next++] : clone_tree(path, ro, -1, &unused);
    char rel[LS_PATH_MAX];
    if (src < 0 && src != -ENOENT)
        kwarn("cannot bind %s into the guest's mount namespace: error %ld", path, -src);
    if (src < 0 || path[0] != '/' || strlcpy(rel, path + 1, sizeof rel) >= sizeof rel)
        goto skip;                   /* absent on the host: the guest gets ENOENT */
    long r = make_path(v->root, rel, is_dir);
    if (r == -EEXIST)
        goto skip;                   /* a file listed twice */
    if (r >= 0)
        r = hsys5(__NR_move_mount, src, (long)"", v->root, (long)rel, MOVE_MOUNT_F_EMPTY_PATH);
    if (r < 0) {
        kwarn("cannot show %s in the guest's mount namespace: error %ld", path, -r);
        hsys1(__NR_close, src);
        return -1;
    }
skip:
    if (src >= 0)
        hsys1(__NR_close, src);
    return 0;
}

const char *const sandbox_devices[LS_NDEVICES] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

/* A new mount of file system `type` (of the guest's own namespaces) at rel
 * beneath root: 0; or, if the host refuses one, a bind of `fallback`: 1. */
static long mount_new(int root, const char *type, const char *rel, const char *fallback)
{
    char dir[64];
    strlcpy(dir, rel, sizeof dir);
    make_path(root, dir, 1);
    long t = -1, fs = hsys2(__NR_fsopen, (long)type, FSOPEN_CLOEXEC);
    if (fs >= 0 && hsys5(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0) == 0)
        t = hsys3(__NR_fsmount, fs, FSMOUNT_CLOEXEC,
                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (fs >= 0)
        hsys1(__NR_close, fs);
    int bound = t < 0 && fallback;
    if (bound)
        t = hsys3(__NR_open_tree, AT_FDCWD, (long)fallback,
                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (t < 0)
        return t;
    long r = hsys5(__NR_move_mount, t, (long)"", root, (long)rel, MOVE_MOUNT_F_EMPTY_PATH);
    hsys1(__NR_close, t);
    return r < 0 ? r : bound;
}

/* A scratch mount (LS_MNT_SCRATCH): a tmpfs of the guest's own at its
 * `host` path beneath root, world-writable and sticky as /tmp is, at most
 * size_mib MiB (past it, ENOSPC; its pages are charged to the guest's
 * memory cgroup as they are written), holding the mount points of the
 * volumes below its guest path.  The guest cannot resize it: mount(2) is
 * allowed only at boot (hostcalls.BOOT_ONLY).  None is noexec: the
 * writable root's layer (guest "/") holds the image's programs and
 * libraries it copies up, and a program the guest writes into it or into
 * /tmp runs, and a file there maps PROT_EXEC, as on a host's root and /tmp
 * (gzexe, CPython's test_mmap) — the kernel maps the guest's programs
 * itself, and Landlock grants no volume the execute right, so the host
 * executes none of them. */
static long mount_scratch(int root, const struct ls_mount *sm)
{
    char opt[24], rel[LS_PATH_MAX];
    long t = -1, r, fs = hsys2(__NR_fsopen, (long)"tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0)
        return fs;
    ksnprintf(opt, sizeof opt, "%um", sm->size_mib);
    const char *guest = bi_str(sm->guest);
    if ((r = hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"mode", (long)"1777", 0)) == 0 &&
        (!sm->size_mib ||
         (r = hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"size", (long)opt, 0)) == 0) &&
        (r = hsys5(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0)) == 0)
        r = t = hsys3(__NR_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    hsys1(__NR_close, fs);
    if (r < 0)
        return r;
    size_t gl = strlen(guest);
    const struct ls_mount *m = (const struct ls_mount *)(K.blk + K.bi->mounts_off);
    for (uint32_t i = 0; i < K.bi->nmounts && r >= 0; i++)
        if (strncmp(bi_str(m[i].guest), guest, gl) == 0 && bi_str(m[i].guest)[gl] == '/' &&
            strlcpy(rel, bi_str(m[i].guest) + gl + 1, sizeof rel) < sizeof rel)
            r = make_path(t, rel, 1);
    const char *host = bi_str(sm->host);
    if (r >= 0 && (host[0] != '/' || strlcpy(rel, host + 1, sizeof rel) >= sizeof rel))
        r = -EINVAL;
    if (r >= 0 && (r = make_path(root, rel, 1)) >= 0)
        r = hsys5(__NR_move_mount, t, (long)"", root, (long)rel, MOVE_MOUNT_F_EMPTY_PATH);
    hsys1(__NR_close, t);
    return r;
}

static void __attribute__((noreturn)) no_root(long err)
{
    kpanic("cannot make the guest's root: error %ld%s", err,
           err == EPERM ? " (the host refuses mounts in a user namespace: is there an AppArmor "
                          "or SELinux rule against unprivileged user namespaces?)" : "");
}

static void make_root(const int *fds)
{
    long r = hsys5(__NR_mount, 0, (long)"/", 0, MS_REC | MS_PRIVATE, 0);
    long fs = r < 0 ? r : hsys2(__NR_fsopen, (long)"tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0)
        no_root(-fs);
    hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"mode", (long)"0755", 0);
    hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"size", (long)"1m", 0);
    r = hsys5(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0);
    long root = r < 0 ? r : hsys3(__NR_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID);
    hsys1(__NR_close, fs);
    /* Attached over /, so the binds below can be moved into it. */
    if (root < 0 || (r = hsys5(__NR_move_mount, root, (long)"", AT_FDCWD, (long)"/",
                               MOVE_MOUNT_F_EMPTY_PATH)) < 0)
        no_root(-(root < 0 ? root : r));

    /* Devices, /sys and /proc, then the image files and the volumes: only
     * then are all the directories made here the tmpfs's, never a volume's. */
    for (unsigned i = 0; i < LS_NDEVICES; i++)   /* read-only: no host device's times or mode */
        place(sandbox_devices[i], 0, 1, &(struct view){.root = root});
    place("/sys/devices/system/cpu", 1, 1, &(struct view){.root = root});
    place("/sys/kernel/mm/transparent_hugepage", 1, 1, &(struct view){.root = root});
    /* A proc of the guest's pid namespace (a bind of the host's where the
     * host hides parts of its own: mount_too_revealing refuses a new one),
     * and the POSIX message queues of its IPC namespace. */
    if ((r = mount_new(root, "proc", "proc", "/proc")) < 0)
        kpanic("cannot mount the guest's /proc: error %ld", -r);
    sandbox_own_proc = r == 0;
    if ((r = mount_new(root, "mqueue", "dev/mqueue", 0)) < 0)
        kwarn("no POSIX message queues: cannot mount the guest's mqueue: error %ld", -r);
    const struct ls_mount *m = (const struct ls_mount *)(K.blk + K.bi->mounts_off);
    for (uint32_t i = 0; i < K.bi->nmounts; i++)
        if ((m[i].flags & LS_MNT_SCRATCH) && (r = mount_scratch(root, &m[i])) < 0)
            kpanic("cannot make the guest's %s: error %ld", bi_str(m[i].guest), -r);
    if (for_each_source(place, &(struct view){.root = root, .fds = fds}) < 0)
        kpanic("cannot make the guest's mount namespace");

    struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
    hsys5(__NR_mount_setattr, root, (long)"", AT_EMPTY_PATH, (long)&ro, sizeof ro);
    if ((r = hsys1(__NR_fchdir, root)) < 0 ||
        (r = hsys2(__NR_pivot_root, (long)".", (long)".")) < 0 ||
        (r = hsys2(__NR_umount2, (long)".", MNT_DETACH)) < 0)
        kpanic("cannot enter the guest's root: error %ld", -r);
    hsys1(__NR_chdir, (long)"/");
    hsys1(__NR_close, root);
}

static void loopback_up(void)
{
    /* struct ifreq, netdevice(7): <linux/if.h> drags in the host libc's headers. */
    struct { char ifr_name[16]; short ifr_flags; char pad[22]; } ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    long r, s = hsys3(__NR_socket, 2 /* AF_INET */, 2 /* SOCK_DGRAM */ | O_CLOEXEC, 0);
    if (s < 0 || hsys3(__NR_ioctl, s, SIOCGIFFLAGS, (long)&ifr) < 0)
        kpanic("--net none: cannot find the loopback interface");
    ifr.ifr_flags |= 1;              /* IFF_UP */
    if ((r = hsys3(__NR_ioctl, s, SIOCSIFFLAGS, (long)&ifr)) < 0)
        kpanic("--net none: cannot bring loopback up: error %ld", -r);
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
        kpanic("cannot drop the guest's network-administration capabilities: error %ld", -r);
}

/* In the new namespaces, once the relay has written the id maps.  sock is
 * the guest's end of the socket the relay holds open for its life. */
static void guest_side(int root, const int *fds, int sock)
{
    long r;
    if (root && ((r = hsys2(__NR_setgroups, 0, 0)) < 0 ||
                 (r = hsys3(__NR_setresgid, 0, 0, 0)) < 0 ||
                 (r = hsys3(__NR_setresuid, 0, 0, 0)) < 0))
        kpanic("cannot become root of the guest's user namespace: error %ld", -r);
    /* After the uid change, which clears it.  A relay that died before this
     * prctl sends no signal: its end of the socket has closed, which
     * makes the guest's end readable (end of file), so the guest ends. */
    hsys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
    struct { int fd; short events, revents; } p = {sock, 1 /* POLLIN */, 0};
    long now[2] = {0, 0};
    if (hsys5(__NR_ppoll, (long)&p, 1, (long)now, 0, 0) != 0)
        hsys1(__NR_exit_group, 128 + SIGKILL);
    hsys1(__NR_close, sock);
    const char *h = bi_str(K.bi->hostname);
    if (*h)
        hsys2(__NR_sethostname, (long)h, strlen(h));
    if (K.bi->flags & LS_BOOT_NET_NONE)
        loopback_up();
    drop_net_admin();
    make_root(fds);
}

void sandbox_namespaces(void)
{
    int root = hsys0(__NR_geteuid) == 0;
    int hs[2];                       /* the relay's trees and word to the guest */
    if (hsys4(__NR_socketpair, 1 /* AF_UNIX */, 5 /* SOCK_SEQPACKET */ | O_CLOEXEC, 0, (long)hs) < 0)
        kpanic("cannot start the guest's namespaces: no socket");
    /* A root caller's guest on the host's network: ports below 1024. */
    int chan[2] = {-1, -1};
    if (root && !(K.bi->flags & LS_BOOT_NET_NONE) &&
        hsys4(__NR_socketpair, 1 /* AF_UNIX */, 5 /* SOCK_SEQPACKET */ | O_CLOEXEC, 0, (long)chan) < 0)
        chan[0] = chan[1] = -1;
    /* A cgroup namespace too: rooted at the run's cgroup (libsubst/monitor/cgroup.py),
     * which the relay joined before it started, so the guest sees no other. */
    long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                 CLONE_NEWCGROUP | SIGCHLD;
    if (K.bi->flags & LS_BOOT_NET_NONE)
        flags |= CLONE_NEWNET;
    long child = hsys5(__NR_clone, flags, 0, 0, 0, 0);
    if (child < 0)
        kpanic("cannot make the guest's namespaces: error %ld "
               "(does this host allow user namespaces? Linux refuses them inside a chroot)", -child);

    if (child == 0) {
        hsys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
        hsys1(__NR_close, hs[0]);
        int *trees = receive_trees(hs[1]);
        if (chan[0] >= 0) {
            hsys1(__NR_close, chan[0]);
            port_fd = kfd_hide(chan[1]);
        }
        guest_side(root, trees, hs[1]);
        kfree(trees);
        return;
    }

    hsys1(__NR_close, hs[1]);
    if (chan[1] >= 0)
        hsys1(__NR_close, chan[1]);
    struct trees t = {.sock = hs[0], .userns = -1};
    /* Never host root, unless the caller asked for it (libsubst-runtime). */
    int host_root = K.bi->host_uid == 0 || K.bi->host_gid == 0;
    long r = root && host_root && !(K.bi->flags & LS_BOOT_HOST_ROOT_IDS) ? -EINVAL
                                                                        : write_id_maps(child, root);
    if (r >= 0 && root && !host_root) {      /* host root's own ids need no idmapping */
        char path[64];
        ksnprintf(path, sizeof path, "/proc/%ld/ns/user", child);
        t.userns = r = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
        if (r >= 0)
            for_each_source(relay_clone, &t);
    }
    if (r < 0) {
        t.b.count = -1;
        send_batch(&t);
        kpanic("cannot map the guest's user ids: error %ld", -r);
    }
    if (t.b.count)
        send_batch(&t);
    send_batch(&t);                  /* count 0: the end */
    /* hs[0] stays open as long as the relay lives: see guest_side. */
    if (t.userns >= 0)
        hsys1(__NR_close, t.userns);
    relay(child, chan[0]);
}
