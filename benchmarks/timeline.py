"""Where a warm `libsubst run /bin/true` spends its milliseconds (the
start-up benchmark's --breakdown, benchmarks/startup.py).

A child Python takes the run path's steps one by one (api.prepare, the
boot-info encoding, monitor.guest.run_spec) and prints CLOCK_MONOTONIC
stamps between them; the kernel reports its own first instruction and its
jump to the program (report.boot), so the phases are, from the spawn:
interpreter start, imports, prepare (program, DT_NEEDED closure, cached
substitutes, the root's tree), boot-info encoding, spawn to the kernel's
first instruction, the kernel's boot to the program, the program and the
monitor's end, and the process's exit (as the CLI's: os._exit, no
interpreter teardown).  `python -X importtime` of the real
command names the imports that cost most."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from .rounds import check, median

_CHILD = r"""
import json, sys, time
t = [time.monotonic_ns()]
import libsubst.cli
from libsubst import api
from libsubst.monitor import bootinfo, guest
t.append(time.monotonic_ns())
spec = api.prepare("/bin/true", [])
t.append(time.monotonic_ns())
bootinfo.encode(spec)
t.append(time.monotonic_ns())
done = guest.run_spec(spec)
t.append(time.monotonic_ns())
print(json.dumps({"t": t, "boot": done.report.boot, "status": done.returncode}))
libsubst.cli._leave(0)      # as `libsubst run` ends
"""

PHASES = ("interpreter start", "imports (cli, api, monitor)",
          "prepare: program, libraries, substitutes, tree", "encode the boot-info block",
          "spawn to the kernel's first instruction", "kernel boot to the program's first "
          "instruction", "program run, exit, monitor's end", "process exit")


def _once(cwd: str) -> list[int]:
    t0 = time.monotonic_ns()
    r = subprocess.run([sys.executable, "-c", _CHILD], cwd=cwd, capture_output=True)
    end = time.monotonic_ns()
    check(r.returncode == 0, f"the timeline's child exited {r.returncode}", r.stderr)
    got = json.loads(r.stdout.splitlines()[-1])
    check(got["status"] == 0 and got["boot"], f"the timeline's guest gave {got}")
    main, imported, prepared, encoded, ran = got["t"]
    kstart, kjump = got["boot"]
    # run_spec encodes again before it spawns: the encoding is counted once
    marks = [t0, main, imported, prepared, encoded, kstart - (encoded - prepared), kjump, ran,
             end]
    steps = [b - a for a, b in zip(marks, marks[1:])]
    check(all(s >= 0 for s in steps[:4]) and steps[5] >= 0, f"timeline out of order: {marks}")
    return steps


def importtime(cwd: str, top: int = 8) -> tuple[float, list[tuple[str, float]]]:
    """(ms of all imports, [(module, cumulative ms)] of the costliest
    top-level ones) of `python -X importtime -m libsubst run /bin/true`."""
    argv = [sys.executable, "-X", "importtime", "-m", "libsubst", "run", "/bin/true"]
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    check(r.returncode == 0, f"python -X importtime libsubst run exited {r.returncode}",
          r.stderr)
    tops = []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self, cum, name = line[len("import time:"):].split("|")
        if cum.strip().isdigit() and not name.startswith("  "):
            tops.append((name.strip(), int(cum) / 1000))
    total = sum(ms for _, ms in tops)
    return total, sorted(tops, key=lambda x: -x[1])[:top]


def measure(rounds: int, cwd: str) -> dict:
    _once(cwd)  # warms the caches
    runs = [_once(cwd) for _ in range(rounds)]
    total, tops = importtime(cwd)
    return {"phases_ms": {p: median([r[i] for r in runs]) / 1e6 for i, p in enumerate(PHASES)},
            "total_ms": median([sum(r) for r in runs]) / 1e6,
            "importtime_ms": total, "costliest_imports_ms": tops}


FRONTEND_PHASES = ("spawn to the front end's main", "plan cache: key, entry, dependencies, "
                   "block", "fork and exec to the kernel's first instruction",
                   "kernel boot to the program's first instruction",
                   "program run, exit, supervisor's wait", "process exit")


def _frontend_once(cli: list[str], cwd: str, env: dict) -> list[int]:
    """One served `libsubst run /bin/true`, its stamps read from the front
    end and the supervisor it becomes (LIBSUBST_TIMES_FD, c_src/frontend/
    boot.c, c_src/tender/supervise.c)."""
    r_fd, w_fd = os.pipe()
    try:
        t0 = time.monotonic_ns()
        done = subprocess.run([*cli, "run", "/bin/true"], cwd=cwd, capture_output=True,
                              env=dict(env, LIBSUBST_TIMES_FD=str(w_fd)), pass_fds=(w_fd,))
        end = time.monotonic_ns()
        os.close(w_fd)
        w_fd = -1
        with os.fdopen(r_fd, "r") as fh:
            r_fd = -1
            lines = dict(line.split(" ", 1) for line in fh.read().splitlines())
    finally:
        for fd in (r_fd, w_fd):
            if fd >= 0:
                os.close(fd)
    check(done.returncode == 0 and "frontend" in lines and "supervisor" in lines and
          "boot" in lines,
          "the front end did not serve `libsubst run /bin/true` from its plan cache", done.stderr)
    main, forked = map(int, lines["frontend"].split())
    ended = int(lines["supervisor"])
    kstart, kjump = map(int, lines["boot"].split())
    marks = [t0, main, forked, kstart, kjump, ended, end]
    steps = [b - a for a, b in zip(marks, marks[1:])]
    check(all(s >= 0 for s in steps), f"front end timeline out of order: {marks}")
    return steps


def measure_frontend(rounds: int, cli: list[str], cwd: str, env: dict) -> dict:
    """Where a served (warm) `libsubst run /bin/true` spends its time."""
    subprocess.run([*cli, "run", "/bin/true"], cwd=cwd, env=env, check=True)  # plans it
    runs = [_frontend_once(cli, cwd, env) for _ in range(rounds)]
    return {"phases_ms": {p: median([r[i] for r in runs]) / 1e6
                          for i, p in enumerate(FRONTEND_PHASES)},
            "total_ms": median([sum(r) for r in runs]) / 1e6}


def report_frontend(b: dict) -> str:
    lines = ["where a served `libsubst run /bin/true` (native front end, cached plan) "
             "spends its time (ms, median):"]
    lines += [f"  {p:58} {ms:7.2f}" for p, ms in b["phases_ms"].items()]
    lines.append(f"  {'whole run':58} {b['total_ms']:7.2f}")
    return "\n".join(lines)


def report(b: dict) -> str:
    lines = ["where a `libsubst run /bin/true` the Python CLI serves (substitutes cached, "
             "plan made) spends its time (ms, median):"]
    lines += [f"  {p:58} {ms:7.1f}" for p, ms in b["phases_ms"].items()]
    lines.append(f"  {'whole run':58} {b['total_ms']:7.1f}")
    lines.append(f"python -X importtime -m libsubst run /bin/true: {b['importtime_ms']:.1f} ms "
                 f"of imports; costliest:")
    lines += [f"  {name:58} {ms:7.1f}" for name, ms in b["costliest_imports_ms"]]
    return "\n".join(lines)
