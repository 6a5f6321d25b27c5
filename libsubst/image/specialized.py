"""The kernel of a specialised image (``pack --specialize``): the calls the
analysis finds for the image's programs, and a kernel linked for them
(``kernel.specialize``), described for the manifest's ``kernel.specialized``."""

from __future__ import annotations

from typing import Sequence


def analysed_calls(program: str, args: Sequence[str], add: Sequence[str],
                   keep: Sequence[str] = ()) -> dict:
    """The calls ``libsubst analyze`` finds for the program and for each
    program added with ``--add`` (they may be exec'd on the same kernel),
    and the calls named in ``keep`` (``--keep-calls``): {"syscalls": names,
    "unknown_sites": functions whose site numbers are not known statically}."""
    from ..analyze import analyze
    from ..elf import ElfFile
    from ..errors import ImageError, LibsubstError
    from ..kernel import syscalls

    for name in keep:
        try:
            syscalls.by_name(name)
        except KeyError:
            raise ImageError(f"--keep-calls {name}: no such x86-64 system call") from None

    programs = [(program, list(args))]
    for spec in add:
        host = spec.split(":", 1)[0]
        try:
            with ElfFile.open(host) as elf:
                runs = elf.interp() is not None     # a dynamically linked program
        except (LibsubstError, OSError):            # a data file or a directory: nothing to run
            runs = False
        if runs:
            programs.append((host, []))
    names: set[str] = set(keep)
    unknown: set[str] = set()
    for prog, argv in programs:
        report = analyze(prog, argv)
        names.update(r["name"] for r in report["syscalls"])
        unknown.update(report["unknown_sites"])
    return {"syscalls": sorted(names), "unknown_sites": sorted(unknown)}


def kernel_for(served: dict) -> tuple[bytes, dict, tuple]:
    """(kernel bytes, the manifest's ``kernel.specialized``, its allow-list)."""
    from ..kernel import hostcalls, specialize, syscalls

    built = specialize.build(set(served["syscalls"]))
    full = specialize.full_facts()
    facts = built.facts
    return built.kernel, {
        "syscalls": built.served,
        "text": facts.text, "functions": facts.functions,
        "unknown_sites": len(served["unknown_sites"]),
        "unresolved_host_sites": sorted(set(facts.unresolved)),
        "full": {"syscalls": len(syscalls.implemented()), "text": full.text,
                 "functions": full.functions, "allowed": len(hostcalls.allowed())},
    }, facts.allowed()
