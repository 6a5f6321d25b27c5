"""gdb's amd64 registers as the remote protocol's 'g' packet carries them,
in the order of the target description the server sends (target_xml):
rax..r15, rip, eflags, the six segment registers, st0..st7 (80 bits), the
eight x87 control registers, xmm0..15, mxcsr, then as for a Linux process
orig_rax, fs_base and gs_base (gdb numbers 0..59).  Values come from
ptrace's user_regs_struct and FXSAVE area.  gs_base is the guest kernel's
(its per-thread block: the fastcall contract), shown but never written."""

from __future__ import annotations

import struct

GPRS = "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15".split()
SEGS = "cs ss ds es fs gs".split()
# The registers gdb may write one by one ('P'), by gdb number.
WRITABLE = {**{i: n for i, n in enumerate(GPRS)}, 16: "rip", 17: "eflags", 57: "orig_rax",
            58: "fs_base"}
LINUX = ("orig_rax", "fs_base", "gs_base")      # after mxcsr
_SIZES = [8] * 17 + [4] * 7 + [10] * 8 + [4] * 8 + [16] * 16 + [4] + [8] * len(LINUX)
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
    out += fx[160:160 + 256] + fx[24:28]
    return out + b"".join(struct.pack("<Q", regs[n] & (2**64 - 1)) for n in LINUX)


def one(regs: dict[str, int], fx: bytes, n: int) -> str:
    """Register n as 'p' answers it: hex, or 'x's for one not carried."""
    if not 0 <= n < len(_SIZES):
        return "x" * 16
    return g_packet(regs, fx)[OFFSETS[n]:OFFSETS[n + 1]].hex()


def from_g_packet(regs: dict[str, int], data: bytes) -> dict[str, int]:
    """The general registers of a 'G' packet applied to regs (x87 and SSE
    state is not written back, nor gs_base)."""
    regs = dict(regs)
    for i, n in enumerate(GPRS):
        regs[n] = struct.unpack_from("<Q", data, 8 * i)[0]
    regs["rip"] = struct.unpack_from("<Q", data, 128)[0]
    regs["eflags"] = struct.unpack_from("<I", data, 136)[0]
    for n in (57, 58):
        if len(data) >= OFFSETS[n + 1]:
            regs[WRITABLE[n]] = struct.unpack_from("<Q", data, OFFSETS[n])[0]
    return regs


def set_one(regs: dict[str, int], n: int, value: bytes) -> dict[str, int] | None:
    if n not in WRITABLE:
        return None
    regs = dict(regs)
    regs[WRITABLE[n]] = int.from_bytes(value.ljust(8, b"\0")[:8], "little")
    return regs


# ---- the target description (gdb's "Target Descriptions" appendix) ------------

_EFLAGS = "CF:0 :1 PF:2 AF:4 ZF:6 SF:7 TF:8 IF:9 DF:10 OF:11 NT:14 RF:16 VM:17 AC:18 VIF:19 " \
          "VIP:20 ID:21"
_MXCSR = "IE:0 DE:1 ZE:2 OE:3 UE:4 PE:5 DAZ:6 IM:7 DM:8 ZM:9 OM:10 UM:11 PM:12 FZ:15"
_VECTORS = (("v4f", "ieee_single", 4), ("v2d", "ieee_double", 2), ("v16i8", "int8", 16),
            ("v8i16", "int16", 8), ("v4i32", "int32", 4), ("v2i64", "int64", 2))
_X87 = "fctrl fstat ftag fiseg fioff foseg fooff fop".split()


def _flags(name: str, fields: str) -> str:
    bits = "".join(f'<field name="{f}" start="{b}" end="{b}"/>'
                   for f, b in (x.split(":") for x in fields.split()))
    return f'<flags id="{name}" size="4">{bits}</flags>'


def _reg(name: str, bits: int, kind: str, group: str = "") -> str:
    return f'<reg name="{name}" bitsize="{bits}" type="{kind}"' + \
        (f' group="{group}"' if group else "") + "/>"


def target_xml() -> str:
    """amd64 GNU/Linux: the features gdb's amd64-linux support asks for,
    their registers in the 'g' packet's order (the first is number 0)."""
    core = [_flags("i386_eflags", _EFLAGS)]
    core += [_reg(n, 64, {"rbp": "data_ptr", "rsp": "data_ptr"}.get(n, "int64")) for n in GPRS]
    core[1] = core[1].replace("<reg ", '<reg regnum="0" ', 1)
    core += [_reg("rip", 64, "code_ptr"), _reg("eflags", 32, "i386_eflags")]
    core += [_reg(n, 32, "int32") for n in SEGS]
    core += [_reg(f"st{i}", 80, "i387_ext") for i in range(8)]
    core += [_reg(n, 32, "int", "float") for n in _X87]
    sse = [f'<vector id="{v}" type="{t}" count="{c}"/>' for v, t, c in _VECTORS]
    sse.append('<union id="vec128">' + "".join(
        f'<field name="{f}" type="{v}"/>' for f, v in
        (("v4_float", "v4f"), ("v2_double", "v2d"), ("v16_int8", "v16i8"),
         ("v8_int16", "v8i16"), ("v4_int32", "v4i32"), ("v2_int64", "v2i64"),
         ("uint128", "uint128"))) + "</union>")
    sse.append(_flags("i386_mxcsr", _MXCSR))
    sse += [_reg(f"xmm{i}", 128, "vec128", "vector") for i in range(16)]
    sse.append(_reg("mxcsr", 32, "i386_mxcsr", "vector"))
    features = (("core", core), ("sse", sse),
                ("linux", [_reg("orig_rax", 64, "int", "system")]),
                ("segments", [_reg(n, 64, "int") for n in LINUX[1:]]))
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target>'
            "<architecture>i386:x86-64</architecture><osabi>GNU/Linux</osabi>"
            + "".join(f'<feature name="org.gnu.gdb.i386.{f}">{"".join(body)}</feature>'
                      for f, body in features) + "</target>")
