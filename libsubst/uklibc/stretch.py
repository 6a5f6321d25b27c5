"""Where an object's code is, and how the sweep (``decode``) cuts it.

Known code: what FDEs, a Go program's function table and sized function
symbols cover (``known_code``).  Stretches: each executable region cut at
every function symbol and Go function entry (``function_starts``), each
decoded on its own; so whether an object has a ``syscall`` at all is
answered by decoding only the stretches holding a ``0f 05``
(``has_syscall``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import capstone

from . import bulk, ehframe, gotext
from ..elf import ElfFile

_FUNC_TYPES = (2, 10)         # STT_FUNC, STT_GNU_IFUNC


def function_starts(elf: ElfFile) -> list[int]:
    """Where the sweep restarts: every function symbol, as ``objdump -d``,
    and every entry of a Go program's function table (``gotext``)."""
    return sorted({v for v, _, info, _ in elf.symbols() if (info & 0xF) in _FUNC_TYPES}
                  | set(gotext.function_entries(elf)))


def stretches(elf: ElfFile, restarts: list[int]) -> list[tuple[int, int]]:
    """Every (start, stop) the sweep decodes on its own: each executable
    region cut at the restarts in it, ascending."""
    out = []
    for _, base, data in elf.code_ranges():
        end = base + len(data)
        cuts = [base] + restarts[bisect_right(restarts, base):bisect_left(restarts, end)] + [end]
        out += zip(cuts, cuts[1:])
    return out


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
    restarts = code = None
    stretches = []                  # (length, start, stop, region's base, its bytes)
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
            # A syscall instruction ends with 0f 05: decoding may stop 15
            # bytes (the longest instruction) past the last of them in the
            # stretch; what starts up to there decodes as in the whole.
            last = data.rfind(b"\x0f\x05", at, stop - base)
            stretches.append((stop - start, start, min(base + last + 2 + 15, stop), base, data))
            at = data.find(b"\x0f\x05", max(stop - base, at + 1))
    # The shortest first: a syscall wrapper is a short function, and a
    # program with one (a Go program's are late in 40 MB) is known at the first.
    stretches.sort(key=lambda s: s[:2])
    lite = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    lite.skipdata = True
    for _, start, stop, base, data in stretches:
        for raw in bulk.decode(lite, data, start - base, stop - base, start):
            for addr in _syscalls(raw, data, base):
                if covers(code, addr):
                    return True
    return False


def _syscalls(raw: bytes, data: bytes, base: int) -> list[int]:
    """The addresses of the ``syscall`` instructions in a decoded array of
    ``data`` (mapped at ``base``).  A ``syscall`` (0f 05, no operand) ends
    with its 0f 05, so only the instruction ending at each 0f 05 is looked
    at, not every mnemonic of the array (libLLVM's 0f 05 are in stretches
    of a million instructions)."""
    addrs = memoryview(bulk.addresses(raw)).cast("Q")
    sizes = bulk.sizes(raw)
    stop = addrs[-1] + sizes[-1] - base
    found = []
    at = data.find(b"\x0f\x05", addrs[0] - base, stop)
    while at >= 0:
        i = bisect_right(addrs, base + at) - 1
        if addrs[i] + sizes[i] == base + at + 2 and bulk.text(raw, i, bulk.MNEMONIC) == "syscall":
            found.append(addrs[i])
        at = data.find(b"\x0f\x05", at + 1, stop)
    return found
