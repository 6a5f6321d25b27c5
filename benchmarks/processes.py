"""Process costs natively and in the guest, in the same run: a fork + exit +
wait round trip (python3's os.fork) and an execve of /bin/true from a shell.

    python -m libsubst.benchmarks.processes [--rounds N]

Each figure is the median of several timed loops, measured inside the
program (natively and as a unikernel), so start-up is not counted."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile

FORK = """
import os, time
n = 200
t0 = time.perf_counter()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
print((time.perf_counter() - t0) / n * 1e6)
"""
EXEC = "i=0; start=$(date +%s%N); while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done; " \
       "end=$(date +%s%N); echo $(( (end - start) / 200000 ))"


def _one(argv: list[str], guest: bool, workdir: str) -> float:
    if guest:
        argv = [sys.executable, "-m", "libsubst", "run", "--add", "/usr/bin/true",
                "--add", "/usr/bin/date", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=workdir).stdout
    return float(out.strip())


def measure(rounds: int = 5) -> dict:
    res = {}
    with tempfile.TemporaryDirectory() as d:
        for name, argv in (("fork+exit+wait (µs)", ["/usr/bin/python3", "-c", FORK]),
                           ("sh: execve /bin/true (µs)", ["sh", "-c", EXEC])):
            native, guest = [], []
            for _ in range(rounds):
                native.append(_one(argv, False, d))
                guest.append(_one(argv, True, d))
            res[name] = (statistics.median(native), statistics.median(guest))
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    print("| operation | native | libsubst | ratio |\n| --- | ---: | ---: | ---: |")
    for name, (n, g) in measure(a.rounds).items():
        print(f"| {name} | {n:.0f} | {g:.0f} | {g / n:.2f} |")


if __name__ == "__main__":
    main()
