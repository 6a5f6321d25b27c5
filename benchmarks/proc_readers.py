"""What the programs that read /proc pay: `ps aux` and `pgrep -f`, each run
from a python3 that keeps 20 sleeping children (so each run reads the
/proc files of some 22 processes), natively in a pid namespace of its own
(its own /proc, as a container's and a guest's) and in a guest, µs per
run of the program as the python3 times it (start-up of the guest left
out).

    python -m libsubst.benchmarks.proc_readers [--rounds 9] [--iterations 30] [--baseline-python PYTHON]

``--baseline-python`` adds the guest of the libsubst installed for another
Python (another build) to the same rounds.  Every run's output is checked:
`ps aux` lists every child, `pgrep -f` finds every one."""

from __future__ import annotations

import argparse
import subprocess
import sys

from .name_lookups import table
from .rounds import alternate, check, main_command, positive, program

CHILDREN = 20
# Prints µs per run of each program; exits 1 if one missed a child.
LOOP = """
import subprocess, sys, time
n, kids = int(sys.argv[1]), int(sys.argv[2])
children = [subprocess.Popen(["/bin/sleep", "1000.%d" % i]) for i in range(kids)]
try:
    for name, argv in (("ps aux", ["/bin/ps", "aux"]),
                       ("pgrep -f", ["/usr/bin/pgrep", "-f", "sleep 1000"])):
        t = time.perf_counter()
        for _ in range(n):
            out = subprocess.run(argv, capture_output=True, text=True).stdout
            if out.count("sleep 1000" if name == "ps aux" else "\\n") < kids:
                sys.exit(1)
        print(name.replace(" ", "_"), (time.perf_counter() - t) / n * 1e6)
finally:
    for c in children:
        c.kill()
        c.wait()
"""
KINDS = ("ps_aux", "pgrep_-f")
NATIVE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]


def _run(cmd: list[str], iterations: int) -> dict[str, float]:
    r = subprocess.run([*cmd, "/usr/bin/python3", "-c", LOOP, str(iterations), str(CHILDREN)],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{' '.join(cmd)}: the loop exited {r.returncode}", r.stderr)
    return {kind: float(us) for kind, us in (line.split() for line in r.stdout.splitlines())}


PROGRAMS = ("/bin/sleep", "/bin/ps", "/usr/bin/pgrep")


def measure(iterations: int = 30, rounds: int = 9, baseline: str | None = None) -> dict:
    """{kind: {config: [µs per run, one per round]}}."""
    guest = ["-m", "libsubst", "run", "--no-cwd", *(a for p in PROGRAMS for a in ("--add", p))]
    configs = {"native": NATIVE, "guest": [sys.executable, *guest]}
    if baseline:
        configs["baseline"] = [baseline, *guest]
    runs = alternate(rounds, {name: (lambda c=c: _run(c, iterations))
                              for name, c in configs.items()})
    return {k: {name: [r[k] for r in per] for name, per in runs.items()} for k in KINDS}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.proc_readers",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=9)
    ap.add_argument("--iterations", type=positive, default=30)
    ap.add_argument("--baseline-python", type=program)
    a = ap.parse_args(argv)
    print(table(measure(a.iterations, a.rounds, a.baseline_python), "program"))


if __name__ == "__main__":
    main_command(main)
