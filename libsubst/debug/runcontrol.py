"""Run control for the gdb server, all-stop: resuming threads as gdb asks,
waiting for the next stop worth reporting, and stopping every other thread.

A thread that hits one of gdb's breakpoints while the others are being
stopped keeps that stop queued (its %rip rewound onto the breakpoint) and
reports it at the next resume, as gdbserver does.  A forked child is a copy
of the guest's memory with gdb's int3s in it: it is cleaned and detached
(gdb's ``detach-on-fork``)."""

from __future__ import annotations

import os
import signal
import struct
import time

from . import ptrace
from .libraries import kernel_function
from .signals import to_gdb

from ..kernel import syscalls
from ..uklibc.stub import STUB_CALL, STUB_ENTER

STUB_MARK = STUB_ENTER + STUB_CALL      # a fastcall stub's entry into the kernel
# Calls that never return where they were made: no syscall_return for them,
# as natively.
_NO_RETURN = frozenset(s.nr for s in syscalls.TABLE
                       if s.name in ("rt_sigreturn", "exit", "exit_group"))
# Calls that may fork (on the trap path: syscalls.TRAP_ONLY).
_FORKING = frozenset(s.nr for s in syscalls.TABLE if s.name in ("clone", "clone3", "fork", "vfork"))


class Thread:
    __slots__ = ("tid", "running", "pending", "stepping", "queued", "calls", "caught",
                 "trapped", "site", "fork")

    def __init__(self, tid: int, running: bool = False):
        self.tid, self.running, self.stepping = tid, running, False
        self.pending = 0           # a signal intercepted while stopping it: gdb never heard of it
        self.queued: str | None = None   # a breakpoint stop kept for the next resume
        self.calls: list[int] = []       # its fastcalls in progress, innermost last (catch.py)
        self.caught = False        # stopped on one of catch.py's int3s, reported to gdb
        self.trapped: int | None = None  # a caught call on the trap path, until it returns
        self.site = 0              # where its trapped clone/fork/vfork returns to the program
        self.fork: str | None = None     # a fork's stop reason, reported at that site


class Detached(Exception):
    """gdb detached or killed the guest: the server's work is over."""


