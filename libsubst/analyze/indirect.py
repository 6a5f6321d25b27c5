"""Calls an object makes through libc's indirect doors, which its imports
alone do not tell:

- ``syscall(2)``: libc's ``syscall`` function makes whatever call its first
  argument names, so its own site's number is unknown.  The caller knows
  it: node calls ``syscall(SYS_capget, ...)``, libuv ``syscall(SYS_statx,
  ...)``.  At every call or tail jump to ``syscall`` (through its PLT stub
  or its GOT slot), the ``mov $n,%edi`` (or ``xor %edi,%edi``) in the bytes
  before it gives the number.  Read from bytes, not decoded, so a stray
  match can add a number, never lose one: the set stays an
  over-approximation.  A call with no such load is counted; its number
  stays unknown, as libc's ``syscall`` reports it.
- ``dlsym``: an object that looks functions up by name (V8 finds
  ``pkey_alloc`` so, to run on a libc without it) may call any function
  whose name it holds as a string; those names count as imports."""

from __future__ import annotations

import re

from ..elf import R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, ElfFile

WINDOW = 48          # bytes before a call searched for the load of %edi
_MAX_NR = 1024       # above any x86-64 number: a larger constant is not one
_ENDBR64 = b"\xf3\x0f\x1e\xfa"
_CALL_REL = re.compile(rb"[\xe8\xe9](....)", re.S)        # call/jmp rel32
_VIA_SLOT = re.compile(rb"\xff[\x15\x25](....)", re.S)    # call/jmp *slot(%rip)
_SET_EDI = re.compile(rb"\xbf(....)|\x48\xc7\xc7(....)|[\x31\x33]\xff", re.S)
_NAME = re.compile(rb"(?<=\0)[A-Za-z_][A-Za-z0-9_]{1,63}(?=\0)")


def _rel(data: bytes, m) -> int:
    return int.from_bytes(m.group(1), "little", signed=True)


def syscall_arguments(elf: ElfFile) -> tuple[list[int], int]:
    """(the numbers this object passes to ``syscall``, how many of its calls
    to it pass a number not found)."""
    slots = {off for off, rtype, name, _ in elf.named_relocations()
             if name == "syscall" and rtype in (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT)}
    if not slots:
        return [], 0
    codes = elf.code_ranges()
    stubs: set[int] = set()          # PLT stubs that jump through a slot of syscall
    calls: list[tuple[bytes, int]] = []
    for _name, base, data in codes:
        for m in _VIA_SLOT.finditer(data):
            if base + m.end() + _rel(data, m) in slots:
                calls.append((data, m.start()))
                start = m.start() - (data[m.start() - 1:m.start()] == b"\xf2")    # bnd
                stubs.update({base + m.start(), base + start})
                if data[start - 4:start] == _ENDBR64:
                    stubs.add(base + start - 4)
    for _name, base, data in codes:
        calls.extend((data, m.start()) for m in _CALL_REL.finditer(data)
                     if base + m.end() + _rel(data, m) in stubs)
    nrs: set[int] = set()
    unknown = 0
    for data, pos in calls:
        if data[pos:pos + 2] == b"\xff\x25" and any(pos - k in stubs for k in (0, 1, 4, 5)):
            continue                                # the stub itself
        found = set()
        for m in _SET_EDI.finditer(data, max(0, pos - WINDOW), pos):
            imm = m.group(1) or m.group(2)
            found.add(int.from_bytes(imm, "little") if imm else 0)
        found = {n for n in found if n < _MAX_NR}
        nrs |= found
        unknown += not found
    return sorted(nrs), unknown


def named_functions(elf: ElfFile) -> list[str]:
    """The identifiers an object that imports ``dlsym`` holds as strings in
    its data (symbol tables left out): names it may look up."""
    if not {"dlsym", "dlvsym"} & set(elf.imports()):
        return []
    names: set[bytes] = set()
    for name, _base, data, _writable in elf.data_ranges():
        if name not in (".dynstr", ".dynsym", ".gnu.version", ".gnu.version_r", ".gnu.hash"):
            names.update(_NAME.findall(data))
    return sorted(n.decode() for n in names)
