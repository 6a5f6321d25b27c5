"""What Landlock's check costs an open of a volume's file, by the depth of
the volume's host path.

    python -m libsubst.benchmarks.landlock_walk [--rounds 9] [--iterations 20000] [--candidates]
    python -m libsubst.benchmarks.landlock_walk --in-guest [--iterations 300000]

Landlock checks an open by walking from the file up through its ancestors,
rule by rule, until every right asked for is granted or the root is
reached.  An open asks for read (or write) and, optionally, for truncate:
a rule that grants it ends the walk at the volume's root; one that does not
sends it on to the host's root, at a cost that grows with the host path's
depth.  The tender's read-write rule grants every file right and, since
Linux refuses a truncate on a read-only bind before it asks Landlock, its
read-only rule grants truncate too (ro); ro-no-truncate is the read-only
rule without it, as the tender had it before.  This times syscall_bench.c's
open+close of a file in a volume's root natively, with no Landlock and with
each rule (syscall-bench --landlock), for a volume whose host path has 2
components and one with 10, alternating round by round.

--candidates times instead, at 2 components, what the ruleset's shape
changes (syscall_bench.c's variants of rw): a rule on the opened file itself
(the check ends at the file: the least any placement of rules reaches),
1000 more rules on other files (an image's files have one each), the same
ruleset restricted twice (two domains), and a ruleset handling only the
rights an open of a volume's file asks for.

--in-guest profiles the same loop natively under the tender's read-write
rule and in a real guest (`perf record -g -e cpu-clock`, host kernel and
user space): ns per open+close under Landlock's hooks, in the seccomp
filter, in the guest kernel's own code, on the instruction right after a
host `syscall` (host time seen on its return), and the rest (the host's
open and close themselves, the program); then the guest kernel's own time
by function, its 15 dearest."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from . import server_profile
from .rounds import BenchmarkError, alternate, check, main_command, fmt_spread, median, positive
from .server_profile import returns_from_host, samples
from .syscalls import _native, bench_binary

OP = "open_close_volume"
RULES = ("none", "ro", "ro-no-truncate", "rw")
CANDIDATES = ("none", "rw", "rw-file", "rw-rules", "rw-layers", "rw-rights")
EXTRA = 8                 # directories the deep volume adds to the shallow one's path


def loop(exe: str, rule: str, where: str, iterations: int, repeats: int):
    """A round's timing of OP natively under rule ("none": no Landlock)."""
    argv = [exe, f"--only={OP}", *([f"--landlock={rule}"] if rule != "none" else []),
            str(iterations), str(repeats), exe, where]
    return lambda: _native(argv)[OP]


def measure(iterations: int = 20000, repeats: int = 5, rounds: int = 9) -> dict:
    """{rule: {components: [ns per open+close, one per round]}}."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as shallow:
        deep = os.path.join(shallow, *"abcdefgh"[:EXTRA])
        os.makedirs(deep)
        depth = {shallow: shallow.count("/"), deep: deep.count("/")}
        configs = {(rule, depth[where]): loop(exe, rule, where, iterations, repeats)
                   for rule in RULES for where in (shallow, deep)}
        runs = alternate(rounds, configs)
    out: dict = {}
    for (rule, components), samples in runs.items():
        out.setdefault(rule, {})[components] = samples
    return out


def measure_candidates(iterations: int = 20000, repeats: int = 5, rounds: int = 9) -> dict:
    """{rule: [ns per open+close, one per round]}, a volume 2 components deep."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as where:
        return alternate(rounds, {rule: loop(exe, rule, where, iterations, repeats)
                                  for rule in CANDIDATES})


