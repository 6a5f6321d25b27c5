"""capstone's linear decoding, read in bulk: no Python object per instruction.

``Cs.disasm_lite`` makes a tuple and two strings for every instruction,
which cost more than capstone's own decoding: a 57 MB Go program has 7
million instructions.  Here ``cs_disasm`` (the same C call, the same
handle and options) fills its array of ``cs_insn`` structs, copied out as
one ``bytes`` per chunk, and the sweep reads columns of it with strided
slices (every address, every size) and searches it with ``re`` on bytes
(rip-relative operands, immediates), touching in Python only the
instructions that matter.  Decoding a stretch in chunks of ``CHUNK``
instructions, each starting where the last one ended, is decoding it
whole: x86 instructions are decoded one after another with no state
carried between them.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import capstone
from capstone import _cs, _cs_insn

SIZE = ctypes.sizeof(_cs_insn)        # one instruction's struct: 248 bytes in capstone 5
ADDR, LEN = _cs_insn.address.offset, _cs_insn.size.offset
MNEMONIC, OP_STR = _cs_insn.mnemonic.offset, _cs_insn.op_str.offset
OP_STR_END = OP_STR + _cs_insn.op_str.size
assert SIZE % 8 == 0 and ADDR % 8 == 0 and MNEMONIC % 2 == 0 and _cs_insn.size.size == 2
CHUNK = 1 << 14                       # instructions per cs_disasm call: 4 MB of structs


def decode(md: capstone.Cs, data: bytes, start: int, stop: int, addr: int) -> Iterator[bytes]:
    """The ``cs_insn`` array of ``data[start:stop]`` decoded at ``addr``, in
    chunks, each decoded when asked for: what ``md.disasm_lite(data[start:stop],
    addr)`` yields."""
    origin = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value    # data stays alive
    while start < stop:
        insn = ctypes.POINTER(_cs_insn)()
        n = _cs.cs_disasm(md.csh, ctypes.cast(origin + start, ctypes.POINTER(ctypes.c_char)),
                          stop - start, addr, CHUNK, ctypes.byref(insn))
        if n == 0:
            status = _cs.cs_errno(md.csh)
            if status != capstone.CS_ERR_OK:
                raise capstone.CsError(status)
            break
        try:
            raw = ctypes.string_at(insn, n * SIZE)
        finally:
            _cs.cs_free(insn, n)
        yield raw
        if n < CHUNK:
            break
        last = memoryview(raw)[(n - 1) * SIZE:].cast("Q")[ADDR // 8] \
            + int.from_bytes(raw[(n - 1) * SIZE + LEN:(n - 1) * SIZE + LEN + 2], "little")
        start += last - addr
        addr = last


def addresses(raw: bytes) -> bytes:
    """Every instruction's address, as the bytes of an ``array("Q")``."""
    return memoryview(raw).cast("Q")[ADDR // 8::SIZE // 8].tobytes()


def sizes(raw: bytes) -> bytes:
    """Every instruction's size, a byte each (at most 15, or 1 for a skipped byte)."""
    return raw[LEN::SIZE]


def mnemonic_starts(raw: bytes) -> list[int]:
    """Every instruction's first two mnemonic characters, as a little-endian int."""
    return memoryview(raw)[MNEMONIC:len(raw) - SIZE + MNEMONIC + 2].cast("H")[::SIZE // 2].tolist()


def text(raw: bytes, i: int, field: int) -> str:
    """Instruction ``i``'s mnemonic (``field`` MNEMONIC) or operands (OP_STR)."""
    at = i * SIZE + field
    return raw[at:raw.index(b"\0", at)].decode("ascii")


def in_op_str(raw: bytes, pos: int, end: int) -> int | None:
    """The instruction whose operand string holds ``raw[pos:end]``, if one
    does (a search of the whole array also meets instruction bytes,
    mnemonics and what lies past an operand string's NUL)."""
    i, off = divmod(pos, SIZE)
    if not OP_STR <= off < OP_STR_END:
        return None
    nul = raw.find(b"\0", pos - off + OP_STR, pos - off + OP_STR_END)
    return i if end <= nul else None
