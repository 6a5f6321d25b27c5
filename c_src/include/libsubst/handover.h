/*
 * The hand-over between the tender (c_src/tender/: namespaces, id maps,
 * the relay, Landlock and seccomp) and the guest kernel (c_src/kernel/),
 * linked into one executable.  The tender owns the process entry and
 * drives the kernel's boot in three steps (c_src/tender/main.c):
 *
 *   bi = ls_kernel_start(sp)        the kernel reads its boot info
 *   [the tender makes the sandbox; returns in the guest's first process]
 *   ls_kernel_load(&sandbox, &lock) the kernel mounts and maps the program
 *   [the tender installs Landlock and the seccomp filter]
 *   ls_kernel_enter()               the trap on, into the program
 *
 * The kernel never calls the tender: it sees only these structs.
 */
#ifndef LIBSUBST_HANDOVER_H
#define LIBSUBST_HANDOVER_H

#include <stdint.h>
#include "libsubst/bootinfo.h"

/* The guest's pseudo-terminals: a devpts instance of its own that the
 * tender mounts here (with /dev/ptmx a link to its ptmx) and the kernel
 * serves as a mount of the guest's file system. */
#define LS_DEVPTS "/dev/pts"

/* Where the tender binds the image's host file of entry i (LS_ENT_HOST_FILE),
 * or writes the bytes of its data file (LS_ENT_DATA_FILE, a generated /etc
 * file), in the guest's mount namespace: LS_HOST_FILE_FMT with i, not its
 * host path.  Whatever the host path's depth, the host's walk to it is then
 * two components, and so is Landlock's walk on every open, from the file up
 * to its rule.  The kernel opens the file there (img_host_path); a data
 * file is then one host openat, as natively, where a reopen of a memfd by
 * /proc/self/fd/N walks procfs and follows a magic link. */
#define LS_HOST_FILES "/.libsubst-files"
#define LS_HOST_FILE_FMT LS_HOST_FILES "/%u"
#define LS_HOST_FILE_PATH_MAX 32

/* The host's sysfs directories the guest sees whole and read-only, each at
 * its own path: the machine's CPUs (cpuN, their topology, caches and
 * cpufreq, as lscpu, nproc and psutil read them), memory blocks and NUMA
 * nodes (lsmem, lscpu's NUMA lines; a host without one has none); and directories of
 * links, each with the device directories its links lead to: the block
 * devices (lsblk, iostat, psutil's disk_io_counters) and the power
 * supplies (psutil's sensors_battery).  lib/hosttrees.c lists them all.
 * The tender binds them into the guest's mount namespace, the kernel
 * serves each as part of /sys (fs/volume.c; not a mount of its own in the
 * mount tables), following their links as the guest's own walk does, and
 * lets Landlock read beneath them (ls_lockdown.host_copies).  Links that
 * lead to none of them (cpuN/subsystem, a disk's device, ...) lead
 * nowhere, or to a directory on the way to one, which holds only that
 * way (as /sys's synthetic directories list, beside their own entries,
 * only the ways to these trees: fs/synth_dir.c). */
#define LS_HOST_TREES {"/sys/devices/system/cpu", "/sys/devices/system/memory", "/sys/devices/system/node"}
#define LS_HOST_LINK_DIRS {"/sys/block", "/sys/class/power_supply"}

/* What the tender made, for the kernel. */
struct ls_sandbox {
    int32_t port_fd;                 /* the guest's end of the relay's port channel
                                      * (libsubst/ports.h), or -1 */
    /* With LS_BOOT_INIT: a word of memory shared with the relay, where the
     * init writes the program's wait status (LS_INIT_STATUS_SET | status)
     * before it exits, since an init, which Linux lets no signal but
     * SIGKILL end, cannot die by the program's signal itself; else NULL. */
    uint32_t *init_status;
};
#define LS_INIT_STATUS_SET 0x80000000u

/* What the kernel holds, for the tender's Landlock rules and seccomp pins. */
struct ls_lockdown {
    int32_t self_fd;                 /* O_PATH fd of this executable (execve boots it
                                      * again), or -1 */
    unsigned long text_start, text_end;   /* the text Syscall User Dispatch lets through */
    unsigned long image_start;       /* the executable's first page (the text follows
                                      * its read-only headers) */
    unsigned long sud_ip;            /* the return address of the SUD prctl's syscall */
    unsigned long resolve_how, open_ro_how, open_rd_how, open_nb_how, resolve_ip;
                                     /* openat2's four open_hows, and the return
                                      * address of its one syscall (arch.h) */
    const char *const *host_copies;  /* the host files the synthetic /proc and /sys copy,
                                      * and the host trees it shows */
    int nhost_copies;
};

/* Relocates the executable, reads the boot info named on the host's
 * initial stack sp, moves the kernel's fds out of the guest's reach and
 * sets up the first thread.  The boot info, mapped read-only; exits on a
 * bad one. */
const struct ls_bootinfo *ls_kernel_start(unsigned long *sp);
/* In the guest's process: installs the trap handler, mounts the guest's
 * file system and maps the program; fills *lock.  Exits on failure. */
void ls_kernel_load(const struct ls_sandbox *sb, struct ls_lockdown *lock);
/* Syscall User Dispatch on, and into the program. */
void ls_kernel_enter(void) __attribute__((noreturn));

#endif
