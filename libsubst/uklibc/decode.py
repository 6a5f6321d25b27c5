"""Decoding an object's code and collecting every address control may reach.

Instructions are decoded by capstone, sweeping each executable section
linearly (``disasm_lite``, ~1 µs an instruction) and restarting at every
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

from . import ehframe, gotext
from ..elf import ElfFile
from ..elf.abi import ET_EXEC

JUMP_TABLE_CAP = 2048   # entries read from one candidate jump table

FALLS_THROUGH, BAD = 1, 2     # Code.flags bits

_RIP = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|[0-9]+)\]")
_FUNC_TYPES = (2, 10)         # STT_FUNC, STT_GNU_IFUNC


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


def function_starts(elf: ElfFile) -> list[int]:
    """Where the sweep restarts: every function symbol, as ``objdump -d``."""
    return sorted({v for v, _, info, _ in elf.symbols() if (info & 0xF) in _FUNC_TYPES})


def known_code(elf: ElfFile, fde_ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges known to hold code, sorted.

    Executable bytes may be data: the tables OpenSSL's assembly keeps in
    ``.text`` (P-256's precomputed multiples), the info table GHC puts
    before each closure's code (tables next to code; its function symbols'
    sizes span them too).  Where a compiler left unwind tables, every
    function it made has an FDE: code is what the FDEs, a Go program's
    function table (``gotext``) and sized function symbols cover.  An
    object built without them (musl) keeps its executable sections whole as
    code, as ``objdump -d`` takes them, and one without section headers its
    FDEs and symbols; a GHC program only its FDEs and Go's table."""
    known = fde_ranges + gotext.text_range(elf)
    symbols = elf.symbols()
    if any(name == "hs_main" for _, _, _, name in symbols):      # GHC's RTS
        return sorted(known)
    functions = [(v, v + sz) for v, sz, info, _ in symbols if sz and (info & 0xF) in _FUNC_TYPES]
    ranges = [(b, b + len(d)) for _, b, d in elf.code_ranges()]
    if elf.sections and _share(known, ranges) < UNWOUND:
        return sorted(ranges)
    return sorted(known + functions)


# The share of an object's code its FDEs cover, above which they are taken
# to cover all it compiled: Debian's objects built with unwind tables have
# 0.89 (libcrypto) to 1, a small program 0.3 (crt's functions have none);
# objects built without, 0.01 or less (musl's libc.so, GHC's programs).
UNWOUND = 0.1


def _share(known: list[tuple[int, int]], ranges: list[tuple[int, int]]) -> float:
    """The share of the bytes in ``ranges`` that ``known`` covers."""
    total = sum(b - a for a, b in ranges) or 1
    covered = end = 0
    for a, b in sorted(known):
        a = max(a, end)
        if b > a:
            covered += b - a
            end = b
    return covered / total


def covers(ranges: list[tuple[int, int]], addr: int) -> bool:
    """Whether one of the sorted ``ranges`` (nested or overlapping, as
    functions and their FDEs are) holds ``addr``."""
    k = bisect_right(ranges, (addr, 1 << 64))
    return any(a <= addr < b for a, b in ranges[max(k - 64, 0):k])


def has_syscall(elf: ElfFile) -> bool:
    """Whether the sweep :class:`Disassembly` makes would find a ``syscall``
    in known code (a site elsewhere is never rewritten).

    The sweep decodes each stretch between two restarts on its own, so only
    the stretches holding the bytes ``0f 05`` in known code need decoding to
    know: a large library whose ``0f 05`` all lie inside other instructions
    (libLLVM's do) is known to have no site in milliseconds, not decoded
    whole, and so is a program whose ``0f 05`` are all in data (pandoc's)."""
    lite = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    lite.skipdata = True
    restarts = code = None
    for _, base, data in elf.code_ranges():
        at = data.find(b"\x0f\x05")
        if at < 0:
            continue
        if restarts is None:
            restarts = function_starts(elf)
            code = known_code(elf, ehframe.fde_ranges(elf))
        end = base + len(data)
        while at >= 0:
            addr = base + at
            if not covers(code, addr):
                at = data.find(b"\x0f\x05", at + 1)
                continue
            k = bisect_right(restarts, addr)
            start = max(restarts[k - 1] if k else base, base)
            stop = min(restarts[k] if k < len(restarts) else end, end)
            for a, _, m, _ in lite.disasm_lite(data[start - base:stop - base], start):
                if m == "syscall" and covers(code, a):
                    return True
            at = data.find(b"\x0f\x05", max(stop - base, at + 1))
    return False


