"""The library list a debugger needs, read from the guest's memory the way
gdb's solib-svr4 reads it natively: the program's ``PT_DYNAMIC`` (found
through ``AT_PHDR``), its ``DT_DEBUG`` entry, ld.so's ``struct r_debug`` and
its chain of ``struct link_map`` (glibc's link.h), plus the guest kernel."""

from __future__ import annotations

import errno
import os
import struct
from xml.sax.saxutils import quoteattr

from ..errors import LibsubstError

AT_PHDR, AT_PHNUM, AT_BASE, AT_SYSINFO_EHDR = 3, 5, 7, 33
PT_DYNAMIC, PT_INTERP, PT_PHDR = 2, 3, 6
DT_NULL, DT_DEBUG = 0, 21


def _auxv(auxv: bytes) -> dict[int, int]:
    return {k: v for k, v in struct.iter_unpack("<QQ", auxv[:len(auxv) // 16 * 16])}


_MAX_PHNUM = 256              # more program headers than any real ELF file has


def _read(mem, fmt: str, addr: int) -> tuple:
    """struct.unpack of guest memory; OSError when it is unreadable."""
    size = struct.calcsize(fmt)
    data = mem.read(addr, size)
    if len(data) != size:
        raise OSError(errno.EFAULT, f"guest memory at {addr:#x} is unreadable")
    return struct.unpack(fmt, data)


def cstring(mem, addr: int, limit: int = 4096) -> str:
    out = b""
    while len(out) < limit:
        chunk = mem.read(addr + len(out), 256)
        if not chunk:
            break
        nul = chunk.find(b"\0")
        if nul >= 0:
            return (out + chunk[:nul]).decode("utf-8", "surrogateescape")
        out += chunk
    return out.decode("utf-8", "surrogateescape")


def _headers_at(mem, phdr: int, phnum: int) -> list[tuple[int, int]]:
    """(p_type, p_vaddr) of phnum program headers in guest memory (capped)."""
    return [(h[0], h[3]) for h in
            (_read(mem, "<IIQQ", phdr + 56 * i) for i in range(min(phnum, _MAX_PHNUM)))]


def _program_headers(mem, auxv: bytes):
    """(load bias, [(p_type, p_vaddr)]) of the program, from AT_PHDR."""
    a = _auxv(auxv)
    phdr = a.get(AT_PHDR, 0)
    headers = _headers_at(mem, phdr, a.get(AT_PHNUM, 0))
    bias = next((phdr - v for t, v in headers if t == PT_PHDR), None)
    return bias, headers


_EHDR_SIZE, _PHDR_SIZE = 64, 56


def gdb_auxv(mem, auxv: bytes) -> bytes:
    """The auxiliary vector as gdb is given it.  A rewritten program
    (uklibc/rewrite.py: its own syscall sites) runs with a new program-header
    table, the original's with PT_PHDR moved and two PT_LOADs added, which
    AT_PHDR names; gdb, which checks the headers in memory against the
    program's file before it relocates a PIE, would find them different and
    leave every symbol of the program unrelocated.  The original table is
    still in memory, right after the ELF header: AT_PHDR and AT_PHNUM name
    it when it is the new one less those changes."""
    a = _auxv(auxv)
    bias, headers = _program_headers(mem, auxv)
    phnum = a.get(AT_PHNUM, 0)
    if bias is None or a.get(AT_PHDR) == bias + _EHDR_SIZE or phnum < 3:
        return auxv
    try:
        old = [_read(mem, "<IIQQQQQQ", bias + _EHDR_SIZE + _PHDR_SIZE * i)
               for i in range(phnum - 2)]
        new = [_read(mem, "<IIQQQQQQ", a[AT_PHDR] + _PHDR_SIZE * i) for i in range(phnum)]
    except OSError:
        return auxv
    if any(h[0] == PT_PHDR and h[3] != _EHDR_SIZE for h in old) or \
            not all(h in new for h in old if h[0] != PT_PHDR):
        return auxv
    out = bytearray(auxv)
    for i in range(len(auxv) // 16):
        key = struct.unpack_from("<Q", out, 16 * i)[0]
        if key in (AT_PHDR, AT_PHNUM):
            struct.pack_into("<Q", out, 16 * i + 8,
                             bias + _EHDR_SIZE if key == AT_PHDR else phnum - 2)
    return bytes(out)


def _interp_entry(mem, auxv: bytes) -> str:
    """ld.so at AT_BASE, for the stops before it has filled r_debug.  Its
    name is the program's PT_INTERP, only passed on to gdb; its PT_DYNAMIC
    is read from its ELF header in guest memory (no guest-named file is
    ever opened here, outside the sandbox)."""
    bias, headers = _program_headers(mem, auxv)
    base = _auxv(auxv).get(AT_BASE, 0)
    interp = next((v for t, v in headers if t == PT_INTERP), None)
    if bias is None or interp is None or not base:
        return ""
    name = cstring(mem, bias + interp)
    e_phoff, = _read(mem, "<Q", base + 32)
    e_phnum, = _read(mem, "<H", base + 56)
    dyn = next((v for t, v in _headers_at(mem, base + e_phoff, e_phnum) if t == PT_DYNAMIC), 0)
    return _library(name, base, base, base + dyn)


def _library(name: str, lm: int, l_addr: int, l_ld: int) -> str:
    return (f"<library name={quoteattr(name)} lm=\"{lm:#x}\" lmid=\"0x0\" "
            f"l_addr=\"{l_addr:#x}\" l_ld=\"{l_ld:#x}\"/>")


def _r_debug(mem, auxv: bytes) -> int:
    """The address of ld.so's r_debug (0 before ld.so has set DT_DEBUG)."""
    bias, headers = _program_headers(mem, auxv)
    dyn = next((v for t, v in headers if t == PT_DYNAMIC), None)
    if bias is None or dyn is None:
        return 0
    addr = bias + dyn
    for _ in range(1024):
        tag, val = _read(mem, "<qQ", addr)
        if tag == DT_NULL:
            return 0
        if tag == DT_DEBUG:
            return val
        addr += 16
    return 0


def _dynamic_vaddr(path: str) -> int:
    """p_vaddr of an ELF file's PT_DYNAMIC (gdb checks l_ld against it)."""
    from ..elf import ElfFile

    with ElfFile.open(path) as elf:
        return next((s.p_vaddr for s in elf.segments if s.p_type == PT_DYNAMIC), 0)


def kernel_base(pid: int, kernel: str) -> int:
    """Where the guest kernel binary is mapped in process pid (0: not found)."""
    real = os.path.realpath(kernel)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].strip() == real and int(fields[2], 16) == 0:
                return int(fields[0].split("-")[0], 16)
    return 0


def kernel_symbol(pid: int, kernel: str, name: str) -> int:
    """The run-time address of a symbol of the guest kernel in process pid."""
    return kernel_function(pid, kernel, name)[0]


def kernel_function(pid: int, kernel: str, name: str) -> tuple[int, int]:
    """The run-time [start, end) of a symbol of the guest kernel in process pid."""
    from ..elf import ElfFile

    base = kernel_base(pid, kernel)
    with ElfFile.open(kernel) as elf:
        found = next(((v, sz) for v, sz, _info, n in elf.symbols() if n == name), None)
    if not base or found is None:
        raise LibsubstError(f"process {pid} is not a guest of this libsubst's kernel "
                            f"({kernel})")
    return base + found[0], base + found[0] + found[1]


def _kernel_entry(pid: int, kernel: str) -> str:
    """A <library> for the guest kernel binary (the monitor's own file) at
    its load address."""
    try:
        base = kernel_base(pid, kernel)
        if base:
            return _library(os.path.realpath(kernel), base, base, base + _dynamic_vaddr(kernel))
    except (OSError, LibsubstError):
        pass
    return ""


def svr4_list(mem, auxv: bytes, pid: int, kernel: str) -> str:
    libs = []
    main_lm = 0
    r_debug = _r_debug(mem, auxv)
    vdso = _auxv(auxv).get(AT_SYSINFO_EHDR)
    if r_debug:
        lm, = _read(mem, "<Q", r_debug + 8)
        main_lm = lm
        for _ in range(4096):
            if not lm:
                break
            l_addr, l_name, l_ld, l_next = _read(mem, "<QQQQ", lm)
            name = cstring(mem, l_name) if l_name else ""
            # Not the vDSO, which has no file (gdb reads it from memory).
            if lm != main_lm and name and l_addr != vdso:
                libs.append(_library(name, lm, l_addr, l_ld))
            lm = l_next
    else:
        libs.append(_interp_entry(mem, auxv))
    libs.append(_kernel_entry(pid, kernel))
    head = f'<library-list-svr4 version="1.0" main-lm="{main_lm:#x}">' if main_lm \
        else '<library-list-svr4 version="1.0">'
    return head + "".join(libs) + "</library-list-svr4>"
