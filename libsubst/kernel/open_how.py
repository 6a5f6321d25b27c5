"""The open_hows a linked kernel lets openat2 take.

The seccomp filter cannot read an open_how (its mode could set a
set-user-ID bit on a volume file), so it pins openat2's pointer to the
kernel's own four, by their distances before the return address of the one
`syscall` that makes it (hostcalls.RESOLVE_IP, OPEN_RO_IP, ...), and the tender
seals the text and the read-only pages before it.  A guest that jumps into
kernel text can make that call from any `0f 05` bytes there, whole
instruction or not, and the same distances then name other sealed bytes:
``forged_open_hows`` lists the places where those would be an open_how
openat2 takes that makes a file with a set-user/group-ID mode, or lie
outside the sealed pages.  The full kernel is checked by a test, a
specialised one as it is linked."""

from __future__ import annotations

import struct

from elftools.elf.elffile import ELFFile

O_CREAT, O_TMPFILE = 0o100, 0o20000000
HOWS = ("ls_resolve_how", "ls_open_ro_how", "ls_open_rd_how", "ls_open_nb_how")  # x86_64/entry.S
CALL = "ls_resolve_ip"


def sealed(path: str) -> tuple[bytes, int, dict[str, int]]:
    """The kernel's sealed pages as mapped, from its first page to the end
    of its text (the segments up to the text are mapped at their file
    offsets), where its text starts in them, and its symbols."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        (text,) = [s for s in loads if s["p_flags"] & 1]
        if loads[0]["p_vaddr"] != 0 or any(s["p_offset"] != s["p_vaddr"] for s in loads
                                            if s["p_vaddr"] <= text["p_vaddr"]):
            raise ValueError(f"{path}: its segments before the text are not mapped as laid out")
        sym = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
        f.seek(0)
        return f.read(text["p_vaddr"] + text["p_filesz"]), text["p_vaddr"], sym


def _sets_an_id(flags: int, mode: int, resolve: int) -> bool:
    """openat2 would take it (build_open_how's checks) and make a set-ID file."""
    return (flags >> 32 == 0 and bool(flags & (O_CREAT | O_TMPFILE)) and mode & ~0o7777 == 0
            and bool(mode & 0o6000) and resolve >> 6 == 0)


def forged_open_hows(path: str) -> list[tuple[int, str]]:
    """(return address, what is wrong) for every `syscall` but the kernel's
    own openat2 whose pinned places hold a set-ID open_how or lie outside
    the sealed pages; [] for a sound kernel."""
    data, start, sym = sealed(path)
    call = sym[CALL]
    slots = [call - sym[h] for h in HOWS]
    bad = []
    for ip in (i + 2 for i in range(start, len(data) - 1) if data[i:i + 2] == b"\x0f\x05"):
        if ip == call:
            continue
        for slot in slots:
            how = ip - slot
            if how < 0 or how + 24 > len(data):
                bad.append((ip, "an open_how outside the sealed pages"))
            elif _sets_an_id(*struct.unpack_from("<QQQ", data, how)):
                bad.append((ip, "an open_how that makes a set-ID file"))
    return bad
