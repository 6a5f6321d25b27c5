"""``libsubst analyze``: the system calls a program can make, before it runs.

For the program and every object of its image (ld.so, the ``DT_NEEDED``
closure, the modules an interpreter may dlopen):

- the program's and ld.so's own ``syscall`` sites (they run from their
  entry points), with the numbers ``uklibc.sysnr`` can tell;
- the numbers any object passes to libc's ``syscall(2)``, and the functions
  an object that uses ``dlsym`` names as strings (``indirect``);
- for a library with ``syscall`` sites (glibc, but any library alike), the
  calls each exported function can reach (``callgraph``), cached by
  build-id; the program and every library contribute the functions they
  import, followed through the objects that provide them.

Each call is then looked up in the syscall table: served by the guest
kernel, passed to the host, or answered with ENOSYS, with the objects and
functions it comes from."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from .. import safedirs
from ..elf import ElfFile
from ..kernel.syscalls import ENOSYS, by_nr

ANALYSIS_VERSION = 4     # bump when the analysis changes: cached results are redone


def cache_dir() -> str:
    """libsubst's cache's analyze directory, its path checked (safedirs.py)."""
    return safedirs.check("analyze")


def _key(path: str, elf: ElfFile) -> str:
    bid = elf.build_id()
    if bid:
        return bid.hex()
    st = os.stat(path)
    return hashlib.sha256(f"{os.path.realpath(path)}:{st.st_dev}:{st.st_ino}:{st.st_size}:"
                          f"{st.st_mtime_ns}".encode()).hexdigest()


def object_summary(path: str) -> dict:
    """What one object contributes: its imports, its own sites, and for an
    object with sites the calls each exported function reaches.  Cached by
    build-id (file identity when it has none)."""
    with ElfFile.open(path) as elf:
        key = _key(path, elf)
        cached = os.path.join(cache_dir(), f"{key}.json")
        try:
            with open(cached, encoding="utf-8") as f:
                data = json.load(f)
            if data.get("version") == ANALYSIS_VERSION:
                return data
        except (OSError, ValueError):
            pass
        from .indirect import named_functions, syscall_arguments

        data = {"version": ANALYSIS_VERSION, "imports": elf.imports(), "sites": [],
                "exports": {}, "syscall_args": syscall_arguments(elf),
                "named": named_functions(elf)}
        if any(b"\x0f\x05" in d for _, _, d in elf.code_ranges()):
            from .callgraph import CallGraph
            from ..uklibc import sysnr

            graph = CallGraph(elf)
            for code, i in graph.dis.syscalls:
                nrs, unknown = sysnr.numbers(graph.dis, code, i)
                addr = code.addrs[i]
                data["sites"].append({"addr": addr, "nrs": sorted(nrs), "unknown": unknown,
                                      "function": graph.dis.function_at(addr)})
            data["exports"] = {name: r.to_dict() for name, r in graph.reach().items()
                               if r.nrs or r.unknown or r.imports}
    _store(cached, data)
    return data


def _store(path: str, data: dict) -> None:
    """Caches a result; a cache that cannot be written (no home, a read-only
    one) only costs the next run the analysis again."""
    try:
        safedirs.check("analyze", make=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def closure(program: str, args=(), env=None) -> tuple[str, list[str], list[str]]:
    """(program's real path, every object of its image in load order, the
    objects that run from their own entry: program and ld.so)."""
    from ..image import rootfs
    from ..ldso import shims
    from ..ldso.program import find_program, interpreters
    from ..ldso.search import resolve, resolve_dlopen_closure

    env = dict(os.environ if env is None else env)
    path = find_program(program, env.get("PATH"))
    if "/" not in program:
        path = shims.follow(path, env)
    binary = interpreters(path)[-1]     # no ELF: resolve says why
    plan = resolve(binary, env)
    _mounts, modules, _files = rootfs.runtime_trees(
        binary, env, packed=False, libraries=[lib for _soname, lib in plan.libraries])
    objects = plan.host_paths() + resolve_dlopen_closure(plan, modules, env)
    entry = [plan.program] + ([plan.interp] if plan.interp else [])
    return os.path.realpath(binary), list(dict.fromkeys(objects)), entry


def analyze(program: str, args=(), env=None) -> dict:
    """The static report for ``program`` (see the module's docstring)."""
    exe, objects, entry = closure(program, args, env)
    summaries = {p: object_summary(p) for p in objects}
    calls: dict[int, set[str]] = {}
    unknown: list[str] = []

    def add(nr: int, source: str) -> None:
        calls.setdefault(nr, set()).add(source)

    for p in entry:
        for s in summaries[p]["sites"]:
            where = f"{os.path.basename(p)}:{s['function'] or hex(s['addr'])}"
            for nr in s["nrs"]:
                add(nr, where)
            if s["unknown"]:
                unknown.append(where)
    for p in objects:
        for nr in summaries[p]["syscall_args"]:
            add(nr, f"{os.path.basename(p)}:syscall({nr})")
    # Imported functions, followed through their providers (first in load order).
    providers: dict[str, str] = {}
    for p in objects:
        for name in summaries[p]["exports"]:
            providers.setdefault(name, p)
    todo = [(name, os.path.basename(p)) for p in objects
            for name in summaries[p]["imports"] + summaries[p]["named"]]
    seen: set[str] = set()
    while todo:
        name, via = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        p = providers.get(name)
        if p is None:
            continue
        r = summaries[p]["exports"][name]
        where = f"{os.path.basename(p)}:{name}"
        for nr in r["nrs"]:
            add(nr, where)
        if r["unknown"]:
            unknown.append(where)
        todo.extend((n, where) for n in r["imports"])
    rows = []
    for nr in sorted(calls):
        s = by_nr(nr)
        rows.append({"nr": nr, "name": s.name if s else f"syscall_{nr}",
                     "served": s.level if s else ENOSYS,
                     "from": sorted(calls[nr])[:8], "sources": len(calls[nr])})
    missing = [r for r in rows if r["served"] == ENOSYS]
    return {"program": exe, "objects": objects, "syscalls": rows,
            "unknown_sites": sorted(set(unknown)),
            "counts": {"reachable": len(rows),
                       "kernel": sum(r["served"] == "kernel" for r in rows),
                       "host": sum(r["served"] == "host" for r in rows),
                       "enosys": len(missing)},
            "verdict": "runs" if not missing else "may call what libsubst answers with ENOSYS: "
                       + ", ".join(r["name"] for r in missing)}


def render(report: dict) -> str:
    c = report["counts"]
    lines = [f"{report['program']}: {c['reachable']} system calls reachable "
             f"({c['kernel']} served by the guest kernel, {c['host']} passed to the host, "
             f"{c['enosys']} answered ENOSYS)",
             f"objects: {len(report['objects'])}: " + ", ".join(os.path.basename(o)
                                                              for o in report["objects"])]
    if report.get("dynamic"):
        d = report["dynamic"]
        lines.append(f"dynamic: {len(d['used'])} used in a run (exit status {d['status']}); "
                     + ("all of them found statically" if not d["not_static"] else
                        "not found statically: " + ", ".join(d["not_static"])))
        if "needs" in d:
            lines.append(f"answered ENOSYS one at a time, the run still ends the same without "
                         f"{len(d['survives_enosys'])} of them; it needs: "
                         + (", ".join(d["needs"]) or "none"))
    lines.append("")
    lines.append(f"{'nr':>4} {'syscall':<24} {'served':<7} from")
    used = set(report.get("dynamic", {}).get("used", ()))
    for r in report["syscalls"]:
        mark = "*" if r["name"] in used else " "
        more = f" (+{r['sources'] - len(r['from'])})" if r["sources"] > len(r["from"]) else ""
        lines.append(f"{r['nr']:>4}{mark}{r['name']:<24} {r['served']:<7} "
                     f"{', '.join(r['from'][:3])}{more}")
    if report["unknown_sites"]:
        u = report["unknown_sites"]
        lines.append("")
        lines.append(f"{len(u)} functions reach a syscall site whose number is not known "
                     f"statically (--json lists them): {', '.join(u[:4])}"
                     + (", ..." if len(u) > 4 else ""))
    lines.append("")
    lines.append(f"verdict: {report['verdict']}")
    # The verdict's calls by the objects and functions they come from (all of
    # them: the table above shows three).
    for r in report["syscalls"]:
        if r["served"] == ENOSYS:
            more = f" (+{r['sources'] - len(r['from'])})" if r["sources"] > len(r["from"]) else ""
            lines.append(f"  {r['name']:<24} from {', '.join(r['from'])}{more}")
    return "\n".join(lines) + "\n"
