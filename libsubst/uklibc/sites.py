"""Finding an object's ``syscall`` sites and proving which of them can be rewritten.

A site is rewritten only when a window of whole instructions around its
``syscall`` (at least the 5 bytes of a ``jmp rel32``) can be moved to a stub
without changing what any execution of the object can observe:

* no branch target lies strictly inside the window (its first byte may be
  one: that byte becomes the ``jmp``);
* every other instruction in it is position-independent, or has a
  rip-relative operand the stub re-encodes; no branch, call, return, trap,
  other ``syscall`` or undecodable byte;
* no relocation writes into it, it does not cross a section end, and it does
  not overlap another site's window;
* the syscall's number is not one that must trap (``stub.EXCLUDED_SYSCALLS``).

Branch targets are over-approximated, which is always safe: every direct
jmp/jcc/call/loop target; every defined symbol (.dynsym, .symtab); every FDE
start and landing pad of the unwind tables; every address a relocation
stores (RELA and RELR: function pointers); every rip-relative operand that
points into code (``lea func(%rip)`` takes a local function's address); the
entries of every ``table + int32`` jump table a ``lea table(%rip)`` points at;
``e_entry``; and, for a position-dependent executable, every aligned word of
data and every immediate that holds a code address.

Instructions are decoded by capstone, sweeping each executable section
linearly and restarting at every symbol and FDE start, as ``objdump -d`` does.
"""

from __future__ import annotations

import re
import struct
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field

import capstone
from capstone import x86 as cx

from ..errors import LibsubstError
from ..kernel.syscalls import by_nr
from . import ehframe, stub
from .elf import ET_EXEC, CorruptElf, ElfFile

MAX_BEFORE = 4          # displaced instructions before the syscall, at most
MAX_AFTER = 4           # ... and after it
JUMP_TABLE_CAP = 2048   # entries read from one candidate jump table
LOOKBACK_BUDGET = 96    # instructions visited to find one syscall's number

REWRITTEN = "rewritten"
# Reasons a site stays on the trap path, most specific first.
EXCLUDED = "excluded-syscall"
TARGET_INSIDE = "branch-target-inside"
OVERLAP = "overlaps-other-site"
RELOC_INSIDE = "relocation-inside"
RIP_RANGE = "rip-relative-out-of-range"
NO_WINDOW = "no-safe-window"
OUT_OF_REACH = "stubs-out-of-reach"
REASONS = (EXCLUDED, TARGET_INSIDE, OVERLAP, RELOC_INSIDE, RIP_RANGE, NO_WINDOW, OUT_OF_REACH)
STUB_SEGMENT_MAX = 64 << 20    # bound on the stub segment's size, for rel32 reach checks

_RIP = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|[0-9]+)\]")
_HEX = re.compile(r"\b0x[0-9a-f]+\b")
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


class _Code:
    """The decoded instruction stream of one executable region."""

    def __init__(self, name: str, base: int, data: bytes):
        self.name, self.base, self.data = name, base, data
        self.end = base + len(data)
        self.addrs = array("Q")
        self.sizes = array("B")
        self.flags = bytearray()       # _FALLS_THROUGH | _BAD

    def index(self, addr: int) -> int | None:
        i = bisect_left(self.addrs, addr)
        return i if i < len(self.addrs) and self.addrs[i] == addr else None

    def raw(self, i: int) -> bytes:
        off = self.addrs[i] - self.base
        return self.data[off:off + self.sizes[i]]


_FALLS_THROUGH, _BAD = 1, 2


