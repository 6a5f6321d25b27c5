/*
 * /proc/<pid>/net (and /proc/net, a link to self/net, as on Linux): the
 * network namespace the guest runs in, which is what Linux shows there.
 * Under --net none that is the guest's own namespace (loopback only); under
 * --net host it is the host's, whose interfaces, routes and TCP/UDP sockets
 * a process there sees natively too (files that name no path, and whose
 * uid column the host already gives in the guest's user namespace).
 *
 * /proc/net/unix is the exception: Unix sockets carry paths, and under
 * --net host the namespace's list would name every host socket's path (the
 * sandbox refuses sock_diag for the same reason).  It shows the sockets
 * some guest process holds an fd of (matched by inode, the number its
 * /proc/<pid>/fd link shows as socket:[N]) or sent in a message, in flight
 * until received (the last IF_SLOTS sent: net/sendmsg.c), and the
 * connections not yet accepted (inode 0, named by their listener's path)
 * at a path of the guest's; under --net none, where the namespace is the
 * guest's own, every socket but the kernel's (fds above each process's
 * floor).  Each path is the name the guest bound it by (net/unix_names.c;
 * else its volume's guest path); a path no volume holds is left out, as
 * for an unnamed socket.  Differs from Linux in: under --net host a socket
 * in flight sent before the last IF_SLOTS is not listed, and a pending
 * connection to a host process's socket in a volume is.
 */
#include "synth.h"
#include "net/net.h"
#include "proc/ptable.h"

/* The guest's socket inodes: a set (open addressing, 0 free; no socket
 * has inode 0), so a guest of many sockets costs one probe per line. */
struct inodes {
    unsigned long *v;
    int bits, n;
};

static unsigned long *slot_of(const struct inodes *s, unsigned long ino)
{
    unsigned long mask = (1UL << s->bits) - 1;
    unsigned long i = (ino * 0x9e3779b97f4a7c15UL) >> (64 - s->bits);
    while (s->v[i] && s->v[i] != ino)
        i = (i + 1) & mask;
    return &s->v[i];
}

static int has_inode(const struct inodes *s, unsigned long ino)
{
    return s->v && ino && *slot_of(s, ino) == ino;
}

static void add_inode(struct inodes *s, unsigned long ino)
{
    if (!ino || has_inode(s, ino))
        return;
    if (!s->v || (s->n + 1) * 2 > 1 << s->bits) {
        struct inodes g = {kmalloc(sizeof *g.v << (s->bits + 1)), s->bits + 1, 0};
        if (!g.v)
            return;
        memset(g.v, 0, sizeof *g.v << g.bits);
        for (int i = 0; s->v && i < 1 << s->bits; i++)
            if (s->v[i])
                *slot_of(&g, s->v[i]) = s->v[i], g.n++;
        kfree(s->v);
        *s = g;
    }
    *slot_of(s, ino) = ino;
    s->n++;
}

