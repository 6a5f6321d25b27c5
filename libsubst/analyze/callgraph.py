"""Which system calls each exported function of an object can reach.

The object's code is cut into blocks at every address control may enter
from elsewhere (call targets, function symbols, FDE starts, address-taken
code: ``decode.Disassembly.entries``).  A block's edges are

- its direct calls and jumps, and its fall-through into the next block;
- for ``call``/``jmp`` through a GOT slot (PLT stubs, ``-fno-plt`` calls):
  the slot's symbol — a function of this object, or an import;
- for an indirect ``jmp`` through a register in a function that has jump
  tables (``lea table(%rip)``): the tables' targets within that function;
- for any other indirect transfer: every address-taken function of the
  object (relocated pointers, ``lea func(%rip)``, pointers in writable
  data, functions whose GOT slot is read as data): a function pointer
  could be any of them;
- from a function with an exception table, to its landing pads (a call in
  it may unwind there).

A block's system calls are its ``syscall`` sites' numbers (``uklibc.sysnr``)
or "unknown" where a number cannot be told statically.

The result over-approximates — any path through the graph counts — which is
what a soundness claim needs: a call the program makes at run time is in the
set of some function it imports, unless it comes from code generated at run
time, or a function pointer passed from one object into another (a
program's callback run by libc is the program's own code, analysed as such)."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field

import capstone

from ..elf import ElfFile
from ..elf.abi import R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT
from ..uklibc import ehframe, sysnr
from ..uklibc.decode import FALLS_THROUGH, Disassembly

_RIP_MEM = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|[0-9]+)\]")
INDIRECT = -1
_FUNC, _IFUNC = 2, 10
_GLOBAL, _WEAK = 1, 2
# First bytes of the instructions that may transfer control elsewhere
# (call, jmp, jcc near via 0f, indirect via ff, loop/jrcxz) or of a prefix
# one can carry (bnd, notrack, any REX, operand and address size — ld's
# relaxation writes `addr32 call`); jcc short (0x70-0x7f) is tested apart.
_BRANCH_FIRST = frozenset({0xE8, 0xE9, 0xEB, 0xFF, 0x0F, 0xF2, 0xF3, 0x3E, 0x2E, 0x66, 0x67,
                           0xE0, 0xE1, 0xE2, 0xE3, *range(0x40, 0x50)})


@dataclass
class Reach:
    """What calling a function can lead to."""

    nrs: set[int] = field(default_factory=set)      # syscall numbers made in this object
    unknown: bool = False                           # a site whose number is not known
    imports: set[str] = field(default_factory=set)  # functions of other objects it calls

    def to_dict(self) -> dict:
        return {"nrs": sorted(self.nrs), "unknown": self.unknown, "imports": sorted(self.imports)}

    @classmethod
    def from_dict(cls, d: dict) -> "Reach":
        return cls(set(d["nrs"]), bool(d["unknown"]), set(d["imports"]))


def _fdes(elf: ElfFile) -> list[tuple[int, int, list[int]]]:
    """(start, end, landing pads) of every FDE."""
    sec = elf.section(".eh_frame")
    if sec is None or not sec.sh_size:
        return []
    out = []
    for pc, size, lsda in ehframe.fde_entries(elf, elf.section_bytes(sec), sec.sh_addr):
        pads = ehframe.landing_pads(elf, lsda, pc) if lsda is not None else []
        out.append((pc, pc + size, pads))
    return sorted(out)


class CallGraph:
    def __init__(self, elf: ElfFile):
        self.elf = elf
        self.dis = dis = Disassembly(elf)
        self.exports = {n: v for v, _sz, info, n in elf.symbols()
                        if n and (info & 0xF) in (_FUNC, _IFUNC) and (info >> 4) in (_GLOBAL, _WEAK)
                        and dis.in_code(v)}
        starts = set(dis.entries) | set(self.exports.values()) | {c.base for c in dis.codes}
        self.starts = sorted(s for s in starts if dis.in_code(s))
        self.fdes = _fdes(elf)
        self._fde_starts = [f[0] for f in self.fdes]
        self.jump_targets = sorted({t for r, is_lea in dis.rip_refs
                                    if is_lea and not dis.in_code(r) for t in dis.jump_table(r)})
        self.got: dict[int, tuple[str, bool, int]] = {}
        for offset, rtype, name, defined in elf.named_relocations():
            if rtype in (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT) and name:
                self.got[offset] = (name, defined, rtype)
        self.edges: dict[int, set[int]] = {}
        self.calls_out: dict[int, set[str]] = {}
        self.sites: dict[int, tuple[set[int], bool]] = {}
        self._branch_slot_refs: Counter = Counter()
        self._build()
        self.address_taken = self._address_taken()

    def block_of(self, addr: int) -> int:
        i = bisect_right(self.starts, addr) - 1
        return self.starts[i] if i >= 0 else addr

    def _fde_of(self, addr: int):
        i = bisect_right(self._fde_starts, addr) - 1
        if i >= 0 and self.fdes[i][0] <= addr < self.fdes[i][1]:
            return self.fdes[i]
        return None

    def _address_taken(self) -> list[int]:
        dis = self.dis
        out = set()
        slot_refs = Counter(r for r, _ in dis.rip_refs)
        for offset, rtype, value in self.elf.relocations():
            if value is None or not dis.in_code(value):
                continue
            if offset in self.got and slot_refs[offset] <= self._branch_slot_refs[offset] \
                    and rtype in (R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT):
                continue                     # a slot only ever called through
            out.add(value)
        out.update(r for r, _ in dis.rip_refs if dis.in_code(r))
        out.update(p for p in dis.data_pointers() if dis.in_code(p))
        return sorted(out)

    def _indirect_jump(self, a: int, operand: str) -> set[int]:
        """Where ``jmp *operand`` at ``a`` may go, when not through a GOT slot."""
        fde = self._fde_of(a)
        if fde and "[" not in operand:
            lo, hi = bisect_left(self.jump_targets, fde[0]), bisect_left(self.jump_targets, fde[1])
            if hi > lo:
                return {self.block_of(t) for t in self.jump_targets[lo:hi]}
        return {INDIRECT}

    def _build(self) -> None:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        syscall_at = {code.addrs[i] for code, i in self.dis.syscalls}
        starts = set(self.starts)
        live_at = starts | set(self.dis.targets)
        for code in self.dis.codes:
            addrs, sizes, flags = code.addrs, code.sizes, code.flags
            n = len(addrs)
            live = False
            for i in range(n):
                a = addrs[i]
                # Code after a ret or jmp runs only if something branches to
                # it: padding there must not fall into the next function.
                if a in live_at:
                    live = True
                elif not live:
                    continue
                if not flags[i] & FALLS_THROUGH:
                    live = False
                b = self.block_of(a)
                out = self.edges.setdefault(b, set())
                if flags[i] & FALLS_THROUGH and i + 1 < n and addrs[i + 1] in starts:
                    out.add(addrs[i + 1])
                if a in syscall_at:
                    nrs, unknown = sysnr.numbers(self.dis, code, i)
                    old = self.sites.get(b, (set(), False))
                    self.sites[b] = (old[0] | nrs, old[1] or unknown)
                    continue
                raw = code.data[a - code.base:a - code.base + sizes[i]]
                if not (raw[0] in _BRANCH_FIRST or 0x70 <= raw[0] <= 0x7F):
                    continue
                insn = next(md.disasm_lite(raw, a), None)
                if insn is None:
                    continue
                m, o = insn[2], insn[3]
                if not (m[0] == "j" or m == "call" or m.startswith("loop")):
                    continue
                if o.startswith("0x"):
                    out.add(self.block_of(int(o, 16)))
                    continue
                r = _RIP_MEM.search(o)
                slot = None
                if r:
                    d = int(r.group(2), 0)
                    slot = a + sizes[i] + (d if r.group(1) == "+" else -d)
                    self._branch_slot_refs[slot] += 1
                sym = self.got.get(slot) if slot is not None else None
                if sym and sym[1] and sym[0] in self.exports:
                    out.add(self.block_of(self.exports[sym[0]]))
                elif sym:
                    self.calls_out.setdefault(b, set()).add(sym[0])
                elif m == "jmp":
                    out |= self._indirect_jump(a, o)
                else:
                    out.add(INDIRECT)
        for start, _end, pads in self.fdes:
            if pads and self.dis.in_code(start):
                self.edges.setdefault(self.block_of(start), set()).update(
                    self.block_of(p) for p in pads)

    def reach(self) -> dict[str, Reach]:
        """Exported function name -> what calling it reaches, by one pass over
        the graph's strongly connected components (callees first)."""
        comp = self._components()
        memo: dict[int, Reach] = {}
        for scc in comp:                      # Tarjan emits callees before callers
            r = Reach()
            members = set(scc)
            for b in scc:
                if b == INDIRECT:
                    targets = {self.block_of(t) for t in self.address_taken}
                else:
                    s = self.sites.get(b)
                    if s:
                        r.nrs |= s[0]
                        r.unknown |= s[1]
                    r.imports |= self.calls_out.get(b, set())
                    targets = self.edges.get(b, ())
                for t in targets:
                    if t not in members:
                        sub = memo[t]
                        r.nrs |= sub.nrs
                        r.unknown |= sub.unknown
                        r.imports |= sub.imports
            for b in scc:
                memo[b] = r
        return {name: memo[self.block_of(addr)] for name, addr in sorted(self.exports.items())}

    def _succ(self, b: int):
        if b == INDIRECT:
            return [self.block_of(t) for t in self.address_taken]
        return self.edges.get(b, ())

    def _components(self) -> list[list[int]]:
        """Tarjan's strongly connected components, iteratively (the graph is
        deep), in reverse topological order."""
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        out: list[list[int]] = []
        counter = 0
        nodes = list(self.starts) + [INDIRECT]
        for root in nodes:
            if root in index:
                continue
            work = [(root, iter(self._succ(root)))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                v, it = work[-1]
                advanced = False
                for w in it:
                    if w not in index:
                        index[w] = low[w] = counter
                        counter += 1
                        stack.append(w)
                        on_stack.add(w)
                        work.append((w, iter(self._succ(w))))
                        advanced = True
                        break
                    if w in on_stack:
                        low[v] = min(low[v], index[w])
                if advanced:
                    continue
                work.pop()
                if work:
                    u = work[-1][0]
                    low[u] = min(low[u], low[v])
                if low[v] == index[v]:
                    scc = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        scc.append(w)
                        if w == v:
                            break
                    out.append(scc)
        return out
