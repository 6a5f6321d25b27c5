"""Code addresses named by the unwind tables: FDE starts and landing pads.

The unwinder enters code at two kinds of address the instruction stream does
not name: the start of every FDE (a function, reached through a pointer the
rewriter may not see) and every landing pad in a function's LSDA (reached by
``_Unwind_RaiseException``/``_Unwind_ForcedUnwind``, which pthread
cancellation uses in glibc).  Both are branch targets for the rewriter.

Formats: LSB 5.0 "Exception Frames" (``.eh_frame``, ``.eh_frame_hdr``, the
DW_EH_PE pointer encodings) and the Itanium C++ ABI LSDA layout as GCC emits
it (``.gcc_except_table``).  Everything is bounds-checked; a malformed table
raises :class:`~libsubst.errors.CorruptElf`, because a rewriter that cannot
read the unwind tables cannot prove a site safe.
"""

from __future__ import annotations

import struct

from ..elf import ElfFile
from ..elf.abi import PT_GNU_EH_FRAME
from ..errors import CorruptElf

DW_EH_PE_omit = 0xFF


class _Reader:
    """A cursor over a byte string mapped at ``vaddr``."""

    def __init__(self, data: bytes, vaddr: int, what: str, path: str):
        self.data, self.vaddr, self.what, self.path = data, vaddr, what, path
        self.pos = 0

    def fail(self, why: str) -> CorruptElf:
        return CorruptElf(f"{self.path}: corrupt {self.what} at {self.vaddr + self.pos:#x} ({why})")

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise self.fail("truncated")
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return v

    def uleb(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data) or shift > 63:
                raise self.fail("bad LEB128")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def sleb(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data) or shift > 63:
                raise self.fail("bad LEB128")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result

    def cstr(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise self.fail("unterminated string")
        s = self.data[self.pos:end]
        self.pos = end + 1
        return s

    def encoded(self, enc: int, datarel: int = 0) -> int:
        """A DW_EH_PE-encoded pointer; ``indirect`` (0x80) is returned unresolved."""
        here = self.vaddr + self.pos
        fmt = enc & 0x0F
        if fmt == 0x00:
            v = self.take("<Q")
        elif fmt == 0x01:
            v = self.uleb()
        elif fmt == 0x02:
            v = self.take("<H")
        elif fmt == 0x03:
            v = self.take("<I")
        elif fmt == 0x04:
            v = self.take("<Q")
        elif fmt == 0x09:
            v = self.sleb()
        elif fmt == 0x0A:
            v = self.take("<h")
        elif fmt == 0x0B:
            v = self.take("<i")
        elif fmt == 0x0C:
            v = self.take("<q")
        else:
            raise self.fail(f"pointer encoding {enc:#x}")
        app = enc & 0x70
        if app == 0x10:
            v += here
        elif app == 0x30:
            v += datarel
        elif app not in (0x00,):
            raise self.fail(f"pointer application {enc:#x}")
        return v & 0xFFFFFFFFFFFFFFFF


def _parse_cie(r: _Reader, end: int) -> tuple[int, int]:
    """(FDE pointer encoding, LSDA encoding) of the CIE at the cursor."""
    version = r.take("<B")
    if version not in (1, 3):
        raise r.fail(f"CIE version {version}")
    aug = r.cstr()
    if b"eh" in aug:
        r.take("<Q")
    r.uleb()                      # code alignment
    r.sleb()                      # data alignment
    if version == 1:
        r.take("<B")              # return address register
    else:
        r.uleb()
    fde_enc, lsda_enc = 0x00, DW_EH_PE_omit
    if aug.startswith(b"z"):
        r.uleb()                  # augmentation data length
        for c in aug[1:]:
            if c == ord("R"):
                fde_enc = r.take("<B")
            elif c == ord("L"):
                lsda_enc = r.take("<B")
            elif c == ord("P"):
                r.encoded(r.take("<B") & 0x7F)
            elif c in (ord("S"), ord("B"), ord("G")):
                pass
            else:
                raise r.fail(f"augmentation {aug!r}")
    elif aug not in (b"", b"eh"):
        raise r.fail(f"augmentation {aug!r}")
    if r.pos > end:
        raise r.fail("CIE overruns its length")
    return fde_enc, lsda_enc


def fde_entries(elf: ElfFile, data: bytes, vaddr: int) -> list[tuple[int, int, int | None]]:
    """(pc_begin, pc_range, lsda address or None) of every FDE in an ``.eh_frame`` image.

    libLLVM has 95,000 FDEs, read on every cold plan of an LLVM tool: an FDE
    whose CIE says pc-relative sdata4 (what GCC and Clang emit) is read with
    one ``unpack_from``, any other through the general reader, which also
    raises for what the fast read would find out of bounds."""
    r = _Reader(data, vaddr, ".eh_frame", elf.path)
    cies: dict[int, tuple[int, int]] = {}
    out = []
    unpack, size = struct.unpack_from, len(data)
    while r.pos + 4 <= size:
        start = r.pos
        length = r.take("<I")
        if length == 0:           # terminator
            break
        if length == 0xFFFFFFFF:
            length = r.take("<Q")
        body = r.pos
        end = body + length
        if end > size:
            raise r.fail("entry overruns the section")
        cie_ptr = r.take("<I")
        if cie_ptr == 0:
            cies[start] = _parse_cie(r, end)
            r.pos = end
            continue
        cie_at = body - cie_ptr
        if cie_at not in cies:
            # A CIE after its FDE is legal but rare: parse it on demand.
            sub = _Reader(data, vaddr, ".eh_frame", elf.path)
            sub.pos = cie_at
            ln = sub.take("<I")
            if ln in (0, 0xFFFFFFFF) or sub.take("<I") != 0:
                raise r.fail("FDE names no CIE")
            cies[cie_at] = _parse_cie(sub, cie_at + 4 + ln)
        fde_enc, lsda_enc = cies[cie_at]
        at = r.pos
        if fde_enc == _PCREL_SDATA4 and (
                lsda_enc == DW_EH_PE_omit and at + 8 <= end or
                lsda_enc == _PCREL_SDATA4 and at + 13 <= end and data[at + 8] < 0x80):
            pc_begin, pc_range = unpack("<ii", data, at)
            lsda = None
            if lsda_enc != DW_EH_PE_omit:     # after a one-byte augmentation length
                lsda = (vaddr + at + 9 + unpack("<i", data, at + 9)[0]) & _MASK or None
            out.append(((vaddr + at + pc_begin) & _MASK, pc_range & _MASK, lsda))
        else:
            out.append(_fde(r, end, fde_enc, lsda_enc))
        r.pos = end
    return out


_PCREL_SDATA4 = 0x1B              # DW_EH_PE_pcrel | DW_EH_PE_sdata4
_DATAREL_SDATA4 = 0x3B            # DW_EH_PE_datarel | DW_EH_PE_sdata4
_MASK = 0xFFFFFFFFFFFFFFFF


def _fde(r: _Reader, end: int, fde_enc: int, lsda_enc: int) -> tuple[int, int, int | None]:
    """(pc_begin, pc_range, lsda) of the FDE whose body is at the cursor, past its CIE pointer."""
    pc_begin = r.encoded(fde_enc)
    pc_range = r.encoded(fde_enc & 0x0F)
    lsda = None
    if lsda_enc != DW_EH_PE_omit:
        r.uleb()
        if lsda_enc & 0x80:
            raise r.fail("indirect LSDA pointer")
        lsda = r.encoded(lsda_enc) or None
    if r.pos > end:
        raise r.fail("FDE overruns its length")
    return pc_begin, pc_range, lsda


def landing_pads(elf: ElfFile, lsda: int, func: int) -> list[int]:
    """The landing pads of the LSDA at ``lsda`` for the function starting at ``func``."""
    off = elf.vaddr_to_offset(lsda)
    if off is None:
        raise CorruptElf(f"{elf.path}: LSDA at {lsda:#x} is outside the loaded segments")
    seg = next(s for s in elf.loads if s.p_offset <= off < s.p_offset + s.p_filesz)
    end = seg.p_offset + seg.p_filesz
    r = _Reader(elf.data[off:end], lsda, "LSDA", elf.path)
    lp_enc = r.take("<B")
    lpstart = func if lp_enc == DW_EH_PE_omit else r.encoded(lp_enc)
    if r.take("<B") != DW_EH_PE_omit:
        r.uleb()                  # type table offset
    cs_enc = r.take("<B")
    cs_len = r.uleb()
    table_end = r.pos + cs_len
    pads = []
    while r.pos < table_end:
        r.encoded(cs_enc & 0x0F)  # call-site start
        r.encoded(cs_enc & 0x0F)  # call-site length
        pad = r.encoded(cs_enc & 0x0F)
        r.uleb()                  # action
        if pad:
            pads.append(lpstart + pad)
    return pads


def hdr_table(elf: ElfFile) -> tuple[int | None, list[int]]:
    """(address of ``.eh_frame``, initial locations in ``.eh_frame_hdr``'s search table)."""
    seg = next((s for s in elf.segments if s.p_type == PT_GNU_EH_FRAME), None)
    if seg is None or seg.p_filesz < 4:
        return None, []
    data = elf.bytes_at(seg.p_offset, seg.p_filesz, "PT_GNU_EH_FRAME")
    r = _Reader(data, seg.p_vaddr, ".eh_frame_hdr", elf.path)
    version, ptr_enc, count_enc, table_enc = (r.take("<B") for _ in range(4))
    if version != 1:
        return None, []
    eh_frame = r.encoded(ptr_enc, seg.p_vaddr) if ptr_enc != DW_EH_PE_omit else None
    if count_enc == DW_EH_PE_omit or table_enc == DW_EH_PE_omit:
        return eh_frame, []
    count = r.encoded(count_enc, seg.p_vaddr)
    n = min(count, len(data))
    if table_enc == _DATAREL_SDATA4 and r.pos + 8 * n <= len(data):
        # (initial location, FDE address) pairs of int32s: read as one array
        locs = memoryview(data)[r.pos:r.pos + 8 * n].cast("i")[::2]
        return eh_frame, [(seg.p_vaddr + v) & _MASK for v in locs]
    out = []
    for _ in range(min(count, len(data))):
        out.append(r.encoded(table_enc, seg.p_vaddr))
        r.encoded(table_enc, seg.p_vaddr)
    return eh_frame, out


def unwind_targets(elf: ElfFile) -> tuple[list[int], list[tuple[int, int]]]:
    """(code addresses the unwinder may enter: FDE starts and landing pads, FDE ranges)."""
    eh_frame, targets = hdr_table(elf)
    entries = _fdes(elf, eh_frame)
    for pc, _size, lsda in entries:
        targets.append(pc)
        if lsda is not None:
            targets.extend(landing_pads(elf, lsda, pc))
    return targets, [(pc, pc + size) for pc, size, _ in entries]


def fde_ranges(elf: ElfFile) -> list[tuple[int, int]]:
    """The code ranges the FDEs of ``.eh_frame`` cover."""
    return [(pc, pc + size) for pc, size, _ in _fdes(elf, hdr_table(elf)[0])]


def _fdes(elf: ElfFile, eh_frame: int | None) -> list[tuple[int, int, int | None]]:
    """(pc, size, LSDA) of every FDE; ``eh_frame``: where .eh_frame_hdr says it is."""
    sec = elf.section(".eh_frame")
    entries = []
    if sec is not None and sec.sh_size:
        entries = fde_entries(elf, elf.section_bytes(sec), sec.sh_addr)
    elif eh_frame is not None:
        # No section headers: .eh_frame runs from the header's pointer to its
        # zero terminator, within one PT_LOAD.
        off = elf.vaddr_to_offset(eh_frame)
        seg = next((s for s in elf.loads if off is not None
                    and s.p_offset <= off < s.p_offset + s.p_filesz), None)
        if seg is not None:
            entries = fde_entries(elf, elf.data[off:seg.p_offset + seg.p_filesz], eh_frame)
    return entries
