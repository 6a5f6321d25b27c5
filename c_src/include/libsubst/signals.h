/*
 * The signals passed on to the guest: the one list shared by every process
 * that forwards them — `libsubst run`'s supervisor (c_src/tender/supervise.c)
 * or, where Python stays beside the guest, the Python monitor
 * (libsubst/monitor/signals.py), which pass them to the relay, and the
 * tender's relay (c_src/tender/relay.c), which passes them to the guest's
 * first process.
 * The guest kernel forwards none.
 *
 * LS_FORWARDED_SIGNALS is a mask: bit (N - 1) set means signal N is
 * forwarded.  It holds SIGHUP (1), SIGINT (2), SIGQUIT (3), SIGUSR1 (10),
 * SIGUSR2 (12), SIGTERM (15), SIGCONT (18) and SIGWINCH (28).
 *
 * A forwarder passes on a signal sent to it with kill(2) and the like
 * (si_code SI_USER, SI_QUEUE, SI_TKILL) and never one the terminal sent
 * (si_code SI_KERNEL: ^C, ^\, a window resize, a hangup): the terminal
 * sends that to its whole foreground process group, the guest included,
 * so passing it on would deliver it twice.
 *
 * Nor does siginfo tell kill(pid) from kill(-pgid) (killpg, a shell's
 * `kill %1`, timeout(1)): a process group's signal reaches the guest's
 * first process itself, which starts in the group of the monitor and the
 * relay.  So the monitor never sends the relay the signal itself: it asks
 * with LS_SIG_FORWARD, queued (rt_sigqueueinfo, si_code SI_QUEUE) with the
 * signal's number as its value, and the relay, a witness in the same group,
 * passes it on only if no copy of that signal from another sender came to
 * the relay first: one that did came with the guest's own (the sender's
 * kill(2) queues it to every member of the group before the monitor can
 * have read its own copy).  A signal the monitor sends with kill(2) is still
 * passed on at once (Guest.send_signal, the runtime's kill).
 *
 * SIGTERM also starts the monitor's stop timeout (docker stop's): when it
 * expires, or at a second SIGTERM, the monitor ends the whole guest.
 *
 * LS_STOP_SIGNALS are the job-control stops, SIGTSTP (20), SIGTTIN (21) and
 * SIGTTOU (22): a forwarder passes one on by the same rules (the relay and
 * the init as a forwarded signal), then stops itself by it, so the shell
 * that waits for `libsubst run` sees its job stopped with the program, as
 * natively; the SIGCONT that resumes it is forwarded.  A terminal's Ctrl-Z
 * reached the guest's process group itself: the forwarder only stops.
 * Without --init the guest's first process is the program, pid 1 of its
 * namespace, which Linux spares a stop it has no handler for: the relay
 * stops it with SIGSTOP then (c_src/tender/relay.c).
 */
#ifndef LIBSUBST_SIGNALS_H
#define LIBSUBST_SIGNALS_H
#define LS_FORWARDED_SIGNALS 0x8024a07
#define LS_STOP_SIGNALS 0x380000          /* SIGTSTP, SIGTTIN, SIGTTOU */
#define LS_SI_KERNEL 0x80             /* si_code of a signal the kernel (a terminal) sent */
#define LS_SI_QUEUE (-1)              /* si_code of rt_sigqueueinfo's, sigqueue(3)'s */
#define LS_SIG_FORWARD 64             /* SIGRTMAX: the monitor's "pass this on" to the relay */
#endif
