"""A Go program's functions, from its pc-line table (pclntab).

Go's linker keeps no FDEs and (stripped, as Debian ships them) no symbols,
but every Go function is in the pc-line table's function table, and the
linker puts no data between them: that range is known code
(``stretch.known_code``), and each entry is where a linear sweep restarts
(``stretch.function_starts``).

The table is found by its header, not by a section: a position-independent
Go program keeps it inside ``.data.rel.ro`` (external linking, Debian's
``age``) or ``.data.rel.ro.gopclntab`` (internal), and a stripped object
may have no sections at all.  A header is believed only when the runtime's
module data (``runtime.firstmoduledata``) points at it and agrees with it
on every slice and bound, and every function's ``_func`` record names its
function's entry: a table that is not the program's own (another Go
binary embedded as data) or a malformed one gives nothing, and the program
is decoded whole.  Formats: Go 1.16-1.17 (absolute entries) and 1.18 on
(entries relative to ``textStart``, which a position-independent program
gets from a relocation); an older or unknown table gives nothing.
"""

from __future__ import annotations

import struct
import weakref

from ..elf import ElfFile
from ..elf.abi import R_X86_64_RELATIVE

_GO116 = 0xFFFFFFFA
_GO118 = (0xFFFFFFF0, 0xFFFFFFF1)        # 1.18-1.19, 1.20 on
# A header: the magic, two zero bytes, the instruction-size quantum (1 on
# x86), the pointer size; searched for from the magic's second byte, which
# all share (one pass over the data).
_HEADER_TAIL = b"\xff\xff\xff\0\0\x01\x08"
_MAGIC_LOW = frozenset(m & 0xFF for m in (_GO116, *_GO118))
# Where Go's own linker puts the table (a position-dependent program, a
# position-independent one); the host linker merges it into .data.rel.ro.
_SECTIONS = (".gopclntab", ".data.rel.ro.gopclntab")
_CANDIDATES = 16        # headers looked at, at most: a file full of them is not a Go program's
_MODULE_WORDS = 23      # moduledata up to ``text`` (the same layout from Go 1.16 on)

_found: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def function_entries(elf: ElfFile) -> list[int]:
    """Every function's entry, ascending, and the end of the last one; []
    for an object without a table this reads (found once per object)."""
    entries = _found.get(elf)
    if entries is None:
        entries = _found[elf] = _find(elf)
    return entries


def text_range(elf: ElfFile) -> list[tuple[int, int]]:
    """[(first function's entry, end of the last)] of a Go program, or []."""
    entries = function_entries(elf)
    return [(entries[0], entries[-1])] if len(entries) > 1 and entries[0] < entries[-1] else []


def _find(elf: ElfFile) -> list[int]:
    """The entries of the one table that validates, or []."""
    named = [s.sh_addr for s in elf.sections if s.name in _SECTIONS]
    if named:
        hits = named[:1]
    elif elf.sections and elf.section(".go.buildinfo") is None:
        return []               # not a Go program: its data is not searched
    else:
        hits = []
        for _, base, off, size, _ in elf.data_regions():
            at = elf.data.find(_HEADER_TAIL, off + 1, off + size)
            while at >= 0 and len(hits) <= _CANDIDATES:
                if (base + at - off - 1) % 8 == 0 and elf.data[at - 1] in _MAGIC_LOW:
                    hits.append(base + at - off - 1)
                at = elf.data.find(_HEADER_TAIL, at + 1, off + size)
    if not hits or len(hits) > _CANDIDATES:
        return []
    try:
        image = _Image(elf)
        found = [e for e in (_validated(elf, image, h) for h in hits) if e]
    except (ValueError, IndexError, OverflowError):
        return []               # numbers no table holds: a malformed one
    return found[0] if len(found) == 1 else []


