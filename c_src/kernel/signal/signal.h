/* Internal interface of c_src/kernel/signal/. */
#ifndef LS_SIGNAL_H
#define LS_SIGNAL_H

#include "kernel.h"

#define NSIG_ALL 64
#define SIGBIT(s) (1UL << ((s) - 1))
#define UNBLOCKABLE (SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) | SIGBIT(SIGSYS))

extern struct sigaction guest_act[NSIG_ALL + 1];   /* what the guest believes is installed */

long trap_install(int sig, void (*fn)(int, siginfo_t *, void *));
void crash_handler(int sig, siginfo_t *si, void *ctx);
void ls_die_by_signal(int sig);
/* The host handler of SIGSEGV and SIGBUS, always the kernel's (fault.c). */
void fault_handler(int sig, siginfo_t *si, void *ctx);
unsigned long fpstate_size(const struct _fpstate_64 *fp);

#endif