def candidates_table(res: dict) -> str:
    """Medians; each rule's Landlock share (less no Landlock's) and its
    difference from the tender's rule (rw), round by round (median)."""
    none, rw = res["none"], res["rw"]
    lines = ["| rule | ns | Landlock ns | − rw ns (per round, median) | itself / itself |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for rule, r in res.items():
        lines.append(f"| {rule} | {median(r):.1f} | {median(r) - median(none):.1f} | "
                     f"{median([a - b for a, b in zip(r, rw)]):.1f} | {fmt_spread(r)} |")
    return "\n".join(lines)


SAMPLE_NS = 20000                    # a sample every 20 µs of CPU time
GUEST_FUNCTIONS = 15                 # the guest kernel's functions --in-guest lists
PARTS = {
    "Landlock": server_profile.PARTS["Landlock"],
    "seccomp": lambda dso, sym, chain: "__secure_computing" in chain or (
        dso == "[unknown]" and sym.startswith("0xffffffff")),          # the filter's JIT image
    "guest kernel": lambda dso, sym, chain: dso == "libsubst-kernel",
}


def in_guest(iterations: int = 300000) -> dict[str, dict[str, float]]:
    """{"native"|"guest": {part: ns per open+close}}: one perf record of each."""
    check(shutil.which("perf") is not None, "perf is not installed (Debian: linux-perf)")
    exe, out = bench_binary(), {}
    with tempfile.TemporaryDirectory() as d:
        loop = [f"--only={OP}", str(iterations), "1", exe, d]
        runs = {"native": ([exe, "--landlock=rw", *loop], os.path.basename(exe)[:15]),
                "guest": ([sys.executable, "-m", "libsubst", "run", "--no-cwd", "--volume",
                           f"{d}:{d}", exe, *loop], "libsubst-kernel")}
        for kind, (argv, comm) in runs.items():
            data = os.path.join(d, "perf.data")
            r = subprocess.run(["perf", "record", "-q", "-g", "-e", "cpu-clock",
                                "-c", str(SAMPLE_NS), "-o", data, "--", *argv],
                               capture_output=True, text=True)
            check(r.returncode == 0, f"syscall-bench under perf ({kind}) exited {r.returncode}",
                  r.stderr)
            ns = dict.fromkeys(["all", *PARTS, "host call returns"], 0)
            funcs: dict[str, int] = {}
            for period, dso, sym, off, path, chain in samples(data, comm):
                part = next((p for p, test in PARTS.items() if test(dso, sym, chain)), None)
                if part in (None, "guest kernel") and returns_from_host(path, sym, off):
                    part = "host call returns"       # natively in libc, in a guest in its kernel
                ns["all"] += period
                if part:
                    ns[part] += period
                if part == "guest kernel":
                    funcs[sym] = funcs.get(sym, 0) + period
            ns["rest"] = ns["all"] - sum(v for k, v in ns.items() if k != "all")
            out[kind] = {k: v / (iterations * 1.1) for k, v in ns.items()}  # + the warm-up
            if kind == "guest":
                top = sorted(funcs.items(), key=lambda kv: -kv[1])[:GUEST_FUNCTIONS]
                out["guest kernel's functions"] = {f: v / (iterations * 1.1) for f, v in top}
    return out


def guest_table(res: dict) -> str:
    """The parts side by side, then the guest kernel's own time by function."""
    kinds = ("native", "guest")
    lines = ["| ns per open+close | " + " | ".join(kinds) + " | guest − native |",
             "| --- |" + " ---: |" * (len(kinds) + 1)]
    for part in res["native"]:
        lines.append(f"| {part} | " + " | ".join(f"{res[k][part]:.1f}" for k in kinds) +
                     f" | {res['guest'][part] - res['native'][part]:.1f} |")
    funcs = res["guest kernel's functions"]
    lines += ["", "| the guest kernel's own, by function | ns per open+close |", "| --- | ---: |"]
    lines += [f"| {f} | {v:.1f} |" for f, v in funcs.items()]
    return "\n".join(lines)


def table(res: dict) -> str:
    low, high = sorted(next(iter(res.values())))
    """Medians; Landlock's share is each rule's time less no Landlock's at the
    same depth (the host's own lookup of the longer path is in both)."""
    lines = [f"| rule | {low} components ns | {high} components ns | Landlock at {low} ns |"
             f" Landlock at {high} ns | Landlock per component ns | no Landlock / itself |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    none_a, none_b = median(res["none"][low]), median(res["none"][high])
    for rule, r in res.items():
        a, b = median(r[low]) - none_a, median(r[high]) - none_b
        lines.append(f"| {rule} | {median(r[low]):.1f} | {median(r[high]):.1f} | {a:.1f} | "
                     f"{b:.1f} | {(b - a) / (high - low):.1f} | {fmt_spread(res['none'][low])} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.landlock_walk",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=9)
    ap.add_argument("--iterations", type=positive, help="20000; 300000 with --in-guest")
    ap.add_argument("--candidates", action="store_true",
                    help="what the ruleset's shape changes, at 2 components")
    ap.add_argument("--in-guest", action="store_true",
                    help="where an open's time goes, natively and in a guest (perf)")
    a = ap.parse_args(argv)
    try:
        if a.in_guest:
            print(guest_table(in_guest(a.iterations or 300000)))
        elif a.candidates:
            print(candidates_table(measure_candidates(a.iterations or 20000, rounds=a.rounds)))
        else:
            print(table(measure(a.iterations or 20000, rounds=a.rounds)))
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")


if __name__ == "__main__":
    main_command(main)
