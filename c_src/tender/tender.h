/*
 * The tender: everything that sets up or supervises the guest's sandbox,
 * host-side (Solo5's tenders/spt is the model).  The process libsubst's
 * monitor starts enters here (start.S); the tender drives the guest
 * kernel's boot through libsubst/handover.h, makes the namespaces and id
 * maps, stays outside as the relay, and installs Landlock and the seccomp
 * filter just before the kernel turns the trap on.
 *
 * It includes only the contract headers (c_src/include/libsubst/), the
 * generated host-call filter and the host's UAPI headers, never the
 * kernel's: tests/test_layout.py checks it, and the build gives the tender
 * no include path into c_src/kernel/.
 */
#ifndef LS_TENDER_H
#define LS_TENDER_H

#include <stdint.h>
#include <asm/signal.h>
#include <asm/siginfo.h>
#include <asm/stat.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <linux/signal.h>

#include "libsubst/bootinfo.h"
#include "libsubst/handover.h"
#include "libsubst/rt.h"

#define TENDER_PATH_MAX 4096

/* The entry (main.c): the whole boot of a guest process, from the host's
 * initial stack sp. */
void tender_main(unsigned long *sp) __attribute__((noreturn));

/* The boot info, as ls_kernel_start mapped it; string at an offset ("" for 0). */
extern const struct ls_bootinfo *tender_bi;
static inline const char *tender_str(uint32_t off)
{
    return off ? (const char *)tender_bi + off : "";
}
static inline const struct ls_fs_entry *tender_entries(void)
{
    return (const struct ls_fs_entry *)((const char *)tender_bi + tender_bi->entries_off);
}
static inline const struct ls_mount *tender_mounts(void)
{
    return (const struct ls_mount *)((const char *)tender_bi + tender_bi->mounts_off);
}

/* supervise.c: the entry of libsubst-supervise, the native supervisor that
 * `libsubst run` becomes once its guest runs, from the host's initial stack. */
void supervise_main(unsigned long *sp) __attribute__((noreturn));

/* Diagnostics in the kernel's form ("libsubst-kernel: ...") on fd 2. */
void tender_warn(const char *fmt, ...);
void tender_fatal(const char *fmt, ...) __attribute__((noreturn));
/* The forwarded signals and LS_SIG_FORWARD (signals.h) arrive blocked, so that none finds a
 * process of the boot with its default action (death) before its handlers:
 * the relay unblocks them once it forwards them, the guest's first process
 * once it is the guest's. */
void tender_unblock_forwarded(void);

/* namespaces.c: clones the guest's first process into its namespaces;
 * returns in it, with *sb filled, whether its /proc is its pid namespace's
 * own.  The calling process becomes the relay and never returns. */
int tender_namespaces(struct ls_sandbox *sb);

/* namespaces.c: the program's own uid and gid (bi->uid, bi->gid), once the
 * kernel has loaded it as root of the guest's user namespace; 0 or -errno. */
long tender_become_user(void);

/* relay.c: the relay's side of the namespaces (id maps, idmapped trees)
 * and its life: forwards signals, binds ports, ends as the guest's first
 * process ends.  sock: its end of the socket to the guest; chan: the port
 * channel or -1; init_status: with --init, the init's word (handover.h). */
void relay_start(long child, int root, int sock, int chan, const uint32_t *init_status)
    __attribute__((noreturn));
/* The host paths shown in the guest: fn(path, where, is_dir, ro, arg) for
 * each, image files then volumes, where being the path it is shown at in
 * the guest's mount namespace (a volume's host path; an image file's
 * LS_HOST_FILE_FMT); -1 if fn failed. */
int tender_for_each_source(long (*fn)(const char *, const char *, int, int, void *), void *arg);
/* A detached copy of the mount tree at path (recursive), read-only if ro,
 * idmapped into userns if userns >= 0 and its file systems allow (*idmapped
 * says whether): an fd or -errno. */
long tender_clone_tree(const char *path, int ro, long userns, int *idmapped);
/* The relay's idmapped trees go to the guest over a SEQPACKET socket, a
 * batch a message: int count, then count results in source order (0: the
 * next fd of the message's SCM_RIGHTS; or -errno); count 0 ends the list,
 * count -1 says the relay failed.  A closed socket (recv: 0) says it died. */
#define TREE_BATCH LS_FDPASS_MAX
struct tree_batch {
    int count;
    int res[TREE_BATCH];
};

/* root.c: the guest's root file system (run in its mount namespace):
 * fds are the relay's idmapped trees in source order, or NULL.  Returns
 * whether /proc is the guest pid namespace's own. */
int tender_make_root(const int *fds);
#define TENDER_NDEVICES 6
extern const char *const tender_devices[TENDER_NDEVICES];   /* the host devices the guest uses */

/* ports.c: one port request from chan; 0 at end of file (no guest process
 * holds the channel any more), < 0 on error. */
long port_serve(int chan);

/* landlock.c: the host files the kernel may open (own_proc: /proc is the
 * guest's own); 0 or -errno: -ENOSYS without Landlock, -EOPNOTSUPP before
 * ABI 6 (unless the caller accepted a weaker sandbox). */
long tender_landlock(const struct ls_lockdown *lock, int own_proc);
/* seccomp.c: the kernel's host-call filter, and the relay's own. */
long tender_seccomp(const struct ls_lockdown *lock, int sealed);
int tender_seal_text(const struct ls_lockdown *lock);
long tender_seccomp_relay(void);

/* start.S: the restorer of the relay's signal handlers. */
void tender_sigreturn(void);

#endif
