/*
 * The counters behind --trace-summary (strace -c): per syscall number, the
 * calls on each path, the errors and the TSC ticks spent in the kernel, in
 * a memfd every guest process maps shared (libsubst/trace.h), so threads
 * and processes, also those a signal kills, add to one set that the
 * monitor reads after the guest has exited.
 */
#include "kernel.h"
#include "libsubst/trace.h"

static struct ls_trace_sum *sum;     /* NULL: nothing is counted */
static int sum_fd = -1;

/* At boot: maps the counters; the first kernel also notes where the TSC
 * and the clock start. */
void trace_summary_init(unsigned long tsc, unsigned long ns)
{
    if (!(trace_mode & LS_BOOT_TRACE_SUMMARY) || K.bi->trace_sum_fd < 0)
        return;
    sum_fd = kfd_hide(K.bi->trace_sum_fd);
    long p = sum_fd < 0 ? sum_fd : hsys6(__NR_mmap, 0, sizeof *sum, PROT_READ | PROT_WRITE,
                                        MAP_SHARED, sum_fd, 0);
    if (p < 0 && p > -4096) {
        kwarn("--trace-summary: cannot map the counters: error %ld", -p);
        return;
    }
    mm_note_kernel(p, LS_PAGE_UP(sizeof *sum));
    sum = (struct ls_trace_sum *)p;
    unsigned long zero = 0;
    if (__atomic_compare_exchange_n(&sum->first_tsc, &zero, tsc, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        sum->first_ns = ns;
}

static void add(uint64_t *v, unsigned long n)
{
    __atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

/* A later (TSC, clock) pair for the monitor's rate; a call after 2^30
 * ticks (a fraction of a second) without one refreshes it too, so a guest
 * killed from outside still leaves a usable pair. */
void trace_summary_mark(void)
{
    if (!sum)
        return;
    unsigned long tsc = rdtsc();
    struct { long tv_sec, tv_nsec; } ts;
    hsys2(__NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, (long)&ts);
    /* two stores, not one atomic pair: a reader after the guest's end sees
     * the pair of whichever process wrote last, to within a race. */
    __atomic_store_n(&sum->last_tsc, tsc, __ATOMIC_RELAXED);
    __atomic_store_n(&sum->last_ns, ts.tv_sec * 1000000000UL + ts.tv_nsec, __ATOMIC_RELAXED);
}

static struct ls_trace_counts *slot(long nr)
{
    return &sum->nr[(unsigned long)nr < LS_TRACE_SUM_SLOTS ? nr : LS_TRACE_SUM_SLOTS - 1];
}

void trace_count_call(long nr, int path)
{
    if (sum)
        add(path == LS_PATH_FAST ? &slot(nr)->fast : &slot(nr)->trap, 1);
}

void trace_count_done(long nr, long ret, unsigned long ticks)
{
    if (!sum)
        return;
    struct ls_trace_counts *c = slot(nr);
    add(&c->ticks, ticks);
    if (ret < 0 && ret > -4096)
        add(&c->errors, 1);
    if (rdtsc() - __atomic_load_n(&sum->last_tsc, __ATOMIC_RELAXED) > (1UL << 30))
        trace_summary_mark();
}

int trace_summary_hand_over(void)
{
    if (sum_fd >= 0)
        hsys3(__NR_fcntl, sum_fd, F_SETFD, 0);
    return sum_fd;
}

void trace_summary_take_back(void)
{
    if (sum_fd >= 0)
        hsys3(__NR_fcntl, sum_fd, F_SETFD, FD_CLOEXEC);
}
