/*
 * The counters behind --trace-summary (strace -c): per syscall number, the
 * calls on each path, the errors and the time spent in the kernel.
 * Threads share them (atomic adds); a fork's child starts from zero.  Each
 * process sends its own to the report channel when it exits or execs, and
 * the monitor adds them up:
 *     tsum NAME NR FAST TRAP ERRORS NS
 */
#include "kernel.h"
#include "syscall_table.h"

struct counts {
    unsigned long calls[2];          /* indexed by LS_PATH_TRAP, LS_PATH_FAST */
    unsigned long errors, ticks;     /* ticks: of the TSC, spent in the kernel */
};

static struct counts counts[LS_NR_SYSCALLS + 1];   /* last slot: numbers past the table */

static struct counts *slot(long nr)
{
    return &counts[(unsigned long)nr < LS_NR_SYSCALLS ? nr : LS_NR_SYSCALLS];
}

static void add(unsigned long *v, unsigned long n)
{
    __atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

void trace_count(long nr, int path, long ret, unsigned long ticks)
{
    if (!(trace_mode & LS_BOOT_TRACE_SUMMARY))
        return;
    struct counts *c = slot(nr);
    add(&c->calls[path == LS_PATH_FAST], 1);
    add(&c->ticks, ticks);
    if (ret < 0 && ret > -4096)
        add(&c->errors, 1);
}

void trace_count_error(long nr, long ret, unsigned long ticks)
{
    if (!(trace_mode & LS_BOOT_TRACE_SUMMARY))
        return;
    struct counts *c = slot(nr);
    add(&c->ticks, ticks);
    if (ret < 0 && ret > -4096)
        add(&c->errors, 1);
}

void trace_forget_counts(void)
{
    memset(counts, 0, sizeof counts);
}

static unsigned long take(unsigned long *v)
{
    return __atomic_exchange_n(v, 0, __ATOMIC_RELAXED);
}

void trace_flush_summary(void)
{
    if (!(trace_mode & LS_BOOT_TRACE_SUMMARY) || K.report_fd < 0)
        return;
    for (unsigned long nr = 0; nr <= LS_NR_SYSCALLS; nr++) {
        struct counts *c = &counts[nr];
        if (!c->calls[0] && !c->calls[1] && !c->errors)
            continue;
        unsigned long trap = take(&c->calls[LS_PATH_TRAP]), fast = take(&c->calls[LS_PATH_FAST]);
        unsigned long errors = take(&c->errors), ns = trace_ticks_ns(take(&c->ticks));
        const char *name = nr < LS_NR_SYSCALLS && syscall_table[nr].name ? syscall_table[nr].name
                                                                           : "unknown";
        kdprintf(K.report_fd, "tsum %s %lu %lu %lu %lu %lu\n", name, nr, fast, trap, errors, ns);
    }
}
