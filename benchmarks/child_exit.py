"""How long after a child's last instruction its parent notices its end
(sigwaitinfo returning its SIGCHLD, a SIGCHLD handler running, waitpid
returning), natively and in the guest, in the same run.

    python -m libsubst.benchmarks.child_exit [--rounds N] [--children N] [--json]

benchmarks/child_exit.c (the package build's libsubst/_bin/child-exit)
forks N children per way, each writing its clock into shared memory just
before _exit, and prints each way's median gap; rounds alternate native and
guest runs (benchmarks/rounds.py).  Figures are medians of the rounds, with
the spread of the native rounds."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from .rounds import BenchmarkError, alternate, check, fmt_spread, main_command, median

PROGRAM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bin",
                       "child-exit")
GUEST = [sys.executable, "-m", "libsubst", "run"]


def _one(argv: list[str], workdir: str) -> dict[str, float]:
    """{way: median µs}, after checking that the program succeeded."""
    r = subprocess.run(argv, capture_output=True, text=True, cwd=workdir, timeout=600)
    check(r.returncode == 0 and not r.stderr, f"{' '.join(argv[:5])}... exited {r.returncode}",
          r.stderr)
    try:
        return {way: float(us) for way, us in (line.split() for line in r.stdout.splitlines())}
    except ValueError:
        raise BenchmarkError(f"not a time per way: {r.stdout[-200:]!r}") from None


def measure(rounds: int = 5, children: int = 200) -> dict:
    """{way: {"native": [µs per round], "libsubst": [...]}}."""
    argv = [PROGRAM, str(children)]
    with tempfile.TemporaryDirectory() as d:
        runs = alternate(rounds, {"native": lambda: _one(argv, d),
                                  "libsubst": lambda: _one([*GUEST, *argv], d)})
    return {way: {side: [r[way] for r in runs[side]] for side in runs}
            for way in runs["native"][0]}


def table(res: dict) -> str:
    lines = ["| the parent notices by | native (µs) | libsubst (µs) | libsubst / native "
             "| native / native |", "| --- | ---: | ---: | ---: | ---: |"]
    for way, s in res.items():
        n, g = median(s["native"]), median(s["libsubst"])
        lines.append(f"| {way} | {n:.0f} | {g:.0f} | {g / n:.2f} | {fmt_spread(s['native'])} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--children", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    res = measure(a.rounds, a.children)
    print(json.dumps(res, indent=2) if a.json else table(res))


if __name__ == "__main__":
    main_command(main)
