"""Where a server's CPU time goes per request, natively and as a unikernel:
nginx serving a 4 KiB file to wrk, redis under redis-benchmark or
memcached under memcaslap (servers.py's loads, their checks included),
profiled on the host.

    python -m libsubst.benchmarks.server_profile [--server nginx|redis|memcached] [--rounds 6]
        [--seconds 3] [--requests 50000] [--baseline-python PYTHON] [--json]

Native, native under the sandbox's layers (servers.py's container+Landlock:
the guest's seccomp filter and the tender's Landlock rules for its volumes,
without libsubst) and guest alternate round by round, each round a fresh
server, so the guest's difference from container+Landlock is libsubst's own;
--baseline-python adds the guest of the libsubst installed for that Python
(another build) to every round.
While the load runs, `perf record -g -e cpu-clock -p PID` samples the host
process that serves (natively the server itself; in a guest the guest's
process, the leaf of `libsubst run`'s process tree), host kernel and user
space alike, and its page faults are read from /proc/PID/stat before and
after.  Each round gives, per request, the CPU time in all and in the parts
a guest could change: the host kernel's copy of a reply into the socket
(`_copy_from_iter`, writev's and write's copy), the seccomp filter,
Landlock's checks (every sample under one of its hooks), Syscall User
Dispatch and the guest kernel; and the
minor and major page faults.  One more row, *host call returns*, is the
time sampled on the instruction right after a `syscall` (in any object the
host can read: natively libc's, in a guest the guest kernel's, whose entry
makes the host calls): host time seen as a call returns (its exit path, a
timer interrupt held until it is back in user space), which a guest's
profile would otherwise count as the guest kernel's own.  The requests are
those the load generator counted (nginx's profile also holds the one request that checks the file
first; redis's: every request of redis-benchmark's four tests)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from bisect import bisect_right

from ..elf import ElfFile
from ..elf.abi import SHF_EXECINSTR
from ..errors import LibsubstError

from .rounds import BenchmarkError, alternate, check, main_command, fmt_spread, median, positive
from .redis_bench import free_port, stop
from .servers import BASELINE, FLOOR, memcached, nginx, pythons, redis, serve

KINDS = ("native", FLOOR, "libsubst")

# Each part: a test on a perf sample's (dso, symbol) and the symbols of its
# call chain.  Landlock's is the chain's: its hooks (security/landlock/'s
# hook_*) spend a third of an open's check in the host's generic functions
# (dget_parent, dput, mntput on the walk up to the rule), which a test on
# the sampled function alone missed.
PARTS = {
    "copy into the socket": lambda dso, sym, chain: sym == "_copy_from_iter",
    "seccomp": lambda dso, sym, chain: "seccomp" in sym or sym == "__secure_computing",
    "Landlock": lambda dso, sym, chain: any(f.startswith("hook_") or "landlock" in f
                                            for f in chain),
    "Syscall User Dispatch": lambda dso, sym, chain: sym == "syscall_user_dispatch",
    "guest kernel": lambda dso, sym, chain: dso == "libsubst-kernel",
}


def leaf(pid: int) -> int:
    """The deepest descendant of pid (itself if it has none)."""
    level, deepest = [pid], pid
    while level:
        deepest = level[-1]
        kids = []
        for p in level:
            try:
                with open(f"/proc/{p}/task/{p}/children") as f:
                    kids += [int(k) for k in f.read().split()]
            except OSError:
                pass
        level = kids
    return deepest


def faults(pid: int) -> tuple[int, int]:
    """(minor, major) page faults of pid so far (proc(5): fields 10 and 12)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7]), int(fields[9])


def periods(data: str) -> dict[tuple[str, str], int]:
    """{(dso, symbol): ns of cpu-clock samples} of a perf.data file."""
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                        "--sort", "dso,sym", "-F", "period,dso,sym", "-q"],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "perf report failed", r.stderr)
    out: dict[tuple[str, str], int] = {}
    for line in r.stdout.splitlines():
        cols = line.split(None, 3)
        if len(cols) == 4 and cols[0].isdigit():
            key = (cols[1], cols[3].strip())
            out[key] = out.get(key, 0) + int(cols[0])
    return out


