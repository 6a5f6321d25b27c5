/*
 * --init: a small init as pid 1 of the guest's pid namespace, the program
 * its child (pid 2), as container engines give one to a program that does
 * not expect to be pid 1 (docker run --init: tini; podman run --init:
 * catatonit).  Without it the program is pid 1: its parent is hidden
 * (getppid 0), every orphan of the guest becomes its child, and signals
 * it has no handler for do nothing to it.
 *
 * The guest kernel's boot forks once the sandbox is whole (Landlock and
 * seccomp apply to both), before the trap is on; the parent stays behind,
 * running only this loop, never guest code:
 *   - it reaps every child: the program, and each orphan re-parented to it;
 *   - it passes on to the program (the process, not its group: tini's
 *     default, and catatonit's) every signal the relay passes on (the
 *     job-control stops too, which stop the program, never the init), which
 *     the relay queues (si_code SI_QUEUE) so they are told apart from a
 *     process group's copy (SI_USER) or a terminal's (SI_KERNEL), which the
 *     program got itself, the init being in its group; guest processes'
 *     own signals to pid 1 are dropped, as Linux drops them for an init
 *     without handlers;
 *   - once the program has ended it ends too (Linux then kills what is left
 *     of the guest): with the program's exit status, or 128+N when signal N
 *     killed it, as tini; an init cannot die by the signal itself (Linux
 *     ends a pid namespace's init only by SIGKILL), so it leaves the status
 *     in the word it shares with the relay, which ends the run with it as
 *     without --init (handover.h).
 */
#include "kernel.h"
#include "libsubst/handover.h"
#include "libsubst/signals.h"
#include "proc/proc.h"
#include "proc/ptable.h"

#define WNOHANG_ 1
#define WALL_ 0x40000000

/* Reaps every child that has ended; when the program is one of them, ends
 * with its status. */
static void reap(long program, uint32_t *word)
{
    int status;
    long pid;
    while ((pid = hsys4(__NR_wait4, -1, (long)&status, WNOHANG_ | WALL_, 0)) > 0) {
        if (pid != program)
            continue;
        __atomic_store_n(word, LS_INIT_STATUS_SET | (status & 0xffff), __ATOMIC_RELEASE);
        hsys1(__NR_exit_group, status & 0x7f ? 128 + (status & 0x7f) : (status >> 8) & 0xff);
    }
}

static void __attribute__((noreturn)) init_loop(long program, uint32_t *word)
{
    sigset_t all = ~0UL;
    /* Its own disposition, whatever the caller's was: an ignored SIGCHLD
     * would reap children before the init saw them. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    hsys4(__NR_rt_sigaction, SIGCHLD, (long)&dfl, 0, sizeof(sigset_t));
    /* The guest's fds are the program's: held here, a pipe's reader would
     * not see the program close its end. */
    hsys3(__NR_close_range, 0, K.nofile_limit - 1, 0);
    ptable_become_init();
    ptable_note_kernel((unsigned long)word, (unsigned long)word + 4096);   /* not in its maps */
    for (;;) {
        reap(program, word);
        siginfo_t si;
        long sig = hsys4(__NR_rt_sigtimedwait, (long)&all, (long)&si, 0, sizeof all);
        if (sig > 0 && sig <= 64 &&
            ((LS_FORWARDED_SIGNALS | LS_STOP_SIGNALS) & (1UL << (sig - 1))) &&
            si.si_code == LS_SI_QUEUE)
            hsys2(__NR_kill, program, sig);
    }
}

void init_start(uint32_t *word)
{
    /* Every signal blocked across the fork: the init takes them with
     * sigtimedwait, none (a SIGCHLD above all) may reach a handler first. */
    sigset_t all = ~0UL, old;
    hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, sizeof all);
    long program = sys_fork();
    if (program < 0)
        kpanic("--init: cannot start the program as the init's child: %s",
               errno_name(-program));
    if (program > 0)
        init_loop(program, word);
    hsys2(__NR_munmap, (long)word, 4096);     /* the init's and the relay's only */
    hsys4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, sizeof old);
}
