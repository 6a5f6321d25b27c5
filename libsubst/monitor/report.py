"""Read the kernel's report channel (c_src/include/libsubst/report.h) and
turn it into what the user sees: unimplemented syscalls and crash reports,
with backtraces symbolised from the guest objects' ELF symbols.

The guest can write anything to the channel, so nothing read from it is
trusted: what is kept is bounded (per line, per run), and an object is
named by the index of its boot-info entry, so the only files this module
opens are host files the monitor itself placed in the guest's image."""

from __future__ import annotations

import bisect
import os
import signal
import stat
import threading
from dataclasses import dataclass, field

from ..kernel import report_records
from .bootinfo import _abi
from .signals import signals_blocked


def header_constant(name: str) -> int:
    """An integer #define of the C contracts (c_src/include/libsubst)."""
    return getattr(_abi()[1], name)


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
    objects: list[tuple[int, int, int]] = field(default_factory=list)  # (base, end, entry index)
    crash: Crash | None = None
    exit_status: int | None = None
    boot: tuple[int, int] | None = None   # CLOCK_MONOTONIC ns: kernel's first instruction, jump to the program
    missing: list[bytes] = field(default_factory=list)   # paths the last search found nothing at


class Reader:
    """Drains the report pipe in a thread of its own while the guest runs, so
    a guest that writes much never blocks on it, keeping at most
    LS_REPORT_MAX_BYTES of lines no longer than LS_REPORT_MAX_LINE."""

    def __init__(self, fd: int):
        self._fd = fd
        self._lines: list[bytes] = []
        self._thread = threading.Thread(target=self._drain, name="libsubst-report", daemon=True)
        with signals_blocked():
            self._thread.start()

    def _drain(self):
        max_line, budget = header_constant("LS_REPORT_MAX_LINE"), header_constant("LS_REPORT_MAX_BYTES")
        partial, skipping = b"", False
        try:
            while chunk := os.read(self._fd, 65536):
                *whole, rest = chunk.split(b"\n")
                for piece in whole:
                    line, partial = partial + piece, b""
                    if not skipping and len(line) < max_line and len(line) < budget:
                        self._lines.append(line)
                        budget -= len(line) + 1
                    skipping = False
                partial = partial + rest
                if len(partial) >= max_line:       # too long: dropped up to its newline
                    partial, skipping = b"", True
        finally:
            os.close(self._fd)

    def report(self) -> Report:
        """The parsed report, once the pipe is at end of file (every guest
        process has ended)."""
        self._thread.join()
        return parse(b"\n".join(self._lines).decode("utf-8", "replace"))


def parse(text: str) -> Report:
    """Parse report records (libsubst/kernel/report_records.py); unknown or
    malformed lines are skipped."""
    rep = Report()
    missing: dict[bytes, int] = {}      # path -> its search's time; a forged flood is 1 MiB
    max_frames = header_constant("LS_REPORT_MAX_FRAMES") + 1    # and the faulting rip
    for line in text.splitlines():
        record = report_records.read(line)
        if record is None:
            continue
        kind, v = record
        if kind == "enosys":
            rep.enosys.append((v[0], v[1], v[2]))
        elif kind == "crash":
            rep.crash = Crash(v[0], v[1], v[2])
        elif kind == "reg" and rep.crash:
            rep.crash.regs[v[0]] = v[1]
        elif kind == "frame" and rep.crash and len(rep.crash.frames) < max_frames:
            rep.crash.frames.append(v[0])
        elif kind == "object":
            rep.objects.append((v[0], v[1], v[2]))
        elif kind == "exit":
            rep.exit_status = v[0]
        elif kind == "boot":
            rep.boot = (v[0], v[1])
        elif kind == "missing":
            missing[v[0]] = max(missing.get(v[0], 0), v[1])
    # The paths of the last search only: an earlier one some process went on
    # from, or whose result a later search replaced, is not why the run failed.
    last = max(missing.values(), default=0)
    rep.missing = [p for p, at in missing.items() if at == last]
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

            # O_NONBLOCK: never wait on a FIFO, whatever the path turns out to be.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(f"{path} is not a regular file")
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