STT_FUNC = 2
SAMPLE = re.compile(r"^\s*(\d+)\s+[0-9a-f]+ (\S+)\+0x([0-9a-f]+) \((/[^)]*)\)$")


def symbols(elf: ElfFile) -> list:
    """The object's symbols and its detached debug file's, which perf names samples by
    where one is installed (Debian's libc6-dbg: /usr/lib/debug/.build-id/)."""
    out, bid = list(elf.symbols()), elf.build_id()
    debug = bid and f"/usr/lib/debug/.build-id/{bid.hex()[:2]}/{bid.hex()[2:]}.debug"
    if debug and os.path.isfile(debug):
        with ElfFile.open(debug) as d:
            out += d.symbols()
    return out


@functools.cache
def after_syscalls(path: str) -> frozenset[tuple[str, int]]:
    """(function, offset) of each instruction right after a `syscall` in the functions of
    the object at path (by every name perf may give one), or none if it is no ELF the
    host can read."""
    import capstone                             # only for this row
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    out = set()
    try:
        with ElfFile.open(path) as elf:
            texts = [(sec.sh_addr, elf.section_bytes(sec)) for sec in elf.sections
                     if sec.sh_flags & SHF_EXECINSTR]
            funcs = sorted((v, size, name) for v, size, info, name in symbols(elf)
                           if info & 0xF == STT_FUNC)
            for i, (value, size, name) in enumerate(funcs):
                if not size and i + 1 < len(funcs):     # an assembly function without .size
                    size = funcs[i + 1][0] - value
                for addr, code in texts:
                    if addr <= value < addr + len(code):
                        body = code[value - addr:value - addr + size]
                        out |= {(name, off + n) for off, n, mnemonic, _ in md.disasm_lite(body, 0)
                                if mnemonic == "syscall"}
    except (LibsubstError, OSError):
        return frozenset()
    return frozenset(out)


FRAME = re.compile(r"^\s*[0-9a-f]+ (\S+?)(?:\+0x([0-9a-f]+))? \((.*)\)$")


def samples(data: str, comm: str | None = None):
    """Each cpu-clock sample of a perf.data file recorded with -g (of the processes
    named comm, or all): (ns, its object's name as perf reports it, symbol, offset in
    it, the object's path, the set of its call chain's symbols, its own included)."""
    r = subprocess.run(["perf", "script", "-i", data, "-F", "period,ip,sym,symoff,dso",
                        *(["--comms", comm] if comm else [])],
                       capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, "perf script failed", r.stderr)
    for block in r.stdout.split("\n\n"):
        lines = block.strip("\n").splitlines()
        frames = [f for f in map(FRAME.match, lines[1:]) if f]
        if lines and lines[0].strip().isdigit() and frames:
            sym, off, path = frames[0].groups()
            yield (int(lines[0]), os.path.basename(path), sym, int(off or "0", 16), path,
                   frozenset(f[1] for f in frames))


def returns_from_host(path: str, sym: str, off: int) -> bool:
    """Whether a sample lies on an instruction right after a `syscall`."""
    return os.path.isfile(path) and (sym, off) in after_syscalls(path)


SERVERS = {"nginx": lambda workdir, seconds, requests: nginx(workdir, seconds),
           "redis": lambda workdir, seconds, requests: redis(requests),
           "memcached": lambda workdir, seconds, requests: memcached(seconds)}


