/*
 * The relay: the process libsubst's monitor started, left outside the
 * guest's namespaces, still the caller (host root for a root caller).  It
 * writes the guest's id maps, hands it the idmapped trees of its host
 * files, then only forwards the monitor's signals, binds ports below 1024
 * for the guest (ports.c) and ends as the guest's first process ends,
 * under its own seccomp filter (hostcalls.RELAY).
 *
 * Identity.  A root caller's guest is root of its user namespace, which
 * is host uids and gids host_uid.. and host_gid.. (LS_GUEST_IDS of each, so
 * a server can still drop to its service user); any other caller is itself
 * inside, mapped to itself.
 */
#include "tender.h"
#include "libsubst/signals.h"
#include "host_constants.h"
#include <linux/resource.h>


static int relay_child, relay_parent, parent_in_group;
static const uint32_t *init_status;
static long child_status = -1;       /* /proc/CHILD/status, opened before the filter
                                        * at LS_RELAY_STATUS_FD */
/* Copies of each signal that a process group's kill brought the relay (and
 * the guest) and that the monitor's request for it has not yet matched. */
static unsigned char group_copies[65];

static int is_stop(int sig)
{
    return sig >= 1 && sig <= 64 && (LS_STOP_SIGNALS & (1UL << (sig - 1)));
}

/* The mask of the line "NAME:\tHEX" of the first process's status, or 0. */
static unsigned long status_mask(const char *text, const char *name)
{
    size_t len = strlen(name);
    const char *p = text;
    while (*p && !(strncmp(p, name, len) == 0 && p[len] == ':')) {
        while (*p && *p != '\n')
            p++;
        p += *p == '\n';
    }
    unsigned long v = 0;
    if (!*p)
        return 0;
    for (p += len; *p == ':' || *p == '\t'; p++)
        ;
    for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
        v = v * 16 + (*p <= '9' ? *p - '0' : *p - 'a' + 10);
    return v;
}

/* Whether a job-control stop sig would stop the guest's first process
 * (without --init, the program), pid 1 of its namespace, which Linux spares
 * such a stop when it has no handler: neither caught nor ignored there (its
 * host dispositions are the guest's: a guest handler is a host one, SIG_DFL
 * and SIG_IGN are the host's).  Its mask is not the host's (the kernel
 * blocks every signal while it serves a trap): one it blocks stops it too. */