/* Calls fn(arg, n) for every decimal name the host lists in dir. */
static void each_num(const char *dir, void (*fn)(void *, long), void *arg)
{
    long hfd = hsys4(__NR_openat, AT_FDCWD, (long)dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    char *buf = hfd < 0 ? 0 : kmalloc(4096);
    long n;
    while (buf && (n = hsys3(__NR_getdents64, hfd, (long)buf, 4096)) > 0)
        for (long off = 0; off < n; off += *(unsigned short *)(buf + off + 16)) {
            const char *name = buf + off + 19;
            long v = synth_parse_num(&name);
            if (v >= 0 && !*name)
                fn(arg, v);
        }
    kfree(buf);
    if (hfd >= 0)
        hsys1(__NR_close, hfd);
}

/* The sockets /proc/net/unix shows: the guest's fds', the kernel's (only
 * looked for in a namespace of the guest's own), and whether it is that. */
struct unix_ctx {
    struct inodes guest, kernel;
    int own_ns;
};

/* One process's fds: the guest's below its kernel's floor. */
struct scan {
    struct unix_ctx *u;
    long pid;                        /* 0: this process */
    long floor;
};

static void scan_fd(void *arg, long fd)
{
    struct scan *sc = arg;
    char path[48], link[32];
    int kernel = fd >= sc->floor || (!sc->pid && !fd_valid(fd));
    if (kernel && !sc->u->own_ns)
        return;
    if (sc->pid)
        ksnprintf(path, sizeof path, "/proc/%ld/fd/%ld", sc->pid, fd);
    else
        ksnprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
    long n = hsys4(__NR_readlinkat, AT_FDCWD, (long)path, (long)link, sizeof link - 1);
    if (n <= 8 || strncmp(link, "socket:[", 8) != 0)
        return;
    link[n] = 0;
    const char *p = link + 8;
    unsigned long ino = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        ino = ino * 10 + (*p - '0');
    if (*p == ']')
        add_inode(kernel ? &sc->u->kernel : &sc->u->guest, ino);
}

/* A guest process's fds (pid: a host process of the guest's pid namespace). */
static void scan_pid(void *arg, long pid)
{
    struct scan sc = {.u = arg, .pid = pid == fs_pid() ? 0 : pid, .floor = 0x7fffffff};
    if (sc.pid) {
        struct kproc_slot *slot;
        char state;
        if (synth_other_slot(pid, &slot, &state) < 0)
            return;
        sc.floor = slot ? slot->kfd_floor : K.nofile_limit;   /* its kernel's fds above */
        kfree(slot);
    }
    char dir[40];
    ksnprintf(dir, sizeof dir, sc.pid ? "/proc/%ld/fd" : "/proc/self/fd", pid);
    each_num(dir, scan_fd, &sc);
}

static void scan_other(void *arg, long pid)
{
    if (pid != fs_pid())
        scan_pid(arg, pid);
}

static const char *skip_field(const char *p)
{
    while (*p == ' ')
        p++;
    while (*p && *p != ' ' && *p != '\n')
        p++;
    return p;
}

/* "Num: RefCount Protocol Flags Type St Inode [Path]": a guest socket's
 * line, its path the guest's. */
static void line_unix(struct gbuf *g, char *s, size_t n)
{
    const char *p = s;
    if (strncmp(s, "Num", 3) == 0) {
        synth_gput(g, s, n);
        return;
    }
    for (int i = 0; i < 6; i++)
        p = skip_field(p);
    while (*p == ' ')
        p++;
    unsigned long ino = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        ino = ino * 10 + (*p - '0');
    const struct unix_ctx *u = g->ctx;
    int shown = has_inode(&u->guest, ino) || (u->own_ns && !has_inode(&u->kernel, ino));
    const char *name = 0;
    char *path = 0, *end = s + n;
    if (*p == ' ' && p[1] != '\n' && p[1]) {
        path = (char *)p + 1;
        if (end > path && end[-1] == '\n')
            end--;
        char c = *end;
        *end = 0;
        if (*path == '@')                        /* abstract: its own name, in the guest */
            name = path;
        else if (unix_guest_path(path, g->name, sizeof g->name) >= 0)
            name = g->name;
        *end = c;
    }
    /* A connection not yet accepted has no inode, and its listener's path. */
    if (!shown && !(ino == 0 && name && name != path))
        return;
    synth_gput(g, s, p - s);
    if (name) {
        synth_gputs(g, " ");
        synth_gput(g, name, name == path ? (size_t)(end - path) : strlen(name));
    }
    synth_gputs(g, "\n");
}

static void add_sent(void *set, unsigned long ino)
{
    add_inode(set, ino);
}

long synth_put_net(struct gbuf *g, const char *name)
{
    char path[48];
    ksnprintf(path, sizeof path, "/proc/self/net/%s", name);
    if (strcmp(name, "unix") != 0)
        return synth_host_copy(g, path);
    /* This process, then the others /proc lists (none where the tender had
     * to bind the host's /proc and Landlock allows only /proc/self). */
    struct unix_ctx u = {{0, 5, 0}, {0, 5, 0}, !!(K.bi->flags & LS_BOOT_NET_NONE)};
    scan_pid(&u, fs_pid());
    each_num("/proc", scan_other, &u);
    inflight_each(add_sent, &u.guest);
    g->ctx = &u;
    long r = synth_host_lines(g, path, line_unix);
    kfree(u.guest.v);
    kfree(u.kernel.v);
    return r;
}

/*
 * /sys/class/net: a directory per interface of the guest's network
 * namespace (those /proc/net/dev lists), each holding the files programs
 * read most, made from the interface's ioctls as sysfs shows them.
 * Differs from Linux in: each is a directory, not a link into
 * /sys/devices (the guest sees no device tree), and has only these files.
 */
const struct synth_ent synth_ntab[] = {
    {"", ST_DIR, 0, 0},
    {"/address", ST_FILE, SG_NETIF, 0},
    {"/flags", ST_FILE, SG_NETIF, 0},
    {"/ifindex", ST_FILE, SG_NETIF, 0},
    {"/mtu", ST_FILE, SG_NETIF, 0},
    {"/tx_queue_len", ST_FILE, SG_NETIF, 0},
    {"/type", ST_FILE, SG_NETIF, 0},
};
const int synth_nn = LS_ARRAY_SIZE(synth_ntab);

#define AF_INET 2
#define SOCK_DGRAM 2
#define SIOCGIFNAME 0x8910
#define SIOCGIFFLAGS 0x8913
#define SIOCGIFMTU 0x8921
#define SIOCGIFHWADDR 0x8927
#define SIOCGIFINDEX 0x8933
#define SIOCGIFTXQLEN 0x8942
#define IFF_RUNNING 0x40

struct ifreq_k {
    char name[16];
    union {
        int i;
        short flags;
        struct {
            unsigned short family;
            unsigned char data[14];
        } hw;
        char pad[24];
    };
};

/* One interface ioctl on a socket of the guest's network namespace. */
static long if_ioctl(unsigned long req, struct ifreq_k *r)
{
    long s = hsys3(__NR_socket, AF_INET, SOCK_DGRAM | O_CLOEXEC, 0);
    if (s < 0)
        return s;
    long e = hsys3(__NR_ioctl, s, req, (long)r);
    hsys1(__NR_close, s);
    return e;
}

long synth_netif_index(const char *name, size_t n)
{
    struct ifreq_k r = {0};
    if (n == 0 || n >= sizeof r.name || memchr(name, '/', n))
        return -ENOENT;
    memcpy(r.name, name, n);
    long e = if_ioctl(SIOCGIFINDEX, &r);
    return e < 0 ? -ENOENT : r.i;
}

int synth_netif_lookup(const char *s, struct fs_obj *o)
{
    const char *slash = strchr(s, '/');
    long index = synth_netif_index(s, slash ? (size_t)(slash - s) : strlen(s));
    if (index < 0)
        return index;
    for (int i = 0; i < synth_nn; i++)
        if (strcmp(slash ? slash : "", synth_ntab[i].path) == 0) {
            o->ent = SID_N + i;
            o->arg = index;
            return 0;
        }
    return -ENOENT;
}

long synth_netif_name(long index, char *name)
{
    struct ifreq_k r = {0};
    r.i = index;
    long e = if_ioctl(SIOCGIFNAME, &r);
    if (e < 0)
        return -ENOENT;
    memcpy(name, r.name, sizeof r.name);
    name[15] = 0;
    return 0;
}

long synth_put_netif(struct gbuf *g, const char *file, long index)
{
    struct ifreq_k r = {0};
    char out[64];
    long e = synth_netif_name(index, r.name);
    if (e < 0)
        return e;
    if (strcmp(file, "ifindex") == 0) {
        ksnprintf(out, sizeof out, "%ld\n", index);
    } else if (strcmp(file, "mtu") == 0) {
        if ((e = if_ioctl(SIOCGIFMTU, &r)) < 0)
            return e;
        ksnprintf(out, sizeof out, "%d\n", r.i);
    } else if (strcmp(file, "tx_queue_len") == 0) {
        if ((e = if_ioctl(SIOCGIFTXQLEN, &r)) < 0)
            return e;
        ksnprintf(out, sizeof out, "%d\n", r.i);
    } else if (strcmp(file, "flags") == 0) {
        /* The device's flags: the ioctl adds RUNNING, which sysfs shows
         * in operstate instead. */
        if ((e = if_ioctl(SIOCGIFFLAGS, &r)) < 0)
            return e;
        ksnprintf(out, sizeof out, "0x%x\n", (unsigned short)r.flags & ~IFF_RUNNING);
    } else {
        if ((e = if_ioctl(SIOCGIFHWADDR, &r)) < 0)
            return e;
        const unsigned char *a = r.hw.data;
        if (strcmp(file, "type") == 0)
            ksnprintf(out, sizeof out, "%u\n", r.hw.family);
        else
            ksnprintf(out, sizeof out, "%02x:%02x:%02x:%02x:%02x:%02x\n", a[0], a[1], a[2], a[3],
                      a[4], a[5]);
    }
    synth_gputs(g, out);
    return 0;
}

/* The namespace's interfaces, by index, ascending: fn(arg, index) each. */
struct netif_walk {
    void (*fn)(void *, long);
    void *arg;
};

static void line_dev(struct gbuf *g, char *s, size_t n)
{
    const struct netif_walk *w = g->ctx;
    char *colon = memchr(s, ':', n);
    if (!colon || memchr(s, '|', n))
        return;                       /* the two heading lines */
    char *name = s;
    while (*name == ' ')
        name++;
    long index = synth_netif_index(name, colon - name);
    if (index > 0)
        w->fn(w->arg, index);
}

void synth_each_netif(void (*fn)(void *, long), void *arg)
{
    struct gbuf *g = kmalloc(sizeof *g);
    if (!g)
        return;
    struct netif_walk w = {fn, arg};
    g->ctx = &w;
    g->src = -1;                      /* no fd of the guest's to read */
    synth_host_lines(g, "/proc/self/net/dev", line_dev);
    kfree(g);
}
