"""gdb's amd64 registers as the remote protocol's 'g' packet carries them
(gdb's register numbers 0..56, no target description sent: gdb takes the
architecture from the program): rax..r15, rip, eflags, the six segment
registers, st0..st7 (80 bits), the eight x87 control registers, xmm0..15
and mxcsr.  Values come from ptrace's user_regs_struct and FXSAVE area."""

from __future__ import annotations

import struct

GPRS = "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15".split()
SEGS = "cs ss ds es fs gs".split()
# The registers gdb may write one by one ('P'), by gdb number.
WRITABLE = {**{i: n for i, n in enumerate(GPRS)}, 16: "rip", 17: "eflags"}
_SIZES = [8] * 17 + [4] * 7 + [10] * 8 + [4] * 8 + [16] * 16 + [4]
OFFSETS = [sum(_SIZES[:i]) for i in range(len(_SIZES) + 1)]


def g_packet(regs: dict[str, int], fx: bytes) -> bytes:
    out = b"".join(struct.pack("<Q", regs[n]) for n in GPRS)
    out += struct.pack("<QI", regs["rip"], regs["eflags"] & 0xFFFFFFFF)
    out += b"".join(struct.pack("<I", regs[n] & 0xFFFFFFFF) for n in SEGS)
    for i in range(8):
        out += fx[32 + 16 * i:32 + 16 * i + 10]
    fcw, fsw, ftw, fop = struct.unpack_from("<HHBxH", fx, 0)
    fip, fdp = struct.unpack_from("<QQ", fx, 8)
    # FXSAVE keeps an abridged tag (a bit per register: in use); gdb wants
    # the full tag word (2 bits: 0 valid, 3 empty).
    tag = sum((0 if ftw & (1 << i) else 3) << (2 * i) for i in range(8))
    out += struct.pack("<8I", fcw, fsw, tag, 0, fip & 0xFFFFFFFF, 0, fdp & 0xFFFFFFFF, fop)
    out += fx[160:160 + 256]
    return out + fx[24:28]


def one(regs: dict[str, int], fx: bytes, n: int) -> str:
    """Register n as 'p' answers it: hex, or 'x's for one not carried."""
    if not 0 <= n < len(_SIZES):
        return "x" * 16
    return g_packet(regs, fx)[OFFSETS[n]:OFFSETS[n + 1]].hex()


def from_g_packet(regs: dict[str, int], data: bytes) -> dict[str, int]:
    """The general registers of a 'G' packet applied to regs (x87 and SSE
    state is not written back)."""
    regs = dict(regs)
    for i, n in enumerate(GPRS):
        regs[n] = struct.unpack_from("<Q", data, 8 * i)[0]
    regs["rip"] = struct.unpack_from("<Q", data, 128)[0]
    regs["eflags"] = struct.unpack_from("<I", data, 136)[0]
    return regs


def set_one(regs: dict[str, int], n: int, value: bytes) -> dict[str, int] | None:
    if n not in WRITABLE:
        return None
    regs = dict(regs)
    regs[WRITABLE[n]] = int.from_bytes(value.ljust(8, b"\0")[:8], "little")
    return regs
