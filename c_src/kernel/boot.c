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
#include "signal/signal.h"
#include <linux/elf.h>
#include <linux/auxvec.h>
#include <linux/prctl.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/sockios.h>

unsigned long ls_prog_auxv[2];
const char *ls_prog_exe;
const struct exec_args *ls_prog;
struct kstate K = {.diag_fd = 2, .trace_fd = -1, .report_fd = -1, .image_fd = -1, .core_fd = -1};

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
    mm_note_kernel(p, st.st_size);   /* the guest's memory calls leave it alone */
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

/* Between the steps: the --gdb handshake's fd and where the program starts. */
static int debug_fd = -1;
static unsigned long entry, gsp;

const struct ls_bootinfo *ls_kernel_start(unsigned long *sp)
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

/* The host files the synthetic /proc and /sys copy (fs/synth.c's table):
 * Landlock must let the kernel read them. */
static const char **host_copies(int *n)
{
    const char **list = kmalloc(synth_ng * sizeof *list);
    *n = 0;
    for (int i = 0; list && i < synth_ng; i++)
        if (synth_gtab[i].type == ST_FILE && synth_gtab[i].gen == SG_HOSTCOPY)
            list[(*n)++] = synth_gtab[i].path;
    return list;
}

/* The boot info's program resolved as execve resolves it ("#!" scripts
 * expanded, Linux's checks made), the first boot's as a guest's execve's:
 * its exec_args or -errno.  After an execve the calling kernel has resolved
 * it already. */
static long boot_resolve(struct exec_args *a, const char **strs)
{
    const struct ls_bootinfo *bi = K.bi;
    a->exe = bi_str(bi->exe);
    a->execfn = bi_str(bi->execfn);
    a->argv = strs;
    a->argc = bi->argc;
    if (bi->flags & LS_BOOT_EXECED)
        return 0;
    /* argv[0] and, per script level, an interpreter and its argument. */
    int room = (bi->argc ? bi->argc : 1) + 2 * (LS_EXEC_MAX_DEPTH + 1);
    struct exec_req *q = kmalloc(sizeof *q);
    const char **args = kmalloc((room + 1) * sizeof *args);
    if (!q || !args)
        return -ENOMEM;
    *q = (struct exec_req){.dirfd = AT_FDCWD, .path = a->exe, .follow = 1, .fd_named = -1,
                           .filename = a->execfn, .args = args, .room = room,
                           .nargs = bi->argc ? bi->argc : 1};
    args[0] = "";
    memcpy(args, strs, bi->argc * sizeof *args);
    long r = exec_resolve(q);
    if (r < 0)
        return r;
    /* q stays: the strings it holds are the program's for its whole life. */
    a->exe = q->real;
    a->argv = args;
    a->argc = q->nargs;
    return 0;
}

/* The first program, as the boot info names it, handed to the loader. */
static long boot_exec_load(unsigned long *entry_out, unsigned long *sp_out)
{
    const struct ls_bootinfo *bi = K.bi;
    const uint32_t *argo = (const uint32_t *)(K.blk + bi->argv_off);
    const uint32_t *envo = (const uint32_t *)(K.blk + bi->envp_off);
    const char **strs = kmalloc((bi->argc + bi->envc + 1) * sizeof *strs);
    struct exec_args *a = kmalloc(sizeof *a);
    if (!strs || !a)
        return -ENOMEM;
    for (uint32_t i = 0; i < bi->argc; i++)
        strs[i] = bi_str(argo[i]);
    for (uint32_t i = 0; i < bi->envc; i++)
        strs[bi->argc + i] = bi_str(envo[i]);
    *a = (struct exec_args){.envp = strs + bi->argc, .envc = bi->envc, .uid = bi->uid,
                            .gid = bi->gid};
    long r = boot_resolve(a, strs);
    if (r < 0) {
        /* The user's program cannot be run: one line, and a shell's status. */
        kdprintf(K.diag_fd, "libsubst: %s: cannot execute: %s\n", a->execfn, errno_name(-r));
        ls_exit_group(r == -ENOENT ? 127 : 126);
    }
    /* a and what it points to stay: the program's, for its whole life. */
    return exec_load(a, entry_out, sp_out);
}

void ls_kernel_load(const struct ls_sandbox *sb, struct ls_lockdown *lock)
{
    long r;
    if (sb->port_fd >= 0)
        port_fd = kfd_hide(sb->port_fd);
    /* Where execve finds this kernel again: an fd, since a packed image's
     * kernel runs from a memfd that has no path. */
    ls_self_fd = kfd_hide(hsys4(__NR_openat, AT_FDCWD, (long)"/proc/self/exe", O_PATH | O_CLOEXEC, 0));
    signal_init();
    trap_init();
    r = fs_init();
    if (r < 0)
        kpanic("cannot set up the guest file system: error %ld", -r);
    seal_fds();

    r = boot_exec_load(&entry, &gsp);
    if (r < 0 && (K.bi->flags & LS_BOOT_EXECED))
        exec_fail_late();            /* the calling kernel checked what Linux checks first */
    if (r < 0)
        kpanic("cannot load %s: error %ld", bi_str(K.bi->exe), -r);

    /* "boot START ENTER" (report.h): the monotonic ns at the kernel's first
     * instruction and now, as it hands over to ld.so (the boot benchmark). */
    if (K.report_fd >= 0)
        kdprintf(K.report_fd, LS_REPORT_BOOT, K.boot_ns, know_ns());

    *lock = (struct ls_lockdown){
        .self_fd = ls_self_fd, .text_start = K.ktext_start, .text_end = K.ktext_end,
        .sud_ip = (unsigned long)ls_sud_on_ip};
    lock->host_copies = host_copies(&lock->nhost_copies);
}

void ls_kernel_enter(void)
{
    /* From here every syscall outside kernel text traps into the kernel. */
    long r = kthread_enable_trap();
    if (r < 0)
        kpanic("cannot enable Syscall User Dispatch: error %ld", -r);
    if (debug_fd >= 0) {
        /* --gdb: wait until the debugger has attached (it writes one byte),
         * then stop where it can see the program's first instruction. */
        char go;
        long n;
        while ((n = hsys3(__NR_read, debug_fd, (long)&go, 1)) == -EINTR)
            ;
        if (n != 1)
            kpanic("--gdb: the debugger server did not attach (handshake read returned %ld)", n);
        hsys1(__NR_close, debug_fd);
        ls_enter_guest_stopped(entry, gsp);
    }
    ls_enter_guest(entry, gsp);
}