static int first_stops(int sig)
{
    static char text[4096];
    long n = child_status < 0 ? -1 : hsys4(__NR_pread64, child_status, (long)text,
                                           sizeof text - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = 0;
    unsigned long bit = 1UL << (sig - 1);
    return !((status_mask(text, "SigIgn") | status_mask(text, "SigCgt")) & bit);
}

/* Passes sig on to the guest's first process.  An init (--init) is told
 * with a queued signal (si_code SI_QUEUE), which is how it knows the
 * relay's from a process group's copy (kill(2), SI_USER, as the program
 * got it too) and forwards only the relay's (c_src/kernel/proc/init.c).
 * Without one, a stop the program would take by its default action is
 * SIGSTOP, which Linux delivers to a pid namespace's init from outside. */
static void pass_on(int sig)
{
    if (!init_status) {
        hsys2(__NR_kill, relay_child, is_stop(sig) && first_stops(sig) ? SIGSTOP : sig);
        return;
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = LS_SI_QUEUE;
    hsys3(__NR_rt_sigqueueinfo, relay_child, sig, (long)&si);
}

/* The status the guest ended with: its first process's, or with --init
 * the program's, which the init left in its word when it exited.  The
 * word is only ever written by the init, which runs no guest code (the
 * program's process unmaps it); still only a status a process can end
 * with is taken: an exit, or death by a signal whose default is to end a
 * process (never one that would stop the relay, or that it ignores). */
static int guest_status(int status)
{
    if (!init_status || (status & 0x7f) != 0)
        return status;
    uint32_t w = __atomic_load_n(init_status, __ATOMIC_ACQUIRE);
    int st = w & 0xffff, sig = st & 0x7f;
    unsigned long no_end = 1UL << (SIGCHLD - 1) | 1UL << (SIGCONT - 1) | 1UL << (SIGSTOP - 1) |
                           1UL << (SIGTSTP - 1) | 1UL << (SIGTTIN - 1) | 1UL << (SIGTTOU - 1) |
                           1UL << (SIGURG - 1) | 1UL << (SIGWINCH - 1);
    if (!(w & LS_INIT_STATUS_SET) || (sig && (sig > 64 || (st & 0xff00) != 0 ||
                                              (no_end & (1UL << (sig - 1))))))
        return status;
    return st;
}

/* A forwarded signal sent to the relay (c_src/include/libsubst/signals.h):
 * the monitor's own kill(2) is passed on; the terminal's reached the guest
 * itself; another sender's reached the monitor too when it shares the
 * relay's group (a group's kill, whose copy the guest has: the monitor's
 * request for it is dropped), else it is passed on. */
static void relay_signal(int sig, siginfo_t *si, void *ctx)
{
    int group = si->si_code == LS_SI_KERNEL || (si->si_pid != relay_parent && parent_in_group);
    /* The guest's first process had its copy; without --init Linux drops
     * a stop it has no handler for, which it would have taken. */
    if (group && !init_status && is_stop(sig) && first_stops(sig))
        hsys2(__NR_kill, relay_child, SIGSTOP);
    if (si->si_code == LS_SI_KERNEL)
        return;
    if (group) {
        if (group_copies[sig] < 255)
            group_copies[sig]++;
        return;
    }
    pass_on(sig);
}

/* The monitor's request to pass a signal on (LS_SIG_FORWARD): done unless
 * a group's copy of it came first.  The sender's kill(2) queued that copy
 * before the monitor could read its own, and a standard signal is handled
 * before a realtime one, so it is counted by now. */
static void relay_request(int unused, siginfo_t *si, void *ctx)
{
    int sig = si->si_value.sival_int;
    if (si->si_code != LS_SI_QUEUE || si->si_pid != relay_parent || sig < 1 || sig > 64 ||
        !((LS_FORWARDED_SIGNALS | LS_STOP_SIGNALS) & (1UL << (sig - 1))))
        return;
    if (group_copies[sig]) {
        group_copies[sig]--;
        return;
    }
    pass_on(sig);
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

/* Each handler runs with every other signal blocked: the counts are
 * changed by one at a time. */
static void install(int sig, void (*handler)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = (__sighandler_t)(void (*)(void))handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTORER;
    sa.sa_restorer = tender_sigreturn;
    sa.sa_mask = ~0UL;
    hsys4(__NR_rt_sigaction, sig, (long)&sa, 0, sizeof(sigset_t));
}

/* Closes every fd but the `n` of keep (ascending; -1 for none). */
static void close_all_but(const int *keep, int n)
{
    unsigned lo = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0)
            continue;
        if ((unsigned)keep[i] > lo)
            hsys3(__NR_close_range, lo, keep[i] - 1, 0);
        lo = keep[i] + 1;
    }
    hsys3(__NR_close_range, lo, ~0U, 0);
}

/* Passes on the signals the monitor sends, binds ports for the guest, and
 * ends as the guest's first process ends: with its status, or killed by
 * the same signal (under --init, the program's: guest_status). */
static void __attribute__((noreturn)) relay(long child, int sock, int chan)
{
    relay_child = child;
    relay_parent = hsys0(__NR_getppid);
    parent_in_group = hsys1(__NR_getpgid, relay_parent) == hsys1(__NR_getpgid, 0);
    /* The stops too: the relay never stops itself (the supervisor does,
     * whose stop the shell waits for), it passes them on. */
    for (int sig = 1; sig <= 64; sig++)
        if ((LS_FORWARDED_SIGNALS | LS_STOP_SIGNALS) & (1UL << (sig - 1)))
            install(sig, relay_signal);
    install(LS_SIG_FORWARD, relay_request);
    tender_unblock_forwarded();          /* those sent meanwhile come now */
    int pidfd = chan >= 0 ? hsys2(__NR_pidfd_open, child, 0) : -1;
    if (pidfd < 0 && chan >= 0) {
        hsys1(__NR_close, chan);         /* the guest's requests fail at once, not hang */
        chan = -1;
    }
    /* The guest's fds are its own to close: its stdin and stdout, the
     * caller's fds it inherited (as from an execve), the kernel's.  Held
     * here too, a pipe's other end would not see them closed until the
     * guest ended.  Kept: stderr (tender_fatal's), the socket, the channel. */
    int keep[4] = {2, sock, chan, pidfd};
    for (int i = 1; i < 4; i++)                 /* ascending, for close_all_but */
        for (int j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    close_all_but(keep, 4);
    /* A guest killed by a signal that dumps core ends the relay so too:
     * never a core of this root process. */
    struct rlimit nocore = {0, 0};
    hsys4(__NR_prlimit64, 0, RLIMIT_CORE, (long)&nocore, 0);
    /* At the one fd number the filter lets pread64 read (stdin's, closed
     * above: a port request's fds never land there). */
    if (!init_status) {
        char path[48];
        ksnprintf(path, sizeof path, "/proc/%ld/status", child);
        long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
        if (fd >= 0 && fd != LS_RELAY_STATUS_FD) {
            child_status = hsys3(__NR_dup3, fd, LS_RELAY_STATUS_FD, O_CLOEXEC);
            hsys1(__NR_close, fd);
        } else {
            child_status = fd;
        }
    }
    long r = tender_seccomp_relay();
    if (r < 0)
        tender_fatal("cannot install the relay's seccomp filter: error %ld", -r);
    if (chan >= 0)
        serve_ports(pidfd, chan);
    int status = 0;
    while ((r = hsys4(__NR_wait4, child, (long)&status, 0, 0)) == -EINTR)
        ;
    status = guest_status(status);
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
            ksnprintf(text, sizeof text, "0 %u %u", gid ? tender_bi->host_gid : tender_bi->host_uid, LS_GUEST_IDS);
        else
            ksnprintf(text, sizeof text, "%ld %ld 1", own, own);
        ksnprintf(path, sizeof path, "/proc/%ld/%s", child, gid ? "gid_map" : "uid_map");
        if ((r = write_file(path, text)) < 0)
            return r;
    }
    return 0;
}

struct trees {
    int sock;
    long userns;
    struct tree_batch b;
    int fds[TREE_BATCH], nfds;
};

static void send_batch(struct trees *t)
{
    /* A guest gone already: an error, and the relay reaps it next. */
    fd_send(t->sock, &t->b, sizeof(int) * (1 + t->b.count), t->fds, t->nfds);
    for (int i = 0; i < t->nfds; i++)
        hsys1(__NR_close, t->fds[i]);
    t->b.count = t->nfds = 0;
}

static long relay_clone(const char *path, const char *where, int is_dir, int ro, void *arg)
{
    struct trees *t = arg;
    int idmapped = 0;
    long tree = tender_clone_tree(path, ro, t->userns, &idmapped);
    if (tree >= 0 && !idmapped && is_dir)
        tender_warn("volume %s: its file system cannot be idmapped, so the guest sees host ids "
                    "other than its own as nobody's", path);
    t->b.res[t->b.count++] = tree < 0 ? tree : 0;
    if (tree >= 0)
        t->fds[t->nfds++] = tree;
    if (t->b.count == TREE_BATCH)
        send_batch(t);
    return 0;
}

void relay_start(long child, int root, int sock, int chan, const uint32_t *init)
{
    init_status = init;
    struct trees t = {.sock = sock, .userns = -1};
    /* Never host root, unless the caller asked for it (libsubst-runtime). */
    int host_root = tender_bi->host_uid == 0 || tender_bi->host_gid == 0;
    long r = root && host_root && !(tender_bi->flags & LS_BOOT_HOST_ROOT_IDS)
                 ? -EINVAL
                 : write_id_maps(child, root);
    if (r >= 0 && root && !host_root) {      /* host root's own ids need no idmapping */
        char path[64];
        ksnprintf(path, sizeof path, "/proc/%ld/ns/user", child);
        t.userns = r = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
        if (r >= 0)
            tender_for_each_source(relay_clone, &t);
    }
    if (r < 0) {
        t.b.count = -1;
        send_batch(&t);
        tender_fatal("cannot map the guest's user ids: error %ld", -r);
    }
    if (t.b.count)
        send_batch(&t);
    send_batch(&t);                  /* count 0: the end */
    /* sock stays open as long as the relay lives: see guest_side. */
    if (t.userns >= 0)
        hsys1(__NR_close, t.userns);
    relay(child, sock, chan);
}
