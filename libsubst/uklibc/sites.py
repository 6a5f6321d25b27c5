"""An object's ``syscall`` sites, and the proof of which of them can be rewritten.

A site is rewritten only when a window of whole instructions around its
``syscall`` (at least the 5 bytes of a ``jmp rel32``) can be moved to a stub
without changing what any execution of the object can observe:

* no branch target lies strictly inside the window (its first byte may be
  one: that byte becomes the ``jmp``) — targets as ``decode`` collects them;
* every other instruction in it is position-independent or has a
  rip-relative operand the stub re-encodes: no branch, call, return, trap,
  other ``syscall``, undecodable byte, or write to %rsp but push/pop;
* no relocation writes into it, it does not cross a section end, and it does
  not overlap another site's window;
* the ``syscall`` is in known code (``stretch.known_code``), not in data
  an executable section holds;
* the syscall's number (``sysnr``) is not one that must trap
  (``stub.EXCLUDED_SYSCALLS``); a number not known statically is allowed.

Windows of up to 4 instructions before and 4 after the ``syscall`` are
tried, preferring nothing displaced after it (see ``stub``), then fewer
instructions, then fewer bytes: the classic ``mov $nr,%eax; syscall`` is the
usual answer.
"""

from __future__ import annotations

import struct
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field

import capstone
from capstone import x86 as cx

from ..elf import ElfFile
from ..elf.abi import ET_EXEC
from ..errors import LibsubstError, UnsupportedElf
from ..kernel.syscalls import by_nr
from . import gotext, stub, sysnr
from .decode import Code, Disassembly
from .stretch import has_syscall

MAX_BEFORE = 4          # displaced instructions before the syscall, at most
MAX_AFTER = 4           # ... and after it
STUB_SEGMENT_MAX = 64 << 20    # bound on the stub segment's size, for rel32 reach checks

REWRITTEN = "rewritten"
# Reasons a site stays on the trap path, most specific first.
EXCLUDED = "excluded-syscall"
TARGET_INSIDE = "branch-target-inside"
OVERLAP = "overlaps-other-site"
RELOC_INSIDE = "relocation-inside"
RIP_RANGE = "rip-relative-out-of-range"
NO_WINDOW = "no-safe-window"
OUT_OF_REACH = "stubs-out-of-reach"
NOT_CODE = "not-known-code"
REASONS = (EXCLUDED, TARGET_INSIDE, OVERLAP, RELOC_INSIDE, RIP_RANGE, NO_WINDOW, OUT_OF_REACH,
           NOT_CODE)
_DETAIL = {
    TARGET_INSIDE: "every window of >= 5 bytes has a branch target strictly inside",
    OVERLAP: "every usable window overlaps the window of a neighbouring site",
    RELOC_INSIDE: "a relocation writes into every usable window",
    RIP_RANGE: "a displaced rip-relative operand would not reach from the stub",
    NO_WINDOW: "fewer than 5 bytes of movable instructions around the syscall",
    OUT_OF_REACH: "the added stub segment would lie beyond a jmp rel32's reach (2 GiB)",
    NOT_CODE: "no FDE or function symbol covers the site: the bytes may be data "
              "(a table in the code, which a rewrite would corrupt)",
}

_UNMOVABLE_GROUPS = frozenset({cx.X86_GRP_JUMP, cx.X86_GRP_CALL, cx.X86_GRP_RET,
                               cx.X86_GRP_INT, cx.X86_GRP_IRET,
                               capstone.CS_GRP_BRANCH_RELATIVE, cx.X86_GRP_PRIVILEGE})
_UNMOVABLE_IDS = frozenset({cx.X86_INS_SYSCALL, cx.X86_INS_SYSENTER, cx.X86_INS_SYSRET,
                            cx.X86_INS_INT, cx.X86_INS_INT1, cx.X86_INS_INT3, cx.X86_INS_INTO,
                            cx.X86_INS_UD0, cx.X86_INS_UD1, cx.X86_INS_UD2, cx.X86_INS_HLT,
                            cx.X86_INS_LOOP, cx.X86_INS_LOOPE, cx.X86_INS_LOOPNE,
                            cx.X86_INS_JRCXZ, cx.X86_INS_JECXZ, cx.X86_INS_XBEGIN})