class Disassembly:
    """Every executable region of ``elf`` decoded, and the addresses control may reach.

    ``targets``: sorted addresses any transfer of control may land on.
    ``entries``: addresses entered with registers the rewriter cannot know
    (call targets and every indirect target).  ``preds``: direct jmp/jcc
    target -> addresses of the jumps.  ``syscalls``: (Code, index) of every
    ``syscall``.  ``reloc_offsets``: sorted addresses in code a relocation
    writes (text relocations)."""

    def __init__(self, elf: ElfFile, lazy_got: bool = True):
        """``lazy_got``: the object may hold code addresses in writable data
        without a relocation (a GOT's lazy-binding slots); False for one
        linked without a PLT (the guest kernel, a static PIE), where every
        pointer has its relocation and a word that only looks like one (a
        table's flags) would read as an entry."""
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
        self.codes = [self._sweep(n, b, d, restarts, targets, entries) for n, b, d in ranges]

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

    # -- decoding ----------------------------------------------------------

    def _sweep(self, name: str, base: int, data: bytes, restarts: list[int],
               targets: list[int], entries: list[int]) -> Code:
        """Decode one region linearly, restarting at every function symbol in it.

        The loop runs once per instruction (millions in a large Go program,
        whose first run waits for it): what a mnemonic means is looked up
        once (``_KINDS``), and an immediate is parsed only when it can be a
        code address (as many hex digits as the lowest one at least)."""
        code = Code(name, base, data)
        add_addr, add_size, add_flag = code.addrs.append, code.sizes.append, code.flags.append
        jumps, rip_refs, syscalls = self._jumps, self.rip_refs, self.syscalls
        lo, hi = self.spans[0][0], self.spans[-1][1]
        hexes = re.compile(rf"\b0x[0-9a-f]{{{len(f'{lo:x}')},}}\b") if self.absolute else None
        immediates = self._immediates
        kinds = _KINDS
        lo_cut, hi_cut = bisect_right(restarts, base), bisect_left(restarts, code.end)
        pos = base
        for cut in restarts[lo_cut:hi_cut] + [code.end]:
            if cut <= pos:
                continue
            for a, s, m, o in self._lite.disasm_lite(data[pos - base:cut - base], pos):
                add_addr(a)
                add_size(s)
                kind = kinds.get(m)
                if kind is None:
                    kind = kinds[m] = _kind(m)
                what, f = kind
                if what == _SYSCALL:
                    syscalls.append((code, len(code.addrs) - 1))
                elif what and o.startswith("0x"):
                    t = int(o, 16)
                    if what == _CALL:
                        entries.append(t)
                    else:
                        jumps.append((t, a))
                    targets.append(t)
                if "rip" in o:
                    r = _RIP.search(o)
                    if r:
                        disp = int(r.group(2), 0)
                        rip_refs.append((a + s + (disp if r.group(1) == "+" else -disp),
                                         m == "lea"))
                if hexes is not None and "0x" in o:
                    for h in hexes.findall(o):
                        v = int(h, 16)
                        if lo <= v < hi:
                            immediates.append(v)
                add_flag(f)
            pos = cut
        return code

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

    def data_pointers(self) -> list[int]:
        """Aligned words of data that hold code addresses.

        For a position-dependent executable, every 4- and 8-byte aligned word
        of allocated data (absolute jump tables and function pointers need no
        relocation there); for any object, every qword of writable data (the
        GOT's lazy-binding slots hold PLT addresses without a relocation)."""
        out = []
        lo, hi = self.spans[0][0], self.spans[-1][1]
        for _, base, data, writable in self.elf.data_ranges():
            if not (self.absolute or (writable and self.lazy_got)):
                continue
            for width, fmt in ((8, "Q"), (4, "I")):
                if width == 4 and not self.absolute:
                    continue
                start = (-base) % width
                view = memoryview(data)[start:]
                view = view[:len(view) - len(view) % width]
                out.extend(v for v in view.cast(fmt) if lo <= v < hi)
        return out
