"""Writing the substitute object: sites turned into jumps to fastcall stubs.

The new code goes in segments appended by hand, not with LIEF: LIEF 1.0 makes
room for a program header by shifting every section of a shared object one
page up and then re-patching every absolute address it knows of (relocations,
RELR, symbols, _DYNAMIC, ...), so the result can only be trusted as far as its
list of address-holding structures goes.  Appending keeps every original byte
at its original offset and address, which makes the result checkable: outside
the replaced windows and four ELF header fields, the output's first
``len(original)`` bytes *are* the original.  It also keeps lief's 390 ms import
off the rewrite path.

Layout of the output (``stub.plan``)::

    [original file, windows patched] [hole] [new program headers] [stubs]
    [new .shstrtab] [new section headers]

The new program-header table is the old one with PT_PHDR moved to it and two
PT_LOADs inserted after the last one: R for the table itself, R+X for the
stubs.  For a shared object both sit at ``p_offset == p_vaddr``, because a
dynamic linker finds its own program headers at load base + ``e_phoff``
(glibc's rtld, musl's ``__dls2``).  The stubs get a section header,
``.uklibc.stubs``, so objdump and gdb see them.

Every output is verified (``verify``) before it is renamed into place: a
broken library is never left at the destination.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import tempfile
import time
from dataclasses import dataclass

import capstone
from capstone import x86 as cx

from ..elf import ElfFile
from ..elf.abi import (EHDR, PF_R, PF_X, PHDR, PT_LOAD, PT_PHDR, SHDR, SHF_ALLOC, SHF_EXECINSTR,
                       SHN_LORESERVE, SHT_PROGBITS, Segment)
from ..errors import LibsubstError
from . import stub
from .sites import Analysis, Site, analyse


class RewriteError(LibsubstError):
    """The substitute could not be produced: it failed verification, or could not be written."""


class NothingToRewrite(LibsubstError):
    """The object has no syscall site the rewriter may change."""

    exit_code = 1


@dataclass
class Report:
    """What ``make`` did: the analysis, where the stubs went, and the output."""

    analysis: Analysis
    out: str
    layout: stub.Layout
    stub_bytes: int
    sha256: str
    seconds: float

    def to_dict(self) -> dict:
        d = self.analysis.to_dict()
        d.update({"out": self.out, "stub_vaddr": self.layout.stub_vaddr,
                  "phdr_vaddr": self.layout.phdr_vaddr, "stub_bytes": self.stub_bytes,
                  "sha256": self.sha256, "seconds": round(self.seconds, 3)})
        return d


def _md(detail: bool) -> capstone.Cs:
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = detail
    return md


def _moved(md: capstone.Cs, raw: bytes, old: int, new: int) -> bytes:
    """The instruction ``raw`` (at ``old``) re-encoded to run at ``new``."""
    insn = next(md.disasm(raw, old))
    if insn.size != len(raw):
        raise RewriteError(f"instruction at {old:#x} decodes differently in the stub")
    if not any(op.type == cx.X86_OP_MEM and op.mem.base == cx.X86_REG_RIP for op in insn.operands):
        return raw
    target = old + len(raw) + insn.disp
    disp = target - (new + len(raw))
    if not -(1 << 31) <= disp < 1 << 31:
        raise RewriteError(f"rip-relative operand at {old:#x} out of reach of its stub")
    at = insn.disp_offset
    return raw[:at] + struct.pack("<i", disp) + raw[at + 4:]


def build_stubs(elf: ElfFile, sites: list[Site], base: int) -> bytes:
    """The stub segment's content for ``sites`` (rewritable, sorted), placed at ``base``.

    Sets ``site.stub`` for each site."""
    md = _md(True)
    out = bytearray()

    def move(insns) -> None:
        for addr, size in insns:
            out.extend(_moved(md, elf.read(addr, size), addr, base + len(out)))

    for site in sites:
        out += bytes([stub.INT3]) * ((-len(out)) % stub.STUB_ALIGN)
        site.stub = base + len(out)
        move(site.pre)
        out += stub.STUB_ENTER + stub.STUB_CALL + stub.STUB_LEAVE
        move(site.post)
        out += _jump(base + len(out), site.window[1], stub.JMP_SIZE)
        out += stub.trailer(sum(n for _, n in site.post))
    return bytes(out)


def _jump(src: int, dst: int, size: int) -> bytes:
    return bytes([stub.JMP_REL32]) + struct.pack("<i", dst - (src + stub.JMP_SIZE)) \
        + bytes([stub.INT3]) * (size - stub.JMP_SIZE)


def render(analysis: Analysis) -> tuple[bytes, int]:
    """The substitute's bytes, and the stubs' size, for an analysed object."""
    elf, layout = analysis.elf, analysis.layout
    sites = sorted(analysis.rewritable, key=lambda s: s.addr)
    stubs = build_stubs(elf, sites, layout.stub_vaddr)

    out = bytearray(elf.data)
    for site in sites:
        start, end = site.window
        off = elf.vaddr_to_offset(start, end - start)
        out[off:off + end - start] = _jump(start, site.stub, end - start)

    # Program headers: PT_PHDR moved to the new table, two PT_LOADs after the last one.
    phdr_size = (elf.e_phnum + 2) * PHDR.size
    new_loads = [
        Segment(-1, PT_LOAD, PF_R, layout.phdr_offset, layout.phdr_vaddr, layout.phdr_vaddr,
                phdr_size, phdr_size, stub.PAGE),
        Segment(-1, PT_LOAD, PF_R | PF_X, layout.stub_offset, layout.stub_vaddr,
                layout.stub_vaddr, len(stubs), len(stubs), stub.PAGE),
    ]
    last_load = max(s.index for s in elf.segments if s.p_type == PT_LOAD)
    table = bytearray()
    for s in elf.segments:
        if s.p_type == PT_PHDR:
            s = Segment(s.index, PT_PHDR, s.p_flags, layout.phdr_offset, layout.phdr_vaddr,
                        layout.phdr_vaddr, phdr_size, phdr_size, s.p_align)
        table += s.pack()
        if s.index == last_load:
            for n in new_loads:
                table += n.pack()
    assert len(table) == phdr_size

    tail_at = layout.stub_offset + len(stubs)
    shoff, shnum = elf.e_shoff, elf.e_shnum
    extra = b""
    if elf.sections and len(elf.sections) + 1 < SHN_LORESERVE and elf.e_shnum \
            and 0 < elf.shstrndx < len(elf.sections):
        # A new .shstrtab (old names + ours) and a new section header table at the end.
        names_sec = elf.sections[elf.shstrndx]
        names = elf.section_bytes(names_sec)
        name_at = len(names)
        names += stub.SECTION_NAME.encode() + b"\0"
        sht_at = stub.align(tail_at + len(names), 8)
        shdrs = bytearray()
        for sec in elf.sections:
            if sec.index == elf.shstrndx:
                shdrs += sec.pack(sh_offset=tail_at, sh_size=len(names))
            else:
                shdrs += sec.pack()
        shdrs += SHDR.pack(name_at, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, layout.stub_vaddr,
                           layout.stub_offset, len(stubs), 0, 0, stub.STUB_ALIGN, 0)
        extra = names + bytes(sht_at - tail_at - len(names)) + shdrs
        shoff, shnum = sht_at, len(elf.sections) + 1

    header = list(EHDR.unpack_from(elf.data, 0))
    header[5], header[10] = layout.phdr_offset, elf.e_phnum + 2        # e_phoff, e_phnum
    header[6], header[12] = shoff, shnum                               # e_shoff, e_shnum
    out[:EHDR.size] = EHDR.pack(*header)

    hole = layout.phdr_offset - len(out)
    out += bytes(hole) + table
    out += bytes(layout.stub_offset - len(out)) + stubs + extra
    return bytes(out), len(stubs)


def verify(analysis: Analysis, data: bytes) -> None:
    """Check ``data`` is ``analysis``'s object with exactly its rewritable sites rewritten.

    Raises RewriteError naming the first thing that does not hold."""
    try:
        _verify(analysis, data)
    except (struct.error, IndexError, ValueError, OverflowError, TypeError, capstone.CsError) as e:
        raise RewriteError(f"{analysis.path}: the rewritten object failed verification "
                           f"({type(e).__name__}: {e})") from e


def _verify(analysis: Analysis, data: bytes) -> None:
    src = analysis.elf
    sites = [s for s in analysis.rewritable]

    def fail(why: str) -> RewriteError:
        return RewriteError(f"{analysis.path}: the rewritten object failed verification: {why}")

    try:
        out = ElfFile(data, "<substitute>")
        out.check_layout()
    except LibsubstError as e:
        raise fail(f"it does not parse ({e})") from None
    # 1. The ELF header: only e_phoff/e_phnum/e_shoff/e_shnum may change.
    a, b = list(EHDR.unpack_from(src.data)), list(EHDR.unpack_from(data))
    for i in (5, 6, 10, 12):
        a[i] = b[i] = 0
    if a != b:
        raise fail("ELF header fields changed")
    # 2. Program headers: the originals (PT_PHDR moved) with two PT_LOADs after the last one.
    last = max(i for i, x in enumerate(src.segments) if x.p_type == PT_LOAD)
    if len(out.segments) != len(src.segments) + 2:
        raise fail("unexpected number of program headers")
    new = out.segments[last + 1:last + 3]
    kept = out.segments[:last + 1] + out.segments[last + 3:]
    table_size = len(out.segments) * PHDR.size
    for x, y in zip(src.segments, kept):
        if x.p_type == PT_PHDR:
            if (y.p_type, y.p_offset, y.p_vaddr, y.p_filesz) != \
                    (PT_PHDR, out.e_phoff, new[0].p_vaddr, table_size):
                raise fail("PT_PHDR does not describe the new table")
        elif x.pack() != y.pack():
            raise fail(f"program header {x.index} changed")
    if [(s.p_type, s.p_flags) for s in new] != [(PT_LOAD, PF_R), (PT_LOAD, PF_R | PF_X)]:
        raise fail("the added segments are not an R and an R+X PT_LOAD")
    for s in new:
        if (s.p_vaddr - s.p_offset) % stub.PAGE or s.p_offset < len(src.data):
            raise fail("an added segment is misplaced")
    if (new[0].p_offset, new[0].p_filesz) != (out.e_phoff, table_size):
        raise fail("the new program header table is not what its PT_LOAD maps")
    if src.e_type == 3 and new[0].p_offset != new[0].p_vaddr and \
            new[0].p_vaddr - len(src.data) <= stub.MAX_HOLE:
        raise fail("the new program headers are not at p_offset == p_vaddr")
    stub_seg = new[1]
    # 3. Outside the windows, the original bytes are untouched.
    restored = bytearray(data[:len(src.data)])
    restored[:EHDR.size] = src.data[:EHDR.size]
    for s in sites:
        start, end = s.window
        off = src.vaddr_to_offset(start, end - start)
        restored[off:off + end - start] = src.data[off:off + end - start]
    if restored != src.data:            # a bytearray compares with src's mmap by content
        raise fail("bytes outside the rewritten windows changed")
    # 4. Each window jumps to its stub; each stub is the contract and jumps back.
    md = _md(True)
    seen_stubs = []
    for s in sites:
        start, end = s.window
        win = out.read(start, end - start)
        if win is None or win[0] != stub.JMP_REL32:
            raise fail(f"site {s.addr:#x} does not begin with jmp rel32")
        target = start + stub.JMP_SIZE + struct.unpack_from("<i", win, 1)[0]
        if (s.stub is not None and target != s.stub) or \
                win[stub.JMP_SIZE:] != bytes([stub.INT3]) * (end - start - stub.JMP_SIZE):
            raise fail(f"site {s.addr:#x} does not jump to its stub")
        size = _check_stub(md, src, out, s, target, fail)
        if not (stub_seg.p_vaddr <= target and target + size <= stub_seg.p_vaddr + stub_seg.p_filesz):
            raise fail(f"site {s.addr:#x} jumps outside the stub segment")
        seen_stubs.append((target, target + size))
    seen_stubs.sort()
    if any(b[0] < a[1] for a, b in zip(seen_stubs, seen_stubs[1:])):
        raise fail("two sites share stub bytes")
    filler = bytearray(out.bytes_at(stub_seg.p_offset, stub_seg.p_filesz, "stubs"))
    for a, b in seen_stubs:
        filler[a - stub_seg.p_vaddr:b - stub_seg.p_vaddr] = bytes([stub.INT3]) * (b - a)
    if filler.strip(bytes([stub.INT3])):
        raise fail("the stub segment holds bytes that belong to no stub")
    if out.soname() != src.soname() or out.build_id() != src.build_id():
        raise fail("DT_SONAME or the build-id changed")


def _check_stub(md, src: ElfFile, out: ElfFile, site: Site, at: int, fail) -> int:
    """Check the stub of ``site`` at ``at``; returns its size."""
    size = (sum(n for _, n in site.pre) + sum(n for _, n in site.post)
            + stub.stub_size(0, 0))
    code = out.read(at, size)
    if code is None:
        raise fail(f"stub of {site.addr:#x} is not mapped")
    pos = 0

    def same(insns):
        nonlocal pos
        for addr, n in insns:
            orig = next(md.disasm(src.read(addr, n), addr), None)
            moved = next(md.disasm(code[pos:pos + n], at + pos), None)
            if orig is None or moved is None or moved.size != n or moved.id != orig.id:
                raise fail(f"stub of {site.addr:#x}: displaced instruction {addr:#x} differs")
            if code[pos:pos + n] != src.read(addr, n):
                # Only a rip-relative displacement may differ, and it must reach the same byte.
                if not (_rip_target(orig) is not None and _rip_target(orig) == _rip_target(moved)):
                    raise fail(f"stub of {site.addr:#x}: instruction {addr:#x} was changed")
            pos += n

    same(site.pre)
    fixed = stub.STUB_ENTER + stub.STUB_CALL + stub.STUB_LEAVE
    if code[pos:pos + len(fixed)] != fixed:
        raise fail(f"stub of {site.addr:#x} does not call *%gs:0 as the contract says")
    pos += len(fixed)
    same(site.post)
    if code[pos] != stub.JMP_REL32:
        raise fail(f"stub of {site.addr:#x} does not end with jmp rel32")
    back = at + pos + stub.JMP_SIZE + struct.unpack_from("<i", code, pos + 1)[0]
    if back != site.window[1]:
        raise fail(f"stub of {site.addr:#x} does not jump back to {site.window[1]:#x}")
    post = sum(n for _, n in site.post)
    if code[pos + stub.JMP_SIZE:] != stub.trailer(post) or back - post != site.addr + 2:
        raise fail(f"stub of {site.addr:#x}: its trailer does not name the site")
    return size


def _rip_target(insn) -> int | None:
    for op in insn.operands:
        if op.type == cx.X86_OP_MEM and op.mem.base == cx.X86_REG_RIP:
            return insn.address + insn.size + op.mem.disp
    return None


def produce(analysis: Analysis) -> tuple[bytes, int]:
    """The verified substitute's bytes, and the stubs' size, for an analysed object."""
    try:
        data, stub_bytes = render(analysis)
    except (struct.error, IndexError, ValueError, OverflowError, TypeError,
            StopIteration, capstone.CsError) as e:
        raise RewriteError(f"{analysis.path}: cannot rewrite this object "
                           f"({type(e).__name__}: {e})") from e
    verify(analysis, data)
    return data, stub_bytes


def make(src: str, out: str) -> Report:
    """Write the substitute of the ELF object ``src`` to ``out``.

    Raises NothingToRewrite when no site can be rewritten (nothing is
    written), the ``libsubst.errors`` ELF errors for bad input, and
    RewriteError if the result fails verification (nothing is written)."""
    t0 = time.perf_counter()
    analysis = analyse(src)
    if not analysis.sites:
        raise NothingToRewrite(f"{src} has no syscall instructions; nothing to do")
    if not analysis.rewritable:
        raise NothingToRewrite(f"{src}: none of its {len(analysis.sites)} syscall sites can be "
                               f"rewritten ({_reasons(analysis)}); nothing to do")
    data, stub_bytes = produce(analysis)
    try:
        write_atomic(out, data, mode=os.stat(src).st_mode & 0o777)
    except OSError as e:
        raise RewriteError(f"cannot write {out}: {e.strerror or e}") from None
    return Report(analysis, out, analysis.layout, stub_bytes,
                  hashlib.sha256(data).hexdigest(), time.perf_counter() - t0)


def _reasons(analysis: Analysis) -> str:
    return ", ".join(f"{n} {r}" for r, n in analysis.by_reason().items())


def write_atomic(path: str, data: bytes, mode: int = 0o644, keep_same: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    Runs of zero pages are left as holes (the gap before the new segments).
    ``keep_same``: a file of the caller's own already at ``path`` with these
    bytes stays (another process made it at the same time): a guest laid
    out with it may be about to mount it, and a file renamed over is
    unlinked, which its mount then refuses (ENOENT)."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".uklibc-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            view = memoryview(data)
            zero = bytes(stub.PAGE)
            pos = 0
            while pos < len(data):
                chunk = view[pos:pos + stub.PAGE]
                if len(chunk) == stub.PAGE and chunk == zero:
                    f.seek(stub.PAGE, os.SEEK_CUR)
                else:
                    f.write(chunk)
                pos += len(chunk)
            f.truncate(len(data))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if keep_same and _link_or_same(tmp, path, data):
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _link_or_same(tmp: str, path: str, data: bytes) -> bool:
    """Whether ``path`` now holds ``data`` without a rename over it: linked
    to ``tmp`` where nothing was (no window for another maker between a
    look and a rename), or already a file of these bytes that only the
    caller can change (``_ours``)."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        pass
    except OSError:
        return False                # no hard links here: renamed over, as before
    try:
        # Not followed: a symlink planted at path is replaced, not read through.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        return _ours(st) and st.st_size == len(data) and f.read() == data


def _ours(st: os.stat_result) -> bool:
    """Whether a file of ``st`` is one only the caller can change: regular,
    its own, writable by no group or other, with no other name (a copy of
    the same bytes that another user owns or can write could be edited
    after it is kept, under a guest that maps it)."""
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and \
        not st.st_mode & 0o022 and st.st_nlink == 1
