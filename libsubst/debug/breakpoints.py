"""Breakpoints in a traced guest: gdb's software breakpoints and the
server's own temporary ones (the end of a stepped call), as int3s written
through /proc/PID/mem, and hardware breakpoints and watchpoints in every
thread's debug registers."""

from __future__ import annotations

import errno

from . import ptrace

_DR7_LEN = {1: 0b00, 2: 0b01, 4: 0b11, 8: 0b10}
_DR7_RW = {"x": 0b00, "w": 0b01, "rw": 0b11}


class Breakpoints:
    def __init__(self, mem: ptrace.Memory):
        self.mem = mem
        self.orig: dict[int, bytes] = {}       # address -> the byte an int3 replaced
        self.gdb: set[int] = set()             # gdb's Z0 breakpoints
        self.temp: dict[int, int] = {}         # tid -> the server's breakpoint ending a stepped call
        self.own: set[int] = set()             # the server's for every thread (catch.py)
        self.hw: list[tuple[int, int, str] | None] = [None] * 4

    # ---- memory as gdb sees it: without the int3s --------------------------

    def read(self, addr: int, size: int) -> bytes:
        data = bytearray(self.mem.read(addr, size))
        if not data and size:
            raise OSError(errno.EFAULT, "unreadable")
        for a, orig in self.orig.items():
            if addr <= a < addr + len(data):
                data[a - addr] = orig[0]
        return bytes(data)

    def write(self, addr: int, data: bytes) -> None:
        data = bytearray(data)
        for a in self.orig:
            if addr <= a < addr + len(data):
                self.orig[a] = bytes([data[a - addr]])
                data[a - addr] = 0xCC
        self.mem.write(addr, bytes(data))

    # ---- software breakpoints ----------------------------------------------

    def _plant(self, addr: int) -> None:
        if addr not in self.orig:
            orig = self.mem.read(addr, 1)
            if not orig:
                raise OSError(errno.EFAULT, "unreadable")
            self.mem.write(addr, b"\xcc")
            self.orig[addr] = orig

    def _unplant_unused(self, addr: int) -> None:
        if addr in self.orig and addr not in self.gdb and addr not in self.temp.values() \
                and addr not in self.own:
            self.mem.write(addr, self.orig.pop(addr))

    def insert(self, addr: int) -> None:
        self._plant(addr)
        self.gdb.add(addr)

    def remove(self, addr: int) -> None:
        self.gdb.discard(addr)
        self._unplant_unused(addr)

    def insert_own(self, addr: int) -> None:
        self._plant(addr)
        self.own.add(addr)

    def remove_own(self, addr: int) -> None:
        self.own.discard(addr)
        self._unplant_unused(addr)

    def insert_temp(self, tid: int, addr: int) -> None:
        self._plant(addr)
        self.temp[tid] = addr

    def take_temp(self, tid: int, rip: int) -> int | None:
        """The temporary breakpoint of thread tid when it just stopped on it
        (rip one past it): removed, unless gdb or another thread needs it."""
        addr = self.temp.get(tid)
        if addr is None or rip - 1 != addr:
            return None
        del self.temp[tid]
        self._unplant_unused(addr)
        return addr

    def is_gdbs(self, addr: int) -> bool:
        return addr in self.gdb

    def remove_all(self) -> None:
        self.gdb.clear()
        self.temp.clear()
        self.own.clear()
        for addr in list(self.orig):
            try:
                self.mem.write(addr, self.orig.pop(addr))
            except OSError:
                pass

    def clean_copy(self, pid: int) -> None:
        """Restores the original bytes in a forked child's copy of memory and
        clears its debug registers, so it runs on untraced."""
        child = ptrace.Memory(pid)
        try:
            for addr, orig in self.orig.items():
                child.write(addr, orig)
        finally:
            child.close()
        ptrace.set_debugreg(pid, 7, 0)

    # ---- hardware breakpoints and watchpoints --------------------------------

    def set_hw(self, insert: bool, addr: int, length: int, rw: str, tids) -> bool:
        key = (addr, length, rw)
        if insert:
            if None not in self.hw:
                return False
            self.hw[self.hw.index(None)] = key
        elif key in self.hw:
            self.hw[self.hw.index(key)] = None
        for tid in tids:
            self.load_debugregs(tid)
        return True

    def any_hw(self) -> bool:
        return self.hw != [None] * 4

    def load_debugregs(self, tid: int) -> None:
        dr7 = 0
        ptrace.set_debugreg(tid, 7, 0)
        for i, slot in enumerate(self.hw):
            if slot:
                addr, length, rw = slot
                ptrace.set_debugreg(tid, i, addr)
                dr7 |= (1 << (2 * i)) | ((_DR7_RW[rw] | _DR7_LEN[length] << 2) << (16 + 4 * i))
        ptrace.set_debugreg(tid, 7, dr7)

    def hit_hw(self, tid: int) -> tuple[int, int, str] | None:
        """The hardware slot that stopped thread tid (DR6), cleared."""
        dr6 = ptrace.get_debugreg(tid, 6)
        ptrace.set_debugreg(tid, 6, 0)
        return next((slot for i, slot in enumerate(self.hw) if slot and dr6 & (1 << i)), None)

    def packet(self, text: str, tids) -> str:
        """The reply to a Z or z packet."""
        insert = text[0] == "Z"
        kind, addr, length = text[1:].split(",")[:3]
        addr, length = int(addr, 16), int(length.split(";")[0], 16)
        try:
            if kind == "0":
                (self.insert if insert else self.remove)(addr)
                return "OK"
            if kind in "1234":
                rw = {"1": "x", "2": "w", "3": "rw", "4": "rw"}[kind]
                length = 1 if rw == "x" else length
                if length not in _DR7_LEN:
                    return "E22"
                return "OK" if self.set_hw(insert, addr, length, rw, tids) else "E28"
        except OSError:
            return "E14"
        return ""
