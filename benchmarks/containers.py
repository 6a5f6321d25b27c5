"""Start-to-exit of a container, by runtime: ``podman run --rm IMAGE
/bin/true`` with runc, with libsubst-runtime, and with runsc (gVisor, Debian's
``runsc`` package) where it is installed, timed in alternating rounds
(benchmarks/rounds.py).  runsc runs with its own network off
(``--runtime-flag network=none``): on this machine class it refuses
podman's network namespace ("cannot run with network enabled in root
network namespace"); podman still makes that namespace for every run, as
for the others.

    python -m libsubst.benchmarks.containers IMAGE [--runs N] [--json]

IMAGE is a local podman image holding /bin/true (tests/engines.py imports
the tests' Debian 11 root as one).  Each sample is the wall time of one
whole ``podman run --rm`` command, from spawn to exit, checked to exit 0;
the figure is the median of N rounds (default 11), with the spread of the
runc rounds (slowest and fastest over their median).  The ulimits are
explicit, as this machine class's hard limits need (tests/engines.py)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time

from .rounds import alternate, check, main_command, fmt_spread, median

ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
FLAGS = {"runsc": ["--runtime-flag", "network=none"]}     # podman's, before `run`


def runtimes() -> dict[str, str]:
    """{name: path} of the runtimes installed here."""
    found = {name: shutil.which(name) for name in ("runc", "libsubst-runtime", "runsc")}
    if found["libsubst-runtime"] is None:
        found["libsubst-runtime"] = shutil.which("libsubst-runtime",
                                                 path=sys.prefix + "/bin")
    return {name: path for name, path in found.items() if path}


def podman_true(runtime: str, image: str, flags=()) -> float:
    """Seconds of one ``podman run --rm IMAGE /bin/true`` with ``runtime``."""
    t0 = time.monotonic()
    r = subprocess.run(["podman", "--runtime", runtime, *flags, "run", "--rm", *ULIMITS, image,
                        "/bin/true"], capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
    elapsed = time.monotonic() - t0
    check(r.returncode == 0, f"podman --runtime {runtime} run --rm {image} /bin/true", r.stderr)
    return elapsed


def measure(image: str, runs: int) -> dict[str, list[float]]:
    found = runtimes()
    for name, path in found.items():       # a first run of each, untimed: caches warm
        podman_true(path, image, FLAGS.get(name, ()))
    return alternate(runs, {name: (lambda p=path, f=FLAGS.get(name, ()): podman_true(p, image, f))
                            for name, path in found.items()})


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.containers")
    p.add_argument("image")
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    samples = measure(a.image, a.runs)
    if a.json:
        print(json.dumps({name: {"median_s": median(xs), "samples": xs}
                          for name, xs in samples.items()}))
        return
    print(f"podman run --rm {a.image} /bin/true, start to exit, median of {a.runs} "
          "alternating rounds:")
    for name, xs in samples.items():
        print(f"  {name:18} {median(xs) * 1000:7.0f} ms")
    if "runc" in samples:
        print(f"  (runc's own rounds span {fmt_spread(samples['runc'])} of their median)")
    if "runsc" not in samples:
        print("  (runsc, gVisor, is not installed here: apt-get install runsc)")
    else:
        print("  (runsc with --runtime-flag network=none)")


if __name__ == "__main__":
    main_command(main)
