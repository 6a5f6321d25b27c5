"""Where bytes could send control into given code: a scan, not a decode.

The proof that a window may be rewritten (``sites``) asks what lands
inside it, and the sweep (``decode``) learns that from every instruction
of the object.  Each piece of that evidence an instruction can carry is a
field of a few bytes whose value, read at its offset, names the address:

* a direct ``call``/``jmp``/``jcc``/``xbegin`` rel32 (xbegin's rel16 too)
  and a ``jmp``/``jcc``/``loop``/``jrcxz`` rel8: the field's end plus the
  field, which follows the opcode's last byte;
* a rip-relative operand: the instruction's end, 0, 1, 2 or 4 immediate
  bytes after its disp32, plus the disp32, which follows its ModRM;
* a ``lea table(%rip)`` (disp32) whose table, read as the sweep reads one
  (``Disassembly.jump_table``), has an entry landing there;
* in a position-dependent executable, an immediate or displacement (the
  low 32 bits of a movabs's, or a negative one's magnitude, as the sweep
  parses the hex) that is the address.

So every instruction that carries evidence about ``ranges`` has a byte
position whose field, read at every offset of the code, lands there —
and one pass of numpy over the code finds them all, with some that are
no instruction's field (bytes of other instructions, data).  The caller
decodes the stretches holding them to learn which are real.
"""

from __future__ import annotations

import numpy as np

from ..elf import ElfFile
from .decode import TABLE_CAP

CHUNK = 1 << 22          # code bytes per vectorised step: a few arrays of 32 MB


def _opcodes(*sets) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for s in sets:
        table[list(s)] = True
    return table


# The byte a field follows: an opcode's last byte or a ModRM.  rel8: jcc
# (70-7f), jmp (eb), loop/loope/loopne/jrcxz (e0-e3).  rel32: call, jmp (e8,
# e9), jcc (0f 80-8f), xbegin (c7 f8), and a ModRM of a rip-relative operand
# (mod 00, r/m 101).  rel16: only xbegin's (capstone takes 66 e9 and 66 0f 8x
# as rel32, as Intel's processors do).
_REL8 = _opcodes(range(0x70, 0x80), (0xEB,), range(0xE0, 0xE4))
_REL32 = _opcodes((0xE8, 0xE9, 0xF8), range(0x80, 0x90), [b for b in range(256) if b & 0xC7 == 5])


class _Ranges:
    """Sorted address ranges, each begun ``widen`` bytes early, merged; asked
    about millions of values at once: a map of 64-byte grains first (one
    gather), a binary search only for values in a grain the ranges touch."""

    GRAIN = 6

    def __init__(self, ranges: list[tuple[int, int]], widen: int = 0):
        out: list[int] = []
        for a, b in sorted(ranges):
            a -= widen
            if out and a <= out[-1]:
                out[-1] = max(out[-1], b)
            else:
                out += [a, b]
        self.bounds = np.array(out or [0, 0], dtype=np.int64)
        self.lo = int(self.bounds[0])
        grains = ((int(self.bounds[-1]) - self.lo) >> self.GRAIN) + 1
        self.map = np.zeros(grains + 2, dtype=bool)      # a False grain either side
        for a, b in zip(out[::2], out[1::2]):
            self.map[((a - self.lo) >> self.GRAIN) + 1:((b - 1 - self.lo) >> self.GRAIN) + 2] = True

    def has(self, values: np.ndarray) -> np.ndarray:
        """Which ``values`` lie in a range."""
        grain = np.clip((values - self.lo) >> self.GRAIN, -1, len(self.map) - 2) + 1
        out = self.map[grain]
        maybe = np.flatnonzero(out)
        out[maybe] = np.searchsorted(self.bounds, values[maybe], side="right") & 1
        return out


def _field(data: bytes, start: int, count: int, dtype: str) -> np.ndarray:
    """The little-endian ``dtype`` read at each of ``count`` byte offsets from ``start``."""
    return np.ndarray((count,), dtype=dtype, buffer=data, offset=start, strides=(1,)).astype(np.int64)