class _Analyser:
    def __init__(self, elf: ElfFile):
        self.elf = elf
        self.lite = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        self.lite.skipdata = True
        self.md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        self.md.detail = True
        self._insn_cache: dict[int, object] = {}

    # -- decoding ----------------------------------------------------------

    def detail(self, code: _Code, i: int):
        addr = code.addrs[i]
        insn = self._insn_cache.get(addr)
        if insn is None:
            if code.flags[i] & _BAD:
                insn = False
            else:
                insn = next(self.md.disasm(code.raw(i), addr), False)
                if insn and insn.size != code.sizes[i]:
                    insn = False
            self._insn_cache[addr] = insn
        return insn

    def sweep(self, name: str, base: int, data: bytes, restarts: list[int]) -> _Code:
        """Decode one region linearly, restarting at every known entry address."""
        code = _Code(name, base, data)
        addrs, sizes, flags = code.addrs, code.sizes, code.flags
        lo, hi = bisect_right(restarts, base), bisect_left(restarts, code.end)
        cuts = restarts[lo:hi] + [code.end]
        pos = base
        for cut in cuts:
            if cut <= pos:
                continue
            for a, s, m, o in self.lite.disasm_lite(data[pos - base:cut - base], pos):
                addrs.append(a)
                sizes.append(s)
                f = _FALLS_THROUGH
                if m == "syscall":
                    self.syscalls.append((code, len(addrs) - 1))
                elif m[0] == "j" or m == "call" or m.startswith("loop") or m == "xbegin":
                    if m == "jmp":
                        f = 0
                    if o.startswith("0x"):
                        t = int(o, 16)
                        if m == "call":
                            self.entries.append(t)
                        else:
                            self.jumps.append((t, a))
                        self.targets.append(t)
                elif m.startswith("ret") or m in ("ud2", "hlt"):
                    f = 0
                elif m == ".byte":
                    f = _BAD
                if "rip" in o:
                    r = _RIP.search(o)
                    if r:
                        disp = int(r.group(2), 0)
                        t = a + s + (disp if r.group(1) == "+" else -disp)
                        self.rip_refs.append((t, m == "lea"))
                if self.absolute:
                    for h in _HEX.findall(o):
                        self.immediates.append(int(h, 16))
                flags.append(f)
            pos = cut
        return code

    # -- the whole object --------------------------------------------------

    def run(self) -> tuple[list[Site], int, int]:
        elf = self.elf
        self.absolute = elf.e_type == ET_EXEC
        self.syscalls: list[tuple[_Code, int]] = []
        self.targets: list[int] = []          # every address control may reach indirectly or directly
        self.entries: list[int] = []          # addresses entered with an unknown %eax
        self.jumps: list[tuple[int, int]] = []   # (target, address of the jmp/jcc)
        self.rip_refs: list[tuple[int, bool]] = []
        self.immediates: list[int] = []

        ranges = elf.code_ranges()
        self.code_spans = sorted((b, b + len(d)) for _, b, d in ranges)
        symbols = elf.symbols()
        unwind, self.fde_ranges = ehframe.unwind_targets(elf)
        # Restart the sweep at function symbols only, as objdump does: an FDE
        # may start mid-instruction (glibc's __restore_rt FDE starts one byte
        # early, inside the preceding nop, for the unwinder's pc-1 lookup).
        restarts = sorted({v for v, _, info, _ in symbols if (info & 0xF) in (2, 10)})

        codes = [self.sweep(n, b, d, restarts) for n, b, d in ranges]
        self.codes = codes

        indirect = [v for v, _, _, _ in symbols] + unwind + [elf.e_entry]
        relocs = elf.relocations()
        indirect += [v for _, _, v in relocs if v is not None]
        self.reloc_offsets = sorted(o for o, _, _ in relocs if self.in_code(o, 8))
        for t, is_lea in self.rip_refs:
            if self.in_code(t):
                indirect.append(t)
            elif is_lea:
                indirect.extend(self.jump_table(t))
        if self.absolute:
            indirect += [v for v in self.immediates if self.in_code(v)]
        indirect += self.data_pointers()
        indirect = [t for t in indirect if self.in_code(t)]
        self.entries.extend(indirect)
        self.targets.extend(indirect)
        self.target_list = sorted(set(self.targets))
        self.entry_set = set(self.entries)
        self.preds: dict[int, list[int]] = {}
        for t, a in self.jumps:
            self.preds.setdefault(t, []).append(a)
        self.functions = sorted((v, sz, n) for v, sz, info, n in symbols
                                if n and sz and (info & 0xF) in (2, 10))

        sites = []
        claimed: list[tuple[int, int]] = []
        for code, i in self.syscalls:
            sites.append(self.classify(code, i, claimed))
        return sites, sum(len(c.addrs) for c in codes), len(self.target_list)

    def in_code(self, addr: int, size: int = 1) -> bool:
        i = bisect_right(self.code_spans, (addr, 1 << 64)) - 1
        return i >= 0 and self.code_spans[i][0] <= addr and addr + size <= self.code_spans[i][1]

    def jump_table(self, table: int) -> list[int]:
        """Code addresses ``table + entry`` for the int32 entries at ``table``.

        The table's length is not known, so entries are read while they land
        in code (at most JUMP_TABLE_CAP); that reads on into the tables that
        follow, whose entries, taken relative to the wrong base, land at
        shifted addresses.  Entries that do not land on an instruction
        boundary are such garbage (a compiler's jump table never points into
        the middle of an instruction) and are skipped."""
        out = []
        for k in range(JUMP_TABLE_CAP):
            raw = self.elf.read(table + 4 * k, 4)
            if raw is None:
                break
            t = table + int.from_bytes(raw, "little", signed=True)
            code = self.code_at(t)
            if code is None:
                break
            if code.index(t) is not None:
                out.append(t)
        return out

    def code_at(self, addr: int) -> _Code | None:
        for c in self.codes:
            if c.base <= addr < c.end:
                return c
        return None

    def data_pointers(self) -> list[int]:
        """Aligned words of data that hold code addresses.

        For a position-dependent executable, every 4- and 8-byte aligned word
        of allocated data (absolute jump tables and function pointers need no
        relocation there); for any object, every qword of writable data (the
        GOT's lazy-binding slots hold PLT addresses without a relocation)."""
        out = []
        lo, hi = self.code_spans[0][0], self.code_spans[-1][1]
        for _, base, data, writable in self.elf.data_ranges():
            if not (self.absolute or writable):
                continue
            start = (-base) % 8
            view = memoryview(data)[start:]
            view = view[:len(view) - len(view) % 8]
            for k, v in enumerate(view.cast("Q")):
                if lo <= v < hi:
                    out.append(v)
            if self.absolute:
                start = (-base) % 4
                view = memoryview(data)[start:]
                view = view[:len(view) - len(view) % 4]
                out.extend(v for v in view.cast("I") if lo <= v < hi)
        return out

    # -- one site ----------------------------------------------------------

    def numbers(self, code: _Code, s: int) -> tuple[set[int], bool]:
        """The values %eax may hold when instruction ``s`` runs, and whether some are unknown.

        Walks the paths into ``s`` backwards (fall-through and direct jumps),
        following the number through register copies (``mov $n,%r8d; ...;
        mov %r8,%rax``) and partial writes (``xor %eax,%eax; mov $56,%al``),
        until every path has set the low 32 bits the kernel reads."""
        found: set[int] = set()
        unknown = False
        budget = LOOKBACK_BUDGET
        seen: set[tuple[int, int, int]] = set()
        todo = [(s, _RAX, 0, 0)]   # (instruction whose incoming paths to walk, register, mask, value)
        while todo:
            k, fam, mask, value = todo.pop()
            addr = code.addrs[k]
            if (addr, fam, mask) in seen:
                continue
            seen.add((addr, fam, mask))
            if addr in self.entry_set:
                unknown = True
            preds = []
            if k > 0 and code.flags[k - 1] & _FALLS_THROUGH and \
                    code.addrs[k - 1] + code.sizes[k - 1] == addr:
                preds.append(k - 1)
            elif k == 0:
                unknown = True
            for a in self.preds.get(addr, ()):
                j = code.index(a)
                if j is None:
                    unknown = True
                else:
                    preds.append(j)
            for j in preds:
                budget -= 1
                if budget < 0:
                    return found, True
                insn = self.detail(code, j)
                step = _track(insn, fam, mask, value) if insn else None
                if step is None:
                    unknown = True
                elif step[1] == _LOW32:
                    found.add(step[2])
                else:
                    todo.append((j, *step))
        return found, unknown

    def movable(self, code: _Code, i: int) -> tuple[bool, int]:
        """(can instruction ``i`` run from a stub, does it have a rip-relative operand)."""
        insn = self.detail(code, i)
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

    def classify(self, code: _Code, s: int, claimed: list[tuple[int, int]]) -> Site:
        addr = code.addrs[s]
        nrs, unknown = self.numbers(code, s)
        site = Site(addr, code.name, NO_WINDOW, tuple(sorted(nrs)), unknown,
                    function=self.function_at(addr))
        bad = sorted(n for n in nrs if n in stub.EXCLUDED_SYSCALLS)
        if bad:
            site.status = EXCLUDED
            site.detail = "must trap: " + ", ".join(stub.EXCLUDED_SYSCALLS[n] for n in bad)
            return site
        if unknown:
            # Second opinion, independent of the decoding: when the number was
            # not traced on every path, an excluded number loaded in the bytes
            # just before the site keeps it on the trap path.
            near = _excluded_loads(code.data[max(addr - code.base - 64, 0):addr - code.base])
            if near:
                site.status = EXCLUDED
                site.detail = ("number not traced on every path, and "
                               + ", ".join(stub.EXCLUDED_SYSCALLS[n] for n in near)
                               + " is loaded just before the site")
                return site
        lo = self.layout.stub_vaddr
        if not (-(1 << 31) < lo - addr and lo + STUB_SEGMENT_MAX - addr < (1 << 31) - 64):
            site.status = OUT_OF_REACH
            site.detail = _DETAIL[OUT_OF_REACH]
            return site
        fails: set[str] = set()
        best = None
        for i, j in self.candidates(code, s):
            why, rip = self.check(code, i, j, s, claimed)
            if why is None:
                best = (i, j, rip)
                break
            fails.add(why)
        if best is None:
            site.status = next((r for r in REASONS if r in fails), NO_WINDOW)
            site.detail = _DETAIL[site.status]
            return site
        i, j, rip = best
        start, end = code.addrs[i], code.addrs[j] + code.sizes[j]
        claimed.append((start, end))
        site.status = REWRITTEN
        site.window = (start, end)
        site.pre = tuple((code.addrs[k], code.sizes[k]) for k in range(i, s))
        site.post = tuple((code.addrs[k], code.sizes[k]) for k in range(s + 1, j + 1))
        site.rip_fixups = rip
        return site

    def candidates(self, code: _Code, s: int):
        """Windows (first, last instruction index) around ``s``, best first.

        Preferred: nothing displaced after the syscall (the kernel can then
        map a stub's return address back to the site), then fewer
        instructions, then fewer bytes."""
        n = len(code.addrs)
        out = []
        for i in range(s, max(s - MAX_BEFORE, 0) - 1, -1):
            for j in range(s, min(s + MAX_AFTER, n - 1) + 1):
                size = code.addrs[j] + code.sizes[j] - code.addrs[i]
                if size >= stub.JMP_SIZE:
                    out.append((j > s, j - i, size, i, j))
        out.sort()
        return [(i, j) for *_, i, j in out]

    def check(self, code: _Code, i: int, j: int, s: int,
              claimed: list[tuple[int, int]]) -> tuple[str | None, int]:
        start, end = code.addrs[i], code.addrs[j] + code.sizes[j]
        rip = 0
        for k in range(i, j + 1):
            if k > i and code.addrs[k] != code.addrs[k - 1] + code.sizes[k - 1]:
                return NO_WINDOW, 0
            if k == s:
                continue
            ok, r = self.movable(code, k)
            if not ok:
                return NO_WINDOW, 0
            rip += r
        t = bisect_right(self.target_list, start)
        if t < len(self.target_list) and self.target_list[t] < end:
            return TARGET_INSIDE, 0
        r = bisect_left(self.reloc_offsets, start - 7)
        if r < len(self.reloc_offsets) and self.reloc_offsets[r] < end:
            return RELOC_INSIDE, 0
        for a, b in claimed:
            if a < end and start < b:
                return OVERLAP, 0
        if rip and not self.rip_in_range(code, i, j, s):
            return RIP_RANGE, 0
        return None, rip

    def rip_in_range(self, code: _Code, i: int, j: int, s: int) -> bool:
        """Whether every rip-relative target is within rel32 reach of the stub segment."""
        lo = self.layout.stub_vaddr
        hi = lo + STUB_SEGMENT_MAX
        for k in range(i, j + 1):
            if k == s:
                continue
            insn = self.detail(code, k)
            for op in insn.operands:
                if op.type == cx.X86_OP_MEM and op.mem.base == cx.X86_REG_RIP:
                    target = insn.address + insn.size + op.mem.disp
                    if target - lo < -(1 << 31) + 64 or target - hi > (1 << 31) - 64:
                        return False
        return True

    def function_at(self, addr: int) -> str | None:
        """The name of a sized function symbol covering ``addr``, if any."""
        k = bisect_right(self.functions, (addr, 1 << 64, "")) - 1
        for v, sz, name in reversed(self.functions[max(k - 8, 0):k + 1]):
            if v <= addr < v + sz:
                return name
        return None


