/*
 * The report channel: the contract between the guest kernel (which writes
 * it) and the Python monitor (which reads it after the guest has exited).
 *
 * The kernel writes plain text lines to bootinfo.report_fd, a pipe whose
 * read end the monitor holds.  Each line is a record; fields are separated
 * by one space; numbers are decimal unless prefixed with 0x.
 *
 * The guest can write anything to this pipe (its kernel's memory is its
 * own), so the monitor trusts nothing in it: it keeps at most
 * LS_REPORT_MAX_BYTES of it per run and drops lines longer than
 * LS_REPORT_MAX_LINE, and it opens no file the channel names — an object
 * is named by the index of its entry in the boot info, and the monitor
 * symbolises only the host files it placed there itself.
 *
 *   enosys NAME NR COUNT      NAME (number NR) was asked for COUNT times and
 *                             answered -ENOSYS
 *   crash SIGNO CODE ADDR     the guest took fatal signal SIGNO (si_code CODE)
 *                             at fault address ADDR
 *   reg NAME VALUE            a general register at the crash (rip, rsp, ...)
 *   frame ADDR                a return address of the crashed stack, innermost
 *                             first (frame-pointer walk, then a stack scan)
 *   object BASE END ENTRY     a guest object mapped at [BASE, END): the
 *                             program, ld.so and every library ld.so mapped;
 *                             ENTRY is its index in the boot info's entries,
 *                             -1 for a file not of the image (a volume's)
 *   exit STATUS               the guest called exit_group(STATUS)
 *   boot START ENTER          CLOCK_MONOTONIC ns at the kernel's first instruction
 *                             and when it jumped to the program (or its ld.so)
 *
 * Unknown record kinds are ignored by readers, so records can be added.
 */
#ifndef LIBSUBST_REPORT_H
#define LIBSUBST_REPORT_H
#define LS_REPORT_MAX_FRAMES 32
#define LS_REPORT_MAX_LINE 512        /* bytes of one record, newline included */
#define LS_REPORT_MAX_BYTES 1048576   /* bytes of records the monitor keeps per run */
#endif