def inbound(elf: ElfFile, ranges: list[tuple[int, int]], code_spans: list[tuple[int, int]],
            absolute: bool) -> list[int]:
    """Addresses of code bytes that may begin a field sending control into
    ``ranges`` (see the module's docstring), ascending."""
    rel = _Ranges(ranges, 4)            # rel32 ends 0 to 4 bytes before its instruction's end
    exact = _Ranges(ranges)
    code = _Ranges(code_spans)
    hits: list[np.ndarray] = []
    leas: list[tuple[np.ndarray, np.ndarray]] = []       # (field address, table) into data
    # an absolute immediate: its value, or a negative one's magnitude (the
    # sweep parses "-0x..." as the number); the value alone past 2 GiB
    high = absolute and int(exact.bounds[-1]) > 1 << 31
    for _, base, data in elf.code_ranges():
        n = len(data)
        # Each byte with the two before it (0 before the region): a field
        # at i follows before[i + 1] and before[i].
        before = np.concatenate((np.zeros(2, np.uint8), np.frombuffer(data, dtype=np.uint8)))
        for c in range(0, n, CHUNK):
            m = min(CHUNK, n - c)
            at = np.arange(base + c, base + c + m, dtype=np.int64)
            b1, b2 = before[c + 1:c + 1 + m], before[c:c + m]
            hit = np.zeros(m, dtype=bool)
            k = np.flatnonzero(_REL8[b1])
            hit[k] = exact.has(at[k] + 1 + _field(data, c, m, "<i1")[k])
            k = np.flatnonzero((b2[:n - c - 1] == 0xC7) & (b1[:n - c - 1] == 0xF8))
            hit[k] |= exact.has(at[k] + 2 + _field(data, c, min(m, n - c - 1), "<i2")[k])
            m4 = min(m, n - c - 3)
            if m4 > 0:
                d32 = _field(data, c, m4, "<i4")
                k = np.flatnonzero(_REL32[b1[:m4]])
                t = at[k] + 4 + d32[k]
                hit[k] |= rel.has(t)
                if absolute:
                    hit[:m4] |= exact.has(np.abs(d32))
                    if high:
                        hit[:m4] |= exact.has(d32 & 0xFFFFFFFF)
                table = ~code.has(t) & (t >= 0)
                leas.append((at[k][table], t[table]))
            hits.append(at[hit])
    hits += _tables_into(elf, leas, exact, code)
    return np.unique(np.concatenate(hits)).tolist() if hits else []


def _tables_into(elf: ElfFile, leas, exact: _Ranges, code: _Ranges) -> list[np.ndarray]:
    """The fields of ``leas`` whose table (``decode.Disassembly.jump_table``:
    int32 entries added to the table's address, read while they land in
    code) has an entry in ``exact``."""
    q = np.concatenate([f for f, _ in leas]) if leas else np.zeros(0, np.int64)
    t = np.concatenate([t for _, t in leas]) if leas else np.zeros(0, np.int64)
    image = np.frombuffer(elf.data, dtype=np.uint8)
    out = []
    for s in elf.loads:
        if not s.p_filesz:
            continue
        sel = (t >= s.p_vaddr) & (t + 4 <= s.p_vaddr + s.p_filesz)
        qs, ts = q[sel], t[sel]
        off = ts - s.p_vaddr + s.p_offset
        first = ts + image[off].astype(np.int64) + (image[off + 1].astype(np.int64) << 8) \
            + (image[off + 2].astype(np.int64) << 16) + (image[off + 3].astype(np.int8).astype(np.int64) << 24)
        keep = code.has(first)
        for field, table in zip(qs[keep].tolist(), ts[keep].tolist()):
            if _table_lands(elf, table, exact, code):
                out.append(np.array([field], dtype=np.int64))
    return out


def _table_lands(elf: ElfFile, table: int, exact: _Ranges, code: _Ranges) -> bool:
    """Whether an entry the sweep reads of the table at ``table`` lands in ``exact``."""
    k = 0
    while k < TABLE_CAP:
        # 64 entries at once where one PT_LOAD holds them, else the next alone
        n = min(TABLE_CAP - k, 64)
        raw = elf.read(table + 4 * k, 4 * n)
        if raw is None:
            n, raw = 1, elf.read(table + 4 * k, 4)
            if raw is None:
                return False
        to = table + np.frombuffer(raw, dtype="<i4").astype(np.int64)
        stop = ~code.has(to)
        run = int(stop.argmax()) if stop.any() else n
        if exact.has(to[:run]).any():
            return True
        if run < n:
            return False
        k += n
    return False
