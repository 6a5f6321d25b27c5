/*
 * Boot: from the host's exec of libsubst-kernel to the guest's first
 * instruction, in the three steps the tender drives (libsubst/handover.h).
 * Order matters: relocate, read the boot info, move the kernel's own fds
 * out of the guest's reach; then (in the guest's namespaces) install the
 * trap handler, mount the file system, map the program; and only after the
 * tender's Landlock and seccomp turn on Syscall User Dispatch and jump.
 */
#include "kernel.h"
#include "libsubst/handover.h"
#include "report_records.h"
#include "fs/synth.h"
#include "proc/exec.h"
#include "proc/proc.h"
#include "proc/ptable.h"
#include "signal/signal.h"
#include <linux/elf.h>
#include <linux/auxvec.h>
#include <linux/prctl.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/sockios.h>

unsigned long ls_prog_auxv[2];
unsigned long ls_saved_auxv[LS_AUXV_WORDS];
unsigned ls_saved_auxv_len;
unsigned long ls_start_stack;
const char *ls_prog_exe;
const struct exec_args *ls_prog;
struct ktext ls_text[2];
struct kstate K = {.diag_fd = 2, .trace_fd = -1, .report_fd = -1, .image_fd = -1, .core_fd = -1,
                   .bi_fd = -1};

extern const char __ehdr_start[] __attribute__((visibility("hidden")));   /* the linker's */

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

/* Maps the block at fd read-only (kept out of the guest's memory calls):
 * its address and size, at least min bytes, or a kpanic naming what. */
static const char *map_block(long fd, size_t min, const char *what, unsigned long *size)
{
    struct stat st;
    if (fd < 0 || hsys2(__NR_fstat, fd, (long)&st) < 0)
        kpanic("usage: libsubst-kernel BOOTINFO_FD (it is started by `libsubst run`)");
    if ((unsigned long)st.st_size < min)
        kpanic("%s is truncated (%ld bytes)", what, (long)st.st_size);
    long p = hsys6(__NR_mmap, 0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p < 0 && p > -4096)
        kpanic("cannot map %s: error %ld", what, -p);
    mm_note_kernel(p, st.st_size);
    *size = st.st_size;
    return (const char *)p;
}

static void map_bootinfo(long fd)
{
    unsigned long size;
    K.blk = map_block(fd, sizeof(struct ls_bootinfo), "boot info", &size);
    K.bi = (const struct ls_bootinfo *)K.blk;
    /* Kept for a guest's execve, which passes it on (proc/execve.c). */
    K.bi_fd = kfd_hide(fd);
    const struct ls_bootinfo *bi = K.bi;
    if (bi->magic != LS_BOOTINFO_MAGIC || bi->version != LS_BOOTINFO_VERSION)
        kpanic("boot info has a wrong magic or version %u (this kernel reads %d)",
               bi->version, LS_BOOTINFO_VERSION);
    if (bi->size != size)
        kpanic("boot info size %u does not match its file (%lu)", bi->size, size);
    K.cwd = bi_str(bi->cwd);
}

/* The kernel's fds live at the top of the host's fd space; the guest's
 * RLIMIT_NOFILE is capped below them (prlimit64 keeps it there). */
static struct rlimit orig_nofile;

static void reserve_fds(int execed)
{
    struct rlimit r;
    hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&orig_nofile);
    unsigned long cap = orig_nofile.rlim_max < 65536 ? orig_nofile.rlim_max : 65536;
    /* The host's, at the first boot; after a guest's execve, the guest's
     * own limit plus the kernel's fds (proc/misc.c keeps that room), which
     * may be as low as Linux lets a program set it: 0. */
    if (cap < (execed ? KFD_RESERVED : 256))
        kpanic("RLIMIT_NOFILE hard limit %lu is too low", cap);
    K.nofile_limit = cap - KFD_RESERVED;
    K.kfd_next = cap - 1;
    r.rlim_cur = cap;
    r.rlim_max = orig_nofile.rlim_max;
    hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, (long)&r, 0);
}

_Static_assert(KFD_RESERVED <= 64, "K.kfd_mask has a bit per reserved fd");