class _Image:
    """The object's words as the loader leaves them at its link address: a
    RELATIVE relocation's addend where one writes, else the file's bytes."""

    def __init__(self, elf: ElfFile):
        import numpy as np            # a Go program's: the scan loads it too
        self.np, self.elf = np, elf
        rela = np.frombuffer(b"".join(elf.rela_raw()),
                             dtype=[("off", "<u8"), ("info", "<u8"), ("add", "<i8")])
        rela = rela[np.argsort(rela["off"], kind="stable")]
        self.offs, self.types, self.adds = rela["off"], rela["info"] & 0xFFFFFFFF, rela["add"]

    def words(self, addrs, width: int = 8):
        """The ``width``-byte words at ``addrs`` (a numpy array), or None
        when one is not in the file or a relocation other than a RELATIVE
        one starting exactly at an 8-byte word writes into it."""
        np = self.np
        addrs = np.asarray(addrs, dtype=np.int64)
        if not len(addrs):
            return addrs
        lo, hi = int(addrs.min()), int(addrs.max()) + width
        off = self.elf.vaddr_to_offset(lo, hi - lo)
        if off is None:
            return None
        at = addrs - lo
        b = np.frombuffer(self.elf.data, dtype=np.uint8, count=hi - lo, offset=off)
        out = b[at].astype(np.int64)
        for k in range(1, width):
            out |= b[at + k].astype(np.int64) << (8 * k)
        del b                   # the file's mapping stays closable
        i, j = np.searchsorted(self.offs, [max(lo - 7, 0), hi])
        if i == j:
            return out
        order = np.argsort(addrs, kind="stable")
        s, offs = addrs[order], self.offs[i:j].astype(np.int64)
        pos = np.searchsorted(s, offs)
        here = s[np.minimum(pos, len(s) - 1)]
        exact = (pos < len(s)) & (here == offs)
        overlaps_before = (pos > 0) & (s[np.maximum(pos - 1, 0)] + width > offs)
        overlaps_after = (pos < len(s)) & (here < offs + 8) & ~exact
        if np.any(overlaps_before | overlaps_after):
            return None
        if exact.any() and (width != 8 or np.any(self.types[i:j][exact] != R_X86_64_RELATIVE)):
            return None
        out[order[pos[exact]]] = self.adds[i:j][exact]
        return out

    def pointers_to(self, addr: int) -> list[int]:
        """Aligned words of writable data that hold ``addr`` once loaded."""
        elf, needle, out = self.elf, struct.pack("<Q", addr), []
        for _, base, off, size, writable in elf.data_regions():
            at = elf.data.find(needle, off, off + size) if writable else -1
            while at >= 0:
                if (base + at - off) % 8 == 0:
                    out.append(base + at - off)
                at = elf.data.find(needle, at + 1, off + size)
        rel = self.offs[(self.adds == addr) & (self.types == R_X86_64_RELATIVE)]
        return sorted(set(out) | set(rel.tolist()))


def _validated(elf: ElfFile, image: _Image, at: int) -> list[int] | None:
    """The entries of the table whose header is at ``at``, if it checks out."""
    hdr = image.words([at + 8 * k for k in range(9)])
    if hdr is None:
        return None
    magic = int(hdr[0]) & 0xFFFFFFFF
    if int(hdr[0]) >> 32 != 0x08010000 or magic not in (_GO116, *_GO118):
        return None             # what the loader maps there is no header
    if magic in _GO118:
        nfunc, _nfiles, text, *offsets = hdr[1:].tolist()
        width = 4
    else:
        nfunc, _nfiles, *offsets = hdr[1:8].tolist()
        text, width = 0, 8
    header = 72 if magic in _GO118 else 64
    if not 0 < nfunc < 1 << 24 or offsets != sorted(offsets) or offsets[0] < header:
        return None
    pcln = at + offsets[-1]
    for m in image.pointers_to(at):
        md = image.words([m + 8 * k for k in range(_MODULE_WORDS)])
        if md is None:
            continue
        md = md.tolist()
        if md[0] != at:
            continue            # the file's word, not what its relocation stores
        # funcnametab, cutab, filetab, pctab, pclntable and ftab: (pointer, len, cap) each
        if [md[1 + 3 * k] for k in range(6)] != [at + o for o in offsets] + [pcln] \
                or md[17] != nfunc + 1 or not 2 * width * (nfunc + 1) <= md[14] <= md[15]:
            continue
        if magic in _GO118 and md[22] != text:
            continue
        entries = _entries(elf, image, pcln, md[14], nfunc, width, text)
        if entries and (md[20], md[21]) == (entries[0], entries[-1]):
            return entries
    return None


def _entries(elf: ElfFile, image: _Image, pcln: int, length: int, nfunc: int, width: int,
             text: int) -> list[int] | None:
    """The function table at ``pcln`` (``nfunc`` + 1 pairs of entry and
    offset of its ``_func`` in the ``length`` bytes there; the last entry
    the end of the last function), if it is ascending, lies in one code
    region and each ``_func`` begins with its function's entry."""
    np = image.np
    if elf.vaddr_to_offset(pcln, length) is None:
        return None
    table = image.words(pcln + width * np.arange(2 * (nfunc + 1)), width)
    if table is None:
        return None
    offs, funcs = table[0::2], table[1::2][:-1]
    if np.any(offs[1:] < offs[:-1]) or np.any(funcs < 2 * width * (nfunc + 1)) \
            or np.any(funcs > length - width):
        return None
    named = image.words(pcln + funcs, width)
    if named is None or np.any(named != offs[:-1]):
        return None
    first, last = int(offs[0]) + text, int(offs[-1]) + text
    if not any(b <= first and last <= b + n for _, b, _, n in elf.code_regions()):
        return None
    return (offs + text).tolist()
