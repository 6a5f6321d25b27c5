/*
 * The guest's process table (proc/ptable.c): what each process's kernel
 * publishes about itself in the shared memory (mm/shared.c) for the other
 * processes' /proc (fs/synth_proc.c).
 */
#ifndef LS_PROC_PTABLE_H
#define LS_PROC_PTABLE_H

#include "kernel.h"

/* At boot (the first and every execve's), once the program is loaded
 * (ls_prog): this process's slot, filled. */
void ptable_boot(void);
/* Before a process fork: a slot for the child, a copy of this process's,
 * so that the parent's /proc shows the child as soon as the fork returns;
 * its index (-1: none), which the child is given (ptable_after_fork) and
 * the parent hands to ptable_fork_end with the fork's result. */
int ptable_fork_begin(void);
void ptable_fork_end(int slot, long child);
/* In a forked child: that slot (or, with -1, a slot of its own, a copy of
 * the parent's). */
void ptable_after_fork(int slot);
/* In the init (--init, proc/init.c): its slot says "init", with no
 * executable (its exe link is absent, as a kernel thread's) and no
 * environment, not the program it was forked from. */
void ptable_become_init(void);
/* At execve, just before the host's: the new program a's name, executable,
 * command line and environment, as Linux shows them once the exec's
 * close-on-exec fds are closed (a parent waiting on such a pipe, as
 * Python's subprocess does, reads them next); the next kernel's
 * ptable_boot writes the rest.  Returns the slot as it was (NULL if there
 * is none), which ptable_exec_failed puts back and frees if the host's
 * execve fails. */
struct kproc_slot *ptable_exec(const struct exec_args *a);
void ptable_exec_failed(struct kproc_slot *old);
/* The guest's cwd changed to path; its root (chroot) to path. */
void ptable_set_cwd(const char *path);
void ptable_set_root(const char *path);
/* The kernel mapped [start, end) for itself. */
void ptable_note_kernel(unsigned long start, unsigned long end);

/* The host's view of task pid (0: this process): its stat's state letter
 * and starttime.  -ESRCH if there is none. */
long ptable_host_stat(long pid, char *state, uint64_t *start);
/* A consistent copy of process pid's slot, its lengths bounded and its
 * strings terminated; -ESRCH if it has none (or one left by an earlier
 * process of that pid: start is its host starttime). */
long ptable_get(long pid, uint64_t start, struct kproc_slot *out);
/* -ETXTBSY if a live process of the guest runs file id (its program or
 * interpreter), else 0. */
long ptable_text_busy(const struct ktext *id);
/* Whether a process of the guest (perhaps gone) runs a file that is not a
 * stub of the image: only then does a write to a host file need a stat. */
int ptable_runs_files(void);

#endif
