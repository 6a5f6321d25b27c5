"""How long a big program's first `libsubst run PROG --version` takes, its
plan made from nothing (every libsubst cache emptied before the run) and
with its libraries' substitutes cached but not its plan (the second of a
package's programs: another LLVM tool after llc), against a baseline
build's libsubst in the same rounds (benchmarks/rounds.py):

    python -m libsubst.benchmarks.cold_plan [--rounds 2] [--baseline LIBSUBST] PROG...

PROG's output and status are checked against its native run's; each
configuration has a cache folder of its own.  The load average is printed
with the times: this machine is shared."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .rounds import alternate, check, main_command, median, positive, program
from .startup import cli

TIMEOUT = 900


def _timed(argv: list[str], env: dict, expect: tuple[int, bytes]) -> float:
    t = time.monotonic()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=TIMEOUT, check=False)
    took = time.monotonic() - t
    check((p.returncode, p.stdout) == expect, f"{' '.join(argv)} differs from the native run",
          p.stderr or p.stdout)
    return took


def _configs(builds: dict[str, list[str]], prog: str, work: str) -> dict:
    native = subprocess.run([prog, "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=60, check=False)
    expect = (native.returncode, native.stdout)
    configs = {}
    for build, libsubst in builds.items():
        cache = os.path.join(work, build)

        def cold(libsubst=libsubst, cache=cache) -> float:
            shutil.rmtree(cache, ignore_errors=True)
            os.mkdir(cache)
            return _timed([*libsubst, "run", prog, "--version"],
                          dict(os.environ, XDG_CACHE_HOME=cache), expect)

        def planned(libsubst=libsubst, cache=cache) -> float:
            # after cold: the substitutes stay, the plans go
            shutil.rmtree(os.path.join(cache, "libsubst", "plans"), ignore_errors=True)
            return _timed([*libsubst, "run", prog, "--version"],
                          dict(os.environ, XDG_CACHE_HOME=cache), expect)
        configs[f"{build} cold"] = cold
        configs[f"{build} planned"] = planned
    return configs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.cold_plan",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=positive, default=2)
    ap.add_argument("--baseline", type=program, metavar="LIBSUBST",
                    help="another build's libsubst command, timed in the same rounds")
    ap.add_argument("programs", nargs="+", type=program, metavar="PROG")
    args = ap.parse_args(argv)
    builds = {"this": cli()}
    if args.baseline:
        builds["baseline"] = [args.baseline]
    with tempfile.TemporaryDirectory(prefix="libsubst-cold-plan-") as work:
        for prog in args.programs:
            load = os.getloadavg()[0]
            samples = alternate(args.rounds, _configs(builds, prog, work))
            print(f"{prog} --version (load average {load:.1f} to {os.getloadavg()[0]:.1f})")
            for name, xs in samples.items():
                print(f"  {name:18} median {median(xs):7.1f} s   rounds "
                      + " ".join(f"{x:.1f}" for x in xs), flush=True)


if __name__ == "__main__":
    main_command(main)
