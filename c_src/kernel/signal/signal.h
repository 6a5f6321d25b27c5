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
 * guest handler; signal_show_guest that context alone, for fault.c's
 * frames); at that handler's sigreturn, the kernel's registers back into
 * m, the context it returns to from frame. */
void *signal_view(int sig, siginfo_t *si, struct ucontext *uc);
void signal_show_guest(struct ucontext *uc);
void signal_view_return(const void *frame, struct sigcontext *m);
/* The handler's frame that uc was is at `to` now: its view goes with it
 * (fault.c copies the ucontext into the frame it builds). */
void signal_view_moved(const void *from, const void *to);
void ls_guest_signal(int sig, siginfo_t *si, void *uc);

/* defer.c: sig (si), which arrived in uc while the kernel served a
 * fastcall, held until it returns (fastcall.S calls
 * signal_deliver_deferred, which hands each to its handler through a
 * SIGSEGV: signal_carried is, for fault.c, the held signal that SIGSEGV
 * carries, uc given the guest's mask, act its action, or NULL;
 * signal_carried_done once its frame is built); a handler's host action
 * again after its SA_RESETHAND dropped it (signal.c).  An action is read
 * once, where Linux reads it as it dequeues the signal: another thread
 * may change it any time. */
void signal_defer(int sig, const siginfo_t *si, struct ucontext *uc);
const siginfo_t *signal_carried(const siginfo_t *si, struct ucontext *uc, struct sigaction *act);
void signal_carried_done(struct ucontext *uc);
/* defer.c: the next kept signal whose handler runs nested in one whose
 * mask is mask (1, into si and its action act), or 0; whether a signal
 * that arrives in a context of host mask host is kept (signal_defer), not
 * delivered; a signal whose action another thread made the host's (SIG_DFL,
 * SIG_IGN) after the host took it for a handler, given that action. */
int signal_take_nested(sigset_t mask, siginfo_t *si, struct sigaction *act);
int signal_keeps(sigset_t host);
/* signal.c: a signal given the host's action its guest action became. */
void signal_host_acts(const siginfo_t *si, __sighandler_t h, int now);
/* order.c: the siginfo of the signal whose host frame came just before
 * uc's, if uc is at its handler's start; whether si, arriving now, was
 * sent to the thread; whether the kept signal at i comes before j. */
const siginfo_t *signal_frame_before(const struct ucontext *uc);
int signal_sent_to_thread(struct kthread *t, const siginfo_t *si);
int signal_before(const struct kthread *t, unsigned i, unsigned j);
void signal_rearm(int sig);
sigset_t signal_guest_mask(sigset_t host);
sigset_t signal_host_mask(sigset_t next);

/* crash.c: a fatal signal's report.  signal.c: the guest's death by sig
 * (returns in a handler, where the raised signal lands on return). */
void crash_handler(int sig, siginfo_t *si, void *ctx);
void ls_die_by_signal(int sig);
int ls_pid1_dies(void);
/* signal.c: a SIGKILL for the guest's pid 1, which Linux drops as its pid
 * namespace's init's though natively the program dies by it.  Whether a
 * kill(pid) reaches pid 1 (the program: not --init's, not a container's);
 * pid 1 ended by it (the caller at once; else asked by a queued SIGSYS,
 * which the trap handler passes to ls_kill_pid1_asked). */
int ls_kill_pid1_reaches(long pid);
void ls_kill_pid1(void);
void ls_kill_pid1_asked(const siginfo_t *si);
/* crash.c: the process's own memory read without faulting, through an fd
 * crash_mem_open gives (-errno if none): 1 if all n bytes at addr were read. */
int crash_mem_open(void);
int crash_mem_read(int mem, unsigned long addr, void *out, unsigned long n);
/* crash.c: the process's readable mappings as the host's /proc/self/maps
 * tells them, read once ([vvar] and [vsyscall] left out: reading them can
 * fault); flags are PF_R|PF_W|PF_X's 4|2|1. */
struct crash_map { unsigned long start, end; unsigned flags; };
int crash_maps(const struct crash_map **out);
/* core.c: an ELF core file of the guest into K.core_fd, its memory read
 * through mem. */
void core_write(int sig, const siginfo_t *si, const struct sigcontext *m, int mem);
/* The host handler of SIGSEGV and SIGBUS, always the kernel's (fault.c). */
void fault_handler(int sig, siginfo_t *si, void *ctx);
unsigned long fpstate_size(const struct _fpstate_64 *fp);

#endif
