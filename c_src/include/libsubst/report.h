/*
 * The report channel: the contract between the guest kernel (which writes
 * it) and the Python monitor (which reads it after the guest has exited).
 *
 * The kernel writes plain text lines to bootinfo.report_fd, a pipe whose
 * read end the monitor holds.  Each line is a record; fields are separated
 * by one space; numbers are decimal unless prefixed with 0x.  The records
 * and their fields are written once, in libsubst/kernel/report_records.py:
 * the build makes the kernel's formats of them (report_records.h,
 * LS_REPORT_<KIND>), and the monitor reads with the same table.
 *
 * The guest can write anything to this pipe (its kernel's memory is its
 * own), so the monitor trusts nothing in it: it keeps at most
 * LS_REPORT_MAX_BYTES of it per run and drops lines longer than
 * LS_REPORT_MAX_LINE, and it opens no file the channel names — an object
 * is named by the index of its entry in the boot info, and the monitor
 * symbolises only the host files it placed there itself.
 *
 * Unknown record kinds are ignored by readers, so records can be added.
 */
#ifndef LIBSUBST_REPORT_H
#define LIBSUBST_REPORT_H
#define LS_REPORT_MAX_FRAMES 32
#define LS_REPORT_MAX_LINE 512        /* bytes of one record, newline included */
#define LS_REPORT_MAX_BYTES 1048576   /* bytes of records the monitor keeps per run */
#endif
