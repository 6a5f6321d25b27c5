"""Calls an object makes through libc's indirect doors, which its imports
alone do not tell:

- ``syscall(2)``: libc's ``syscall`` function makes whatever call its first
  argument names, so its own site's number is unknown.  The caller knows
  it: node calls ``syscall(SYS_capget, ...)``, libuv ``syscall(SYS_statx,
  ...)``.  At every call or tail jump to ``syscall`` (through its PLT stub
  or its GOT slot), the ``mov $n,%edi`` (or ``xor %edi,%edi``) in the bytes
  before it gives the number.  Read from bytes, not decoded: a stray
  match can only add a number.  A call with no such load (the number set
  further back, or copied from another register) adds none; the report
  lists libc's ``syscall`` among the functions whose numbers are not known.
- ``dlsym``: an object that looks functions up by name (V8 finds
  ``pkey_alloc`` so, to run on a libc without it) may call any function
  whose name it holds as a string; those names count as imports."""

from __future__ import annotations

import re

from ..elf import ElfFile
from ..elf.abi import R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT

WINDOW = 48          # bytes before a call searched for the load of %edi
_MAX_NR = 1024       # above any x86-64 number: a larger constant is not one
_ENDBR64 = b"\xf3\x0f\x1e\xfa"
_CALL_REL = re.compile(rb"[\xe8\xe9](....)", re.S)        # call/jmp rel32
_VIA_SLOT = re.compile(rb"\xff[\x15\x25](....)", re.S)    # call/jmp *slot(%rip)
_SET_EDI = re.compile(rb"\xbf(....)|\x48\xc7\xc7(....)|[\x31\x33]\xff", re.S)
_NAME = re.compile(rb"(?<=\0)[A-Za-z_][A-Za-z0-9_]{1,63}(?=\0)")


def _rel(data: bytes, m) -> int:
    return int.from_bytes(m.group(1), "little", signed=True)


def syscall_arguments(elf: ElfFile) -> list[int]:
    """The numbers this object passes to ``syscall`` as constants."""
    slots = {off for off, rtype, name, _ in elf.named_relocations()
             if name == "syscall" and rtype in (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT)}
    if not slots:
        return []
    codes = elf.code_ranges()
    stubs: set[int] = set()          # PLT stubs that jump through a slot of syscall
    calls: list[tuple[bytes, int]] = []      # (code, offset of a call or jump to syscall)
    for name, base, data in codes:
        plt = name.startswith(".plt")
        for m in _VIA_SLOT.finditer(data):
            if base + m.end() + _rel(data, m) not in slots:
                continue
            if not plt:                           # -fno-plt: call or jmp *slot(%rip)
                calls.append((data, m.start()))
            if plt or not name.startswith("."):   # a stub (or, sections stripped, maybe one)
                start = m.start() - (data[m.start() - 1:m.start()] == b"\xf2")    # bnd
                stubs.add(base + start)
                if data[start - 4:start] == _ENDBR64:
                    stubs.add(base + start - 4)
    for _name, base, data in codes:
        calls.extend((data, m.start()) for m in _CALL_REL.finditer(data)
                     if base + m.end() + _rel(data, m) in stubs)
    nrs: set[int] = set()
    for data, pos in calls:
        for m in _SET_EDI.finditer(data, max(0, pos - WINDOW), pos):
            imm = m.group(1) or m.group(2)
            nr = int.from_bytes(imm, "little") if imm else 0
            if nr < _MAX_NR:
                nrs.add(nr)
    return sorted(nrs)


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