/* A handed-over fd (after an execve) may sit anywhere in the reserve, the
 * slot this kernel would give another fd included, since the kernel before
 * hid its fds in another order: one in the reserve stays where it is, and
 * an occupied slot is passed over, never closed by dup3. */
int kfd_hide(int fd)
{
    if (fd < 0)
        return fd;
    if (fd >= K.nofile_limit && fd < K.nofile_limit + KFD_RESERVED) {
        if (fd == K.kfd_next)
            K.kfd_next--;
        long r = hsys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC);
        if (r == 0)
            K.kfd_mask |= 1ULL << (fd - K.nofile_limit);
        return r < 0 ? r : fd;
    }
    while (K.kfd_next >= K.nofile_limit && hsys2(__NR_fcntl, K.kfd_next, F_GETFD) >= 0)
        K.kfd_next--;
    if (K.kfd_next < K.nofile_limit)
        return -EMFILE;
    long r = hsys3(__NR_dup3, fd, K.kfd_next, O_CLOEXEC);
    if (r < 0)
        return r;
    hsys1(__NR_close, fd);
    K.kfd_mask |= 1ULL << (K.kfd_next - K.nofile_limit);
    return K.kfd_next--;
}

/* The host's soft limit raised to its hard one, KFD_RESERVED above the
 * guest's hard limit, while the kernel opens fds for a call Linux serves
 * without any; kfd_room_end gives the guest's soft limit back. */
long kfd_room_begin(void)
{
    struct rlimit r;
    long e = hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&r);
    if (e < 0)
        return e;
    long soft = r.rlim_cur;
    r.rlim_cur = r.rlim_max;
    e = hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, (long)&r, 0);
    return e < 0 ? e : soft;
}

void kfd_room_end(long soft)
{
    struct rlimit r;
    if (soft < 0 || hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&r) < 0)
        return;
    r.rlim_cur = soft;
    hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, (long)&r, 0);
}