_DETAIL = {
    TARGET_INSIDE: "every window of >= 5 bytes has a branch target strictly inside",
    OVERLAP: "every usable window overlaps the window of a neighbouring site",
    RELOC_INSIDE: "a relocation writes into every usable window",
    RIP_RANGE: "a displaced rip-relative operand would not reach from the stub",
    NO_WINDOW: "fewer than 5 bytes of movable instructions around the syscall",
    OUT_OF_REACH: "the added stub segment would lie beyond a jmp rel32's reach (2 GiB)",
}


def _load_patterns() -> dict[int, list[bytes]]:
    """Encodings of ``mov $n,<reg>`` for each excluded number n (any GPR, 8/32/64-bit)."""
    out: dict[int, list[bytes]] = {}
    for n in stub.EXCLUDED_SYSCALLS:
        imm32 = n.to_bytes(4, "little")
        pats = []
        for r in range(8):
            pats += [bytes([0xB8 + r]) + imm32, bytes([0x41, 0xB8 + r]) + imm32,
                     bytes([0x48, 0xC7, 0xC0 + r]) + imm32, bytes([0x49, 0xC7, 0xC0 + r]) + imm32]
        if n < 256:
            pats.append(bytes([0xB0, n]))          # mov $n,%al
        out[n] = pats
    return out


