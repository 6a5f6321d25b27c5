"""A guest kernel built for one image (``libsubst pack --specialize``).

The kernel's table keeps the rows of the calls the image's analysis found
(``libsubst analyze``); every other row is answered ENOSYS, counted and
reported like any unimplemented call, and names no handler, so the link
(``kbuild``: the package's archive, ``--gc-sections``) leaves out every
handler nothing else refers to.

The seccomp allow-list is then cut to the host calls that linked kernel can
still make, read from its code rather than from a hand-kept map: the number
of every ``syscall`` site, as the rewriter finds them (``uklibc.sysnr``);
for a site whose number arrives as an argument, the numbers its callers pass
(followed up to ``CALLER_DEPTH`` calls); for the dispatcher's pass-through
(``PASS_THROUGH``), the table's kept ``host`` rows.  A site still not known
keeps every call the kernel makes for itself (``hostcalls.KERNEL_OWN``): the
cut is never a guess.  The list is the full one's entries (their reasons
and argument pins, ``hostcalls.allowed()``) for those numbers, so a
specialised filter never allows what the full one refuses; numbers outside
it are the relay's and the boot's, made before or outside the filter."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources

from capstone import x86 as cx

from ..elf import ElfFile
from ..errors import BuildError
from . import hostcalls, kbuild, syscalls

# The dispatcher's functions that pass a guest call's own number to the host
# (c_src/kernel/dispatch.c): their numbers are the table's host rows.
PASS_THROUGH = frozenset({"serve", "host_call", "host_call_blocking", "ls_dispatch",
                          "dispatch_traced"})
CALLER_DEPTH = 3
_ARG_REGS = frozenset((cx.X86_REG_RDI, cx.X86_REG_RSI, cx.X86_REG_RDX, cx.X86_REG_RCX,
                       cx.X86_REG_R8, cx.X86_REG_R9))


@dataclass
class KernelFacts:
    """What one linked kernel holds and may ask of the host."""

    text: int                      # bytes of executable code
    functions: int                 # functions in it (sized symbols)
    host_nrs: set[int] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)   # sites kept at KERNEL_OWN, by function

    def allowed(self) -> tuple[hostcalls.HostCall, ...]:
        return tuple(h for h in hostcalls.allowed() if hostcalls.number(h.name) in self.host_nrs)


def _direct_calls(dis) -> dict[int, list[tuple[object, int]]]:
    """target -> (Code, index) of every ``call rel32`` to it (``addr32 call``
    too: the linker's form of a call it relaxed from ``call *foo@GOTPCREL``)."""
    out: dict[int, list] = {}
    for code in dis.codes:
        for i in range(len(code.addrs)):
            raw = code.raw(i)
            if (len(raw) == 5 and raw[0] == 0xE8) or (len(raw) == 6 and raw[:2] == b"\x67\xe8"):
                rel = int.from_bytes(raw[-4:], "little", signed=True)
                out.setdefault(code.end_of(i) + rel, []).append((code, i))
    return out


def _resolve(dis, calls, taken, code, i, start=None, depth=0) -> tuple[set[int], bool]:
    """The numbers a site (or, with ``start``, a call's argument) may carry,
    following values that arrive as arguments into the direct callers of a
    function whose address is never taken (``taken``: it has no others)."""
    from ..uklibc import sysnr

    entries: list = []
    nrs, unknown = sysnr.numbers(dis, code, i, start=start, at_entry=entries)
    if not unknown:
        return nrs, False
    if depth >= CALLER_DEPTH or not entries:
        return nrs, True
    for addr, fam, mask, value in entries:
        callers = calls.get(addr)
        if fam not in _ARG_REGS or not callers or addr in taken:
            return nrs, True
        for ccode, j in callers:
            more, still = _resolve(dis, calls, taken, ccode, j, (fam, mask, value), depth + 1)
            nrs |= more
            if still:
                return nrs, True
    return nrs, False


def facts(path: str, kept_host: set[int] | None = None) -> KernelFacts:
    """Read a linked kernel: its size and the host calls its code can make.
    ``kept_host``: the numbers its table passes through (default: the full
    table's host rows)."""
    from ..uklibc.decode import Disassembly

    if kept_host is None:
        kept_host = {s.nr for s in syscalls.TABLE if s.level == syscalls.HOST}
    with ElfFile.open(path) as elf:
        text = sum(len(d) for _, _, d in elf.code_ranges())
        dis = Disassembly(elf)
        calls = _direct_calls(dis)
        taken = {t for t, _ in dis.rip_refs} | set(dis.data_pointers()) | \
            {v for _, _, v in elf.relocations() if v is not None}
        out = KernelFacts(text=text, functions=len(dis.functions))
        for code, i in dis.syscalls:
            where = dis.function_at(code.addrs[i])
            if where in PASS_THROUGH:
                out.host_nrs |= kept_host
                continue
            nrs, unknown = _resolve(dis, calls, taken, code, i)
            out.host_nrs |= nrs
            if unknown:
                out.unresolved.append(where or hex(code.addrs[i]))
    if out.unresolved:
        out.host_nrs |= {hostcalls.number(h.name) for h in hostcalls.KERNEL_OWN}
    return out


def _bin(name: str) -> str:
    return str(resources.files("libsubst") / "_bin" / name)


@dataclass
class Specialised:
    kernel: bytes
    served: list[str]             # the calls its table serves
    facts: KernelFacts


def build(keep: set[str]) -> Specialised:
    """Link a kernel whose table serves only the calls named in ``keep``
    (those libsubst serves at all) and whose filter allows only the host
    calls it can make."""
    archive = _bin(kbuild.ARCHIVE_NAME)
    if not os.path.exists(archive):
        raise BuildError(f"the kernel's archive is missing ({archive}): reinstall libsubst "
                         "with pip")
    served = sorted(s.name for s in syscalls.implemented() if s.name in keep)
    kept_host = {s.nr for s in syscalls.TABLE if s.level == syscalls.HOST and s.name in keep}
    try:
        with tempfile.TemporaryDirectory(prefix="libsubst-kernel-") as work:
            out = os.path.join(work, "libsubst-kernel")
            # Linked once with the full filter to read which host calls its code
            # makes, then again with the filter cut to those: the filter is data,
            # the code of both links is the same.
            kbuild.link(archive, work, out, keep=set(served))
            first = facts(out, kept_host)
            kbuild.link(archive, work, out, keep=set(served), allowed=first.allowed())
            with open(out, "rb") as f:
                kernel = f.read()
    except kbuild.ToolMissing as e:
        raise BuildError(f"pack --specialize links a kernel for the image and needs {e}: "
                         "install gcc (apt-get install gcc)") from None
    except subprocess.CalledProcessError as e:
        raise BuildError(f"linking the specialised kernel failed ({e.cmd[0]} exited with "
                         f"status {e.returncode})") from None
    return Specialised(kernel=kernel, served=served, facts=first)


def full_facts() -> KernelFacts:
    """The installed (full) kernel's facts, for comparison."""
    from ..monitor.guest import kernel_path

    return facts(kernel_path())