_STACK_REGS = frozenset({cx.X86_REG_RSP, cx.X86_REG_ESP, cx.X86_REG_SP, cx.X86_REG_SPL})
_PUSH_POP = frozenset({cx.X86_INS_PUSH, cx.X86_INS_POP, cx.X86_INS_PUSHFQ, cx.X86_INS_POPFQ})


class AnalysisError(LibsubstError):
    """The object could not be analysed (corrupt code or tables)."""


@dataclass
class Site:
    """One ``syscall`` instruction and what the rewriter decided for it."""

    addr: int
    section: str
    status: str                       # REWRITTEN or one of REASONS
    nrs: tuple[int, ...] = ()         # numbers %eax may hold here (sorted)
    nr_unknown: bool = True           # some path reaches it with an unknown %eax
    window: tuple[int, int] | None = None
    pre: tuple[tuple[int, int], ...] = ()   # (addr, size) displaced before the syscall
    post: tuple[tuple[int, int], ...] = ()  # ... and after it
    rip_fixups: int = 0               # displaced instructions with a rip-relative operand
    function: str | None = None
    detail: str = ""
    stub: int | None = None           # filled in by the rewriter

    @property
    def nr(self) -> int | None:
        """The syscall number, when exactly one is statically known."""
        return self.nrs[0] if len(self.nrs) == 1 and not self.nr_unknown else None

    @property
    def name(self) -> str | None:
        """The syscall's name, when its number is statically known."""
        if self.nr is None:
            return None
        s = by_nr(self.nr)
        return s.name if s else None

    @property
    def rewritable(self) -> bool:
        return self.status == REWRITTEN

    def to_dict(self) -> dict:
        d = {"addr": self.addr, "section": self.section, "status": self.status,
             "nr": self.nr, "name": self.name, "nrs": list(self.nrs),
             "nr_unknown": self.nr_unknown, "function": self.function, "detail": self.detail}
        if self.window:
            d["window"] = list(self.window)
            d["pre_bytes"] = sum(s for _, s in self.pre)
            d["post_bytes"] = sum(s for _, s in self.post)
            d["rip_fixups"] = self.rip_fixups
        if self.stub is not None:
            d["stub"] = self.stub
        return d


@dataclass
class Analysis:
    """Every site of one object, with the facts the rewriter needs to move them."""

    path: str
    elf: ElfFile = field(repr=False)
    sites: list[Site]
    layout: stub.Layout
    instructions: int
    targets: int
    seconds: float

    @property
    def rewritable(self) -> list[Site]:
        return [s for s in self.sites if s.rewritable]

    @property
    def left(self) -> list[Site]:
        """The sites that stay on the trap path."""
        return [s for s in self.sites if not s.rewritable]

    def by_reason(self) -> dict[str, int]:
        """{reason: count} of the sites left on the trap path."""
        c = Counter(s.status for s in self.left)
        return {r: c[r] for r in REASONS if c[r]}

    def summary(self) -> dict:
        return {"path": self.path, "sites": len(self.sites), "rewritten": len(self.rewritable),
                "left": len(self.left), "by_reason": self.by_reason(),
                "instructions": self.instructions, "branch_targets": self.targets,
                "seconds": round(self.seconds, 3)}

    def to_dict(self) -> dict:
        d = self.summary()
        d["soname"] = self.elf.soname()
        bid = self.elf.build_id()
        d["build_id"] = bid.hex() if bid else None
        d["site_list"] = [s.to_dict() for s in self.sites]
        return d


