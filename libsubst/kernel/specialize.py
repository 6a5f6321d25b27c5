"""A guest kernel built for one image (``libsubst pack --specialize``).

The kernel's table keeps the rows of the calls the image's analysis found
(``libsubst analyze``); every other row is answered ENOSYS, counted and
reported like any unimplemented call, and names no handler, so the link
(``kbuild``: the package's archive, ``--gc-sections``) leaves out every
handler nothing else refers to.

The seccomp allow-list is then cut to the host calls that linked kernel can
still make, read from its code rather than from a hand-kept map: the number
of every ``syscall`` site, as the rewriter finds them (``uklibc.sysnr``,
here also through a stack spill and reload); for a number that arrives as
an argument, the numbers the direct callers pass (up to ``CALLER_DEPTH``
calls up; the function's address must never be taken); for a ``cond ? A :
B`` the compiler made branch-free, the values its block computes
(``_block_values``); for the dispatcher's pass-through (``PASS_THROUGH``),
the table's kept ``host`` rows; and ``IMPLICIT`` calls.  The kernel is
our own compiler output, so a path that starts at an instruction nothing
jumps or falls to (alignment padding) is no path.  A site still not read
keeps every call the kernel makes for itself (``hostcalls.KERNEL_OWN``):
the cut is never a guess.  The list is the full one's entries (reasons and
argument pins, ``hostcalls.allowed()``) for those numbers, so a specialised
filter never allows what the full one refuses; numbers outside it are the
relay's and the boot's, made before or outside the filter."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources

from capstone import x86 as cx

from ..elf import ElfFile
from ..errors import BuildError
from . import hostcalls, kbuild, open_how, syscalls

# The dispatcher's functions whose host calls carry the guest call's own
# number (c_src/kernel/dispatch.c): their numbers are the table's host rows.
# (host_call_blocking is not one: handlers call it with numbers of their
# own, found at its callers.)
# The fastcall entry's own call (arch/x86_64/fastcall.S) carries the guest's
# number too, for the numbers dispatch_init marks: host rows, and BASED rows,
# whose handlers make the same call (read at their own sites).
PASS_THROUGH = frozenset({"serve", "host_call", "ls_dispatch", "dispatch_traced",
                          "ls_fastcall_entry"})


def _passes_through(function: str | None) -> bool:
    """Whether function is one of PASS_THROUGH, or a copy the compiler made
    of one (serve.isra.0, host_call.constprop.0)."""
    return function is not None and function.split(".")[0] in PASS_THROUGH
# Host calls no site names: the host makes a sleep or a poll that a signal
# interrupted resume as restart_syscall at the site that made it.
IMPLICIT = ("restart_syscall",)
# host_call_blocking's callers pass it their numbers, and it passes them
# on to ls_blocking_call (arch/x86_64/sigview.S), where the site is.
CALLER_DEPTH = 4
# Instructions walked back from one site: more than the rewriter's, since the
# compiler hoists a number out of a loop into a callee-saved register.
BUDGET = 2000
_ARG_REGS = frozenset((cx.X86_REG_RDI, cx.X86_REG_RSI, cx.X86_REG_RDX, cx.X86_REG_RCX,
                       cx.X86_REG_R8, cx.X86_REG_R9))


@dataclass
class KernelFacts:
    """What one linked kernel holds and may ask of the host."""

    text: int                      # bytes of executable code
    functions: int                 # functions in it (sized symbols)
    host_nrs: set[int] = field(default_factory=set)         # read from its code
    unresolved: list[str] = field(default_factory=list)     # functions with sites not read

    def allowed(self) -> tuple[hostcalls.HostCall, ...]:
        """The full allow-list's entries for the calls read, and for every call
        the kernel makes for itself when some site could not be read."""
        nrs = set(self.host_nrs)
        if self.unresolved:
            nrs |= {hostcalls.number(h.name) for h in hostcalls.KERNEL_OWN}
        return tuple(h for h in hostcalls.allowed() if hostcalls.number(h.name) in nrs)


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


def _resolve(dis, calls, taken, kept_host, code, i, start=None,
             depth=0) -> tuple[set[int], bool]:
    """The numbers a site (or, with ``start``, a call's argument) may carry,
    following values that arrive as arguments into the direct callers of a
    function whose address is never taken (``taken``: it has no others); a
    caller in the dispatcher passes the guest's numbers (``kept_host``)."""
    from ..uklibc import sysnr

    entries: list = []
    nrs, unknown = sysnr.numbers(dis, code, i, start=start, at_entry=entries, budget=BUDGET,
                                 stack=True)
    if not unknown:
        return nrs, False
    if depth >= CALLER_DEPTH or not entries or None in entries:
        return nrs, True
    for addr, fam, mask, value in entries:
        if addr not in dis.entries and addr not in taken:
            continue        # no way in: the padding before a loop head, not a path
        callers = calls.get(addr)
        if fam not in _ARG_REGS or not callers or addr in taken:
            return nrs, True
        for ccode, j in callers:
            if _passes_through(dis.function_at(ccode.addrs[j])):
                nrs |= kept_host
                continue
            more, still = _resolve(dis, calls, taken, kept_host, ccode, j, (fam, mask, value),
                                   depth + 1)
            nrs |= more
            if still:
                return nrs, True
    return nrs, False


_MAX_VALUES = 16          # values a register may hold before it counts as unknown
_BLOCK = 24               # instructions of the straight-line block before a site
_M64 = (1 << 64) - 1
_CMOV = frozenset(getattr(cx, n) for n in dir(cx) if n.startswith("X86_INS_CMOV"))


def _block_values(dis, code, i) -> set[int] | None:
    """The numbers a site's straight-line block computes from constants
    alone (``cmp; sbb %rax,%rax; and $n,%eax; add $m,%rax``: a ``cond ? A :
    B`` the compiler made branch-free), or None.  Registers hold sets of
    values; anything the block does not compute from constants is unknown."""
    from ..uklibc.decode import FALLS_THROUGH
    from ..uklibc.sysnr import _CALL_CLOBBERED, _FAMILY, _SYSCALL_CLOBBERED

    start = i
    while start > 0 and i - start < _BLOCK and code.addrs[start] not in dis.preds \
            and code.addrs[start] not in dis.entries \
            and code.flags[start - 1] & FALLS_THROUGH \
            and code.end_of(start - 1) == code.addrs[start]:
        start -= 1
    regs: dict[int, set[int]] = {}

    def get(op, address=False):
        if op.type == cx.X86_OP_IMM:
            return {op.imm & _M64}
        if op.type == cx.X86_OP_REG and op.reg in _FAMILY:
            fam, bits = _FAMILY[op.reg]
            vals = regs.get(fam)
            return None if vals is None else {(v & bits) >> (8 if bits == 0xFF00 else 0)
                                               for v in vals}
        if address and op.type == cx.X86_OP_MEM and op.mem.base in _FAMILY \
                and op.mem.index == 0 and _FAMILY[op.mem.base][1] == _M64:   # lea disp(%reg)
            vals = regs.get(_FAMILY[op.mem.base][0])
            return None if vals is None else {(v + op.mem.disp) & _M64 for v in vals}
        return None

    ops2 = {cx.X86_INS_AND: lambda a, b: a & b, cx.X86_INS_OR: lambda a, b: a | b,
            cx.X86_INS_ADD: lambda a, b: a + b, cx.X86_INS_SUB: lambda a, b: a - b,
            cx.X86_INS_XOR: lambda a, b: a ^ b}
    for j in range(start, i):
        insn = dis.detail(code, j)
        if insn is None:
            return None
        if insn.id in (cx.X86_INS_CALL, cx.X86_INS_SYSCALL):
            for r in _CALL_CLOBBERED if insn.id == cx.X86_INS_CALL else _SYSCALL_CLOBBERED:
                regs.pop(r, None)
            continue
        _, written = insn.regs_access()
        ops = insn.operands
        dst = ops[0] if ops and ops[0].type == cx.X86_OP_REG and ops[0].reg in _FAMILY else None
        new = None
        if dst is not None and len(ops) == 2:
            a, b = get(ops[0]), get(ops[1], address=insn.id == cx.X86_INS_LEA)
            same = ops[1].type == cx.X86_OP_REG and ops[1].reg == dst.reg
            if insn.id in (cx.X86_INS_MOV, cx.X86_INS_MOVABS, cx.X86_INS_MOVZX, cx.X86_INS_LEA):
                new = b
            elif insn.id in (cx.X86_INS_XOR, cx.X86_INS_SUB) and same:
                new = {0}
            elif insn.id == cx.X86_INS_SBB and same:
                new = {0, _M64}                          # -CF, the flag unknown
            elif insn.id in ops2 and a is not None and b is not None:
                new = {ops2[insn.id](x, y) & _M64 for x in a for y in b}
            elif insn.id in _CMOV and a is not None and b is not None:
                new = a | b
        fams = {_FAMILY[r][0] for r in written if r in _FAMILY}
        for fam in fams:
            regs.pop(fam, None)
        if new is not None and len(new) <= _MAX_VALUES and dst is not None:
            fam, bits = _FAMILY[dst.reg]
            if bits in (_M64, 0xFFFFFFFF):              # a 32-bit write clears the top half
                regs[fam] = {v & bits for v in new}
    rax = regs.get(cx.X86_REG_RAX)
    return None if rax is None else {v & 0xFFFFFFFF for v in rax}


def facts(path: str, kept_host: set[int] | None = None) -> KernelFacts:
    """Read a linked kernel: its size and the host calls its code can make.
    ``kept_host``: the numbers its table passes through (default: the full
    table's host rows)."""
    from ..uklibc.decode import Disassembly

    if kept_host is None:
        kept_host = {s.nr for s in syscalls.TABLE if s.level == syscalls.HOST}
    with ElfFile.open(path) as elf:
        text = sum(len(d) for _, _, d in elf.code_ranges())
        dis = Disassembly(elf, lazy_got=False)     # a static PIE: no PLT
        calls = _direct_calls(dis)
        taken = {t for t, _ in dis.rip_refs} | set(dis.data_pointers()) | \
            {v for _, _, v in elf.relocations() if v is not None}
        out = KernelFacts(text=text, functions=len(dis.functions),
                          host_nrs={hostcalls.number(n) for n in IMPLICIT})
        for code, i in dis.syscalls:
            where = dis.function_at(code.addrs[i])
            if _passes_through(where):
                out.host_nrs |= kept_host
                continue
            nrs, unknown = _resolve(dis, calls, taken, kept_host, code, i)
            if unknown:
                block = _block_values(dis, code, i)
                nrs, unknown = (block, False) if block is not None else (nrs, True)
            out.host_nrs |= nrs
            if unknown:
                out.unresolved.append(where or hex(code.addrs[i]))
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
            forged = open_how.forged_open_hows(out)
            if forged:
                ip, what = forged[0]
                raise BuildError(f"the specialised kernel's `syscall` bytes at {ip:#x} would "
                                 f"let openat2 take {what}: not packed (kernel/open_how.py)")
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
    from ..monitor.executables import kernel_path

    return facts(kernel_path())
