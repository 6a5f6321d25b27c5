"""What Landlock's check costs an open of a volume's file, by the depth of
the volume's host path.

    python -m libsubst.benchmarks.landlock_walk [--rounds 9] [--iterations 20000] [--candidates]

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
rights an open of a volume's file asks for."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from .rounds import BenchmarkError, alternate, main_command, fmt_spread, median, positive
from .syscalls import _native, bench_binary

OP = "open_close_volume"
RULES = ("none", "ro", "ro-no-truncate", "rw")
CANDIDATES = ("none", "rw", "rw-file", "rw-rules", "rw-layers", "rw-rights")
EXTRA = 8                 # directories the deep volume adds to the shallow one's path


def measure(iterations: int = 20000, repeats: int = 5, rounds: int = 9) -> dict:
    """{rule: {components: [ns per open+close, one per round]}}."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as shallow:
        deep = os.path.join(shallow, *"abcdefgh"[:EXTRA])
        os.makedirs(deep)
        depth = {shallow: shallow.count("/"), deep: deep.count("/")}
        configs = {}
        for rule in RULES:
            for where in (shallow, deep):
                argv = [exe, f"--only={OP}", *([f"--landlock={rule}"] if rule != "none" else []),
                        str(iterations), str(repeats), exe, where]
                configs[(rule, depth[where])] = (lambda a=argv: _native(a)[OP])
        runs = alternate(rounds, configs)
    out: dict = {}
    for (rule, components), samples in runs.items():
        out.setdefault(rule, {})[components] = samples
    return out


def measure_candidates(iterations: int = 20000, repeats: int = 5, rounds: int = 9) -> dict:
    """{rule: [ns per open+close, one per round]}, a volume 2 components deep."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as where:
        configs = {rule: (lambda a=[exe, f"--only={OP}", *([f"--landlock={rule}"] if rule != "none" else []),
                                    str(iterations), str(repeats), exe, where]: _native(a)[OP])
                   for rule in CANDIDATES}
        return alternate(rounds, configs)


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
    ap.add_argument("--iterations", type=positive, default=20000)
    ap.add_argument("--candidates", action="store_true",
                    help="what the ruleset's shape changes, at 2 components")
    a = ap.parse_args(argv)
    try:
        if a.candidates:
            print(candidates_table(measure_candidates(a.iterations, rounds=a.rounds)))
        else:
            print(table(measure(a.iterations, rounds=a.rounds)))
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")


if __name__ == "__main__":
    main_command(main)
