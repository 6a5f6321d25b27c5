"""The guest kernel's own CPU time per iteration of syscall-bench's loops,
by function, for this build and another in alternating rounds.

    python -m libsubst.benchmarks.kernel_own [--rows nginx_file_volume,...] [--rounds 5]
        [--iterations 200000] [--baseline-python PYTHON] [--functions 12] [--json]

A server's profile (server_profile.py) gets a few dozen samples of the
guest kernel per round on a loaded machine; a loop of the same calls gets
thousands.  Each round runs each row's loop once per build, in a guest
(`libsubst run --no-cwd --volume DIR:DIR syscall-bench --only=ROW`, DIR a
scratch directory), under `perf record -g -e cpu-clock -c 50000`, and
splits the samples that land in the guest kernel into those on the
instruction right after a `syscall` (*host call returns*: the host's time
seen as the call comes back, which natively lands in libc) and the rest,
the kernel's own code, by function.  Figures are ns per loop iteration
(the loop's warm-up, a tenth of the iterations, included), the median of
the rounds; a build's rounds against their median say how far the
machine moved."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

from ..errors import LibsubstError
from .rounds import (BenchmarkError, alternate, check, fmt_spread, main_command, median, positive,
                     program)
from .server_profile import returns_from_host, samples
from .syscalls import _native, bench_binary

ROWS = ("nginx_file_volume", "fstat_volume", "open_close_volume", "stat_volume")
SAMPLE_NS = 50000
BASELINE = "baseline"
OWN, RETURNS = "guest kernel's own", "host call returns"


def one(python: str, row: str, iterations: int, workdir: str) -> dict[str, float]:
    """{OWN: ns, RETURNS: ns, function: ns} per iteration of row's loop in a guest of
    python's libsubst."""
    exe, data = bench_binary(), os.path.join(workdir, "perf.data")
    r = subprocess.run(["perf", "record", "-q", "-g", "-e", "cpu-clock", "-c", str(SAMPLE_NS),
                        "-o", data, "--", python, "-m", "libsubst", "run", "--no-cwd", "--volume",
                        f"{workdir}:{workdir}", exe, f"--only={row}", str(iterations), "1", exe,
                        workdir], capture_output=True, text=True, timeout=1800)
    check(r.returncode == 0, f"syscall-bench {row} under perf in the guest exited {r.returncode}",
          r.stderr)
    check(r.stdout.startswith(row + " "), f"syscall-bench did not time {row}", r.stdout)
    out: Counter = Counter()
    for ns, dso, sym, off, path, _chain in samples(data):
        if dso != "libsubst-kernel":
            continue
        if returns_from_host(path, sym, off):
            out[RETURNS] += ns
        else:
            out[OWN] += ns
            out[sym] += ns
    n = iterations * 1.1                        # syscall-bench's warm-up: a tenth more
    return {OWN: 0.0, RETURNS: 0.0, **{k: v / n for k, v in out.items()}}


def measure(rows=ROWS, rounds: int = 5, iterations: int = 200000,
            baseline: str | None = None) -> dict:
    """{row: {build: [{figure: ns per iteration}, one per round]}}, the builds alternating."""
    check(shutil.which("perf") is not None, "perf is not installed (Debian: linux-perf)")
    builds = {"libsubst": sys.executable, **({BASELINE: baseline} if baseline else {})}
    out = {}
    with tempfile.TemporaryDirectory() as d:
        exe = bench_binary()
        unknown = sorted(set(rows) - set(_native([exe, "1", "1", exe, d])))
        if unknown:         # bad input, not a failed run: status 2
            raise LibsubstError(f"no row {', '.join(unknown)} in syscall-bench")
        for row in rows:
            out[row] = alternate(rounds, {b: (lambda p=p: one(p, row, iterations, d))
                                          for b, p in builds.items()})
    return out


def table(res: dict, functions: int = 12) -> str:
    """Per row: each build's own and returns (median, rounds' spread), then this build's
    costliest functions beside the other's."""
    lines = []
    for row, builds in res.items():
        names = list(builds)
        lines += [f"{row}, ns per iteration:", "",
                  "| | " + " | ".join(names) + " | " + " | ".join(f"{b} / {b}" for b in names) + " |",
                  "| --- |" + " ---: |" * (2 * len(names))]
        fns = Counter()
        for r in builds[names[-1]] + builds[names[0]]:
            fns.update({k: v for k, v in r.items() if k not in (OWN, RETURNS)})
        for fig in (OWN, RETURNS, *(f for f, _ in fns.most_common(functions))):
            vals = {b: [r.get(fig, 0.0) for r in builds[b]] for b in names}
            lines.append(f"| {fig} | " + " | ".join(f"{median(vals[b]):.1f}" for b in names) +
                         " | " + " | ".join(fmt_spread(vals[b]) if median(vals[b]) else "—"
                                            for b in names) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.kernel_own",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(ROWS), help="syscall-bench's rows, comma-separated")
    ap.add_argument("--rounds", type=positive, default=5, help="alternating rounds (median)")
    ap.add_argument("--iterations", type=positive, default=200000, help="calls per loop")
    ap.add_argument("--baseline-python", type=program,
                    help="also profile the libsubst installed for this Python")
    ap.add_argument("--functions", type=positive, default=12, help="functions listed per row")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = measure(a.rows.split(","), a.rounds, a.iterations, a.baseline_python)
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")
    print(json.dumps(res, indent=2) if a.json else table(res, a.functions))


if __name__ == "__main__":
    main_command(main)
