"""The fastcall stub: the byte-level contract between rewritten code and the guest kernel.

A rewritten site is a window of whole instructions around one ``syscall``,
replaced by ``jmp rel32 <stub>`` and ``int3`` filler.  Its stub, in a PT_LOAD
the rewriter appends to the object, is::

    <displaced instructions before the syscall, rip-relative operands re-encoded>
    lea  -128(%rsp),%rsp          48 8d 64 24 80            skip the red zone
    call *%gs:0                   65 ff 14 25 00 00 00 00   the kernel's fastcall entry
    lea  128(%rsp),%rsp           48 8d a4 24 80 00 00 00
    <displaced instructions after the syscall, if any>
    jmp  rel32 <first byte after the window>
    ud2; .byte <bytes displaced after the syscall>    never executed: the trailer

The guest kernel sets every guest thread's %gs base to a block whose first
qword is its fastcall entry; the entry takes the syscall ABI (nr in %rax, args
in %rdi %rsi %rdx %r10 %r8 %r9, result in %rax, %rcx/%r11 clobbered, all else
and the flags preserved) and returns with ``ret``.  ``lea`` keeps the flags.

The kernel maps a stub's return address back to the original site
without a table: at the return address it finds ``STUB_LEAVE``, then K
bytes of displaced instructions (their lengths are the originals'), then
``e9 rel32`` and the trailer, ``ud2`` and the byte K; the jump's target
less K is the byte after the original ``syscall``, which is 2 bytes before
it, and the original %rsp is the entry %rsp + 8 + 128.  The guest kernel
shows a signal handler that interrupted a fastcall that site and stack,
as Linux shows the program's (c_src/kernel/signal/view.c).

The kernel's side of these bytes, the block's layout and the red zone, is
the contract header ``c_src/include/libsubst/fastcall.h``; the stub's bytes
are built from its constants (``libsubst._abi``), and the calls that are
never rewritten come from the syscall table.
"""

from __future__ import annotations

from .._abi import ffi
from ..kernel import syscalls

_FASTCALL = ffi.dlopen(None)     # fastcall.h's constants
_RED_ZONE = _FASTCALL.LS_RED_ZONE

# Bump whenever the produced bytes change for the same input: the cache key has it.
REWRITER_VERSION = 3

# lea -LS_RED_ZONE(%rsp),%rsp (a disp8); call *%gs:LS_KBLOCK_ENTRY (an
# absolute disp32); lea LS_RED_ZONE(%rsp),%rsp (a disp32)
STUB_ENTER = bytes.fromhex("488d6424") + (-_RED_ZONE).to_bytes(1, "little", signed=True)
STUB_CALL = bytes.fromhex("65ff1425") + _FASTCALL.LS_KBLOCK_ENTRY.to_bytes(4, "little", signed=True)
STUB_LEAVE = bytes.fromhex("488da424") + _RED_ZONE.to_bytes(4, "little", signed=True)
JMP_REL32 = 0xE9
INT3 = 0xCC
JMP_SIZE = 5
UD2 = bytes.fromhex("0f0b")
TRAILER_SIZE = len(UD2) + 1     # ud2, and the count of bytes displaced after the syscall
MAX_POST = _FASTCALL.LS_STUB_MAX_POST     # that count's bound: 4 instructions, at most 60
STUB_ALIGN = 16

# Never rewritten: the calls the guest kernel serves only from a trap's
# signal frame (syscalls.TRAP_ONLY).
EXCLUDED_SYSCALLS: dict[int, str] = {s.nr: s.name for s in syscalls.TABLE if s.trap_only}

PAGE = 0x1000
SECTION_NAME = ".uklibc.stubs"


def stub_size(pre: int, post: int) -> int:
    """Bytes of a stub displacing ``pre`` bytes before and ``post`` bytes after the syscall."""
    return pre + len(STUB_ENTER) + len(STUB_CALL) + len(STUB_LEAVE) + post + JMP_SIZE \
        + TRAILER_SIZE


def trailer(post: int) -> bytes:
    """What follows a stub's jump back, for ``post`` bytes displaced after the syscall."""
    assert post <= MAX_POST
    return UD2 + bytes([post])


def align(value: int, to: int) -> int:
    return (value + to - 1) & -to


# How far below its memory end an ET_DYN may keep the new segments at
# p_offset == p_vaddr (the file is padded with a hole up to there).  The
# dynamic linkers compute their own program-header address as base + e_phoff
# (glibc rtld.c, musl __dls2), so for ld.so and musl's libc.so the new table
# must sit at an offset equal to its address.
MAX_HOLE = 64 << 20


class Layout:
    """Where the two appended PT_LOADs go: the new program headers (R) and the stubs (R+X)."""

    def __init__(self, phdr_offset: int, phdr_vaddr: int, phdr_size: int):
        self.phdr_offset = phdr_offset
        self.phdr_vaddr = phdr_vaddr
        self.phdr_size = phdr_size
        room = align(phdr_size, PAGE)
        self.stub_offset = phdr_offset + room
        self.stub_vaddr = phdr_vaddr + room

    def __repr__(self) -> str:
        return (f"Layout(phdr={self.phdr_offset:#x}@{self.phdr_vaddr:#x}, "
                f"stubs={self.stub_offset:#x}@{self.stub_vaddr:#x})")


def plan(file_size: int, e_type: int, e_phnum: int, loads: list[tuple[int, int]]) -> Layout:
    """The layout for an object of ``file_size`` bytes whose PT_LOADs span ``(vaddr, memsz)``.

    Everything original keeps its offset and address: the new segments go
    after the end of both the file and the address space the object uses."""
    mem_end = max(v + m for v, m in loads)
    phdr_size = (e_phnum + 2) * 56
    if e_type == 3 and mem_end - file_size <= MAX_HOLE:          # ET_DYN
        base = align(max(file_size, mem_end), PAGE)
        return Layout(base, base, phdr_size)
    return Layout(align(file_size, PAGE), align(mem_end, PAGE), phdr_size)
