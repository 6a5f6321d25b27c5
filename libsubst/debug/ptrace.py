"""ptrace(2) for the gdb server, through ctypes: attach, stop, resume,
registers, debug registers, and memory through /proc/PID/mem.

Every call must come from the thread that attached (a tracer is a thread,
not a process), so the gdb server runs all of them in one thread."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

PTRACE_PEEKUSER, PTRACE_POKEUSER = 3, 6
PTRACE_CONT, PTRACE_KILL, PTRACE_SINGLESTEP = 7, 8, 9
PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_GETFPREGS = 12, 13, 14
PTRACE_DETACH = 17
PTRACE_SETOPTIONS, PTRACE_GETEVENTMSG, PTRACE_GETSIGINFO = 0x4200, 0x4201, 0x4202
PTRACE_SETSIGINFO = 0x4203
PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
PTRACE_O_TRACEFORK, PTRACE_O_TRACEVFORK, PTRACE_O_TRACECLONE = 0x2, 0x4, 0x8
PTRACE_O_TRACEEXEC, PTRACE_O_TRACEEXIT, PTRACE_O_EXITKILL = 0x10, 0x40, 0x100000
PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE = 1, 2, 3
PTRACE_EVENT_EXEC, PTRACE_EVENT_EXIT, PTRACE_EVENT_STOP = 4, 6, 128
# What the gdb server traces: new threads, forks (to detach them), exec, exit.
TRACE_OPTIONS = (PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                 PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT)
__WALL = 0x40000000

# struct user_regs_struct (sys/user.h), in order.
REG_NAMES = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs "
             "eflags rsp ss fs_base gs_base ds es fs gs").split()
_REGS = struct.Struct("<27Q")
# offsetof(struct user, u_debugreg): regs (27*8) + u_fpvalid (4, padded to 8) + i387 (512)
# + u_tsize, u_dsize, u_ssize (3*8) + start_code, start_stack (2*8) + signal (8) + reserved (4)
# + u_ar0, u_fpstate (padded, 2*8) + magic (8) + u_comm (32).
DEBUGREG_OFFSET = 848


class PtraceError(OSError):
    pass


def _call(req: int, pid: int, addr=0, data=0) -> int:
    ctypes.set_errno(0)
    r = _libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    err = ctypes.get_errno()
    if r == -1 and err:
        raise PtraceError(err, f"ptrace({req:#x}, {pid}): {os.strerror(err)}")
    return r


def seize(tid: int, options: int) -> None:
    _call(PTRACE_SEIZE, tid, 0, options)


def interrupt(tid: int) -> None:
    _call(PTRACE_INTERRUPT, tid)


def cont(tid: int, sig: int = 0) -> None:
    _call(PTRACE_CONT, tid, 0, sig)


def step(tid: int, sig: int = 0) -> None:
    _call(PTRACE_SINGLESTEP, tid, 0, sig)


def detach(tid: int, sig: int = 0) -> None:
    _call(PTRACE_DETACH, tid, 0, sig)


def event_msg(tid: int) -> int:
    out = ctypes.c_ulong()
    _call(PTRACE_GETEVENTMSG, tid, 0, ctypes.addressof(out))
    return out.value


def get_regs(tid: int) -> dict[str, int]:
    buf = ctypes.create_string_buffer(_REGS.size)
    _call(PTRACE_GETREGS, tid, 0, ctypes.addressof(buf))
    return dict(zip(REG_NAMES, _REGS.unpack(buf.raw)))


def set_regs(tid: int, regs: dict[str, int]) -> None:
    buf = ctypes.create_string_buffer(_REGS.pack(*(regs[n] & (2**64 - 1) for n in REG_NAMES)))
    _call(PTRACE_SETREGS, tid, 0, ctypes.addressof(buf))


def get_fpregs(tid: int) -> bytes:
    """The 512-byte FXSAVE area (struct user_fpregs_struct)."""
    buf = ctypes.create_string_buffer(512)
    _call(PTRACE_GETFPREGS, tid, 0, ctypes.addressof(buf))
    return buf.raw


def set_debugreg(tid: int, n: int, value: int) -> None:
    _call(PTRACE_POKEUSER, tid, DEBUGREG_OFFSET + 8 * n, value)


def get_debugreg(tid: int, n: int) -> int:
    ctypes.set_errno(0)
    r = _libc.ptrace(PTRACE_PEEKUSER, tid, ctypes.c_void_p(DEBUGREG_OFFSET + 8 * n), None)
    if r == -1 and ctypes.get_errno():
        raise PtraceError(ctypes.get_errno(), "PEEKUSER")
    return r & (2**64 - 1)


def siginfo(tid: int) -> bytes:
    """The siginfo_t (128 bytes) of the signal that stopped tid."""
    buf = ctypes.create_string_buffer(128)
    _call(PTRACE_GETSIGINFO, tid, 0, ctypes.addressof(buf))
    return buf.raw


def set_siginfo(tid: int, info: bytes) -> None:
    buf = ctypes.create_string_buffer(info, 128)
    _call(PTRACE_SETSIGINFO, tid, 0, ctypes.addressof(buf))


def siginfo_signo(tid: int) -> int | None:
    """The signal of a signal-delivery-stop (None for a group-stop or event stop)."""
    try:
        return struct.unpack_from("<i", siginfo(tid))[0]
    except PtraceError as e:
        if e.errno == errno.EINVAL:
            return None
        raise


def wait(tid: int = -1, nohang: bool = False) -> tuple[int, int]:
    """waitpid(tid, __WALL): (tid, status), (0, 0) when nothing with nohang."""
    return os.waitpid(tid, __WALL | (os.WNOHANG if nohang else 0))


def _offset(addr: int) -> int:
    """An address as a file offset: the kernel's upper half (gcore asks for
    the vsyscall page) is beyond what /proc/PID/mem's offsets reach."""
    if not 0 <= addr < 1 << 63:
        raise OSError(errno.EIO, f"address {addr:#x} is not the process's")
    return addr


class Memory:
    """A traced process's memory through /proc/PID/mem: reads and writes
    (writes reach read-only text, as ptrace's POKE does)."""

    def __init__(self, pid: int):
        self.fd = os.open(f"/proc/{pid}/mem", os.O_RDWR | os.O_CLOEXEC)

    def read(self, addr: int, size: int) -> bytes:
        return os.pread(self.fd, size, _offset(addr))

    def write(self, addr: int, data: bytes) -> None:
        if os.pwrite(self.fd, data, _offset(addr)) != len(data):
            raise OSError(errno.EIO, "short write")

    def close(self) -> None:
        os.close(self.fd)
