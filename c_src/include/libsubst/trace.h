/*
 * The trace summary's counters: the contract between the guest kernel
 * (which adds to them) and the Python monitor (which reads them once the
 * guest has exited).
 *
 * With LS_BOOT_TRACE_SUMMARY, bootinfo.trace_sum_fd is a memfd of
 * sizeof(struct ls_trace_sum) bytes that every guest process maps shared:
 * threads and processes add to one set of counters with atomic adds, so a
 * process killed by a signal has counted its calls all the same.
 *
 * Times are in ticks of the TSC; the monitor turns them into nanoseconds
 * with the rate between two points where the kernel read both the TSC and
 * CLOCK_MONOTONIC: `first` (the first boot) and `last` (the latest exit,
 * exec or call long after the previous point).
 *
 * This header is read by cffi too, so it holds only structs and integer
 * constants.
 */
#ifndef LIBSUBST_TRACE_H
#define LIBSUBST_TRACE_H
#ifndef CFFI_CDEF
#include <stdint.h>
#endif

#define LS_TRACE_SUM_SLOTS 512   /* syscall numbers; numbers past them count in the last slot */

struct ls_trace_counts {
    uint64_t fast, trap;         /* calls on each path */
    uint64_t errors;             /* of them, how many returned an error */
    uint64_t ticks;              /* TSC ticks spent serving them */
};

struct ls_trace_sum {
    uint64_t first_tsc, first_ns;    /* the first kernel's TSC and CLOCK_MONOTONIC */
    uint64_t last_tsc, last_ns;      /* the latest such pair */
    struct ls_trace_counts nr[LS_TRACE_SUM_SLOTS];
};

#endif
