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

#define MAX_MAPS 2048

static struct crash_map maps[MAX_MAPS];

static int contains(const char *s, const char *word)
{
    for (; *s; s++) {
        int i = 0;
        while (word[i] && s[i] == word[i])
            i++;
        if (!word[i])
            return 1;
    }
    return 0;
}

static unsigned long hex(char **p, char stop)
{
    unsigned long v = 0;
    for (; **p && **p != stop; (*p)++)
        v = v * 16 + (**p <= '9' ? **p - '0' : (**p | 32) - 'a' + 10);
    if (**p == stop)
        (*p)++;
    return v;
}

int crash_maps(const struct crash_map **out)
{
    static char text[1 << 17];
    static int n = -1;
    *out = maps;
    if (n >= 0)
        return n;
    long soft = kfd_room_begin();
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
    kfd_room_end(soft);
    n = 0;
    if (fd < 0)
        return n;
    long len = 0, r;
    while (len < (long)sizeof text - 1 &&
           (r = hsys3(__NR_read, fd, (long)text + len, sizeof text - 1 - len)) > 0)
        len += r;
    hsys1(__NR_close, fd);
    text[len] = 0;
    for (char *p = text; *p && n < MAX_MAPS;) {
        char *line = p;
        while (*p && *p != '\n')
            p++;
        if (*p)
            *p++ = 0;
        char *q = line;
        unsigned long start = hex(&q, '-'), end = hex(&q, ' ');
        if (q[0] != 'r' || contains(line, "[vvar]") || contains(line, "[vsyscall]"))
            continue;
        maps[n++] = (struct crash_map){start, end, 4 | (q[1] == 'w' ? 2 : 0) | (q[2] == 'x' ? 1 : 0)};
    }
    return n;
}

/* An address in the executable pages of a guest object: a data pointer
 * into an object is none (its bytes may be anything, ASLR's too). */
static int in_text(unsigned long addr)
{
    const struct crash_map *m;
    int n = crash_maps(&m);
    for (int i = 0; i < n; i++)
        if (m[i].start <= addr && addr < m[i].end)
            return (m[i].flags & 1) && mm_in_object(addr);
    return 0;
}

/* 1 if a call instruction ends just before ret: e8 rel32, or ff /2 with
 * each ModRM form's own length (REX prefixes come before and do not count). */
static int after_call(int mem, unsigned long ret)
{
    unsigned char b[8];                 /* b[8 - k] is the byte at ret - k */
    if (!crash_mem_read(mem, ret - 8, b, 8))
        return 0;
    if (b[3] == 0xe8)
        return 1;
    for (int k = 2; k <= 7; k++) {
        unsigned char op = b[8 - k], modrm = b[9 - k];
        if (op != 0xff || (modrm >> 3 & 7) != 2)
            continue;
        int mod = modrm >> 6, rm = modrm & 7, len = 2;
        if (mod != 3 && rm == 4) {
            if (k < 3)
                continue;
            len++;                      /* SIB */
            if (mod == 0 && (b[10 - k] & 7) == 5)
                len += 4;
        }
        len += mod == 1 ? 1 : mod == 2 ? 4 : mod == 0 && rm == 5 ? 4 : 0;
        if (len == k)
            return 1;
    }
    return 0;
}

static void report_frames(int fd, int mem, const struct sigcontext *m)
{
    int n = 0, walked;
    kdprintf(fd, LS_REPORT_FRAME, (unsigned long)m->rip);
    /* Frame-pointer walk: most distribution code has none, so it often
     * stops at once; then scan the stack for return addresses. */
    unsigned long fp = m->rbp, link[2], w;
    while (n < LS_REPORT_MAX_FRAMES && fp >= m->rsp && !(fp & 7) &&
           crash_mem_read(mem, fp, link, sizeof link) && in_text(link[1])) {
        kdprintf(fd, LS_REPORT_FRAME, link[1]);
        n++;
        fp = link[0];
    }
    walked = n;
    /* Most distribution code has no frame pointers: then scan the stack for
     * words that point just past a call instruction in a guest object's
     * text.  A stale one (a return address of a call that has returned) can
     * still show: there are no unwind tables in the kernel to tell. */
    for (int i = 0; walked == 0 && n < LS_REPORT_MAX_FRAMES && i < 2048 &&
                    crash_mem_read(mem, m->rsp + i * 8, &w, 8); i++)
        if (in_text(w) && after_call(mem, w)) {
            kdprintf(fd, LS_REPORT_FRAME, w);
            n++;
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
