"""A gdb remote-protocol server for a libsubst guest (``libsubst run --gdb``).

It runs in a thread of the monitor, outside the sandbox, and traces the
guest's first process with ptrace (``PTRACE_SEIZE``: every thread, new ones
through ``PTRACE_O_TRACECLONE``).  The guest kernel waits, before it enters
the program, until the server has attached, then stops on an ``int3`` with
the program's entry in %r11; the server moves %rip there, so gdb starts at
the program's first instruction (ld.so's, for a dynamic program).

What gdb sees is the program, not the kernel: the exec file is the
program's (``qXfer:exec-file``), the auxiliary vector is the one the guest
kernel built for it (``qXfer:auxv``), so gdb's own svr4 logic finds ld.so's
``r_debug`` and every library at its load address — the substitute libc by
the original's path, whose code and symbols it keeps byte for byte.  The
trap path's SIGSYS stops are resumed without gdb hearing of them; stepping
an instruction over a rewritten syscall site (``jmp`` to its stub) or a
trapped ``syscall`` runs the whole call and stops after it, as a ``syscall``
instruction steps natively.  Packet framing is in protocol.py, breakpoints
in breakpoints.py, resuming and stopping in runcontrol.py."""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import struct
from xml.sax.saxutils import quoteattr

from . import catch, ptrace, registers
from .breakpoints import Breakpoints
from .hostio import HostIO
from .inject import GuestCalls
from .libraries import cstring, gdb_auxv, kernel_symbol, svr4_list
from .protocol import Connection, escape
from .runcontrol import Detached, RunControl, Thread
from .signals import to_host
from ..errors import LibsubstError

__all__ = ["GdbServer", "Detached"]

_AUXV_MAX = 4096
AT_EXECFN = 31
_MAX_STRINGS = 65536          # argv and envp entries read from the initial stack
_MAX_TASK_ROUNDS = 1000       # attach: listings of /proc/PID/task until no new thread appears


