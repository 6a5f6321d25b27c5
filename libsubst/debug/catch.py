"""``catch syscall`` for the gdb server: gdb's QCatchSyscalls packet and the
``syscall_entry`` and ``syscall_return`` stop reasons.

A fastcall is a function call into the guest kernel, a stop ptrace never
reports: while gdb catches calls, the server keeps int3s of its own at the
kernel's fastcall entry and at the last instruction before each of its
returns to the guest (``ls_fast_returns_at``, arch/x86_64/fastcall.S), and
keeps each thread's calls in progress (nested: a handler's call inside a
waiting one).  A thread that meets one of them for a call gdb does not
catch, or is resumed from one, has that instruction emulated (a register
move or a ``nop``), so the int3 never leaves the text while other threads
run past it.  A stop is in the kernel's frame, whose unwind information
leads gdb to the program's call site; at a return the result is in rax.
On the trap path the call's SIGSYS stop is its entry."""

from __future__ import annotations

import errno
import struct

from .libraries import kernel_symbol

# The instructions at those places (fastcall.S), as the server emulates them:
# (register written, register read, length).
_EMULATED = {b"\x48\x89\xc1": ("rcx", "rax", 3),     # mov %rax, %rcx: the entry's first
             b"\x90": (None, None, 1)}               # nop: before each return


class SyscallCatch:
    """The server's int3s for ``catch syscall`` in one guest process."""

    def __init__(self, bps, pid: int, kernel: str):
        self.bps = bps
        self.entry = kernel_symbol(pid, kernel, "ls_fastcall_entry")
        at = kernel_symbol(pid, kernel, "ls_fast_returns_at")
        self.returns = {self.entry + off for off in struct.unpack("<2i", bps.read(at, 8))}
        self.numbers: set[int] | None = None        # None: every call
        self.code = {a: self._known(a) for a in (self.entry, *self.returns)}
        for addr in self.code:
            bps.insert_own(addr)

    def _known(self, addr: int) -> bytes:
        for code in _EMULATED:
            if self.bps.read(addr, len(code)) == code:
                return code
        raise OSError(errno.EINVAL, f"unexpected code at the fastcall entry's {addr:#x}")

    def remove(self) -> None:
        for addr in self.code:
            self.bps.remove_own(addr)

    def wants(self, nr: int) -> bool:
        return self.numbers is None or nr in self.numbers

    def owns(self, addr: int) -> bool:
        return addr in self.code

    def emulate(self, regs: dict[str, int]) -> None:
        """The instruction at regs' rip (one of ours), done in regs."""
        dst, src, size = _EMULATED[self.code[regs["rip"]]]
        if dst:
            regs[dst] = regs[src]
        regs["rip"] += size


def parse(text: str) -> tuple[bool, set[int] | None]:
    """``QCatchSyscalls:0`` or ``QCatchSyscalls:1[;NR]...`` (hex):
    (on, the numbers to catch or None for all)."""
    fields = text.split(":", 1)[1].split(";")
    if fields[0] not in ("0", "1"):
        raise ValueError(text)
    numbers = {int(n, 16) for n in fields[1:] if n}
    return fields[0] == "1", numbers or None
