"""Signals sent to ``libsubst run`` reach the guest.

The list of forwarded signals is the C contract's
(c_src/include/libsubst/signals.h), shared with the relay.  The monitor
reads them from a signalfd, which says who sent each: one the terminal sent
(si_code SI_KERNEL) reached the guest's process group itself and is not
passed on; one sent with kill(2) is asked of the relay (LS_SIG_FORWARD),
which drops it when a process group's kill brought the guest its own copy.
SIGTERM is docker stop's: the first is passed on, and at a second or when
the stop timeout expires the whole guest is killed.  A job-control stop
(STOPS: SIGTSTP, SIGTTIN, SIGTTOU) is passed on so too, then stops libsubst
itself, whose stop the shell waits for."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import signal
import struct
import sys
import threading
import time

from .bootinfo import _abi


def _forwarded() -> tuple[signal.Signals, ...]:
    mask = getattr(_abi()[1], "LS_FORWARDED_SIGNALS")
    return tuple(signal.Signals(n) for n in range(1, 65) if mask >> (n - 1) & 1)


FORWARDED = _forwarded()
STOPS = tuple(signal.Signals(n) for n in range(1, 65)
              if getattr(_abi()[1], "LS_STOP_SIGNALS") >> (n - 1) & 1)
SI_KERNEL = getattr(_abi()[1], "LS_SI_KERNEL")
SIG_FORWARD = getattr(_abi()[1], "LS_SIG_FORWARD")
_SIGINFO = struct.Struct("IiiI")   # struct signalfd_siginfo: ssi_signo, ssi_errno, ssi_code, ssi_pid


def _signalfd(signals) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    mask = ctypes.create_string_buffer(128)          # glibc's sigset_t
    bits = sum(1 << (s - 1) for s in signals)
    mask[:8] = bits.to_bytes(8, "little")
    fd = libc.signalfd(-1, mask, os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "signalfd")
    return fd


def ask_relay(relay: int, signo: int) -> None:
    """Asks the relay to pass signo on (signals.h): sigqueue(3) of
    LS_SIG_FORWARD with the signal's number as its value."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.sigqueue(relay, SIG_FORWARD, ctypes.c_void_p(signo)) < 0:
        err = ctypes.get_errno()
        if err != errno.ESRCH:                # the relay has just ended
            raise OSError(err, "sigqueue")


@contextlib.contextmanager
def signals_blocked():
    """Every signal blocked in this thread: a thread started meanwhile keeps
    them blocked, so a signal for the process goes to a thread that waits
    for it (the CLI's main thread reads them)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Stopped(Exception):
    """A forwarded signal came before the guest was there to take it."""

    def __init__(self, signo: int):
        super().__init__(signo)
        self.signo = signo


_preparing = False


@contextlib.contextmanager
def before_start():
    """While the guest is being prepared: SIGWINCH and SIGCONT change
    nothing, any other forwarded signal stops libsubst with 128+N, as it
    would a native program not yet started.  From guest_starting() on they
    wait, blocked, for supervise() or the native supervisor."""
    global _preparing
    def stop(signo, _frame):
        raise Stopped(signo)
    # A signal the caller ignores (nohup's SIGHUP, a background job's SIGINT
    # and SIGQUIT) is left ignored: the guest's kernel, started meanwhile,
    # inherits SIG_IGN as a native program would, and no SIG_IGN is set
    # again later, which would drop one pending for the guest (Linux drops
    # a pending signal, blocked or not, whose action becomes SIG_IGN).
    ignored = {s for s in FORWARDED if signal.getsignal(s) == signal.SIG_IGN}
    # SIGWINCH's and SIGCONT's handler does nothing and stays: given back
    # their default (ignore), Linux would drop one pending for the guest.
    for s in {signal.SIGWINCH, signal.SIGCONT} - ignored:
        signal.signal(s, _nothing)
    old = {s: signal.signal(s, stop) for s in FORWARDED
           if s not in (signal.SIGWINCH, signal.SIGCONT) and s not in ignored}
    _preparing = True
    try:
        yield
    finally:
        _preparing = False
        signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, *STOPS))
        for s, h in old.items():
            signal.signal(s, h)


def _nothing(_signo, _frame):
    pass


def guest_starting():
    """Called as the guest's first process is about to start.  Under
    before_start() the forwarded signals are blocked from here: one sent
    once the guest runs (its program may already have answered) is the
    guest's, never a stop of libsubst, and never lost between a handler
    that only marked it and that handler's removal.  So are the job-control
    stops: from here one stops the program too (supervise())."""
    if _preparing:
        signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, *STOPS))


def stop_message(stop_timeout: float) -> str:
    """What the stop timeout's end says, after "libsubst: ": here, and by
    the native supervisor, which gets it on its command line (supervise.c's
    STOP_TEXT, from Guest.hand_over or from the plan cache's entry)."""
    return f"the guest did not end within {stop_timeout:g} s of SIGTERM: killed"


def _stop_self(signo: int) -> None:
    """Stops libsubst by signo, a job-control stop the signalfd took, as
    it stops a native program (supervise.c's stop_self)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signo,))
    try:
        signal.pthread_kill(threading.get_ident(), signo)
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, (signo,))


def supervise(guest, stop_timeout: float) -> int:
    """Passes the forwarded signals on to ``guest`` until it ends; its status.
    Signals sent before (after before_start()) wait for it, blocked; they
    stay blocked after it, as libsubst exits."""
    signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, *STOPS))
    sfd = _signalfd((*FORWARDED, *STOPS))
    pidfd = os.pidfd_open(guest.pid)
    deadline, stopping = None, False
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([sfd, pidfd], [], [], wait)
            if pidfd in ready:
                return guest.wait()
            if sfd not in ready:                  # the stop timeout expired
                sys.stderr.write(f"libsubst: {stop_message(stop_timeout)}\n")
                guest.kill()
                deadline = None
                continue
            signo, _errno, code, _pid = _SIGINFO.unpack_from(os.read(sfd, 128))
            if signo in STOPS:                    # passed on, then libsubst stops too
                if code != SI_KERNEL:
                    guest.forward(signo)
                _stop_self(signo)
                continue
            if code == SI_KERNEL:
                continue                          # the terminal's: the guest has it too
            if signo == signal.SIGTERM and stopping:
                guest.kill()                      # a second SIGTERM
                deadline = None
                continue
            if signo == signal.SIGTERM:
                deadline, stopping = time.monotonic() + stop_timeout, True
            guest.forward(signo)
    finally:
        # The signals stay blocked: one that comes now, as libsubst ends with
        # the guest's status, must not end it with a status of its own.
        os.close(pidfd)
        os.close(sfd)