class _Classifier:
    def __init__(self, dis: Disassembly, layout: stub.Layout):
        self.dis = dis
        self.layout = layout
        self.claimed: list[tuple[int, int]] = []     # windows already given to sites

    def classify(self, code: Code, s: int) -> Site:
        addr = code.addrs[s]
        nrs, unknown = sysnr.numbers(self.dis, code, s)
        site = Site(addr, code.name, NO_WINDOW, tuple(sorted(nrs)), unknown,
                    function=self.dis.function_at(addr))
        bad = sorted(n for n in nrs if n in stub.EXCLUDED_SYSCALLS)
        why = ""
        if not bad and unknown:
            bad = sysnr.excluded_loaded_before(code, addr)
            why = " (number not traced on every path; loaded just before the site)"
        if bad:
            site.status = EXCLUDED
            site.detail = "must trap: " + ", ".join(stub.EXCLUDED_SYSCALLS[n] for n in bad) + why
            return site
        if not self.dis.is_known_code(addr):
            site.status = NOT_CODE
            site.detail = _DETAIL[NOT_CODE]
            return site
        lo = self.layout.stub_vaddr
        if not (-(1 << 31) < lo - addr and lo + STUB_SEGMENT_MAX - addr < (1 << 31) - 64):
            site.status = OUT_OF_REACH
            site.detail = _DETAIL[OUT_OF_REACH]
            return site
        fails: set[str] = set()
        for i, j in self.candidates(code, s):
            why, rip = self.check(code, i, j, s)
            if why is None:
                break
            fails.add(why)
        else:
            site.status = next((r for r in REASONS if r in fails), NO_WINDOW)
            site.detail = _DETAIL[site.status]
            return site
        start, end = code.addrs[i], code.end_of(j)
        self.claimed.append((start, end))
        site.status = REWRITTEN
        site.window = (start, end)
        site.pre = tuple((code.addrs[k], code.sizes[k]) for k in range(i, s))
        site.post = tuple((code.addrs[k], code.sizes[k]) for k in range(s + 1, j + 1))
        site.rip_fixups = rip
        return site

    def candidates(self, code: Code, s: int) -> list[tuple[int, int]]:
        """Windows (first, last instruction index) around ``s``, best first.

        Preferred: nothing displaced after the syscall (the kernel can then
        map a stub's return address back to the site), then fewer
        instructions, then fewer bytes."""
        last = len(code.addrs) - 1
        out = []
        for i in range(s, max(s - MAX_BEFORE, 0) - 1, -1):
            for j in range(s, min(s + MAX_AFTER, last) + 1):
                size = code.end_of(j) - code.addrs[i]
                if size >= stub.JMP_SIZE:
                    out.append((j > s, j - i, size, i, j))
        out.sort()
        return [(i, j) for *_, i, j in out]

    def check(self, code: Code, i: int, j: int, s: int) -> tuple[str | None, int]:
        """(None, rip fix-ups) if the window i..j around ``s`` is safe, else (reason, 0)."""
        start, end = code.addrs[i], code.end_of(j)
        rip = 0
        for k in range(i, j + 1):
            if k > i and code.addrs[k] != code.end_of(k - 1):
                return NO_WINDOW, 0
            if k == s:
                continue
            ok, r = self.movable(code, k)
            if not ok:
                return NO_WINDOW, 0
            rip += r
        if self.dis.target_inside(start, end):
            return TARGET_INSIDE, 0
        relocs = self.dis.reloc_offsets
        r = bisect_left(relocs, start - 7)
        if r < len(relocs) and relocs[r] < end:
            return RELOC_INSIDE, 0
        if any(a < end and start < b for a, b in self.claimed):
            return OVERLAP, 0
        if rip and not self.rip_in_reach(code, i, j, s):
            return RIP_RANGE, 0
        return None, rip

    def movable(self, code: Code, i: int) -> tuple[bool, int]:
        """(can instruction ``i`` run from a stub, does it have a rip-relative operand)."""
        insn = self.dis.detail(code, i)
        if not insn or insn.id in _UNMOVABLE_IDS or _UNMOVABLE_GROUPS.intersection(insn.groups):
            return False, 0
        if insn.id not in _PUSH_POP and _STACK_REGS.intersection(insn.regs_access()[1]):
            # Moves the stack pointer somewhere the stub's call might not be able to push.
            return False, 0
        rip = 0
        for op in insn.operands:
            if op.type == cx.X86_OP_MEM and cx.X86_REG_RIP in (op.mem.base, op.mem.index):
                if op.mem.base != cx.X86_REG_RIP or insn.disp_size != 4:
                    return False, 0
                rip = 1
        return True, rip

    def rip_in_reach(self, code: Code, i: int, j: int, s: int) -> bool:
        """Whether every rip-relative target is within rel32 reach of the stub segment."""
        lo = self.layout.stub_vaddr
        hi = lo + STUB_SEGMENT_MAX
        for k in range(i, j + 1):
            if k == s:
                continue
            insn = self.dis.detail(code, k)
            for op in insn.operands:
                if op.type == cx.X86_OP_MEM and op.mem.base == cx.X86_REG_RIP:
                    target = insn.address + insn.size + op.mem.disp
                    if target - lo < -(1 << 31) + 64 or target - hi > (1 << 31) - 64:
                        return False
        return True


