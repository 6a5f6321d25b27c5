"""The code range of a Go program's functions, from its ``.gopclntab``.

Go's linker keeps no FDEs and (stripped, as Debian ships them) no symbols,
but every Go function is in the pc-line table's function table, and the
linker puts no data between them: that range is known code
(``decode.known_code``).  Formats: Go 1.16-1.17 (absolute entries) and 1.18
on (entries relative to ``textStart``); an older or unknown table gives
nothing, and the program's sites stay on the trap path.
"""

from __future__ import annotations

import struct

from ..elf import ElfFile

_GO116 = 0xFFFFFFFA
_GO118 = (0xFFFFFFF0, 0xFFFFFFF1)        # 1.18-1.19, 1.20 on


def text_range(elf: ElfFile) -> list[tuple[int, int]]:
    """[(first function's entry, end of the last)] of a Go program, or []."""
    sec = elf.section(".gopclntab")
    if sec is None:
        return []
    data = elf.section_bytes(sec)
    if len(data) < 8 or data[4:6] != b"\0\0" or data[7] != 8:
        return []
    magic = struct.unpack_from("<I", data)[0]
    try:
        if magic in _GO118:
            nfunc, _nfiles, text_start = struct.unpack_from("<QQQ", data, 8)
            pcln = struct.unpack_from("<Q", data, 8 + 7 * 8)[0]
            first = struct.unpack_from("<I", data, pcln)[0]
            last = struct.unpack_from("<I", data, pcln + nfunc * 8)[0]
            lo, hi = text_start + first, text_start + last
        elif magic == _GO116:
            nfunc = struct.unpack_from("<Q", data, 8)[0]
            pcln = struct.unpack_from("<Q", data, 8 + 6 * 8)[0]
            lo = struct.unpack_from("<Q", data, pcln)[0]
            hi = struct.unpack_from("<Q", data, pcln + nfunc * 16)[0]
        else:
            return []
    except struct.error:
        return []                     # a table cut short: no range claimed
    return [(lo, hi)] if lo < hi else []
