"""Decoding an object's code and collecting every address control may reach.

Instructions are decoded by capstone, sweeping each executable section
linearly (``cs_disasm``, read in bulk: ``bulk``) and restarting at every
function symbol, as ``objdump -d`` does; capstone's SKIPDATA mode turns an
undecodable byte into a one-byte ``.byte`` pseudo-instruction so the sweep
goes on.  Only instructions near a site are decoded again in detail mode.

Branch targets are over-approximated, which is always safe for the
rewriter: every direct jmp/jcc/call/loop target; every defined symbol
(.dynsym, .symtab); every FDE start and landing pad of the unwind tables;
every address a relocation stores (RELA and RELR: function pointers); every
rip-relative operand that points into code (``lea func(%rip)`` takes a local
function's address); the entries of every ``table + int32`` jump table a
``lea table(%rip)`` points at; ``e_entry``; every qword of writable data that
holds a code address (the GOT's lazy-binding slots); and, for a
position-dependent executable, every aligned word of data and every
immediate that holds one.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right

import capstone

from . import bulk, ehframe
from ..elf import ElfFile
from ..elf.abi import ET_EXEC
from .stretch import _FUNC_TYPES, covers, function_starts, known_code, stretches

FALLS_THROUGH, BAD = 1, 2     # Code.flags bits
TABLE_CAP = 2048              # entries read of one candidate jump table (jump_table)

_RIP = re.compile(rb"\[rip ([+-]) (0x[0-9a-f]+|[0-9]+)\]")
_WORD = re.compile(rb"\w")


# What the sweep does with an instruction, by its mnemonic: (what, flags).
_PLAIN, _SYSCALL, _JUMP, _CALL = range(4)
_KINDS: dict[str, tuple[int, int]] = {}       # filled as mnemonics are met


def _kind(m: str) -> tuple[int, int]:
    if m == "syscall":
        return _SYSCALL, FALLS_THROUGH
    if m[0] == "j" or m == "call" or m.startswith("loop") or m == "xbegin":
        return (_CALL if m == "call" else _JUMP), (0 if m == "jmp" else FALLS_THROUGH)
    if m.startswith("ret") or m in ("ud2", "hlt"):
        return _PLAIN, 0
    if m == ".byte":
        return _PLAIN, BAD
    return _PLAIN, FALLS_THROUGH


# The first two characters of every mnemonic ``_kind`` does not take for
# (_PLAIN, FALLS_THROUGH), as ``bulk.mnemonic_starts`` gives them: only
# these instructions are looked at one by one.
_SPECIAL_STARTS = frozenset({int.from_bytes(b"j" + bytes([c]), "little") for c in range(256)}
                            | {int.from_bytes(p, "little") for p in
                               (b"sy", b"ca", b"lo", b"xb", b"re", b"ud", b"hl", b".b")})


class Code:
    """The decoded instruction stream of one executable region."""

    def __init__(self, name: str, base: int, data: bytes):
        self.name, self.base, self.data = name, base, data
        self.end = base + len(data)
        self.addrs = array("Q")       # instruction addresses, ascending
        self.sizes = array("B")
        self.flags = bytearray()      # FALLS_THROUGH | BAD

    def index(self, addr: int) -> int | None:
        """The index of the instruction starting at ``addr``, if one does."""
        i = bisect_left(self.addrs, addr)
        return i if i < len(self.addrs) and self.addrs[i] == addr else None

    def raw(self, i: int) -> bytes:
        off = self.addrs[i] - self.base
        return self.data[off:off + self.sizes[i]]

    def end_of(self, i: int) -> int:
        return self.addrs[i] + self.sizes[i]


class Disassembly:
    """Every executable region of ``elf`` decoded, and the addresses control may reach.

    ``targets``: sorted addresses any transfer of control may land on.
    ``entries``: addresses entered with registers the rewriter cannot know
    (call targets and every indirect target).  ``preds``: direct jmp/jcc
    target -> addresses of the jumps.  ``syscalls``: (Code, index) of every
    ``syscall``.  ``reloc_offsets``: sorted addresses in code a relocation
    writes (text relocations)."""

    def __init__(self, elf: ElfFile, lazy_got: bool = True,
                 near: list[tuple[int, int]] | None = None):
        """``lazy_got``: the object may hold code addresses in writable data
        without a relocation (a GOT's lazy-binding slots); False for one
        linked without a PLT (the guest kernel, a static PIE), where every
        pointer has its relocation and a word that only looks like one (a
        table's flags) would read as an entry.

        ``near``: address ranges (sorted, disjoint) to know as the whole
        sweep knows them, decoding only the stretches (``stretches``) that
        hold them, their neighbours and those holding a byte that may send
        control into them (``scan.inbound``): then
        ``targets``, ``entries`` and ``preds`` hold at an address in ``near``
        what the whole sweep's do (elsewhere, less), and a question about one
        outside (``preds_of``, ``is_entry``, ``target_inside``) is noted in
        ``escapes``.  None: decode everything."""
        self.elf = elf
        self.absolute = elf.e_type == ET_EXEC
        self.lazy_got = lazy_got
        self._lite = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        self._lite.skipdata = True
        self._md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        self._md.detail = True
        self._details: dict[int, object] = {}

        self.syscalls: list[tuple[Code, int]] = []
        targets: list[int] = []
        entries: list[int] = []
        self._jumps: list[tuple[int, int]] = []
        # (address a rip-relative operand refers to, whether the instruction is a lea)
        self.rip_refs: list[tuple[int, bool]] = []
        self._immediates: list[int] = []

        ranges = elf.code_ranges()
        self.spans = sorted((b, b + len(d)) for _, b, d in ranges)
        symbols = elf.symbols()
        # Restart the sweep at function symbols only, as objdump does: an FDE
        # may start mid-instruction (glibc's __restore_rt FDE starts one byte
        # early, inside the preceding nop, for the unwinder's pc-1 lookup).
        restarts = function_starts(elf)
        self.near = near
        self.escapes: set[int] = set()
        picked = None if near is None else self._picked(stretches(elf, restarts), near)
        self.codes = [self._sweep(n, b, d, restarts, targets, entries, picked)
                      for n, b, d in ranges]

        unwind, fde_ranges = ehframe.unwind_targets(elf)
        self.known_code = known_code(elf, fde_ranges)
        relocs = elf.relocations()
        indirect = [v for v, _, _, _ in symbols] + unwind + [elf.e_entry]
        indirect += [v for _, _, v in relocs if v is not None]
        self.reloc_offsets = sorted(o for o, _, _ in relocs if self.in_code(o, 8))
        for t, is_lea in self.rip_refs:
            if self.in_code(t):
                indirect.append(t)
            elif is_lea:
                indirect.extend(self.jump_table(t))
        if self.absolute:
            indirect += self._immediates
        indirect += self.data_pointers()
        indirect = sorted(set(indirect))
        indirect = [t for a, b in self.spans
                    for t in indirect[bisect_left(indirect, a):bisect_left(indirect, b)]]
        entries += indirect
        targets += indirect
        self.targets = sorted(set(targets))
        self.entries = set(entries)
        self.preds: dict[int, list[int]] = {}
        for t, a in self._jumps:
            self.preds.setdefault(t, []).append(a)
        self.functions = sorted((v, sz, n) for v, sz, info, n in symbols
                                if n and sz and (info & 0xF) in _FUNC_TYPES)

    @property
    def instructions(self) -> int:
        return sum(len(c.addrs) for c in self.codes)

    def _picked(self, all_: list[tuple[int, int]], near: list[tuple[int, int]]) -> set[int]:
        """The starts of the stretches to decode for ``near``: those, the
        ones just before and after them (what falls through into a stretch,
        what a window at its end takes in) and every one holding a byte
        that may begin a field sending control into them."""
        starts = [a for a, _ in all_]
        picked = set()
        for a, b in near:
            k = max(bisect_right(starts, a) - 1, 0)
            while k < len(all_) and all_[k][0] < b:
                picked.update(a for a, _ in all_[max(k - 1, 0):k + 2])
                k += 1
        from . import scan            # numpy, loaded only for a program decoded near its sites
        for q in scan.inbound(self.elf, near, self.spans, self.absolute):
            k = bisect_right(starts, q) - 1
            if k >= 0 and q < all_[k][1]:
                picked.add(all_[k][0])
        return picked

    def _ask(self, start: int, end: int | None = None) -> None:
        """Note a question about [start, end) (``end``: start + 1) outside ``near``."""
        near = self.near
        if near is None:
            return
        end = start + 1 if end is None else end
        k = bisect_right(near, (start, 1 << 64)) - 1
        at = start
        while k >= 0 and k < len(near) and near[k][0] <= at < near[k][1]:
            at = near[k][1]             # ``near``'s stretches are disjoint and ascending
            k += 1
            if at >= end:
                return
        self.escapes.add(at)

    def preds_of(self, addr: int) -> list[int]:
        """The addresses of the direct jmp/jcc landing at ``addr``."""
        self._ask(addr)
        return self.preds.get(addr, [])

    def is_entry(self, addr: int) -> bool:
        """Whether control may come to ``addr`` with registers unknown (a call, an indirect jump)."""
        self._ask(addr)
        return addr in self.entries

    def target_inside(self, start: int, end: int) -> bool:
        """Whether a branch target lies strictly inside [start, end)."""
        self._ask(start + 1, end)
        t = bisect_right(self.targets, start)
        return t < len(self.targets) and self.targets[t] < end

    # -- decoding ----------------------------------------------------------

    def _sweep(self, name: str, base: int, data: bytes, restarts: list[int],
               targets: list[int], entries: list[int], picked: set[int] | None) -> Code:
        """Decode one region linearly, restarting at every function symbol in
        it; with ``picked``, only the stretches starting there.

        A large Go program has millions of instructions and its first run
        waits for them: capstone's output is read in bulk (``bulk``), what a
        mnemonic means is looked up once (``_KINDS``), and an immediate is
        parsed only when it can be a code address."""
        code = Code(name, base, data)
        lo, hi = self.spans[0][0], self.spans[-1][1]
        # An immediate can be a code address when it has as many hex digits as the lowest one.
        hexes = re.compile(rb"0x[0-9a-f]{%d,}\b" % len(f"{lo:x}")) if self.absolute else None
        lo_cut, hi_cut = bisect_right(restarts, base), bisect_left(restarts, code.end)
        pos = base
        for cut in restarts[lo_cut:hi_cut] + [code.end]:
            if cut <= pos:
                continue
            if picked is None or pos in picked:
                for raw in bulk.decode(self._lite, data, pos - base, cut - base, pos):
                    self._take(code, raw, hexes, lo, hi, targets, entries)
            pos = cut
        return code

    def _take(self, code: Code, raw: bytes, hexes, lo: int, hi: int,
              targets: list[int], entries: list[int]) -> None:
        """Add a decoded array's instructions to ``code``: only the jumps,
        calls and syscalls (by mnemonic, looked up once: ``_KINDS``) and the
        operand strings a search of the array finds holding ``rip`` or a
        possible code address are read one by one."""
        first = len(code.addrs)
        code.addrs.frombytes(bulk.addresses(raw))
        code.sizes.frombytes(bulk.sizes(raw))
        addrs, sizes = code.addrs, code.sizes
        flags = bytearray(b"\1") * (len(raw) // bulk.SIZE)     # (_PLAIN, FALLS_THROUGH)
        jumps = self._jumps
        for i in [i for i, w in enumerate(bulk.mnemonic_starts(raw)) if w in _SPECIAL_STARTS]:
            m = bulk.text(raw, i, bulk.MNEMONIC)
            what, flags[i] = _KINDS.get(m) or _KINDS.setdefault(m, _kind(m))
            if what == _SYSCALL:
                self.syscalls.append((code, first + i))
            elif what:
                o = bulk.text(raw, i, bulk.OP_STR)
                if o.startswith("0x"):
                    t = int(o, 16)
                    if what == _CALL:
                        entries.append(t)
                    else:
                        jumps.append((t, addrs[first + i]))
                    targets.append(t)
        code.flags += flags
        last = None
        for r in _RIP.finditer(raw):
            i = bulk.in_op_str(raw, r.start(), r.end())
            if i is None or i == last:
                continue                # not an operand, or not its first rip operand
            last = i
            disp = int(r.group(2), 0)
            self.rip_refs.append((addrs[first + i] + sizes[first + i]
                                  + (disp if r.group(1) == b"+" else -disp),
                                  bulk.text(raw, i, bulk.MNEMONIC) == "lea"))
        if hexes is not None:
            for h in hexes.finditer(raw):
                at = h.start()
                if bulk.in_op_str(raw, at, h.end()) is None or \
                        at % bulk.SIZE != bulk.OP_STR and _WORD.match(raw, at - 1):
                    continue            # not an operand, or not a number's start
                v = int(h.group(), 16)
                if lo <= v < hi:
                    self._immediates.append(v)

    def detail(self, code: Code, i: int):
        """Instruction ``i`` of ``code`` decoded with details, or False for an undecodable one."""
        addr = code.addrs[i]
        insn = self._details.get(addr)
        if insn is None:
            insn = False
            if not code.flags[i] & BAD:
                insn = next(self._md.disasm(code.raw(i), addr), False)
                if insn and insn.size != code.sizes[i]:
                    insn = False
            self._details[addr] = insn
        return insn

    # -- addresses ---------------------------------------------------------

    def in_code(self, addr: int, size: int = 1) -> bool:
        i = bisect_right(self.spans, (addr, 1 << 64)) - 1
        return i >= 0 and self.spans[i][0] <= addr and addr + size <= self.spans[i][1]

    def is_known_code(self, addr: int) -> bool:
        """Whether an FDE or a sized function symbol covers ``addr``."""
        return covers(self.known_code, addr)

    def code_at(self, addr: int) -> Code | None:
        for c in self.codes:
            if c.base <= addr < c.end:
                return c
        return None

    def function_at(self, addr: int) -> str | None:
        """The name of a sized function symbol covering ``addr``, if any."""
        k = bisect_right(self.functions, (addr, 1 << 64, "")) - 1
        for v, sz, name in reversed(self.functions[max(k - 8, 0):k + 1]):
            if v <= addr < v + sz:
                return name
        return None

    def jump_table(self, table: int) -> list[int]:
        """Code addresses ``table + entry`` for the int32 entries at ``table``.

        The table's length is not known, so entries are read while they land
        in code (at most ``TABLE_CAP``); that reads on into the tables that
        follow, whose entries, taken relative to the wrong base, land at
        shifted addresses.  Entries that do not land on an instruction
        boundary are such garbage (a compiler's jump table never points into
        the middle of an instruction) and are skipped."""
        out = []
        for k in range(TABLE_CAP):
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

    def data_pointers(self) -> list[int]:
        """Aligned words of data that hold code addresses.

        For a position-dependent executable, every 4- and 8-byte aligned word
        of allocated data (absolute jump tables and function pointers need no
        relocation there); for any object, every qword of writable data (the
        GOT's lazy-binding slots hold PLT addresses without a relocation)."""
        import numpy as np            # here: a run that plans nothing never loads it
        out = []
        lo, hi = self.spans[0][0], self.spans[-1][1]
        for _, base, data, writable in self.elf.data_ranges():
            if not (self.absolute or (writable and self.lazy_got)):
                continue
            for width, fmt in ((8, "<u8"), (4, "<u4")):
                if width == 4 and not self.absolute:
                    continue
                start = (-base) % width
                count = max(len(data) - start, 0) // width
                if not count:
                    continue
                words = np.frombuffer(data, dtype=fmt, offset=start, count=count)
                out.extend(words[(words >= lo) & (words < hi)].tolist())
        return out
