"""The report channel's records, written once: the guest kernel writes them
(gentable turns this table into ``report_records.h``, a printf format per
kind) and ``libsubst.monitor.report`` parses them with the same table.  The
channel itself, its bounds and why nothing in it is trusted:
``c_src/include/libsubst/report.h``.

A record is one line: its kind, then its fields, one space apart.  A field's
type says how it is written and read: ``int`` and ``ulong`` in decimal (C
``int``, ``unsigned long``), ``hex`` as 0x and hexadecimal (``unsigned
long``), ``str`` a word without spaces, ``bytes`` a string of any bytes as
two hexadecimal digits each (the kernel encodes it).

This module imports only the standard library (setup.py loads it)."""

from __future__ import annotations

C_FORMAT = {"int": "%d", "ulong": "%lu", "hex": "0x%lx", "str": "%s", "bytes": "%s"}
READ = {"int": int, "ulong": int, "hex": lambda s: int(s, 16), "str": str, "bytes": bytes.fromhex}

# kind -> ((field, type), ...)
RECORDS: dict[str, tuple[tuple[str, str], ...]] = {
    # NAME (number NR) was asked for COUNT times and answered -ENOSYS
    "enosys": (("name", "str"), ("nr", "ulong"), ("count", "ulong")),
    # the guest took fatal signal SIGNO (si_code CODE) at fault address ADDR
    "crash": (("signo", "int"), ("code", "int"), ("addr", "hex")),
    # a general register at the crash (rip, rsp, ...)
    "reg": (("name", "str"), ("value", "hex")),
    # a return address of the crashed stack, innermost first (frame-pointer
    # walk, then a stack scan)
    "frame": (("addr", "hex"),),
    # a guest object mapped at [BASE, END): the program, ld.so and every
    # library ld.so mapped; ENTRY is its index in the boot info's entries, -1
    # for a file not of the image (a volume's)
    "object": (("base", "hex"), ("end", "hex"), ("entry", "int")),
    # the guest called exit_group(STATUS)
    "exit": (("status", "int"),),
    # an execve or a shell's look found no file at the absolute path PATH
    # (a search of PATH tries several) in a process that exited 127; AT is
    # CLOCK_MONOTONIC ns of its last search: the monitor names the paths of
    # the latest one that the host has, for --add
    "missing": (("path", "bytes"), ("at", "ulong")),
    # CLOCK_MONOTONIC ns at the kernel's first instruction and when it jumped
    # to the program (or its ld.so)
    "boot": (("start", "ulong"), ("enter", "ulong")),
}


def c_format(kind: str) -> str:
    """The kernel's printf format of one record, newline included, as the
    contents of a C string literal."""
    return " ".join([kind, *(C_FORMAT[t] for _, t in RECORDS[kind])]) + "\\n"


def read(line: str) -> tuple[str, list] | None:
    """(kind, field values) of one record; None for an unknown kind or a
    malformed record (the channel is the guest's to write: never trusted)."""
    kind, *parts = line.split(" ")
    fields = RECORDS.get(kind)
    if fields is None or len(parts) != len(fields):
        return None
    try:
        return kind, [READ[t](p) for (_, t), p in zip(fields, parts)]
    except ValueError:
        return None
