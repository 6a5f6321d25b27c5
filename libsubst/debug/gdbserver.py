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
instruction steps natively.  Software breakpoints are int3s written through
/proc/PID/mem, hardware breakpoints and watchpoints use the debug registers
of every thread.  All-stop mode: one thread stopping stops them all."""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import struct
import time

from . import ptrace, registers
from .signals import to_gdb, to_host

from ..uklibc.stub import STUB_CALL, STUB_ENTER

STUB_MARK = STUB_ENTER + STUB_CALL      # a fastcall stub's entry into the kernel
_DR7_LEN = {1: 0b00, 2: 0b01, 4: 0b11, 8: 0b10}
_DR7_RW = {"x": 0b00, "w": 0b01, "rw": 0b11}


class _Thread:
    __slots__ = ("tid", "running", "pending", "stepping")

    def __init__(self, tid: int):
        self.tid, self.running, self.pending, self.stepping = tid, False, 0, False


class Detached(Exception):
    """gdb detached or killed the guest: the server's work is over."""


class GdbServer:
    def __init__(self, sock: socket.socket, program: str, kernel: str,
                 log=lambda msg: None):
        self.sock = sock
        self.program = program
        self.kernel = kernel
        self.log = log
        self.conn: socket.socket | None = None
        self.ack = True
        self.pid = 0
        self.threads: dict[int, _Thread] = {}
        self.breakpoints: dict[int, bytes] = {}
        self.hw: list[tuple[int, int, str] | None] = [None] * 4
        self.auxv = b""
        self.exit_status: str | None = None
        self.current = 0
        self.mem: ptrace.Memory | None = None
        self.step_over: dict[int, int] = {}   # tid -> temp breakpoint ending a stepped call
        self.attached = False                 # attached to a running guest: gdb detaches

    # ---- attaching ------------------------------------------------------------

    def attach(self, pid: int, go_fd: int) -> None:
        """Seizes the guest's first process, lets its kernel go on, and waits
        for the stop before the program's first instruction."""
        self.pid = pid
        ptrace.seize(pid, ptrace.PTRACE_O_TRACECLONE | ptrace.PTRACE_O_TRACEEXEC |
                     ptrace.PTRACE_O_EXITKILL)
        self.threads[pid] = _Thread(pid)
        self.mem = ptrace.Memory(pid)
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
        self.current = pid

    def attach_running(self, pid: int) -> None:
        """Seizes every thread of a running guest process and stops them
        all (``libsubst attach``); the program's auxv and path come from the
        guest kernel's ``ls_prog_auxv`` and ``ls_prog_exe`` (its symbols)."""
        from .libraries import kernel_symbol

        self.pid = pid
        self.mem = ptrace.Memory(pid)
        for name in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            tid = int(name)
            try:
                ptrace.seize(tid, ptrace.PTRACE_O_TRACECLONE | ptrace.PTRACE_O_TRACEEXEC)
            except OSError:
                continue                      # a thread that just ended
            self.threads[tid] = _Thread(tid)
            self.threads[tid].running = True
        self._stop_all()
        auxv_at = kernel_symbol(pid, self.kernel, "ls_prog_auxv")
        exe_at = kernel_symbol(pid, self.kernel, "ls_prog_exe")
        addr, size = struct.unpack("<QQ", self.mem.read(auxv_at, 16))
        self.auxv = self.mem.read(addr, min(size, 4096))
        from .libraries import _cstring
        exe = struct.unpack("<Q", self.mem.read(exe_at, 8))[0]
        self.program = _cstring(self.mem, exe) if exe else self.program
        self.current = pid
        self.attached = True

    def _read_auxv(self, sp: int) -> bytes:
        """The auxiliary vector on the program's initial stack: after argc,
        argv[] and envp[] (each NULL-terminated)."""
        argc = struct.unpack("<Q", self.mem.read(sp, 8))[0]
        p = sp + 8 * (argc + 2)
        while struct.unpack("<Q", self.mem.read(p, 8))[0]:
            p += 8
        p += 8
        out = bytearray()
        while True:
            pair = self.mem.read(p, 16)
            out += pair
            p += 16
            if struct.unpack("<Q", pair[:8])[0] == 0 or len(out) > 4096:
                return bytes(out)

    # ---- the protocol's framing ----------------------------------------------

    def _send(self, payload: str | bytes) -> None:
        data = payload.encode("latin-1") if isinstance(payload, str) else payload
        packet = b"$" + data + b"#" + b"%02x" % (sum(data) & 0xFF)
        self.conn.sendall(packet)
        if self.ack:
            self._expect_ack()

    def _expect_ack(self) -> None:
        c = self.conn.recv(1)
        if c == b"-":
            raise OSError(errno.EIO, "gdb refused a packet")

    def _recv(self) -> bytes | None:
        """The next packet's payload; b"\\x03" for an interrupt; None at EOF."""
        buf = b""
        while True:
            c = self.conn.recv(1)
            if not c:
                return None
            if c == b"\x03" and not buf:
                return b"\x03"
            if c == b"$":
                buf = b""
                while True:
                    c = self.conn.recv(1)
                    if not c:
                        return None
                    if c == b"#":
                        self.conn.recv(2)
                        if self.ack:
                            self.conn.sendall(b"+")
                        return _unescape(buf)
                    buf += c
            # '+' acks and anything else between packets are skipped

    # ---- serving ------------------------------------------------------------

    def serve(self) -> None:
        """Accepts one gdb and answers it until it detaches, kills the guest
        or the guest ends."""
        self.conn, _ = self.sock.accept()
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                pkt = self._recv()
                if pkt is None:
                    self._detach() if self.attached else self._kill()
                    return
                reply = self._dispatch(pkt)
                if reply is not None:
                    self._send(reply)
                if self.exit_status is not None and pkt[:1] in (b"c", b"s", b"C", b"S", b"v"):
                    return
        except Detached:
            return
        finally:
            self.conn.close()

    def _dispatch(self, pkt: bytes):
        text = pkt.decode("latin-1")
        if pkt == b"\x03":
            return None
        head = text[:1]
        if text.startswith("qSupported"):
            return ("PacketSize=4000;QStartNoAckMode+;qXfer:exec-file:read+;qXfer:auxv:read+;"
                    "qXfer:threads:read+;qXfer:libraries-svr4:read+;swbreak+;hwbreak+;"
                    "vContSupported+")
        if text == "QStartNoAckMode":
            self._send("OK")
            self.ack = False
            return None
        if text in ("vMustReplyEmpty", "qTStatus") or text.startswith("qTfV"):
            return ""
        if text == "?":
            return self._stop_reply(self.current, signal.SIGTRAP)
        if text == "qAttached" or text.startswith("qAttached:"):
            return "1" if self.attached else "0"     # gdb detaches from what it attached to
        if text == "qC":
            return f"QC{self.current:x}"
        if text == "qfThreadInfo":
            return "m" + ",".join(f"{t:x}" for t in sorted(self.threads))
        if text == "qsThreadInfo":
            return "l"
        if text.startswith("qXfer:"):
            return self._xfer(text)
        if text.startswith("qSymbol"):
            return "OK"
        if head == "H":
            tid = int(text[2:], 16) if text[2:] not in ("-1", "0", "") else self.current
            if tid in self.threads:
                self.current = tid
            return "OK"
        if head == "T":
            return "OK" if int(text[1:], 16) in self.threads else "E01"
        if head == "g":
            return self._regs_hex(self.current)
        if head == "G":
            return self._set_regs_hex(self.current, bytes.fromhex(text[1:]))
        if head == "p":
            return self._reg_hex(self.current, int(text[1:], 16))
        if head == "P":
            n, v = text[1:].split("=")
            return self._set_reg(self.current, int(n, 16), bytes.fromhex(v))
        if head == "m":
            addr, size = (int(x, 16) for x in text[1:].split(","))
            try:
                return self._read(addr, size).hex()
            except OSError:
                return "E14"
        if head == "M":
            where, data = text[1:].split(":")
            addr, _size = (int(x, 16) for x in where.split(","))
            try:
                self._write(addr, bytes.fromhex(data))
                return "OK"
            except OSError:
                return "E14"
        if head == "X":
            return ""            # gdb falls back to M
        if head in "Zz":
            return self._breakpoint(text)
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            return self._vcont(text[6:])
        if head in "cs" or head in "CS":
            sig = 0
            if head in "CS" and text[1:]:
                sig = to_host(int(text[1:].split(";")[0], 16))
            action = "s" if head in "sS" else "c"
            return self._resume({self.current: (action, sig)}, default=("c", 0))
        if head == "k" or text.startswith("vKill"):
            self._kill()
            if text.startswith("vKill"):
                self._send("OK")
            raise Detached
        if head == "D":
            self._detach()
            self._send("OK")
            raise Detached
        return ""

    # ---- qXfer ----------------------------------------------------------------

    def _xfer(self, text: str):
        parts = text.split(":")
        if len(parts) < 5 or parts[2] != "read":
            return ""
        obj, offset_len = parts[1], parts[4]
        offset, length = (int(x, 16) for x in offset_len.split(","))
        if obj == "exec-file":
            data = self.program.encode()
        elif obj == "auxv":
            data = self.auxv
        elif obj == "libraries-svr4":
            data = self._libraries().encode()
        elif obj == "threads":
            data = ("<?xml version=\"1.0\"?>\n<threads>\n" + "".join(
                f'<thread id="{t:x}" core="0"/>\n' for t in sorted(self.threads))
                + "</threads>\n").encode()
        else:
            return ""
        chunk = data[offset:offset + length]
        return (b"l" if offset + length >= len(data) else b"m") + _escape(chunk)

    def _libraries(self) -> str:
        """The svr4 library list gdb would read from ld.so's ``r_debug``, plus
        the guest kernel, so its own symbols resolve in backtraces."""
        from .libraries import svr4_list
        return svr4_list(self.mem, self.auxv, self.pid, self.kernel)

    # ---- registers ------------------------------------------------------------

    def _regs_hex(self, tid: int) -> str:
        try:
            return registers.g_packet(ptrace.get_regs(tid), ptrace.get_fpregs(tid)).hex()
        except OSError:
            return "E01"

    def _reg_hex(self, tid: int, n: int) -> str:
        return registers.one(ptrace.get_regs(tid), ptrace.get_fpregs(tid), n)

    def _set_regs_hex(self, tid: int, data: bytes) -> str:
        ptrace.set_regs(tid, registers.from_g_packet(ptrace.get_regs(tid), data))
        return "OK"

    def _set_reg(self, tid: int, n: int, value: bytes) -> str:
        regs = registers.set_one(ptrace.get_regs(tid), n, value)
        if regs is not None:
            ptrace.set_regs(tid, regs)
        return "OK"

    # ---- memory and breakpoints ------------------------------------------------

    def _read(self, addr: int, size: int) -> bytes:
        data = bytearray(self.mem.read(addr, size))
        if not data and size:
            raise OSError(errno.EFAULT, "unreadable")
        for a, orig in self.breakpoints.items():
            if addr <= a < addr + len(data):
                data[a - addr] = orig[0]
        return bytes(data)

    def _write(self, addr: int, data: bytes) -> None:
        data = bytearray(data)
        for a in list(self.breakpoints):
            if addr <= a < addr + len(data):
                self.breakpoints[a] = bytes([data[a - addr]])
                data[a - addr] = 0xCC
        self.mem.write(addr, bytes(data))

    def _insert_sw(self, addr: int) -> None:
        if addr not in self.breakpoints:
            orig = self.mem.read(addr, 1)
            self.mem.write(addr, b"\xcc")
            self.breakpoints[addr] = orig

    def _remove_sw(self, addr: int) -> None:
        orig = self.breakpoints.pop(addr, None)
        if orig is not None:
            self.mem.write(addr, orig)

    def _breakpoint(self, text: str) -> str:
        insert = text[0] == "Z"
        kind, addr, length = text[1:].split(",")[:3]
        addr, length = int(addr, 16), int(length.split(";")[0], 16)
        try:
            if kind == "0":
                (self._insert_sw if insert else self._remove_sw)(addr)
                return "OK"
            if kind in "1234":
                rw = {"1": "x", "2": "w", "3": "rw", "4": "rw"}[kind]
                length = 1 if rw == "x" else length
                if length not in _DR7_LEN:
                    return "E22"
                return "OK" if self._hw(insert, addr, length, rw) else "E28"
        except OSError:
            return "E14"
        return ""

    def _hw(self, insert: bool, addr: int, length: int, rw: str) -> bool:
        key = (addr, length, rw)
        if insert:
            if None not in self.hw:
                return False
            self.hw[self.hw.index(None)] = key
        elif key in self.hw:
            self.hw[self.hw.index(key)] = None
        for tid in self.threads:
            self._load_debugregs(tid)
        return True

    def _load_debugregs(self, tid: int) -> None:
        dr7 = 0
        ptrace.set_debugreg(tid, 7, 0)
        for i, slot in enumerate(self.hw):
            if slot:
                addr, length, rw = slot
                ptrace.set_debugreg(tid, i, addr)
                dr7 |= (1 << (2 * i)) | ((_DR7_RW[rw] | _DR7_LEN[length] << 2) << (16 + 4 * i))
        ptrace.set_debugreg(tid, 7, dr7)

    # ---- running and stopping ----------------------------------------------------

    def _vcont(self, spec: str):
        actions: dict[int, tuple[str, int]] = {}
        default = None
        for item in spec.split(";"):
            act, _, tid = item.partition(":")
            kind = act[0].lower()
            sig = to_host(int(act[1:], 16)) if act[0] in "CS" else 0
            if tid and tid != "-1":
                actions.setdefault(int(tid, 16), (kind, sig))
            elif default is None:
                default = (kind, sig)
        return self._resume(actions, default)

    def _resume(self, actions: dict[int, tuple[str, int]], default) -> str | None:
        """Resumes the threads as gdb asks, waits for the next stop worth
        reporting, stops every other thread, and returns the stop reply."""
        for tid, th in list(self.threads.items()):
            kind, sig = actions.get(tid) or default or (None, 0)
            if kind is None:
                continue
            sig = sig or th.pending
            th.pending = 0
            if kind == "s":
                self._step(th, sig)
            else:
                ptrace.cont(tid, sig)
            th.running = True
        return self._wait_for_stop()

    def _step(self, th: _Thread, sig: int) -> None:
        """One instruction — or a whole call, over a rewritten site."""
        rip = ptrace.get_regs(th.tid)["rip"]
        after = self._fastcall_end(rip)
        if after is not None and not sig:
            self.step_over[th.tid] = after
            self._insert_sw(after)
            ptrace.cont(th.tid, 0)
        else:
            th.stepping = True
            ptrace.step(th.tid, sig)

    def _fastcall_end(self, rip: int) -> int | None:
        """For a rewritten site (``jmp rel32`` to a fastcall stub, then int3
        filler), the first address after the window."""
        try:
            code = self._read(rip, 16)
            if code[0] != 0xE9:
                return None
            target = rip + 5 + struct.unpack_from("<i", code, 1)[0]
            if STUB_MARK not in self.mem.read(target, 96):
                return None
        except (OSError, struct.error, IndexError):
            return None
        end = rip + 5
        while self._read(end, 1) == b"\xcc" and end - rip < 64:
            end += 1
        return end

    def _wait_for_stop(self) -> str | None:
        while True:
            if self.conn is not None:
                r, _, _ = select.select([self.conn], [], [], 0)
                if r:
                    c = self.conn.recv(1, socket.MSG_PEEK)
                    if c == b"\x03":
                        self.conn.recv(1)
                        self._stop_all()
                        return self._stop_reply(self.current, signal.SIGINT)
                    if not c:
                        self._kill()
                        raise Detached
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
            if tid == self.pid:
                self._reap_rest()
                self.exit_status = (f"W{os.WEXITSTATUS(status):02x}" if os.WIFEXITED(status)
                                    else f"X{to_gdb(os.WTERMSIG(status)):02x}")
                return self.exit_status
            return None
        sig, event = os.WSTOPSIG(status), status >> 16
        th.running = False
        if event == ptrace.PTRACE_EVENT_CLONE:
            new = ptrace.event_msg(tid)
            self.threads.setdefault(new, _Thread(new)).running = True
            ptrace.cont(tid, 0)
            th.running = True
            return None
        if event == ptrace.PTRACE_EVENT_STOP:
            # A new thread's first stop, or a group-stop: it goes on, with the
            # hardware breakpoints every thread has.
            if self.hw != [None] * 4:
                self._load_debugregs(tid)
            ptrace.cont(tid, 0)
            th.running = True
            return None
        if event == ptrace.PTRACE_EVENT_EXEC:
            self.log("the program called execve: the debugger follows no exec; it detaches")
            self._detach()
            self.exit_status = "W00"
            return "O" + b"libsubst: the program exec'd another; gdb is detached\n".hex()
        if event:
            ptrace.cont(tid, 0)
            th.running = True
            return None
        if sig == signal.SIGSYS:
            # The trap path: the guest kernel's own business.  A thread being
            # stepped runs the whole call and stops after the syscall.
            if th.stepping:
                th.stepping = False
                after = ptrace.get_regs(tid)["rip"]
                self.step_over[tid] = after
                self._insert_sw(after)
            ptrace.cont(tid, signal.SIGSYS)
            th.running = True
            return None
        stepped, th.stepping = th.stepping, False
        if sig == signal.SIGTRAP:
            regs = ptrace.get_regs(tid)
            if tid in self.step_over and regs["rip"] - 1 == self.step_over[tid]:
                addr = self.step_over.pop(tid)
                regs["rip"] = addr
                ptrace.set_regs(tid, regs)
                if not any(v == addr for v in self.step_over.values()):
                    self._remove_sw(addr)
                self._stop_all()
                return self._stop_reply(tid, signal.SIGTRAP)
            if regs["rip"] - 1 in self.breakpoints:
                regs["rip"] -= 1
                ptrace.set_regs(tid, regs)
                self._stop_all()
                return self._stop_reply(tid, signal.SIGTRAP, "swbreak:;")
            dr6 = ptrace.get_debugreg(tid, 6)
            ptrace.set_debugreg(tid, 6, 0)
            for i, slot in enumerate(self.hw):
                if slot and dr6 & (1 << i):
                    self._stop_all()
                    if slot[2] == "x":
                        return self._stop_reply(tid, signal.SIGTRAP, "hwbreak:;")
                    kind = "watch" if slot[2] == "w" else "awatch"
                    return self._stop_reply(tid, signal.SIGTRAP, f"{kind}:{slot[0]:x};")
            self._stop_all()
            return self._stop_reply(tid, signal.SIGTRAP)
        del stepped
        # Any other signal is the program's: gdb shows it and decides.
        th.pending = sig
        self._stop_all()
        return self._stop_reply(tid, sig)

    def _stop_all(self) -> None:
        for tid, th in list(self.threads.items()):
            if not th.running:
                continue
            try:
                ptrace.interrupt(tid)
            except OSError:
                continue
            while th.running:
                try:
                    _, status = ptrace.wait(tid)
                except ChildProcessError:
                    self.threads.pop(tid, None)
                    break
                if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                    self.threads.pop(tid, None)
                    break
                sig, event = os.WSTOPSIG(status), status >> 16
                if event == ptrace.PTRACE_EVENT_STOP:
                    th.running = False
                elif event == ptrace.PTRACE_EVENT_CLONE:
                    new = ptrace.event_msg(tid)
                    self.threads.setdefault(new, _Thread(new)).running = True
                    ptrace.cont(tid, 0)
                elif event:
                    ptrace.cont(tid, 0)
                else:
                    th.pending = sig if sig != signal.SIGTRAP else th.pending
                    th.running = False
        self.current = self.current if self.current in self.threads else self.pid

    def _reap_rest(self) -> None:
        for tid in list(self.threads):
            try:
                ptrace.wait(tid, nohang=True)
            except ChildProcessError:
                pass
        self.threads.clear()

    def _stop_reply(self, tid: int, sig: int, extra: str = "") -> str:
        self.current = tid
        return f"T{to_gdb(sig):02x}thread:{tid:x};{extra}"

    def _kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def _detach(self) -> None:
        """Removes every breakpoint and lets the guest run on untraced."""
        self._stop_all()
        for addr in list(self.breakpoints):
            try:
                self._remove_sw(addr)
            except OSError:
                pass
        self.hw = [None] * 4
        for tid, th in list(self.threads.items()):
            try:
                self._load_debugregs(tid)
                ptrace.detach(tid, th.pending)
            except OSError:
                pass
        self.threads.clear()


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (0x23, 0x24, 0x7D, 0x2A):
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def _unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        out.append(next(it) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


def listen(spec: str, allow_remote: bool) -> socket.socket:
    """A listening socket for ``[HOST:]PORT`` (loopback unless ``allow_remote``)."""
    from ..errors import LibsubstError

    host, _, port = spec.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port_n = int(port)
        if not 0 < port_n < 65536:
            raise ValueError
    except ValueError:
        raise LibsubstError(f"--gdb {spec!r}: expected [HOST:]PORT") from None
    try:
        infos = socket.getaddrinfo(host, port_n, type=socket.SOCK_STREAM)
    except OSError as e:
        raise LibsubstError(f"--gdb {spec!r}: {e}") from None
    family, _, _, _, addr = infos[0]
    import ipaddress
    if not allow_remote and not ipaddress.ip_address(addr[0]).is_loopback:
        raise LibsubstError(f"--gdb {spec!r}: {host} is not a loopback address; a debugger "
                            "controls the guest, so other addresses need --gdb-allow-remote")
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise LibsubstError(f"--gdb {spec!r}: cannot listen there: {e.strerror}") from None
    sock.listen(1)
    return sock