def profile(server: str, kind: str, workdir: str, seconds: int, requests: int) -> dict:
    """One round: {figure: value per request} of a fresh server under its load."""
    argv, load, opts = SERVERS[server](workdir, seconds, requests)
    port = free_port()
    proc = serve(kind, argv(port), port, workdir, opts)
    data = os.path.join(workdir, f"perf-{kind}.data")
    try:
        pid = leaf(proc.pid)
        before = faults(pid)
        perf = subprocess.Popen(["perf", "record", "-q", "-g", "-e", "cpu-clock", "-p", str(pid),
                                 "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, n = load(port)
            after = faults(pid)
        finally:
            perf.send_signal(signal.SIGINT)
            _, err = perf.communicate(timeout=120)
        # perf record ends itself by the signal it was stopped with, once its data is written.
        check(perf.returncode in (0, -signal.SIGINT),
              f"perf record of {kind} {server} exited {perf.returncode}", err)
    finally:
        status = stop(proc)
        err = proc.stderr.read()
    check(status == 0, f"{kind} {server} exited {status} on SIGTERM", err)
    res = {"requests": n, "CPU in all": 0, **dict.fromkeys(PARTS, 0), "host call returns": 0}
    for ns, dso, sym, off, path, chain in samples(data):
        res["CPU in all"] += ns
        for part, test in PARTS.items():
            res[part] += ns if test(dso, sym, chain) else 0
        res["host call returns"] += ns if returns_from_host(path, sym, off) else 0
    res = {k: v if k == "requests" else v / 1e3 / n for k, v in res.items()}
    res["minor faults"] = (after[0] - before[0]) / n
    res["major faults"] = (after[1] - before[1]) / n
    return res


def measure(server: str = "nginx", rounds: int = 6, seconds: int = 3,
            requests: int = 50000, baseline: str | None = None) -> dict:
    """{figure: {kind: [one value per round]}}, native and guest (and the baseline's
    guest, the libsubst installed for that Python) alternating."""
    check(shutil.which("perf") is not None, "perf is not installed (Debian: linux-perf)")
    kinds = KINDS
    if baseline:
        pythons[BASELINE] = baseline
        kinds = (*KINDS, BASELINE)
    with tempfile.TemporaryDirectory() as workdir:
        runs = alternate(rounds, {k: (lambda k=k: profile(server, k, workdir, seconds, requests))
                                  for k in kinds})
    return {fig: {k: [r[fig] for r in runs[k]] for k in kinds} for fig in runs["native"][0]}


def table(res: dict) -> str:
    """Medians, each guest's difference from native, and each kind's rounds against their
    own median: how far the machine moved."""
    kinds = list(next(iter(res.values())))
    guests = kinds[1:]
    own = [g for g in guests if g != FLOOR] if FLOOR in guests else []
    head = ["per request", *kinds, *(f"{g} − native" for g in guests),
            *(f"{g} − {FLOOR}" for g in own), *(f"{k} / {k}" for k in kinds)]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for fig, r in res.items():
        n = median(r["native"])
        name = fig if fig == "requests" or "faults" in fig else fig + " µs"
        fmt = (lambda x: f"{x:.0f}") if fig == "requests" else (
            (lambda x: f"{x:.4f}") if "faults" in fig else (lambda x: f"{x:.2f}"))
        cells = [name, *(fmt(median(r[k])) for k in kinds),
                 *(fmt(median(r[g]) - n) for g in guests),
                 *(fmt(median(r[g]) - median(r[FLOOR])) for g in own),
                 *(fmt_spread(r[k]) if median(r[k]) else "—" for k in kinds)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.server_profile",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--server", choices=sorted(SERVERS), default="nginx")
    ap.add_argument("--rounds", type=positive, default=6, help="alternating rounds (median)")
    ap.add_argument("--seconds", type=positive, default=3,
                    help="wrk's and memcaslap's run time, whole seconds")
    ap.add_argument("--requests", type=positive, default=50000,
                    help="redis-benchmark's per test")
    ap.add_argument("--baseline-python", help="also profile the libsubst installed for this Python")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = measure(a.server, a.rounds, a.seconds, a.requests, a.baseline_python)
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")
    print(json.dumps(res, indent=2) if a.json else table(res))


if __name__ == "__main__":
    main_command(main)