# Bytes around a ``0f 05``, and around an address the proof asked about,
# known as the whole sweep knows them: more than a window (9 instructions)
# spans, a quarter of what the number's search walks.
NEAR = 128


def _classified(elf: ElfFile, layout: stub.Layout, whole: bool) -> tuple[Disassembly, list[Site]]:
    """The sites of ``elf``, classified, and the decoding they were classified with.

    A Go program's function table cuts its code into functions the sweep
    decodes one by one (``stretch.function_starts``), so only the bytes
    around each ``0f 05`` need to be known as the whole sweep knows them
    (``Disassembly``'s ``near``: their functions and those that may jump
    into them decoded): kubectl's 57 MB are 80,000 functions.  What the
    proof asks about an address outside them (a path into a site from
    further back) widens them, and the sites are classified again, until it
    asks about nothing else: the answer is the whole sweep's (``whole``;
    any other object is decoded whole, and so is a position-dependent one
    whose code starts below 64 KiB, where a 16-bit immediate, which the scan
    does not read, may name a code address)."""
    low = elf.e_type == ET_EXEC and min(b for _, b, _ in elf.code_ranges()) < 1 << 16
    near = None if whole or low or not gotext.function_entries(elf) else \
        _around(elf, [base + at for _, base, data in elf.code_ranges()
                      for at in _finds(data, b"\x0f\x05")])
    while True:
        dis = Disassembly(elf, near=near)
        classifier = _Classifier(dis, layout)
        sites = [classifier.classify(code, i) for code, i in dis.syscalls]
        if not dis.escapes:
            return dis, sites
        near = _around(elf, dis.escapes, near)


def _finds(data: bytes, what: bytes) -> list[int]:
    out = []
    at = data.find(what)
    while at >= 0:
        out.append(at)
        at = data.find(what, at + 1)
    return out


def _around(elf: ElfFile, addrs, ranges=()) -> list[tuple[int, int]]:
    """``ranges`` and ``NEAR`` bytes either side of each of ``addrs``, in
    code, merged and ascending."""
    spans = sorted((b, b + len(d)) for _, b, d in elf.code_ranges())
    want = sorted(list(ranges) + [(max(a - NEAR, lo), min(a + NEAR, hi)) for a in addrs
                                  for lo, hi in spans if lo <= a < hi])
    out: list[tuple[int, int]] = []
    for a, b in want:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def analyse(path: str, elf: ElfFile | None = None, whole: bool = False) -> Analysis:
    """Find and classify every ``syscall`` site of the ELF object at ``path``
    (``whole``: from a decoding of all its code, as any object but a Go
    program is; the same answer: ``_classified``)."""
    t0 = time.perf_counter()
    if elf is None:
        # The object is an argument, not a program to run: a missing one is bad input.
        elf = ElfFile.open(path, file_error=UnsupportedElf)
    elf.check_layout()
    layout = stub.plan(len(elf.data), elf.e_type, elf.e_phnum,
                       [(s.p_vaddr, s.p_memsz) for s in elf.loads])
    try:
        if not has_syscall(elf):
            # No syscall instruction in the code (most libraries): no site to classify.
            return Analysis(path, elf, [], layout, 0, 0, time.perf_counter() - t0)
        dis, sites = _classified(elf, layout, whole)
    except (struct.error, IndexError, ValueError, OverflowError, capstone.CsError) as e:
        # The tables are bounds-checked; this is the net for what they miss in
        # a corrupt object, so the caller sees one error and never a traceback.
        raise AnalysisError(f"{path}: cannot analyse this object ({type(e).__name__}: {e})") from e
    return Analysis(path, elf, sites, layout, dis.instructions, len(dis.targets),
                    time.perf_counter() - t0)
