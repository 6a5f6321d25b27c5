/* Internal interface of c_src/kernel/signal/. */
#ifndef LS_SIGNAL_H
#define LS_SIGNAL_H

#include "kernel.h"

#define NSIG_ALL 64
#define SIGBIT(s) (1UL << ((s) - 1))
#define UNBLOCKABLE (SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) | SIGBIT(SIGSYS))

extern struct sigaction guest_act[NSIG_ALL + 1];   /* what the guest believes is installed */

/* trap.c: the SIGSYS handler of the trap path; a kernel-owned host handler
 * (on the trap stack, everything blocked but the faults). */
void trap_init(void);
long trap_install(int sig, void (*fn)(int, siginfo_t *, void *), int restart);

/* signal.c: the kernel's host handlers at boot; an execve's reset of the
 * guest's handlers (SIG_DFL, as Linux does); the handlers. */
void signal_init(void);
void signal_clear_handlers(void);
long sys_rt_sigaction(long sig, const struct sigaction *act, struct sigaction *oact, long size);
long sys_rt_sigprocmask(long how, const sigset_t *set, sigset_t *oset, long size);
long sys_rt_sigreturn(void);
long sys_sigaltstack(const stack_t *ss, stack_t *old);
/* waits.c: the waits under a mask of the guest's (SIGSYS kept unblocked). */
long sys_rt_sigsuspend(const sigset_t *mask, long size);
long sys_ppoll(void *fds, unsigned n, void *ts, const sigset_t *mask, long size);
long sys_pselect6(int n, void *r, void *w, void *e, void *ts, const void *sig);
long sys_epoll_pwait(int epfd, void *events, int max, int timeout, const sigset_t *mask,
                     long size);
long sys_epoll_pwait2(int epfd, void *events, int max, const void *ts, const sigset_t *mask,
                      long size);

/* view.c: the handler for sig, uc made the guest's context where it
 * interrupted a host call the kernel makes for the guest (called by
 * arch/x86_64/sigview.S's ls_guest_signal, the host handler of every
 * guest handler); at that handler's sigreturn, the kernel's registers
 * back into m, the context it returns to from frame. */
void *signal_view(int sig, siginfo_t *si, struct ucontext *uc);
void signal_view_return(const void *frame, struct sigcontext *m);
/* The handler's frame that uc was is at `to` now: its view goes with it
 * (fault.c copies the ucontext into the frame it builds). */
void signal_view_moved(const void *from, const void *to);
void ls_guest_signal(int sig, siginfo_t *si, void *uc);

/* crash.c: a fatal signal's report.  signal.c: the guest's death by sig
 * (returns in a handler, where the raised signal lands on return). */
void crash_handler(int sig, siginfo_t *si, void *ctx);
void ls_die_by_signal(int sig);
int ls_pid1_dies(void);
/* crash.c: the process's own memory read without faulting, through an fd
 * crash_mem_open gives (-errno if none): 1 if all n bytes at addr were read. */
int crash_mem_open(void);
int crash_mem_read(int mem, unsigned long addr, void *out, unsigned long n);
/* core.c: an ELF core file of the guest into K.core_fd, its memory read
 * through mem. */
void core_write(int sig, const siginfo_t *si, const struct sigcontext *m, int mem);
/* The host handler of SIGSEGV and SIGBUS, always the kernel's (fault.c). */
void fault_handler(int sig, siginfo_t *si, void *ctx);
unsigned long fpstate_size(const struct _fpstate_64 *fp);

#endif
