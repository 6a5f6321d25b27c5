/*
 * Boot: from the host's exec of libsubst-kernel to the guest's first
 * instruction.  Order matters: relocate, read the boot info, move the
 * kernel's own fds out of the guest's reach, install the trap handler,
 * mount the file system, map the program, and only then turn on Syscall
 * User Dispatch and jump.
 */
#include "kernel.h"
#include <linux/elf.h>
#include <linux/auxvec.h>
#include <linux/prctl.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/sockios.h>

struct kstate K = {.diag_fd = 2, .trace_fd = -1, .report_fd = -1, .image_fd = -1};

void ls_relocate_self(void);
void trap_init(void);
long sandbox_seccomp(void);
long sandbox_landlock(void);
extern int ls_self_fd;
void signal_init(void);
long trap_install(int sig, void (*fn)(int, siginfo_t *, void *));
long exec_load(const char *exe_path, const char *execfn, unsigned long *entry, unsigned long *sp);
void ls_enter_guest(unsigned long entry, unsigned long sp) __attribute__((noreturn));

extern const char __ehdr_start[] __attribute__((visibility("hidden")));

/* Where the kernel image and its text (the SUD-allowed region) lie. */
static void find_kernel_image(void)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)__ehdr_start;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(__ehdr_start + eh->e_phoff);
    unsigned long base = (unsigned long)__ehdr_start;
    K.kimg_start = ~0UL;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        unsigned long s = base + LS_PAGE_DOWN(ph[i].p_vaddr);
        unsigned long e = LS_PAGE_UP(base + ph[i].p_vaddr + ph[i].p_memsz);
        if (s < K.kimg_start)
            K.kimg_start = s;
        if (e > K.kimg_end)
            K.kimg_end = e;
        if (ph[i].p_flags & PF_X) {
            K.ktext_start = base + ph[i].p_vaddr;
            K.ktext_end = base + ph[i].p_vaddr + ph[i].p_memsz;
        }
    }
}

static long parse_fd(const char *s)
{
    long v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static void map_bootinfo(long fd)
{
    struct stat st;
    if (fd < 0 || hsys2(__NR_fstat, fd, (long)&st) < 0)
        kpanic("usage: libsubst-kernel BOOTINFO_FD (it is started by `libsubst run`)");
    if ((unsigned long)st.st_size < sizeof(struct ls_bootinfo))
        kpanic("boot info is truncated (%ld bytes)", (long)st.st_size);
    long p = hsys6(__NR_mmap, 0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p < 0 && p > -4096)
        kpanic("cannot map boot info: error %ld", -p);
    hsys1(__NR_close, fd);
    K.bi = (const struct ls_bootinfo *)p;
    K.blk = (const char *)p;
    const struct ls_bootinfo *bi = K.bi;
    if (bi->magic != LS_BOOTINFO_MAGIC || bi->version != LS_BOOTINFO_VERSION)
        kpanic("boot info has a wrong magic or version %u (this kernel reads %d)",
               bi->version, LS_BOOTINFO_VERSION);
    if (bi->size != (unsigned long)st.st_size)
        kpanic("boot info size %u does not match its file (%ld)", bi->size, (long)st.st_size);
}

/* The kernel's fds live at the top of the host's fd space; the guest's
 * RLIMIT_NOFILE is capped below them (prlimit64 keeps it there). */
#define KFD_RESERVED 32
static struct rlimit orig_nofile;

static void reserve_fds(void)
{
    struct rlimit r;
    hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&orig_nofile);
    unsigned long cap = orig_nofile.rlim_max < 65536 ? orig_nofile.rlim_max : 65536;
    if (cap < 256)
        kpanic("RLIMIT_NOFILE hard limit %lu is too low", cap);
    K.nofile_limit = cap - KFD_RESERVED;
    K.kfd_next = cap - 1;
    r.rlim_cur = cap;
    r.rlim_max = orig_nofile.rlim_max;
    hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, (long)&r, 0);
}

int kfd_hide(int fd)
{
    if (K.kfd_next < K.nofile_limit)
        return -EMFILE;
    /* After an execve the fds handed over may already sit in their slot. */
    long r = fd == K.kfd_next ? hsys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC)
                              : hsys3(__NR_dup3, fd, K.kfd_next, O_CLOEXEC);
    if (r < 0)
        return r;
    if (fd == K.kfd_next--)
        return fd;
    hsys1(__NR_close, fd);
    return r;
}