_EXCLUDED_LOADS = _load_patterns()


def _excluded_loads(raw: bytes) -> list[int]:
    return [n for n, pats in _EXCLUDED_LOADS.items() if any(p in raw for p in pats)]


def _family_table() -> dict[int, tuple[int, int]]:
    """capstone register id -> (64-bit register id, the bits of it the name covers)."""
    names = [("rax", "eax", "ax", "al", "ah"), ("rbx", "ebx", "bx", "bl", "bh"),
             ("rcx", "ecx", "cx", "cl", "ch"), ("rdx", "edx", "dx", "dl", "dh"),
             ("rsi", "esi", "si", "sil"), ("rdi", "edi", "di", "dil"),
             ("rbp", "ebp", "bp", "bpl"), ("rsp", "esp", "sp", "spl")]
    names += [(f"r{n}", f"r{n}d", f"r{n}w", f"r{n}b") for n in range(8, 16)]
    parts = (0xFFFFFFFFFFFFFFFF, _LOW32, 0xFFFF, 0xFF, 0xFF00)
    table = {}
    for group in names:
        full = getattr(cx, "X86_REG_" + group[0].upper())
        for name, bits in zip(group, parts):
            table[getattr(cx, "X86_REG_" + name.upper())] = (full, bits)
    return table


