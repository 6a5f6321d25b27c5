"""Process costs natively and in the guest, in the same run: a fork + exit +
wait round trip (python3's os.fork) and a fork + execve + wait of
/usr/bin/true from a shell loop.

    python -m libsubst.benchmarks.processes [--rounds N] [--json]

Each round runs each loop natively, then in the guest (benchmarks/rounds.py);
a loop is timed inside the program, so start-up is not counted, and it
checks every child's exit status: a loop whose child did not run as it should
(an exec that failed, a child killed) stops the benchmark instead of timing
the failure.  Figures are medians of the rounds, with the spread of the
native rounds."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

from .rounds import BenchmarkError, alternate, check, main_command, fmt_spread, median

LOOPS = 200
# The child exits 7, so a status of 0 (a child that did not run this code) is caught too.
FORK = f"""
import os, sys, time
n = {LOOPS}
t0 = time.perf_counter()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    if os.waitpid(pid, 0)[1] != 7 << 8:
        sys.exit("a child did not exit 7")
print((time.perf_counter() - t0) / n * 1e6)
"""
# /usr/bin/true, which --add puts in the guest at that path (the guest has no /bin).
EXEC = f"i=0; start=$(date +%s%N); while [ $i -lt {LOOPS} ]; do " \
       "/usr/bin/true || { echo \"exec failed: $?\" >&2; exit 1; }; i=$((i+1)); done; " \
       f"end=$(date +%s%N); echo $(( (end - start) / {LOOPS * 1000} ))"
LOOPS_ARGV = {"fork+exit+wait (µs)": ["/usr/bin/python3", "-c", FORK],
              "sh: fork+execve /usr/bin/true+wait (µs)": ["/usr/bin/sh", "-c", EXEC]}
GUEST = [sys.executable, "-m", "libsubst", "run", "--add", "/usr/bin/true", "--add", "/usr/bin/date"]


def _one(argv: list[str], workdir: str) -> float:
    """µs per loop as the program reports it, after checking that it succeeded."""
    r = subprocess.run(argv, capture_output=True, text=True, cwd=workdir, timeout=600)
    check(r.returncode == 0 and not r.stderr, f"{' '.join(argv[:6])}... exited {r.returncode}",
          r.stderr)
    try:
        return float(r.stdout)
    except ValueError:
        raise BenchmarkError(f"not a time per loop: {r.stdout[-200:]!r}") from None


def measure(rounds: int = 5) -> dict:
    """{loop: {"native": [µs per round], "libsubst": [...]}}."""
    res = {}
    with tempfile.TemporaryDirectory() as d:
        for name, argv in LOOPS_ARGV.items():
            res[name] = alternate(rounds, {"native": lambda a=argv: _one(a, d),
                                           "libsubst": lambda a=argv: _one([*GUEST, *a], d)})
    return res


def table(res: dict) -> str:
    lines = ["| operation | native | libsubst | libsubst / native | native / native |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, s in res.items():
        n, g = median(s["native"]), median(s["libsubst"])
        lines.append(f"| {name} | {n:.0f} | {g:.0f} | {g / n:.2f} | {fmt_spread(s['native'])} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    res = measure(a.rounds)
    print(json.dumps(res, indent=2) if a.json else table(res))


if __name__ == "__main__":
    main_command(main)
