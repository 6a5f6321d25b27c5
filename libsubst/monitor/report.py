"""Read the kernel's report channel (c_src/include/libsubst/report.h) and
turn it into what the user sees: unimplemented syscalls and crash reports,
with backtraces symbolised from the guest objects' ELF symbols."""

from __future__ import annotations

import bisect
import signal
from dataclasses import dataclass, field


@dataclass
class Crash:
    signo: int
    code: int
    addr: int
    regs: dict[str, int] = field(default_factory=dict)
    frames: list[int] = field(default_factory=list)


@dataclass
class Report:
    enosys: list[tuple[str, int, int]] = field(default_factory=list)  # (name, nr, count)
    objects: list[tuple[int, int, str]] = field(default_factory=list)  # (base, end, path)
    crash: Crash | None = None
    exit_status: int | None = None
    boot: tuple[int, int] | None = None   # CLOCK_MONOTONIC ns: kernel's first instruction, jump to the program


def parse(text: str) -> Report:
    """Parse report records; unknown or malformed lines are skipped."""
    rep = Report()
    for line in text.splitlines():
        parts = line.split(" ")
        try:
            kind = parts[0]
            if kind == "enosys":
                rep.enosys.append((parts[1], int(parts[2]), int(parts[3])))
            elif kind == "crash":
                rep.crash = Crash(int(parts[1]), int(parts[2]), int(parts[3], 16))
            elif kind == "reg" and rep.crash:
                rep.crash.regs[parts[1]] = int(parts[2], 16)
            elif kind == "frame" and rep.crash:
                rep.crash.frames.append(int(parts[1], 16))
            elif kind == "object":
                rep.objects.append((int(parts[1], 16), int(parts[2], 16), " ".join(parts[3:])))
            elif kind == "exit":
                rep.exit_status = int(parts[1])
            elif kind == "boot":
                rep.boot = (int(parts[1]), int(parts[2]))
        except (IndexError, ValueError):
            continue
    return rep


_SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR"}
_BUS_CODES = {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR"}
_ILL_CODES = {1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC"}
_FPE_CODES = {1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV"}


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


class _Symbols:
    """Function symbols of one ELF object (.symtab, else .dynsym)."""

    def __init__(self, path: str):
        self.lo = 0
        self.starts: list[int] = []
        self.syms: list[tuple[int, int, str]] = []
        try:
            from elftools.elf.elffile import ELFFile

            with open(path, "rb") as fh:
                elf = ELFFile(fh)
                loads = [s["p_vaddr"] for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
                self.lo = min(loads) & ~0xFFF if loads else 0
                for name in (".symtab", ".dynsym"):
                    sec = elf.get_section_by_name(name)
                    if sec is None:
                        continue
                    for sym in sec.iter_symbols():
                        if sym["st_info"]["type"] == "STT_FUNC" and sym["st_value"]:
                            self.syms.append((sym["st_value"], sym["st_size"], sym.name))
                    if self.syms:
                        break
        except Exception:  # symbolisation is best effort: never hide the crash report
            self.syms = []
        self.syms.sort()
        self.starts = [s[0] for s in self.syms]

    def lookup(self, vaddr: int) -> str | None:
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i < 0:
            return None
        start, size, name = self.syms[i]
        if size and vaddr >= start + size:
            return None
        return f"{name}+0x{vaddr - start:x}"


def symbolise(addr: int, objects: list[tuple[int, int, str]], cache: dict) -> str:
    for base, end, path in objects:
        if base <= addr < end:
            syms = cache.get(path)
            if syms is None:
                syms = cache[path] = _Symbols(path)
            name = syms.lookup(addr - base + syms.lo)
            where = f"{path}+0x{addr - base:x}"
            return f"{name} ({where})" if name else where
    return "??"


def format_crash(rep: Report, host_path=lambda p: p) -> str:
    """The readable crash report: signal, fault address, registers, backtrace."""
    c = rep.crash
    codes = {11: _SEGV_CODES, 7: _BUS_CODES, 4: _ILL_CODES, 8: _FPE_CODES}.get(c.signo, {})
    code = codes.get(c.code, f"code {c.code}")
    lines = [f"libsubst: the guest crashed: {_signame(c.signo)} ({code}) at address 0x{c.addr:x}"]
    regs = list(c.regs.items())
    for i in range(0, len(regs), 4):
        lines.append("  " + "  ".join(f"{k:>6} {v:016x}" for k, v in regs[i:i + 4]))
    objects = [(b, e, host_path(p)) for b, e, p in rep.objects]
    cache: dict = {}
    lines.append("backtrace:")
    for i, addr in enumerate(c.frames):
        lines.append(f"  #{i:<2} 0x{addr:016x} in {symbolise(addr, objects, cache)}")
    return "\n".join(lines) + "\n"


def format_enosys(rep: Report) -> str:
    if not rep.enosys:
        return ""
    calls = ", ".join(f"{name} ({nr}) x{count}" for name, nr, count in rep.enosys)
    return f"libsubst: unimplemented syscalls answered ENOSYS: {calls}\n"
