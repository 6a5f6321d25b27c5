"""Times tests/test_builds.py's workloads natively and as one guest each,
in alternating rounds (the machine is shared: one timing says little), and
prints the medians and every round.  Each run is checked to succeed; the
comparison of what they made is the test's.

    python tests/time_builds.py [--rounds N] CASE...   (CASE: a key of test_builds.CASES)
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_builds as tb            # noqa: E402
from conftest import LIBSUBST       # noqa: E402


def _round(argv, prepared, d, stdin):
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(prepared, d, symlinks=True)
    start = time.monotonic()
    r = subprocess.run(argv, cwd=d, capture_output=True, input=stdin, timeout=900)
    took = time.monotonic() - start
    if r.returncode:
        sys.exit(f"{' '.join(argv[:3])}... exited {r.returncode}: "
                 f"{r.stderr[-500:].decode(errors='replace')}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("cases", nargs="+", choices=list(tb.CASES))
    args = ap.parse_args()
    for name in args.cases:
        sources, script, add, _volatile, _long = tb.CASES[name]
        with tempfile.TemporaryDirectory() as top:
            prepared, d = os.path.join(top, "prepared"), os.path.join(top, "b")
            os.mkdir(prepared)
            tb._place(sources, prepared)
            if "autotools" in sources:
                tb._autotools(prepared)
            runs = {"native": ["bash", "-c", script],
                    "guest": [*LIBSUBST, "run", *tb.adds(add), "bash", "-c", script]}
            took = {k: [] for k in runs}
            for _ in range(args.rounds):
                for kind, argv in runs.items():
                    took[kind].append(_round(argv, prepared, d, tb.STDIN.get(name, b"")))
        n, g = (statistics.median(took[k]) for k in ("native", "guest"))
        print(f"{name}: native {n:.1f} s, guest {g:.1f} s ({g / n:.2f}x); rounds: native "
              f"{', '.join(f'{t:.1f}' for t in took['native'])}, guest "
              f"{', '.join(f'{t:.1f}' for t in took['guest'])}", flush=True)


if __name__ == "__main__":
    main()