static void seal_fds(void)
{
    struct rlimit r;
    r.rlim_max = K.nofile_limit;
    r.rlim_cur = orig_nofile.rlim_cur < r.rlim_max ? orig_nofile.rlim_cur : r.rlim_max;
    hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, (long)&r, 0);
}

/* --net none: a network namespace of the guest's own, loopback up. */
/* Maps the caller's uid and gid to themselves in a new user namespace,
 * which is what lets an unprivileged caller own a network namespace. */
static long enter_user_namespace(void)
{
    long uid = hsys0(__NR_getuid), gid = hsys0(__NR_getgid);
    long r = hsys1(__NR_unshare, CLONE_NEWUSER);
    if (r < 0)
        return r;
    static const char *const files[] = {"/proc/self/setgroups", "/proc/self/uid_map",
                                        "/proc/self/gid_map"};
    char text[3][48];
    strlcpy(text[0], "deny", sizeof text[0]);
    ksnprintf(text[1], sizeof text[1], "%ld %ld 1", uid, uid);
    ksnprintf(text[2], sizeof text[2], "%ld %ld 1", gid, gid);
    for (int i = 0; i < 3; i++) {
        long fd = hsys4(__NR_openat, AT_FDCWD, (long)files[i], O_WRONLY | O_CLOEXEC, 0);
        if (fd < 0)
            return fd;
        r = hsys3(__NR_write, fd, (long)text[i], strlen(text[i]));
        hsys1(__NR_close, fd);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The guest's own IPC and UTS namespaces (its SysV IPC objects and host
 * name are its own), where the host lets us make them without a user
 * namespace: entering one only for these would show the guest the host's
 * other users' files as nobody's. */
static void isolate_ipc_uts(void)
{
    if (hsys1(__NR_unshare, CLONE_NEWIPC | CLONE_NEWUTS) == 0) {
        const char *h = bi_str(K.bi->hostname);
        if (*h)
            hsys2(__NR_sethostname, (long)h, strlen(h));
    }
}

/* The relay: the process libsubst's monitor started stays outside the
 * guest's pid namespace, passes on the signals the monitor sends and ends
 * as the guest's first process ends. */
static int relay_child;

static void relay_forward(int sig, siginfo_t *si, void *ctx)
{
    hsys2(__NR_kill, relay_child, sig);
}

static void __attribute__((noreturn)) relay(long child)
{
    static const int forwarded[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH};
    relay_child = child;
    for (unsigned i = 0; i < LS_ARRAY_SIZE(forwarded); i++)
        trap_install(forwarded[i], relay_forward);
    /* The terminal sends SIGINT and SIGQUIT to the guest itself. */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    hsys4(__NR_rt_sigaction, SIGINT, (long)&ign, 0, sizeof(sigset_t));
    hsys4(__NR_rt_sigaction, SIGQUIT, (long)&ign, 0, sizeof(sigset_t));
    int status = 0;
    long r;
    while ((r = hsys4(__NR_wait4, child, (long)&status, 0, 0)) == -EINTR)
        ;
    if (r < 0 || (status & 0x7f) == 0)
        hsys1(__NR_exit_group, r < 0 ? 125 : (status >> 8) & 0xff);
    int sig = status & 0x7f;             /* killed: die by the same signal */
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

/* Pids of the guest's own: it becomes pid 1 of a new pid namespace, where
 * the host allows one without a user namespace (or --net none made one). */
static void isolate_pids(void)
{
    if (hsys1(__NR_unshare, CLONE_NEWPID) < 0)
        return;
    long child = hsys5(__NR_clone, SIGCHLD, 0, 0, 0, 0);
    if (child < 0)
        kpanic("cannot start the guest's pid namespace: error %ld", -child);
    if (child > 0)
        relay(child);
    hsys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
}

static void isolate_network(void)
{
    long r = hsys1(__NR_unshare, CLONE_NEWNET);
    if (r == -EPERM && enter_user_namespace() == 0)
        r = hsys1(__NR_unshare, CLONE_NEWNET);       /* unprivileged: in a user namespace */
    if (r < 0)
        kpanic("--net none: cannot make a network namespace: error %ld", -r);
    /* struct ifreq, netdevice(7): <linux/if.h> drags in the host libc's headers. */
    struct { char ifr_name[16]; short ifr_flags; char pad[22]; } ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    long s = hsys3(__NR_socket, 2 /* AF_INET */, 2 /* SOCK_DGRAM */ | O_CLOEXEC, 0);
    if (s < 0 || hsys3(__NR_ioctl, s, SIOCGIFFLAGS, (long)&ifr) < 0)
        kpanic("--net none: cannot find the loopback interface");
    ifr.ifr_flags |= 1;              /* IFF_UP */
    if ((r = hsys3(__NR_ioctl, s, SIOCSIFFLAGS, (long)&ifr)) < 0)
        kpanic("--net none: cannot bring loopback up: error %ld", -r);
    hsys1(__NR_close, s);
}

static void save_host_auxv(unsigned long *sp)
{
    long argc = sp[0];
    unsigned long *p = sp + 1 + argc + 1;
    while (*p)
        p++;
    p++;
    unsigned int n = 0;
    for (; p[0] != AT_NULL && n + 2 < LS_ARRAY_SIZE(K.host_auxv); p += 2) {
        K.host_auxv[n++] = p[0];
        K.host_auxv[n++] = p[1];
    }
    K.host_auxv[n] = AT_NULL;
}

void __attribute__((noreturn)) ls_boot_main(unsigned long *sp)
{
    ls_relocate_self();
    K.boot_ns = know_ns();
    find_kernel_image();
    save_host_auxv(sp);
    char **argv = (char **)(sp + 1);
    long bootfd = sp[0] >= 2 ? parse_fd(argv[1]) : -1;

    long r;
    reserve_fds();
    int diag = kfd_hide(hsys1(__NR_dup, 2));
    if (diag >= 0)
        K.diag_fd = diag;
    map_bootinfo(bootfd);
    if (K.bi->trace_fd >= 0 && (K.bi->flags & LS_BOOT_TRACE))
        K.trace_fd = kfd_hide(K.bi->trace_fd);
    if (K.bi->report_fd >= 0)
        K.report_fd = kfd_hide(K.bi->report_fd);
    if (K.bi->image_fd >= 0 && (K.image_fd = kfd_hide(K.bi->image_fd)) < 0)
        kpanic("cannot take over the image file (fd %d): error %d", K.bi->image_fd, -K.image_fd);

    if ((r = kthread_init_current()) < 0)
        kpanic("cannot set up the first thread: error %ld", -r);
    int execed = K.bi->flags & LS_BOOT_EXECED;
    if ((K.bi->flags & LS_BOOT_NET_NONE) && !execed)
        isolate_network();
    if (!execed) {
        isolate_ipc_uts();
        isolate_pids();
    }
    /* Where execve finds this kernel again: an fd, since a packed image's
     * kernel runs from a memfd that has no path. */
    ls_self_fd = kfd_hide(hsys4(__NR_openat, AT_FDCWD, (long)"/proc/self/exe", O_PATH | O_CLOEXEC, 0));
    signal_init();
    trap_init();
    r = fs_init();
    if (r < 0)
        kpanic("cannot set up the guest file system: error %ld", -r);
    seal_fds();

    unsigned long entry, gsp;
    r = exec_load(bi_str(K.bi->exe), bi_str(K.bi->execfn), &entry, &gsp);
    if (r < 0)
        kpanic("cannot load %s: error %ld", bi_str(K.bi->exe), -r);

    /* "boot START ENTER" (report.h): the monotonic ns at the kernel's first
     * instruction and now, as it hands over to ld.so (the boot benchmark). */
    if (K.report_fd >= 0)
        kdprintf(K.report_fd, "boot %lu %lu\n", K.boot_ns, know_ns());

    /* From here every syscall outside kernel text traps into the kernel. */
    /* Host files the kernel may open (Landlock), the host calls it may make
     * (seccomp), then the trap: from here every syscall outside kernel text
     * traps into the kernel. */
    int policy = !execed && !(K.bi->flags & LS_BOOT_NO_POLICY);
    if (policy && (r = sandbox_landlock()) < 0 && r != -ENOSYS)
        kpanic("cannot restrict host file access (Landlock): error %ld", -r);
    if (policy && (r = sandbox_seccomp()) < 0)
        kpanic("cannot install the seccomp filter: error %ld", -r);
    r = kthread_enable_trap();
    if (r < 0)
        kpanic("cannot enable Syscall User Dispatch: error %ld", -r);
    ls_enter_guest(entry, gsp);
}
