"""What ``--trace`` asks of the guest kernel, and the summary it prints at exit.

The kernel does the tracing itself (c_src/kernel/trace.c): this module turns
strace-style filters (``open,read``, ``%file``, ``!%memory``) into the set of
syscall numbers the boot info's trace map selects, and reads the counters
every guest process adds to (a shared memfd) into strace -c's table, split
by the path each call took."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..errors import LibsubstError
from ..kernel import syscalls

FORMATS = ("text", "json")


@dataclass(frozen=True)
class Trace:
    """A trace request.  ``dest`` is a file path or a host fd; ``calls`` the
    syscall numbers to trace (None: every call); ``lines`` prints a line per
    call, ``summary`` a table at exit (strace -c); ``fmt`` is text or json."""

    dest: str | int
    calls: frozenset[int] | None = None
    lines: bool = True
    summary: bool = False
    fmt: str = "text"

    def __post_init__(self):
        if self.fmt not in FORMATS:
            raise LibsubstError(f"--trace-format {self.fmt!r}: expected one of {', '.join(FORMATS)}")


def as_trace(trace: Trace | str | int | None) -> Trace | None:
    """A path or an fd alone means every call, one line each (the old ``trace=``)."""
    if trace is None or isinstance(trace, Trace):
        return trace
    return Trace(trace)


def parse_calls(text: str) -> frozenset[int]:
    """strace's ``-e trace=`` set: names and %classes separated by commas,
    ``all``, and a leading ``!`` for everything but the set."""
    spec = text.strip()
    negate = spec.startswith("!")
    if negate:
        spec = spec[1:]
    chosen: set[int] = set()
    for word in (w.strip() for w in spec.split(",")):
        if word == "all":
            chosen.update(s.nr for s in syscalls.TABLE)
        elif word.startswith("%"):
            names = syscalls.CLASSES.get(word[1:])
            if names is None:
                classes = ", ".join("%" + c for c in syscalls.CLASSES)
                raise LibsubstError(f"--trace-calls: no class {word!r} (classes: {classes})")
            chosen.update(syscalls.by_name(n).nr for n in names)
        else:
            try:
                chosen.add(syscalls.by_name(word).nr)
            except KeyError:
                raise LibsubstError(f"--trace-calls: {word!r} is not an x86-64 system call "
                                    "(give names such as open,read or classes such as %file)") from None
    if negate:
        return frozenset(s.nr for s in syscalls.TABLE) - chosen
    return frozenset(chosen)


@dataclass
class Row:
    """One syscall's line of the summary, over every guest process."""

    name: str
    fast: int = 0
    trap: int = 0
    errors: int = 0
    ns: int = 0

    @property
    def calls(self) -> int:
        return self.fast + self.trap


def _abi():
    from .bootinfo import _abi as abi
    return abi()


def counters_fd() -> int:
    """A zeroed memfd for the guest's summary counters (c_src/include/libsubst/trace.h)."""
    f, _lib = _abi()
    fd = os.memfd_create("libsubst-trace-summary", os.MFD_CLOEXEC)
    os.ftruncate(fd, f.sizeof("struct ls_trace_sum"))
    return fd


def read_counters(fd: int) -> dict[str, Row]:
    """The counters the guest left in ``fd``, by syscall name, times in ns at
    the TSC rate between the two (TSC, clock) points the kernel noted."""
    f, lib = _abi()
    data = os.pread(fd, f.sizeof("struct ls_trace_sum"), 0)
    total = f.cast("struct ls_trace_sum *", f.from_buffer(data))
    ticks, ns = total.last_tsc - total.first_tsc, total.last_ns - total.first_ns
    rate = ns / ticks if ticks > 0 and ns > 0 else 0.0
    rows: dict[str, Row] = {}
    for nr in range(lib.LS_TRACE_SUM_SLOTS):
        c = total.nr[nr]
        if c.fast or c.trap or c.errors:
            s = syscalls.by_nr(nr) if nr < lib.LS_TRACE_SUM_SLOTS - 1 else None
            name = s.name if s else "unknown"
            row = rows.setdefault(name, Row(name))
            row.fast += c.fast
            row.trap += c.trap
            row.errors += c.errors
            row.ns += round(c.ticks * rate)
    return rows


def _served_by(name: str) -> str:
    try:
        return syscalls.by_name(name).level
    except KeyError:
        return syscalls.ENOSYS


def format_summary(rows: dict[str, Row], fmt: str = "text") -> str:
    """strace -c's table (most time first), with the calls on each path and
    who served them (the guest kernel, the host unchanged, or ENOSYS); in
    JSON, one object ``{"summary": {name: {...}}}``."""
    order = sorted(rows.values(), key=lambda r: (-r.ns, -r.calls, r.name))
    if fmt == "json":
        return json.dumps({"summary": {
            r.name: {"calls": r.calls, "errors": r.errors, "seconds": r.ns / 1e9,
                     "fast": r.fast, "trap": r.trap, "served": _served_by(r.name)}
            for r in order}}) + "\n"
    total_ns = sum(r.ns for r in order) or 1
    rule = "------ ----------- ----------- --------- --------- --------- --------- ------ ----------------"
    out = ["% time     seconds  usecs/call     calls    errors      fast      trap served syscall",
           rule]
    for r in order:
        out.append(f"{100 * r.ns / total_ns:6.2f} {r.ns / 1e9:11.6f} {r.ns // 1000 // max(r.calls, 1):11d} "
                   f"{r.calls:9d} {r.errors or '':>9} {r.fast:9d} {r.trap:9d} "
                   f"{_served_by(r.name):>6} {r.name}")
    out.append(rule)
    calls = sum(r.calls for r in order)
    errors = sum(r.errors for r in order)
    out.append(f"{100.0:6.2f} {sum(r.ns for r in order) / 1e9:11.6f} "
               f"{sum(r.ns for r in order) // 1000 // max(calls, 1):11d} {calls:9d} {errors or '':>9} "
               f"{sum(r.fast for r in order):9d} {sum(r.trap for r in order):9d} {'':>6} total")
    return "\n".join(out) + "\n"


def format_enosys(enosys: list[tuple[str, int, int]], fmt: str = "text") -> str:
    """The unimplemented calls the guest made: (name, nr, count) records."""
    if fmt == "json":
        counts: dict[str, int] = {}
        for name, _nr, count in enosys:
            counts[name] = counts.get(name, 0) + count
        return json.dumps({"enosys": counts}) + "\n"
    from .report import Report, format_enosys as text
    return text(Report(enosys=list(enosys)))