class GdbServer(RunControl):
    def __init__(self, sock: socket.socket, program: str, kernel: str,
                 log=lambda msg: None):
        self.sock = sock
        self.program = program
        self.kernel = kernel
        self.log = log
        self.conn: Connection | None = None
        self.pid = 0
        self.threads: dict[int, Thread] = {}
        self.auxv = b""
        self.exit_status: str | None = None
        self.current = 0
        self.mem: ptrace.Memory | None = None
        self.bps: Breakpoints | None = None
        self.hostio: HostIO | None = None
        self.gids = {}
        self.forks = []
        self.general = 0                      # Hg's thread when it is a held child's
        self.attached = False                 # attached to a running guest: gdb detaches
        self.ended = 0                        # the signal the monitor ended the run for (end())
        self.thread = None                    # the tracer (a thread: ptrace's calls are its own)

    # ---- attaching ------------------------------------------------------------

    def attach(self, pid: int, go_fd: int) -> None:
        """Seizes the guest's first process, lets its kernel go on, and waits
        for the stop before the program's first instruction."""
        self.pid = pid
        ptrace.seize(pid, ptrace.TRACE_OPTIONS | ptrace.PTRACE_O_EXITKILL)
        self.threads[pid] = Thread(pid)
        self._open_memory()
        os.write(go_fd, b"g")
        os.close(go_fd)
        while True:
            _, status = ptrace.wait(pid)
            if not os.WIFSTOPPED(status):
                raise OSError(errno.ESRCH, "the guest ended before its program started")
            sig = os.WSTOPSIG(status)
            if sig == signal.SIGTRAP and status >> 16 == 0:
                break
            ptrace.cont(pid, sig if sig != signal.SIGSTOP and status >> 16 == 0 else 0)
        regs = ptrace.get_regs(pid)
        regs["rip"], regs["r11"] = regs["r11"], 0
        ptrace.set_regs(pid, regs)
        self.auxv = self._read_auxv(regs["rsp"])
        # The program the kernel mapped: a #! script's interpreter, not the script.
        exe = struct.unpack("<Q", self._guest(kernel_symbol(pid, self.kernel, "ls_prog_exe"),
                                              8))[0]
        self.program = cstring(self.mem, exe) if exe else self.program
        self.current = pid

    def attach_running(self, pid: int) -> None:
        """Seizes every thread of a running guest process and stops them
        all (``libsubst attach``); the program's auxv and path come from the
        guest kernel's ``ls_prog_auxv`` and ``ls_prog_exe`` (its symbols)."""
        self.pid = pid
        self._open_memory()
        self.attached = True
        # A thread may start between the listing and its parent's seize:
        # list again until a round finds none new.
        for _ in range(_MAX_TASK_ROUNDS):
            new = [int(n) for n in os.listdir(f"/proc/{pid}/task") if int(n) not in self.threads]
            if not new:
                break
            for tid in sorted(new):
                try:
                    ptrace.seize(tid, ptrace.TRACE_OPTIONS)
                except OSError:
                    continue                      # a thread that just ended
                self.threads[tid] = Thread(tid, running=True)
        self.stop_all()
        try:
            addr, size = struct.unpack("<QQ", self._guest(kernel_symbol(pid, self.kernel,
                                                                        "ls_prog_auxv"), 16))
            self.auxv = self.mem.read(addr, min(size, _AUXV_MAX))
            exe = struct.unpack("<Q", self._guest(kernel_symbol(pid, self.kernel,
                                                                "ls_prog_exe"), 8))[0]
        except (LibsubstError, OSError):
            self.detach()                 # the guest goes on as it was
            raise
        self.program = cstring(self.mem, exe) if exe else self.program
        self.current = pid

    def _open_memory(self) -> None:
        self.mem = ptrace.Memory(self.pid)
        self.bps = Breakpoints(self.mem)
        self.hostio = HostIO(GuestCalls(self.pid, self.mem, self._own_trap),
                             self._stopped_thread, self.kernel)

    def _stopped_thread(self) -> int:
        """For hostio.py: a stopped thread to make the guest's calls."""
        by = self.current if self.current in self.threads else self.pid
        stopped = [t for t, th in self.threads.items() if not th.running]
        if by not in stopped:
            if not stopped:
                raise OSError(errno.EBUSY, "no stopped thread")
            by = stopped[0]
        return by

    def _own_trap(self, tid: int) -> bool:
        """A guest call of hostio.py's met one of catch.py's int3s: its
        instruction emulated, the thread goes on."""
        regs = ptrace.get_regs(tid)
        at = regs["rip"] - 1
        if self.catch is None or not self.catch.owns(at) or self.bps.is_gdbs(at):
            return False
        regs["rip"] = at
        self.catch.emulate(regs)
        ptrace.set_regs(tid, regs)
        ptrace.cont(tid, 0)
        return True

    def _guest(self, addr: int, size: int) -> bytes:
        data = self.mem.read(addr, size)
        if len(data) != size:
            raise OSError(errno.EFAULT, f"guest memory at {addr:#x} is unreadable")
        return data

    def _read_auxv(self, sp: int) -> bytes:
        """The auxiliary vector on the program's initial stack: after argc,
        argv[] and envp[] (each NULL-terminated)."""
        argc = min(struct.unpack("<Q", self._guest(sp, 8))[0], _MAX_STRINGS)
        p = sp + 8 * (argc + 2)
        for _ in range(_MAX_STRINGS):
            if not struct.unpack("<Q", self._guest(p, 8))[0]:
                break
            p += 8
        p += 8
        out = bytearray()
        while len(out) < _AUXV_MAX:
            pair = self._guest(p, 16)
            out += pair
            p += 16
            if struct.unpack("<Q", pair[:8])[0] == 0:
                break
        return bytes(out)

    def guest_exit_signal(self) -> int:
        """The signal the guest kernel ended its pid 1 for (0: none), read
        at the exit stop from its ``ls_exit_signal``."""
        try:
            at = kernel_symbol(self.pid, self.kernel, "ls_exit_signal")
            return struct.unpack("<i", self._guest(at, 4))[0]
        except (OSError, LibsubstError):
            return 0

    # ---- serving ------------------------------------------------------------

    def serve(self) -> None:
        """Accepts one gdb and answers it until it detaches, kills the guest
        or the guest ends (also before gdb has connected)."""
        conn = self._accept()
        if conn is None:
            return
        self.conn = Connection(conn)
        try:
            while True:
                while not select.select([conn], [], [], 0.2)[0]:
                    if self.ended:
                        self.kill()
                        return
                pkt = self.conn.recv()
                if pkt is None:
                    self.detach() if self.attached else self.kill()
                    return
                try:
                    reply = self._dispatch(pkt)
                except (ValueError, IndexError, KeyError, struct.error, OSError, OverflowError):
                    reply = "E01"                 # a malformed packet (a number past 64 bits) or unreadable memory
                if reply is not None:
                    self.conn.send(reply)
                if self.exit_status is not None and pkt[:1] in (b"c", b"s", b"C", b"S", b"v"):
                    return
        except Detached:
            return
        finally:
            self.conn.close()

    def _accept(self) -> socket.socket | None:
        """gdb's connection, or None when the guest ended first (or the
        monitor ended the run: the guest is killed)."""
        while not select.select([self.sock], [], [], 0.2)[0]:
            if self.ended:
                self.kill()
                return None
            try:
                got, status = ptrace.wait(self.pid, nohang=True)
            except ChildProcessError:
                got, status = self.pid, 0
            if got and not os.WIFSTOPPED(status):
                self.log("gdb: the guest ended before a debugger connected")
                return None
        return self.sock.accept()[0]

    def end(self, signo: int) -> bool:
        """From the monitor's thread, for a signal sent to ``libsubst run``:
        True when it ends the run (the server kills the guest within 0.2 s,
        and the run's status is 128+signo), False when it is the guest's.
        Before gdb has connected the program has not started: any signal
        but SIGWINCH and SIGCONT ends it, as ``signals.before_start`` does.
        Once connected, SIGINT and SIGTERM end it too: gdb holds the guest
        stopped at will, so a signal passed on could wait for ever, and a
        killed guest could not die (a pid namespace's init in a tracing
        stop keeps even SIGKILL pending until its tracer resumes it)."""
        if signo in (signal.SIGWINCH, signal.SIGCONT) or self.exit_status is not None:
            return False
        if self.conn is not None and signo not in (signal.SIGINT, signal.SIGTERM,
                                                   signal.SIGKILL):
            return False
        self.ended = self.ended or signo
        return True

    def close(self) -> None:
        if self.hostio is not None:
            self.hostio.close()
            self.hostio.calls.close()
            self.hostio = None
        if self.mem is not None:
            self.mem.close()
            self.mem = None

    def _dispatch(self, pkt: bytes):
        text = pkt.decode("latin-1")
        if pkt == b"\x03":
            return None
        head = text[:1]
        if text.startswith("qSupported"):
            # multiprocess: gdb names the process, as `info proc` and gcore need.
            self.multiprocess = "multiprocess+" in text
            # fork-events: gdb detaches a forked child or follows it.  A
            # guest's vfork is a host fork (its own memory): reported as a
            # fork, so gdb waits for no vforkdone.
            self.fork_events = self.multiprocess and "fork-events+" in text
            forks = "fork-events+;" if self.fork_events else ""
            return (f"PacketSize=4000;multiprocess+;{forks}QStartNoAckMode+;qXfer:exec-file:read+;qXfer:auxv:read+;"
                    "qXfer:threads:read+;qXfer:libraries-svr4:read+;swbreak+;hwbreak+;"
                    "vContSupported+;QCatchSyscalls+;qXfer:features:read+;"
                    "qXfer:siginfo:read+;qXfer:siginfo:write+")
        if text.startswith("QCatchSyscalls:"):
            return self._catch_syscalls(text)
        if text == "QStartNoAckMode":
            self.conn.send("OK")
            self.conn.ack = False
            return None
        if text in ("vMustReplyEmpty", "qTStatus") or text.startswith("qTfV"):
            return ""
        if text == "?":
            return self._stop_reply(self.current, signal.SIGTRAP)
        if text == "qAttached" or text.startswith("qAttached:"):
            return "1" if self.attached else "0"     # gdb detaches from what it attached to
        if text == "qC":
            return f"QC{self.tid_out(self.current)}"
        if text == "qfThreadInfo":
            return "m" + ",".join(self.tid_out(t) for t in sorted(self.threads))
        if text == "qsThreadInfo":
            return "l"
        if text.startswith("qXfer:"):
            return self._xfer(text)
        if text.startswith("vFile:"):
            reply = self.hostio.packet(text)
            for tid, sig in self.hostio.calls.pending.items():
                if tid in self.threads:
                    self.threads[tid].pending = self.threads[tid].pending or sig
            self.hostio.calls.pending.clear()
            return reply
        if text.startswith("qSymbol"):
            return "OK"
        if head == "H":
            if text[1:2] == "g":
                self.general = self._held_child(text[2:])
            tid = self._tid_in(text[2:]) or self.current
            if tid in self.threads:
                self.current = tid
            return "OK"
        if self.general and head in "gmzZM":
            return self._child_packet(text)
        if head == "T":
            return "OK" if self._tid_in(text[1:]) in self.threads else "E01"
        if head == "g":
            return registers.g_packet(ptrace.get_regs(self.current),
                                      ptrace.get_fpregs(self.current)).hex()
        if head == "G":
            regs = registers.from_g_packet(ptrace.get_regs(self.current), bytes.fromhex(text[1:]))
            ptrace.set_regs(self.current, regs)
            return "OK"
        if head == "p":
            return registers.one(ptrace.get_regs(self.current), ptrace.get_fpregs(self.current),
                                 int(text[1:], 16))
        if head == "P":
            n, v = text[1:].split("=")
            regs = registers.set_one(ptrace.get_regs(self.current), int(n, 16), bytes.fromhex(v))
            if regs is not None:
                ptrace.set_regs(self.current, regs)
            return "OK"
        if head == "m":
            addr, size = (int(x, 16) for x in text[1:].split(","))
            try:
                return self.bps.read(addr, size).hex()
            except OSError:
                return "E14"
        if head == "M":
            where, data = text[1:].split(":")
            addr, _size = (int(x, 16) for x in where.split(","))
            try:
                self.bps.write(addr, bytes.fromhex(data))
                return "OK"
            except OSError:
                return "E14"
        if head == "X":
            return ""            # gdb falls back to M
        if head in "Zz":
            return self.bps.packet(text, list(self.threads))
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            return self._vcont(text[6:])
        if head in "csCS":
            sig = 0
            if head in "CS" and text[1:]:
                sig = to_host(int(text[1:].split(";")[0], 16))
            action = "s" if head in "sS" else "c"
            return self.resume({self.current: (action, sig)}, default=("c", 0))
        if head == "k" or text.startswith("vKill"):
            self.kill()
            if text.startswith("vKill"):
                self.conn.send("OK")
            raise Detached
        if head == "D":
            pid = self._pid_in(text[2:]) if text[1:2] == ";" else self.pid
            if pid in self.forks:             # detach-on-fork: the child goes on
                self.forks.remove(pid)
                ptrace.detach(pid, 0)
                return "OK"
            if pid == self.pid and self.forks:
                self._follow(self.forks.pop())  # follow-fork-mode child
                return "OK"
            if pid != self.pid:
                return "E01"                  # no process of the server's
            self.detach()
            self.conn.send("OK")
            raise Detached
        return ""

    def _pid_in(self, text: str) -> int:
        """A process gdb names (the guest's pid): the host's."""
        gid = int(text, 16)
        return next((t for t in (self.pid, *self.forks) if self.guest_tid(t) == gid), 0)

    def _held_child(self, text: str) -> int:
        """The held child (host pid) an H packet's thread belongs to, or 0."""
        if not text.startswith("p"):
            return 0
        pid = self._pid_in(text[1:].partition(".")[0])
        return pid if pid in self.forks else 0

    def _child_packet(self, text: str) -> str:
        """What gdb asks of a held child before it detaches or follows it:
        its registers and memory; its breakpoints are gone already."""
        head = text[0]
        if head == "g":
            return registers.g_packet(ptrace.get_regs(self.general),
                                      ptrace.get_fpregs(self.general)).hex()
        if head == "m":
            addr, size = (int(x, 16) for x in text[1:].split(","))
            child = ptrace.Memory(self.general)
            try:
                return child.read(addr, size).hex() or "E14"
            except OSError:
                return "E14"
            finally:
                child.close()
        return "OK" if head == "z" else "E01"

    def _follow(self, child: int) -> None:
        """gdb follows a forked child: the parent goes on detached, and
        the child is the process served from now on."""
        self.detach()
        self.release_forks()
        self.close()
        self.pid, self.current, self.general = child, child, 0
        self.threads = {child: Thread(child)}
        self._open_memory()                   # the same program, at the same addresses

    def _tid_in(self, text: str) -> int | None:
        """A thread id gdb sent (``TID``, ``pPID.TID``, ``pPID``: the
        guest's): the host thread, or None for any or all (-1, 0, every
        thread of PID); 0 for one that is not the process's."""
        if text.startswith("p"):
            text = text[1:].partition(".")[2] or "-1"
        if text in ("-1", "0", ""):
            return None
        return self.host_tid(int(text, 16)) or 0

    def _catch_syscalls(self, text: str) -> str:
        on, numbers = catch.parse(text)
        if not on:
            if self.catch is not None:
                self.catch.remove()
                self.catch = None
            return "OK"
        if self.catch is None:
            try:
                self.catch = catch.SyscallCatch(self.bps, self.pid, self.kernel)
            except LibsubstError:
                return "E01"
        self.catch.numbers = numbers
        return "OK"

    def _vcont(self, spec: str):
        actions: dict[int, tuple[str, int]] = {}
        default = None
        for item in spec.split(";"):
            act, _, tid = item.partition(":")
            kind = act[0].lower()
            sig = to_host(int(act[1:], 16)) if act[0] in "CS" else 0
            if self._tid_in(tid) is not None:
                actions.setdefault(self._tid_in(tid), (kind, sig))
            elif default is None:
                default = (kind, sig)
        return self.resume(actions, default)

    def _execfn(self) -> str:
        """The program's path as it was run (AT_EXECFN: a link's own name,
        as Linux names a process), or the program's."""
        at = dict(struct.iter_unpack("<QQ", self.auxv[:len(self.auxv) // 16 * 16]))
        try:
            return cstring(self.mem, at[AT_EXECFN]) if at.get(AT_EXECFN) else self.program
        except OSError:
            return self.program

    def _thread_name(self, tid: int) -> str:
        """A thread's name as the guest reads it in /proc/self/task/N/comm
        (prctl(PR_SET_NAME), pthread_setname_np): the host's, unless that is
        still the kernel binary's, then the program's file name, as the
        guest kernel's guest_comm (fs/synth_gen.c) gives it."""
        try:
            with open(f"/proc/{tid}/comm", "rb") as f:
                name = f.read().rstrip(b"\n").decode("utf-8", "replace")
        except OSError:
            name = ""
        if not name or name.startswith("libsubst"):
            name = os.path.basename(self._execfn())[:15]
        # The guest chose it: no control character reaches gdb's XML parser.
        return "".join(c if c >= " " else "?" for c in name)

    def _xfer(self, text: str):
        parts = text.split(":", 4)
        if parts[1:3] == ["siginfo", "write"]:
            # gdb puts back a stopped thread's siginfo after it called a
            # function in it (`call`, `print f()`), which ends in a signal.
            offset, _, data = parts[4].partition(":")
            info = bytearray(ptrace.siginfo(self.current))
            data = data.encode("latin-1")[:max(0, len(info) - int(offset, 16))]
            info[int(offset, 16):int(offset, 16) + len(data)] = data
            ptrace.set_siginfo(self.current, bytes(info))
            return f"{len(data):x}"
        if len(parts) < 5 or parts[2] != "read":
            return ""
        obj, offset_len = parts[1], parts[4]
        offset, length = (int(x, 16) for x in offset_len.split(","))
        if obj == "exec-file":
            data = self.program.encode()
        elif obj == "auxv":
            data = gdb_auxv(self.mem, self.auxv)
        elif obj == "features" and parts[3] == "target.xml":
            data = registers.target_xml().encode()
        elif obj == "siginfo":
            data = ptrace.siginfo(self.current)
        elif obj == "libraries-svr4":
            data = svr4_list(self.mem, self.auxv, self.pid, self.kernel).encode()
        elif obj == "threads":
            data = ("<?xml version=\"1.0\"?>\n<threads>\n" + "".join(
                f'<thread id="{self.tid_out(t)}" core="0" '
                f'name={quoteattr(self._thread_name(t))}/>\n'
                for t in sorted(self.threads)) + "</threads>\n").encode()
        else:
            return ""
        chunk = data[offset:offset + length]
        return (b"l" if offset + length >= len(data) else b"m") + escape(chunk)
