/* Internal interface of c_src/kernel/proc/: processes, threads, exec. */
#ifndef LS_PROC_H
#define LS_PROC_H

#include "kernel.h"
#include <linux/resource.h>

struct clone_args;
struct thread_start;                 /* thread.c: what a new thread starts with */

/* ---- threads and processes (thread.c) ---- */
/* Where clone.S's child starts, on its new stack; never returns. */
void ls_thread_start(struct thread_start *ts) __attribute__((noreturn));
long sys_clone(unsigned long flags, unsigned long sp, int *ptid, int *ctid, unsigned long tls);
long sys_clone3(struct clone_args *args, unsigned long size);
long sys_fork(void);
long sys_vfork(void);
long sys_exit(long status);

/* ---- --init (init.c) ---- */
/* Forks the program off an init (LS_BOOT_INIT): returns in the program's
 * process, pid 2; the init, pid 1, never returns.  word: handover.h's. */
void init_start(uint32_t *word);

/* ---- pids, limits, names, exit (misc.c) ---- */
/* In a forked child: its pid is the host's again. */
void pid_after_fork(void);
long sys_exit_group(long status);
long sys_getpid(void);
long sys_getppid(void);
long proc_parent(void);
long sys_kill(long pid, long sig);
long sys_pidfd_send_signal(long fd, long sig, long info, long flags);
long sys_tgkill(long tgid, long tid, long sig);
long sys_tkill(long tid, long sig);
long sys_prlimit64(long pid, long res, const struct rlimit64 *new, struct rlimit64 *old);
long sys_getrlimit(long res, struct rlimit *old);
long sys_setrlimit(long res, const struct rlimit *new);
long sys_arch_prctl(long code, unsigned long addr);
long sys_prctl(long op, long a2, long a3, long a4, long a5);
/* proc/creds.c: the set*id calls keep the first process's parent-death signal. */
int proc_is_first(void);
long proc_first_pdeath(long op, long sig, int *where);
long sys_setuid(long uid);
long sys_setgid(long gid);
long sys_setreuid(long ruid, long euid);
long sys_setregid(long rgid, long egid);
long sys_setresuid(long ruid, long euid, long suid);
long sys_setresgid(long rgid, long egid, long sgid);
long sys_setfsuid(long fsuid);
long sys_setfsgid(long fsgid);
long sys_set_tid_address(int *tidptr);

/* ---- exec (exec.c loads: proc/exec.h; execve.c replaces the process) ---- */
extern int ls_self_fd;               /* O_PATH fd of this executable, opened at boot */
long sys_execve(const char *path, char *const argv[], char *const envp[]);
long sys_execveat(long dirfd, const char *path, char *const argv[], char *const envp[], long flags);

#endif