class RunControl:
    """Mixed into GdbServer, whose pid, kernel, threads, bps, conn, current,
    exit_status and log it uses."""

    exit_signal = 0                # the signal the guest's pid 1 died of (its kernel says)
    multiprocess = False           # gdb names threads pPID.TID
    fork_events = False            # gdb hears of forks (and detaches or follows the child)
    forks: list[int]               # forked children held for gdb (_hold_child)
    gids: dict[int, int]           # host tid: guest tid (guest_tid)
    catch = None                   # catch.SyscallCatch while gdb catches syscalls
    _deferred_at = None            # [start, end) of the kernel's signal_deliver_deferred

    # ---- resuming ---------------------------------------------------------------

    def resume(self, actions: dict[int, tuple[str, int]], default) -> str | None:
        """Resumes the threads as gdb asks (``{tid: (kind, signal)}``),
        waits for the next stop worth reporting, stops every other thread,
        and returns the stop reply."""
        queued = self._queued_stop(actions, default)
        if queued is not None:
            return queued
        if self.forks:
            self.release_forks(said=True)   # those gdb heard of and kept
        stepped = self._leave_caught(actions, default)
        if stepped is not None:
            return stepped
        if not any((actions.get(tid) or default or (None,))[0] for tid in self.threads):
            return "E01"           # none of the server's (a process it does not follow)
        for tid, th in list(self.threads.items()):
            kind, sig = actions.get(tid) or default or (None, 0)
            if kind is None:
                continue
            # Only a signal gdb never heard of is added; one it was told of
            # is delivered only when its packet says so (``signal 0``, nopass).
            sig, th.pending = sig or th.pending, 0
            if kind == "s":
                self._step(th, sig)
            else:
                ptrace.cont(tid, sig)
            th.running = True
        return self._wait_for_stop()

    def _queued_stop(self, actions, default) -> str | None:
        """A kept breakpoint stop of a thread gdb resumes, if gdb's
        breakpoint is still there (gdb may have removed it meanwhile)."""
        found = None
        for tid, th in self.threads.items():
            if th.queued is None or not (actions.get(tid) or default):
                continue
            if found is None and ("fork:" in th.queued or
                                  self.bps.is_gdbs(ptrace.get_regs(tid)["rip"])):
                found = (tid, th.queued)
            th.queued = None
        if found is None:
            return None
        self.current = found[0]
        return found[1]

    def _leave_caught(self, actions, default) -> str | None:
        """Threads gdb resumes from a syscall stop go past the server's int3
        (its instruction emulated); a stop reply when that was gdb's step."""
        for tid, th in self.threads.items():
            kind = (actions.get(tid) or default or (None, 0))[0]
            if not th.caught or kind is None:
                continue
            th.caught = False
            regs = ptrace.get_regs(tid)
            if self.catch is not None and self.catch.owns(regs["rip"]):
                self.catch.emulate(regs)
                ptrace.set_regs(tid, regs)
                if kind == "s":
                    return self._stop_reply(tid, signal.SIGTRAP)
        return None

    def _redelivered(self, tid: int) -> bool:
        """Whether tid stopped for a signal inside the kernel's
        signal_deliver_deferred, which hands each held signal to its
        handler through a SIGSEGV it sends its own thread."""
        if self._deferred_at is None:
            self._deferred_at = kernel_function(self.pid, self.kernel, "signal_deliver_deferred")
        start, end = self._deferred_at
        return start <= ptrace.get_regs(tid)["rip"] < end

    def _syscall_stop(self, tid: int) -> str | bool:
        """A SIGTRAP on one of catch.py's int3s: the stop reply when gdb
        catches the call, True when the thread went on, False when the
        int3 is not the server's."""
        regs = ptrace.get_regs(tid)
        at = regs["rip"] - 1
        th = self.threads[tid]
        if th.trapped is not None and self.bps.take_temp(tid, regs["rip"]) is not None:
            regs["rip"], nr, th.trapped = at, th.trapped, None     # a trapped call's end
            ptrace.set_regs(tid, regs)
            self.stop_all()
            return self._stop_reply(tid, signal.SIGTRAP, f"syscall_return:{nr:x};")
        if self.catch is None or not self.catch.owns(at) or self.bps.is_gdbs(at):
            return False
        regs["rip"] = at
        if at == self.catch.entry:
            th.calls.append(regs["rax"])
            nr, kind = regs["rax"], "syscall_entry"
        else:
            nr, kind = (th.calls.pop() if th.calls else None), "syscall_return"
        if nr is not None and self.catch.wants(nr):
            ptrace.set_regs(tid, regs)
            th.caught = True
            self.stop_all()
            return self._stop_reply(tid, signal.SIGTRAP, f"{kind}:{nr:x};")
        self.catch.emulate(regs)
        ptrace.set_regs(tid, regs)
        ptrace.cont(tid, 0)
        th.running = True
        return True

    def _step(self, th: Thread, sig: int) -> None:
        """One instruction — or a whole call, over a rewritten site."""
        after = self._fastcall_end(ptrace.get_regs(th.tid)["rip"])
        if after is not None and not sig:
            self.bps.insert_temp(th.tid, after)
            ptrace.cont(th.tid, 0)
        else:
            th.stepping = True
            ptrace.step(th.tid, sig)

    def _fastcall_end(self, rip: int) -> int | None:
        """For a rewritten site (``jmp rel32`` to a fastcall stub, then int3
        filler), the first address after the window."""
        try:
            code = self.bps.read(rip, 16)
            if code[0] != 0xE9:
                return None
            target = rip + 5 + struct.unpack_from("<i", code, 1)[0]
            if STUB_MARK not in self.mem.read(target, 96):
                return None
            end = rip + 5
            while self.bps.read(end, 1) == b"\xcc" and end - rip < 64:
                end += 1
        except (OSError, struct.error, IndexError):
            return None
        return end

    # ---- waiting ----------------------------------------------------------------

    def _wait_for_stop(self) -> str:
        while True:
            if self.conn is not None:
                said = self.conn.interrupted()
                if said is None:
                    self.kill()
                    raise Detached
                if said:
                    self.stop_all()
                    return self._stop_reply(self.current, signal.SIGINT)
            if self.ended:                # the monitor ends the run: gdb hears how
                self.kill()
                self.exit_status = f"X{to_gdb(self.ended):02x}"
                return self.exit_status
            event = self._poll()
            if event is None:
                time.sleep(0.002)
                continue
            reply = self._handle(*event)
            if reply is not None:
                return reply

    def _poll(self):
        for tid, th in list(self.threads.items()):
            if not th.running:
                continue
            try:
                got, status = ptrace.wait(tid, nohang=True)
            except ChildProcessError:
                self.threads.pop(tid, None)
                continue
            if got:
                return tid, status
        return None

    def _handle(self, tid: int, status: int) -> str | None:
        th = self.threads[tid]
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            del self.threads[tid]
            return self._exited(status) if tid == self.pid else None
        sig, event = os.WSTOPSIG(status), status >> 16
        th.running = False
        if event == ptrace.PTRACE_EVENT_STOP:
            # A new thread's first stop, a group-stop, or the interrupt of a
            # stop_all that met another stop first: it goes on as it was
            # resumed, with the hardware breakpoints every thread has.
            if self.bps.any_hw():
                self.bps.load_debugregs(tid)
            if th.stepping:
                ptrace.step(tid, 0)
                th.running = True
                return None
        elif event == ptrace.PTRACE_EVENT_EXEC:
            self.log("the program called execve: the debugger follows no exec; it detaches")
            self.detach()
            self.conn.send("O" + b"libsubst: the program exec'd another; gdb is detached\n".hex())
            self.exit_status = "W00"
            return self.exit_status
        elif event:
            fork = self._on_event(tid, event)
            if fork and th.site:
                # Reported where the call returns to the program, as a
                # fork stops natively: the kernel's frames are below it.
                th.fork = fork
                self.bps.insert_temp(tid, th.site)
            elif fork:
                self.stop_all()
                return self._stop_reply(tid, signal.SIGTRAP, fork)
        elif sig == signal.SIGSYS:
            # The trap path: the guest kernel's own business.  A thread being
            # stepped runs the whole call and stops after the syscall.
            nr = ptrace.get_regs(tid)["rax"]
            th.site = ptrace.get_regs(tid)["rip"] if nr in _FORKING else 0
            if th.stepping:
                th.stepping = False
                self.bps.insert_temp(tid, ptrace.get_regs(tid)["rip"])
            elif self.catch is not None and self.catch.wants(nr):
                # Its return is where the kernel's handler returns to.
                th.pending = signal.SIGSYS         # delivered when gdb resumes it
                if nr not in _NO_RETURN:
                    th.trapped = nr
                    self.bps.insert_temp(tid, ptrace.get_regs(tid)["rip"])
                self.stop_all()
                return self._stop_reply(tid, signal.SIGTRAP, f"syscall_entry:{nr:x};")
        elif sig == signal.SIGTRAP and th.fork and \
                self.bps.take_temp(tid, ptrace.get_regs(tid)["rip"]) is not None:
            regs = ptrace.get_regs(tid)
            regs["rip"] -= 1
            ptrace.set_regs(tid, regs)
            fork, th.fork, th.site = th.fork, None, 0
            self.stop_all()
            return self._stop_reply(tid, signal.SIGTRAP, fork)
        elif sig == signal.SIGTRAP:
            caught = self._syscall_stop(tid)
            if caught:
                return None if caught is True else caught
            th.stepping = False
            extra = self._trap(tid)
            self.stop_all()
            return self._stop_reply(tid, signal.SIGTRAP, extra)
        elif self._redelivered(tid):
            # The carrier of a signal the guest kernel held while it served
            # a call (signal/defer.c): gdb was told of that one when it came.
            # A thread gdb steps goes on stepping, into the handler.
            (ptrace.step if th.stepping else ptrace.cont)(tid, sig)
            th.running = True
            return None
        else:
            # Any other signal is the program's: gdb shows it and decides
            # whether the thread gets it (``C``) or not.
            th.stepping = False
            self.stop_all()
            return self._stop_reply(tid, sig)
        ptrace.cont(tid, signal.SIGSYS if sig == signal.SIGSYS and not event else 0)
        th.running = True
        return None

    def _trap(self, tid: int) -> str:
        """What stopped a thread with SIGTRAP, for its stop reply; %rip
        rewound onto an int3 it hit."""
        regs = ptrace.get_regs(tid)
        if self.bps.take_temp(tid, regs["rip"]) is not None or regs["rip"] - 1 in self.bps.orig:
            hit_gdbs = self.bps.is_gdbs(regs["rip"] - 1)
            regs["rip"] -= 1
            ptrace.set_regs(tid, regs)
            return "swbreak:;" if hit_gdbs else ""
        slot = self.bps.hit_hw(tid)
        if slot is None:
            return ""
        if slot[2] == "x":
            return "hwbreak:;"
        return f"{'watch' if slot[2] == 'w' else 'awatch'}:{slot[0]:x};"

    def _on_event(self, tid: int, event: int) -> str | None:
        """A ptrace event other than a stop or exec; the thread stays
        stopped.  A fork's stop reason when gdb hears of forks."""
        if event == ptrace.PTRACE_EVENT_CLONE:
            new = ptrace.event_msg(tid)
            self.threads.setdefault(new, Thread(new)).running = True
        elif event in (ptrace.PTRACE_EVENT_FORK, ptrace.PTRACE_EVENT_VFORK):
            child = ptrace.event_msg(tid)
            if not self.fork_events:
                self._let_child_go(child)
                return None
            if self._hold_child(child):
                gid = self.guest_tid(child)
                return f"fork:p{gid:x}.{gid:x};"
        elif event == ptrace.PTRACE_EVENT_EXIT and tid == self.pid:
            self.exit_signal = self.guest_exit_signal()
        return None

    def _hold_child(self, child: int) -> bool:
        """A forked child kept stopped for gdb, which detaches it (``D;PID``,
        detach-on-fork), or follows it (follow-fork-mode child): without
        gdb's int3s already, as gdb removes them from a fork's child."""
        try:
            _, status = ptrace.wait(child)
            if not os.WIFSTOPPED(status):
                return False
            self.bps.clean_copy(child)
        except OSError as e:
            self.log(f"gdb: cannot hold the forked process {child}: {e}")
            return False
        self.guest_tid(child)
        self.forks.append(child)
        return True

    def release_forks(self, said: bool = False) -> None:
        """Lets the held children go on untraced: gdb resumed without
        detaching them (detach-on-fork off, which the server does not
        offer: it says so on gdb's console).  With ``said``, only those
        whose fork gdb has heard of (a thread's may still be on its way to
        the program, or queued)."""
        waiting = " ".join(th.fork or th.queued or "" for th in self.threads.values())
        for child in list(self.forks):
            if said and f"fork:p{self.guest_tid(child):x}." in waiting:
                continue
            self.forks.remove(child)
            try:
                ptrace.detach(child, 0)
            except OSError:
                pass
            if said and self.conn is not None:
                self.conn.send("O" + (f"libsubst: process {self.guest_tid(child)} runs on "
                                      "detached: the server follows one process "
                                      "(detach-on-fork off is not offered)\n").encode().hex())

    def _let_child_go(self, child: int) -> None:
        """A forked child (a host copy of the process, even for vfork) starts
        traced: without gdb's int3s and debug registers it goes on untraced."""
        try:
            _, status = ptrace.wait(child)
            if os.WIFSTOPPED(status):
                self.bps.clean_copy(child)
                ptrace.detach(child, 0)
        except OSError as e:
            self.log(f"gdb: cannot detach the forked process {child}: {e}")

    def _exited(self, status: int) -> str:
        self._reap_rest()
        if os.WIFSIGNALED(status):
            self.exit_status = f"X{to_gdb(os.WTERMSIG(status)):02x}"
        elif self.exit_signal and os.WEXITSTATUS(status) == 128 + self.exit_signal:
            # The guest's pid 1 is spared its own signals: its kernel ends it
            # with 128+N and says which signal it stood for.
            self.exit_status = f"X{to_gdb(self.exit_signal):02x}"
        else:
            self.exit_status = f"W{os.WEXITSTATUS(status):02x}"
        return self.exit_status

    # ---- stopping ----------------------------------------------------------------

    def stop_all(self) -> None:
        """Stops every running thread, the threads they start meanwhile too
        (each starts in a stop of its own: only waited for)."""
        waiting = []
        for tid, th in list(self.threads.items()):
            if not th.running:
                continue
            try:
                ptrace.interrupt(tid)
            except OSError:
                continue
            waiting.append(th)
        while waiting:
            th = waiting.pop()
            while th.running:
                known = set(self.threads)
                self._stopping(th)
                waiting += [self.threads[t] for t in set(self.threads) - known]
        self.current = self.current if self.current in self.threads else self.pid

    def _stopping(self, th: Thread) -> None:
        """The next stop of an interrupted thread: the interrupt's own, or
        another met first, which takes its place."""
        try:
            _, status = ptrace.wait(th.tid)
        except ChildProcessError:
            status = 0
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            self.threads.pop(th.tid, None)
            th.running = False
            return
        sig, event = os.WSTOPSIG(status), status >> 16
        if event == ptrace.PTRACE_EVENT_STOP:
            th.running = False
        elif event:
            # Any stop clears a pending interrupt: after a clone, a fork or an
            # exit event the thread is interrupted anew, or it would run on
            # (a thread parked in a futex wait: stop_all waiting for ever).
            fork = self._on_event(th.tid, event)
            if fork:
                th.queued = self._stop_reply(th.tid, signal.SIGTRAP, fork, current=False)
            ptrace.cont(th.tid, 0)
            try:
                ptrace.interrupt(th.tid)
            except OSError:
                pass                      # an exit event's thread: its end is waited for
        elif sig == signal.SIGTRAP:
            self._keep_trap(th)
            th.running = False
        else:
            th.pending, th.running = sig, False

    def _keep_trap(self, th: Thread) -> None:
        """A SIGTRAP met while stopping a thread: on one of gdb's breakpoints
        it is rewound and kept for the next resume; the end of a stepped
        call is only rewound (the step is done)."""
        th.stepping = False
        regs = ptrace.get_regs(th.tid)
        at = regs["rip"] - 1
        if self.catch is not None and self.catch.owns(at) and not self.bps.is_gdbs(at):
            regs["rip"] = at              # it meets that int3 again when resumed
            ptrace.set_regs(th.tid, regs)
            return
        if th.trapped is not None and self.bps.take_temp(th.tid, regs["rip"]) is not None:
            self.bps.insert_temp(th.tid, at)      # a trapped call's end: met again
            regs["rip"] = at
            ptrace.set_regs(th.tid, regs)
            return
        if self.bps.take_temp(th.tid, regs["rip"]) is None and not self.bps.is_gdbs(at):
            return
        regs["rip"] = at
        ptrace.set_regs(th.tid, regs)
        if self.bps.is_gdbs(at):
            th.queued = self._stop_reply(th.tid, signal.SIGTRAP, "swbreak:;", current=False)

    def _reap_rest(self) -> None:
        for tid in list(self.threads):
            try:
                ptrace.wait(tid, nohang=True)
            except ChildProcessError:
                pass
        self.threads.clear()

    def _stop_reply(self, tid: int, sig: int, extra: str = "", current: bool = True) -> str:
        if current:
            self.current = tid
        return f"T{to_gdb(sig):02x}thread:{self.tid_out(tid)};{extra}"

    def tid_out(self, tid: int) -> str:
        """A thread id as gdb is sent it: the guest's (its pid namespace's),
        as the program's own pthreads and /proc name it — libthread_db
        matches a core's threads by them, `info proc` opens /proc/PID."""
        gid = self.guest_tid(tid)
        return f"p{self.guest_tid(self.pid):x}.{gid:x}" if self.multiprocess else f"{gid:x}"

    def guest_tid(self, tid: int) -> int:
        """The guest's id of host thread tid (its innermost NSpid)."""
        if tid not in self.gids:
            try:
                with open(f"/proc/{tid}/status") as f:
                    self.gids[tid] = int(next(ln for ln in f if ln.startswith("NSpid:"))
                                         .split()[-1])
            except (OSError, StopIteration, ValueError):
                return tid
        return self.gids[tid]

    def host_tid(self, gid: int) -> int | None:
        """The host thread gdb names gid, if it is one of the process's."""
        return next((t for t in self.threads if self.guest_tid(t) == gid), None)

    def kill(self) -> None:
        """SIGKILL, and every stopped thread resumed into it: the guest's
        first process is its pid namespace's init, whose SIGKILL waits
        while it is in a tracing stop."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        for tid, th in list(self.threads.items()):
            if not th.running:
                try:
                    ptrace.cont(tid, 0)
                except OSError:
                    pass

    def detach(self) -> None:
        """Removes every breakpoint and lets the guest run on untraced."""
        self.stop_all()
        self.bps.remove_all()
        self.catch = None
        self.bps.hw = [None] * 4
        for tid, th in list(self.threads.items()):
            try:
                self.bps.load_debugregs(tid)
                ptrace.detach(tid, th.pending)
            except OSError:
                pass
        self.threads.clear()
