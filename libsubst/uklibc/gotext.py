"""A Go program's functions, from its ``.gopclntab``.

Go's linker keeps no FDEs and (stripped, as Debian ships them) no symbols,
but every Go function is in the pc-line table's function table, and the
linker puts no data between them: that range is known code
(``stretch.known_code``), and each entry is where a linear sweep restarts
(``stretch.function_starts``).  Formats: Go 1.16-1.17 (absolute entries) and
1.18 on (entries relative to ``textStart``); an older or unknown table gives
nothing, and the program's sites stay on the trap path.
"""

from __future__ import annotations

import struct
from array import array

from ..elf import ElfFile

_GO116 = 0xFFFFFFFA
_GO118 = (0xFFFFFFF0, 0xFFFFFFF1)        # 1.18-1.19, 1.20 on


def function_entries(elf: ElfFile) -> list[int]:
    """Every function's entry, ascending, and the end of the last one; []
    for an object without a table this reads."""
    sec = elf.section(".gopclntab")
    if sec is None:
        return []
    data = elf.section_bytes(sec)
    if len(data) < 8 or data[4:6] != b"\0\0" or data[7] != 8:
        return []
    magic = struct.unpack_from("<I", data)[0]
    try:
        # The function table: nfunc (entry, offset of its _func) pairs, then
        # the end of the last function in an entry's place.
        if magic in _GO118:
            nfunc, _nfiles, text_start = struct.unpack_from("<QQQ", data, 8)
            pcln = struct.unpack_from("<Q", data, 8 + 7 * 8)[0]
            words, base = array("I"), text_start
        elif magic == _GO116:
            nfunc = struct.unpack_from("<Q", data, 8)[0]
            pcln = struct.unpack_from("<Q", data, 8 + 6 * 8)[0]
            words, base = array("Q"), 0
        else:
            return []
        end = pcln + (nfunc + 1) * 2 * words.itemsize
        if not nfunc or end > len(data):
            return []                 # a table cut short: nothing claimed
        words.frombytes(data[pcln:end])
    except struct.error:
        return []
    entries = [base + e for e in words[::2]]
    return entries if all(a <= b for a, b in zip(entries, entries[1:])) else []


def text_range(elf: ElfFile) -> list[tuple[int, int]]:
    """[(first function's entry, end of the last)] of a Go program, or []."""
    entries = function_entries(elf)
    return [(entries[0], entries[-1])] if len(entries) > 1 and entries[0] < entries[-1] else []