def placed_file(entries, index: int, hops: int = 8) -> tuple[str, str | None]:
    """(guest path, host file the monitor placed there, or None) for a
    boot-info entry index the guest reported; symbolic links are followed
    through the same entries, never through the host's file system."""
    if not 0 <= index < len(entries):
        return "??", None
    e = entries[index]
    if e.kind == "symlink" and hops:
        target = os.path.normpath(os.path.join(os.path.dirname(e.path), e.target))
        paths = [x.path for x in entries]
        i = bisect.bisect_left(paths, target)
        if i < len(paths) and paths[i] == target:
            return e.path, placed_file(entries, i, hops - 1)[1]
    return e.path, e.host_path if e.kind == "file" else None


def symbolise(addr: int, objects, entries, cache: dict) -> str:
    for base, end, index in objects:
        if base <= addr < end:
            path, host = placed_file(entries, index)
            name = None
            if host:
                syms = cache.get(host)
                if syms is None:
                    syms = cache[host] = _Symbols(host)
                name = syms.lookup(addr - base + syms.lo)
            if host is None and path == "??":
                return "??"
            where = f"{path}+0x{addr - base:x}"
            return f"{name} ({where})" if name else where
    return "??"


def format_crash(rep: Report, entries=()) -> str:
    """The readable crash report: signal, fault address, registers, backtrace.
    ``entries`` are the boot info's (BootSpec.entries), which the report's
    objects index."""
    c = rep.crash
    codes = {11: _SEGV_CODES, 7: _BUS_CODES, 4: _ILL_CODES, 8: _FPE_CODES}.get(c.signo, {})
    code = codes.get(c.code, f"code {c.code}")
    lines = [f"libsubst: the guest crashed: {_signame(c.signo)} ({code}) at address 0x{c.addr:x}"]
    regs = list(c.regs.items())
    for i in range(0, len(regs), 4):
        lines.append("  " + "  ".join(f"{k:>6} {v:016x}" for k, v in regs[i:i + 4]))
    cache: dict = {}
    lines.append("backtrace:")
    for i, addr in enumerate(c.frames):
        lines.append(f"  #{i:<2} 0x{addr:016x} in {symbolise(addr, rep.objects, entries, cache)}")
    return "\n".join(lines) + "\n"


# Where a Debian host keeps programs: a path the guest's execve missed
# elsewhere (its scratch /tmp, a volume) names nothing --add would bring.
_PROGRAM_DIRS = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/opt/")


def missing_programs(rep: Report) -> list[str]:
    """The host's programs among the paths the guest's execve found nothing
    at, each once.  The paths are the guest's to write: each is only
    looked up on the host (never opened), and one that is not a plain
    printable absolute path is dropped."""
    found: dict[tuple[int, int], str] = {}      # one name per file: /bin is /usr/bin's link
    for raw in rep.missing:
        path = os.fsdecode(raw)
        if (not path.startswith(_PROGRAM_DIRS) or not path.isprintable()
                or os.path.normpath(path) != path):
            continue
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            found.setdefault((st.st_dev, st.st_ino), path)
    return list(found.values())


def format_missing(rep: Report, rc: int = 127) -> str:
    """The hint for a run that ended ``rc``: 127, "not found"; another
    failure after a search that found nothing (a script that went on
    without `getopt` and then failed)."""
    import shlex
    found = missing_programs(rep)
    if not found:
        return ""
    adds = " ".join(f"--add {shlex.quote(p)}" for p in found)
    one = len(found) == 1
    what = f"{'a program' if one else 'programs'} that its root does not have and the host has"
    how = f"{adds} puts {'it' if one else 'them'} there"
    if rc == 127:
        return f"libsubst: the guest looked for {what}: {how}\n"
    return f"libsubst: the guest ended with status {rc} after going on without {what}: {how}\n"


def format_enosys(rep: Report) -> str:
    if not rep.enosys:
        return ""
    calls = ", ".join(f"{name} ({nr}) x{count}" for name, nr, count in rep.enosys)
    return f"libsubst: unimplemented syscalls answered ENOSYS: {calls}\n"
