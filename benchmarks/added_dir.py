"""What `--add` of a large directory costs a run, this build against a
baseline build, in alternating rounds:

    python -m libsubst.benchmarks.added_dir [--dir /usr/bin] [--rounds 5]
        [--baseline-python PY] [--substitutes DIR] [--cold-rounds 0] [--json]

times `libsubst run --add DIR /bin/true`, spawn to exit, each run's status
and output checked against native /bin/true's (none, 0):
- warm: the same command run before, its plan cache entry served;
- planned: the plan cache emptied before the run, the substitutes cached:
  the Python CLI lays out the root (the directory's programs found, each
  one's DT_NEEDED closure, the substitutes looked up) and boots it;
- cold (--cold-rounds N): an empty cache folder before the run, so every
  library the directory's programs load is analysed and, where it has
  syscall sites, substituted: minutes for /usr/bin, almost all of it the
  rewriter's (the large Go programs' and node's own sites).
Each build has a cache folder of its own; the substitutes folder is shared
(--substitutes: an existing one, e.g. ~/.cache/libsubst/uklibc, saves
making them once; keys name the rewriter's version)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .rounds import alternate, check, main_command, median, positive, program


def _frontend(python: str) -> list[str]:
    exe = os.path.join(os.path.dirname(python), "libsubst")
    return [exe] if os.access(exe, os.X_OK) else [python, "-m", "libsubst"]


class Build:
    """One installed build with its own cache folder."""

    def __init__(self, name: str, python: str, base: str, substitutes: str, folder: str):
        self.name, self.cmd = name, _frontend(python)
        self.cache = os.path.join(base, name)
        os.makedirs(os.path.join(self.cache, "libsubst"))
        os.symlink(substitutes, os.path.join(self.cache, "libsubst", "uklibc"))
        self.argv = [*self.cmd, "run", "--no-cwd", "--add", folder, "/bin/true"]

    def run(self, cache: str | None = None) -> float:
        env = dict(os.environ, XDG_CACHE_HOME=cache or self.cache)
        t = time.perf_counter()
        done = subprocess.run(self.argv, env=env, cwd="/", capture_output=True, timeout=3600)
        took = time.perf_counter() - t
        check((done.returncode, done.stdout, done.stderr) == (0, b"", b""),
              f"{self.name}: {' '.join(self.argv)} exited {done.returncode}",
              done.stderr or done.stdout)
        return took * 1000

    def planned(self) -> float:
        shutil.rmtree(os.path.join(self.cache, "libsubst", "plans"), ignore_errors=True)
        return self.run()

    def cold(self) -> float:
        with tempfile.TemporaryDirectory(prefix="libsubst-cold-") as empty:
            return self.run(empty)


def shape(folder: str, cache: str) -> dict:
    """This build's plan for the command: its host files (a bind each), those
    below the directory, and its mounts (the directory's own among them)."""
    from ..api import prepare

    os.environ["XDG_CACHE_HOME"] = cache
    plan = prepare("/bin/true", add=[folder], mount_cwd=False)
    files = [e.path for e in plan.entries if e.kind == "file"]
    real = os.path.realpath(folder)
    return {"files": len(files), "below": sum(f.startswith(real + "/") for f in files),
            "mounts": len([m for m in plan.mounts if not m.scratch]),
            "bound": any(m.guest == real for m in plan.mounts)}


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/usr/bin", help="the directory to --add")
    ap.add_argument("--rounds", type=positive, default=5)
    ap.add_argument("--cold-rounds", type=int, default=0)
    ap.add_argument("--baseline-python", type=program,
                    help="the Python of a baseline build's venv, timed in the same rounds")
    ap.add_argument("--substitutes", help="an existing substitutes folder to share")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    check(os.path.isdir(a.dir), f"--dir {a.dir}: not a directory")
    with tempfile.TemporaryDirectory(prefix="libsubst-added-dir-") as base:
        subs = os.path.abspath(a.substitutes) if a.substitutes else os.path.join(base, "uklibc")
        os.makedirs(subs, exist_ok=True)
        builds = [Build("this", sys.executable, base, subs, a.dir)]
        if a.baseline_python:
            builds.append(Build("baseline", a.baseline_python, base, subs, a.dir))
        for b in builds:
            b.run()                      # the substitutes made (once, shared) and the plan
        configs = {}
        for kind in ("warm", "planned"):
            for b in builds:
                configs[f"{b.name} {kind}"] = b.run if kind == "warm" else b.planned
        samples = alternate(a.rounds, configs)
        if a.cold_rounds > 0:
            samples.update(alternate(a.cold_rounds, {f"{b.name} cold": b.cold for b in builds}))
        plan = shape(a.dir, builds[0].cache)
    load = os.getloadavg()[0]
    if a.json:
        print(json.dumps({"dir": a.dir, "load": load, "samples_ms": samples, "plan": plan}))
        return 0
    print(f"this build's plan: {plan['files']} host files bound one by one "
          f"({plan['below']} of them below {a.dir}), {plan['mounts']} host mounts"
          f"{f' ({a.dir} one of them)' if plan['bound'] else ''}")
    print(f"libsubst run --add {a.dir} /bin/true, ms, median of rounds "
          f"(load average {load:.1f} at the end)")
    for name, xs in samples.items():
        print(f"  {name:<18} {median(xs):10.1f}   rounds: {', '.join(f'{x:.0f}' for x in xs)}")
    return 0


if __name__ == "__main__":
    main_command(main)
