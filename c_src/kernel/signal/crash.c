/*
 * Crash reports: a fatal signal in the guest writes its registers, a
 * backtrace and the map of guest objects to the report channel (the monitor
 * symbolises it), then dies by the same signal so the exit status is a
 * shell's 128+N.  Only a fault is a crash: a signal a process sent
 * (kill(2), tgkill(2), sigqueue(3): si_code SI_USER, SI_TKILL, SI_QUEUE,
 * all <= 0) has no faulting address to tell (si_addr would be the
 * sender's pid and uid) and ends the program without a report, as Linux
 * ends it; its default action still writes a core file, as Linux's does
 * for a sent SIGSEGV (signal(7): the action is the signal's, whoever sent it).
 */
#include "signal/signal.h"
#include "libsubst/report.h"
#include "report_records.h"

/* The process's memory as the host's /proc/self/mem, which names the
 * caller's own whichever process of the guest it is (the filter lets the
 * kernel name no process's memory by pid); opened in the kernel's room, as
 * every fd may be in use.  -errno if /proc cannot be read (a guest whose
 * /proc is the host's shows the first process only: Landlock). */
int crash_mem_open(void)
{
    long soft = kfd_room_begin();
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)"/proc/self/mem", O_RDONLY | O_CLOEXEC, 0);
    kfd_room_end(soft);
    return fd;
}

int crash_mem_read(int mem, unsigned long addr, void *out, unsigned long n)
{
    return mem >= 0 && (long)addr >= 0 && hsys4(__NR_pread64, mem, (long)out, n, addr) == (long)n;
}

static void report_frames(int fd, int mem, const struct sigcontext *m)
{
    int n = 0, walked;
    kdprintf(fd, LS_REPORT_FRAME, (unsigned long)m->rip);
    /* Frame-pointer walk: most distribution code has none, so it often
     * stops at once; then scan the stack for words that point into text. */
    unsigned long fp = m->rbp, link[2], w;
    while (n < LS_REPORT_MAX_FRAMES && fp >= m->rsp && !(fp & 7) &&
           crash_mem_read(mem, fp, link, sizeof link) && mm_in_object(link[1])) {
        kdprintf(fd, LS_REPORT_FRAME, link[1]);
        n++;
        fp = link[0];
    }
    walked = n;
    /* Most distribution code has no frame pointers: then scan the stack for
     * words that point just past a call instruction in a guest object. */
    for (int i = 0; walked == 0 && n < LS_REPORT_MAX_FRAMES && i < 2048 &&
                    crash_mem_read(mem, m->rsp + i * 8, &w, 8); i++) {
        unsigned char c[5];
        if (mm_in_object(w) && crash_mem_read(mem, w - 5, c, 5) &&
            (c[0] == 0xe8 || c[3] == 0xff || c[2] == 0xff)) {
            kdprintf(fd, LS_REPORT_FRAME, w);
            n++;
        }
    }
}

void crash_handler(int sig, siginfo_t *si, void *ctx)
{
    struct ucontext *uc = ctx;
    const struct sigcontext *m = &uc->uc_mcontext;
    int fd = K.report_fd, mem = crash_mem_open();
    if (fd >= 0 && si->si_code > 0) {
        kdprintf(fd, LS_REPORT_CRASH, sig, si->si_code, (unsigned long)si->si_addr);
        const char *names[] = {"rip", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi",
                               "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "eflags"};
        unsigned long vals[] = {m->rip, m->rsp, m->rbp, m->rax, m->rbx, m->rcx, m->rdx, m->rsi,
                                m->rdi, m->r8, m->r9, m->r10, m->r11, m->r12, m->r13, m->r14,
                                m->r15, m->eflags};
        for (unsigned i = 0; i < LS_ARRAY_SIZE(names); i++)
            kdprintf(fd, LS_REPORT_REG, names[i], vals[i]);
        report_frames(fd, mem, m);
        mm_report_objects(fd);
    }
    core_write(sig, si, m, mem);
    if (mem >= 0)
        hsys1(__NR_close, mem);
    /* Die by the signal itself: default action, raised while it is
     * blocked, delivered as the handler returns (pid 1 of the guest's pid
     * namespace, spared such signals, ends with 128+N instead). */
    ls_die_by_signal(sig);
    uc->uc_sigmask &= ~(1UL << (sig - 1));
}