_LOW32 = 0xFFFFFFFF
_FAMILY = _family_table()
_RAX = cx.X86_REG_RAX
# Registers a call may change (psABI 3.2.1): the number cannot live in them across one.
_CALL_CLOBBERED = frozenset(getattr(cx, "X86_REG_" + r) for r in
                            ("RAX", "RCX", "RDX", "RSI", "RDI", "R8", "R9", "R10", "R11"))
_SYSCALL_CLOBBERED = frozenset((cx.X86_REG_RAX, cx.X86_REG_RCX, cx.X86_REG_R11))


def _track(insn, fam: int, mask: int, value: int):
    """Step the backward search for the syscall number over ``insn``.

    The number's low 32 bits are ``value`` where ``mask`` is set, and still
    in register ``fam`` elsewhere.  Returns None (not known statically),
    ``(fam, _LOW32, value)`` (fully known) or the new ``(fam, mask, value)``."""
    if insn.id == cx.X86_INS_CALL:
        return None if fam in _CALL_CLOBBERED else (fam, mask, value)
    if insn.id == cx.X86_INS_SYSCALL:
        return None if fam in _SYSCALL_CLOBBERED else (fam, mask, value)
    _, written = insn.regs_access()
    hits = [_FAMILY[r][1] for r in written if r in _FAMILY and _FAMILY[r][0] == fam]
    if not hits:
        return fam, mask, value
    ops = insn.operands
    if len(ops) != 2 or ops[0].type != cx.X86_OP_REG or ops[0].reg not in _FAMILY \
            or _FAMILY[ops[0].reg][0] != fam or len(hits) != 1:
        return None
    bits = _FAMILY[ops[0].reg][1] & _LOW32
    new = bits & ~mask
    if insn.id in (cx.X86_INS_MOV, cx.X86_INS_MOVABS) and ops[1].type == cx.X86_OP_IMM:
        const = ops[1].imm
    elif insn.id in (cx.X86_INS_XOR, cx.X86_INS_SUB) and ops[1].type == cx.X86_OP_REG \
            and ops[1].reg == ops[0].reg:
        const = 0
    elif insn.id == cx.X86_INS_MOV and ops[1].type == cx.X86_OP_REG and bits == _LOW32 \
            and ops[1].reg in _FAMILY and _FAMILY[ops[1].reg][1] & _LOW32 == _LOW32:
        return _FAMILY[ops[1].reg][0], mask, value          # a copy: follow the source
    else:
        return None
    if bits == 0xFF00:
        const <<= 8
    value |= const & new
    mask |= bits
    return (fam, _LOW32, value) if mask & _LOW32 == _LOW32 else (fam, mask, value)