static void seal_fds(void)
{
    struct rlimit r;
    r.rlim_max = K.nofile_limit + KFD_RESERVED;     /* the guest sees K.nofile_limit */
    unsigned long guest = K.nofile_limit;
    r.rlim_cur = orig_nofile.rlim_cur < guest ? orig_nofile.rlim_cur : guest;
    hsys4(__NR_prlimit64, 0, RLIMIT_NOFILE, (long)&r, 0);
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

/* Between the steps: the --gdb handshake's fd, the --init word and where
 * the program starts. */
static int debug_fd = -1;
static uint32_t *init_word;
static unsigned long entry, gsp;

const struct ls_bootinfo *ls_kernel_start(unsigned long *sp)
{
    ls_relocate_self();
    K.boot_ns = know_ns();
    find_kernel_image();
    save_host_auxv(sp);
    char **argv = (char **)(sp + 1);
    long bootfd = sp[0] >= 2 ? parse_fd(argv[1]) : -1;
    long execfd = sp[0] >= 3 ? parse_fd(argv[2]) : -1;

    long r;
    reserve_fds(sp[0] >= 3);
    int diag = kfd_hide(hsys1(__NR_dup, 2));
    if (diag >= 0)
        K.diag_fd = diag;
    map_bootinfo(bootfd);
    if (sp[0] >= 3) {
        unsigned long size;
        const char *blk = map_block(execfd, sizeof(struct exec_block), "exec block", &size);
        hsys1(__NR_close, execfd);
        if (exec_block_take(blk, size) < 0)
            kpanic("exec block is malformed");
    }
    if (K.bi->trace_fd >= 0 && (K.bi->flags & LS_BOOT_TRACE))
        K.trace_fd = kfd_hide(K.bi->trace_fd);
    trace_init();
    dispatch_init();
    if (K.bi->report_fd >= 0)
        K.report_fd = kfd_hide(K.bi->report_fd);
    if (K.bi->core_fd >= 0)
        K.core_fd = kfd_hide(K.bi->core_fd);
    debug_fd = K.bi->debug_fd >= 0 ? kfd_hide(K.bi->debug_fd) : -1;
    if ((K.bi->flags & LS_BOOT_EXECED) && K.bi->port_fd >= 0)
        port_fd = kfd_hide(K.bi->port_fd);
    if (K.bi->image_fd >= 0 && (K.image_fd = kfd_hide(K.bi->image_fd)) < 0)
        kpanic("cannot take over the image file (fd %d): error %d", K.bi->image_fd, -K.image_fd);

    if ((r = kthread_init_current()) < 0)
        kpanic("cannot set up the first thread: error %ld", -r);
    /* Not for a guest either: one that execs this kernel with boot info of
     * its own is under the seccomp filter, which this asks about (a guest
     * is killed for asking, or the answer is not 0). */
    if ((K.bi->flags & LS_BOOT_NO_TRAP) &&
        (!(K.bi->flags & LS_BOOT_NO_POLICY) || hsys1(__NR_prctl, PR_GET_SECCOMP) != 0))
        kpanic("the trap can be left off only without the sandbox (a benchmark's boot)");
    return K.bi;
}

/* The host files the synthetic /proc and /sys copy (fs/synth.c's table)
 * and the host's sysfs trees /sys shows (volume.c): Landlock must let the
 * kernel read them. */
static const char **host_copies(int *n)
{
    const char **list = kmalloc((synth_ng + fs_nmnt) * sizeof *list);
    *n = 0;
    for (int i = 0; list && i < synth_ng; i++)
        if (synth_gtab[i].type == ST_FILE && synth_gtab[i].gen == SG_HOSTCOPY)
            list[(*n)++] = synth_gtab[i].path;
    for (int i = 0; list && i < fs_nmnt; i++)
        if (fs_mnt[i].sys)
            list[(*n)++] = fs_mnt[i].host;
    return list;
}

/* The boot info's program resolved as execve resolves it ("#!" scripts
 * expanded, Linux's checks made): the first exec is a guest's execve's
 * equal.  0 or -errno. */
static long boot_resolve(struct exec_args *a)
{
    const struct ls_bootinfo *bi = K.bi;
    const uint32_t *argo = (const uint32_t *)(K.blk + bi->argv_off);
    const uint32_t *envo = (const uint32_t *)(K.blk + bi->envp_off);
    const char **envp = kmalloc((bi->envc + 1) * sizeof *envp);
    /* argv[0] and, per script level, an interpreter and its argument. */
    int room = (bi->argc ? bi->argc : 1) + 2 * (LS_EXEC_MAX_DEPTH + 1);
    const char **args = kmalloc((room + 1) * sizeof *args);
    struct exec_req *q = kmalloc(sizeof *q);
    if (!envp || !args || !q)
        return -ENOMEM;
    for (uint32_t i = 0; i < bi->envc; i++)
        envp[i] = bi_str(envo[i]);
    args[0] = "";
    for (uint32_t i = 0; i < bi->argc; i++)
        args[i] = bi_str(argo[i]);
    *q = (struct exec_req){.dirfd = AT_FDCWD, .path = bi_str(bi->exe), .follow = 1,
                           .fd_named = -1, .filename = bi_str(bi->execfn), .args = args,
                           .room = room, .nargs = bi->argc ? bi->argc : 1};
    long r = exec_resolve(q);
    /* q stays: the strings it holds are the program's for its whole life. */
    *a = (struct exec_args){.exe = q->real, .execfn = q->filename, .argv = args,
                            .envp = envp, .argc = q->nargs, .envc = bi->envc, .uid = bi->uid,
                            .gid = bi->gid};
    return r;
}

/* The first program, or the one a guest's execve named, handed to the
 * loader; a and what it points to stay the program's (ls_prog).  A load
 * that fails is past the point of no return (the calling kernel, or the
 * first boot's boot_resolve, checked what Linux checks first). */
static void boot_exec_load(unsigned long *entry_out, unsigned long *sp_out)
{
    struct exec_args *a = kmalloc(sizeof *a);
    if (!a)
        kpanic("cannot load the program: %s", errno_name(ENOMEM));
    if (!exec_block_args(a)) {
        long r = boot_resolve(a);
        if (r < 0) {
            /* The user's program cannot be run: one line, and a shell's status. */
            kdprintf(K.diag_fd, "libsubst: %s: cannot execute: %s\n", bi_str(K.bi->execfn),
                     errno_name(-r));
            ls_exit_group(r == -ENOENT ? 127 : 126);
        }
    }
    long r = exec_load(a, entry_out, sp_out);
    if (r < 0) {
        /* What the loader refuses (the PT_LOADs, the room to map them) Linux
         * finds after begin_new_exec, at the first exec too: one line, then
         * the process dies by SIGSEGV (the first program's status 139, as a
         * shell shows the native one). */
        kwarn("%scannot load %s: %s",
              K.bi->flags & LS_BOOT_EXECED ? "execve past its point of no return: " : "",
              a->exe, errno_name(-r));
        exec_fail_late();
    }
}

void ls_kernel_load(const struct ls_sandbox *sb, struct ls_lockdown *lock)
{
    long r;
    if (sb->port_fd >= 0)
        port_fd = kfd_hide(sb->port_fd);
    init_word = sb->init_status;
    /* Where execve finds this kernel again: an fd, since a packed image's
     * kernel runs from a memfd that has no path. */
    ls_self_fd = kfd_hide(hsys4(__NR_openat, AT_FDCWD, (long)"/proc/self/exe", O_PATH | O_CLOEXEC, 0));
    signal_init();
    trap_init();
    if ((r = shared_init()) < 0)
        kpanic("cannot map the guest's shared memory: error %ld", -r);
    r = fs_init();
    if (r < 0)
        kpanic("cannot set up the guest file system: error %ld", -r);
    /* Dumpable, as every process is after execve on Linux: the tender's
     * setresuid made the first one not (commit_creds), and the host then
     * refuses the guest's other processes its /proc entries (ptrace-read).
     * The guest may set it itself (prctl is allowed); the pid namespace,
     * Landlock's domain and the seccomp filter (no ptrace) still keep any
     * process outside the guest from reaching it. */
    hsys2(__NR_prctl, PR_SET_DUMPABLE, 1);

    /* Loaded before the guest's limit holds: Linux's execve maps the
     * program and its interpreter without an fd. */
    boot_exec_load(&entry, &gsp);
    seal_fds();
    ptable_boot();                   /* the program it names is ls_prog now */

    /* "boot START ENTER" (report.h): the monotonic ns at the kernel's first
     * instruction and now, as it hands over to ld.so (the boot benchmark). */
    if (K.report_fd >= 0)
        kdprintf(K.report_fd, LS_REPORT_BOOT, K.boot_ns, know_ns());

    *lock = (struct ls_lockdown){
        .self_fd = ls_self_fd, .text_start = K.ktext_start, .text_end = K.ktext_end,
        .image_start = K.kimg_start,
        .sud_ip = (unsigned long)ls_sud_on_ip, .resolve_how = (unsigned long)ls_resolve_how,
        .open_ro_how = (unsigned long)ls_open_ro_how, .open_rd_how = (unsigned long)ls_open_rd_how,
        .open_nb_how = (unsigned long)ls_open_nb_how, .resolve_ip = (unsigned long)ls_resolve_ip};
    lock->host_copies = host_copies(&lock->nhost_copies);
}

void ls_kernel_enter(void)
{
    /* The standard fds libsubst held for the caller's closed ones: every
     * fd of the kernel's and the tender's lies elsewhere by now. */
    if (!(K.bi->flags & LS_BOOT_EXECED))
        for (int fd = 0; fd < 3; fd++)
            if (K.bi->flags & (LS_BOOT_CLOSED_STDIN << fd))
                hsys1(__NR_close, fd);
    if (init_word)
        init_start(init_word);       /* returns in the program's process, pid 2 */
    /* From here every syscall outside kernel text traps into the kernel. */
    long r = kthread_enable_trap();
    if (r < 0)
        kpanic("cannot enable Syscall User Dispatch: error %ld", -r);
    if (debug_fd >= 0) {
        /* --gdb or --profile: wait until the debugger or perf has attached
         * (it writes one byte); for gdb ('g') stop where it can see the
         * program's first instruction. */
        char go;
        long n;
        while ((n = hsys3(__NR_read, debug_fd, (long)&go, 1)) == -EINTR)
            ;
        if (n != 1)
            kpanic("--gdb/--profile: the monitor did not attach (handshake read returned %ld)", n);
        hsys1(__NR_close, debug_fd);
        if (go == 'g')
            ls_enter_guest_stopped(entry, gsp);
    }
    ls_enter_guest(entry, gsp);
}
