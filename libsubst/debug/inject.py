"""Calls the debugger's file requests make in the guest (hostio.py): a
stopped guest thread is made to call its kernel's fastcall entry, as a
rewritten syscall site does, so a path is resolved, and refused, exactly
as the program's own call would be — the guest's root, volumes, synthetic
/proc and its pids, its credentials — and the host paths outside the
sandbox stay out of reach whatever gdb asks.

The thread's registers are saved; the call's data goes below its stack
(past the red zone, as gdb's own inferior calls put theirs); %rip is the
entry (``%gs:LS_KBLOCK_ENTRY``, the thread's block) with a return address
of 0, so the call ends in a SIGSEGV stop at %rip 0, which is never
delivered; ``orig_rax`` is -1, so the host restarts no call it interrupted
meanwhile, and the saved registers put back (with their own ``orig_rax``)
restart it when gdb resumes the thread, as after any stop.  The fastcall
entry nests on the kernel's stack when the thread is stopped inside the
kernel.  A call that does not return in time (a thread stopped while it
holds a lock the call needs) is interrupted and abandoned before it
changed anything a lock guards: the request fails with EIO.

An fd the guest opened is taken with ``pidfd_getfd`` and closed in the
guest at once: the program never sees it, and reads are the server's."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct
import time

from . import ptrace
from .._abi import ffi

_FASTCALL = ffi.dlopen(None)       # fastcall.h's constants
_RED_ZONE = _FASTCALL.LS_RED_ZONE
_KBLOCK_ENTRY = _FASTCALL.LS_KBLOCK_ENTRY
_MARGIN = 256                      # below the red zone: what a stopped frame may still use
_RETURN = 0                        # the call's return address: a fault at %rip 0 ends it
_SYS_PIDFD_GETFD = 438
CALL_TIMEOUT = 5.0

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class Buf(int):
    """An argument that is the address of the call's data, plus this offset."""


class GuestCalls:
    """Calls in one guest process, through any of its stopped threads;
    ``own_trap(tid)`` steps a thread past one of the server's own int3s
    (catch.py's, at the fastcall entry and its returns): True if it was."""

    def __init__(self, pid: int, mem, own_trap=lambda tid: False):
        self.pid, self.mem, self.own_trap = pid, mem, own_trap
        self.pidfd = os.pidfd_open(pid)
        self.pending: dict[int, int] = {}     # signals met meanwhile, per thread: not gdb's

    def close(self) -> None:
        os.close(self.pidfd)

    def call(self, tid: int, nr: int, args: tuple[int, ...] = (), data: bytes = b"",
             out: int = 0) -> tuple[int, bytes]:
        """nr(args) in the guest by stopped thread tid, ``data`` copied below
        its stack first (a Buf(k) argument is that copy's address plus k),
        ``out`` bytes of it read back after: (the result, those bytes)."""
        saved = ptrace.get_regs(tid)
        try:
            info = ptrace.siginfo(tid)
        except OSError:
            info = None
        block = saved["gs_base"]
        entry = struct.unpack("<Q", self.mem.read(block + _KBLOCK_ENTRY, 8))[0] if block else 0
        if not entry:
            raise OSError(errno.EIO, f"thread {tid} has no guest kernel block")
        at = (saved["rsp"] - _RED_ZONE - _MARGIN - len(data)) & ~15
        self.mem.write(at, data)
        sp = at - 24                       # a call's alignment: %rsp + 8 is 16-aligned
        self.mem.write(sp, struct.pack("<Q", _RETURN))
        regs = dict(saved, rip=entry, rsp=sp, rax=nr, orig_rax=-1)
        for name, v in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), args):
            regs[name] = at + v if isinstance(v, Buf) else v
        ptrace.set_regs(tid, regs)
        try:
            result = self._run(tid)
            back = self.mem.read(at, out) if out else b""
        finally:
            ptrace.set_regs(tid, saved)
            if info is not None:
                try:
                    ptrace.set_siginfo(tid, info)
                except OSError:
                    pass
        return result, back

    def _run(self, tid: int) -> int:
        ptrace.cont(tid, 0)
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            got, status = ptrace.wait(tid, nohang=True)
            if not got:
                if time.monotonic() > deadline:
                    ptrace.interrupt(tid)
                    self._stopped(tid)
                    raise OSError(errno.EIO, "the guest kernel did not answer in time")
                time.sleep(0.0005)
                continue
            if not os.WIFSTOPPED(status):
                raise OSError(errno.ESRCH, "the guest thread ended")
            sig, event = os.WSTOPSIG(status), status >> 16
            if sig == signal.SIGSEGV and not event and ptrace.get_regs(tid)["rip"] == _RETURN:
                return ptrace.get_regs(tid)["rax"]
            if sig == signal.SIGTRAP and not event and self.own_trap(tid):
                continue
            if not event and sig != signal.SIGTRAP:
                self.pending.setdefault(tid, sig)    # delivered when gdb resumes it
            ptrace.cont(tid, 0)

    def _stopped(self, tid: int) -> None:
        while True:
            _, status = ptrace.wait(tid)
            if not os.WIFSTOPPED(status) or status >> 16 == ptrace.PTRACE_EVENT_STOP:
                return
            if not status >> 16 and os.WSTOPSIG(status) != signal.SIGTRAP:
                self.pending.setdefault(tid, os.WSTOPSIG(status))
            ptrace.cont(tid, 0)

    def take_fd(self, fd: int) -> int:
        """A copy, in this process, of the guest's fd (pidfd_getfd(2))."""
        r = _libc.syscall(_SYS_PIDFD_GETFD, self.pidfd, fd, 0)
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r