def analyse(path: str, elf: ElfFile | None = None) -> Analysis:
    """Find and classify every ``syscall`` site of the ELF object at ``path``."""
    t0 = time.perf_counter()
    if elf is None:
        elf = ElfFile.open(path)
    if not elf.loads:
        raise CorruptElf(f"{path}: no PT_LOAD segments")
    layout = stub.plan(len(elf.data), elf.e_type, elf.e_phnum,
                       [(s.p_vaddr, s.p_memsz) for s in elf.loads])
    if not any(b"\x0f\x05" in data for _, _, data in elf.code_ranges()):
        # No syscall encoding anywhere in the code (most libraries): nothing to decode.
        return Analysis(path, elf, [], layout, 0, 0, time.perf_counter() - t0)
    a = _Analyser(elf)
    a.layout = layout
    try:
        sites, n_insn, n_targets = a.run()
    except (struct.error, IndexError, ValueError, OverflowError, capstone.CsError) as e:
        # The tables above are bounds-checked; this is the net for what they miss
        # in a corrupt object, so the caller sees one error and never a traceback.
        raise AnalysisError(f"{path}: cannot analyse this object ({type(e).__name__}: {e})") from e
    return Analysis(path, elf, sites, a.layout, n_insn, n_targets, time.perf_counter() - t0)
