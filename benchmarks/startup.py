"""How long `libsubst run` takes to start, whole process as a user sees it,
against the same program natively in the same rounds:

    python -m libsubst.benchmarks.startup [--rounds 10] [--density 50] [--breakdown] [--json]

- `/bin/true`, `python3 -c pass`, a packed image of /bin/true (`libsubst
  pack`, then `libsubst run true.lsi`) and redis-server to its first PONG on
  a loopback port: spawn to exit (to PONG for redis), native; warm (the same
  run made before: the native front end boots its cached plan, Python never
  starts); planned (the substitute libc cached but not the plan, which the
  Python CLI makes: the plan cache emptied before the run); and cold (every
  libsubst cache emptied before the run), alternating (benchmarks/rounds.py),
  each in a cache folder of the benchmark's own; every run's status and
  output checked against the native run's.
- density (benchmarks/density.py): N idle guests of a small echo server
  against N native ones, each answering on its own port: PSS per instance
  (by process and kind) and instances started per second.
- --breakdown: where a warm (served) and a planned `libsubst run /bin/true`
  spend their time (benchmarks/timeline.py)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from ..errors import LibsubstError
from . import density, timeline
from .rounds import alternate, check, main_command, fmt_spread, median

REDIS = ["/usr/bin/redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
TARGETS = ("true", "python3 -c pass", "true.lsi (packed)", "redis-server to PONG")


def cli() -> list[str]:
    """The `libsubst` command this Python has installed (its console script)."""
    exe = os.path.join(os.path.dirname(sys.executable), "libsubst")
    return [exe] if os.access(exe, os.X_OK) else [sys.executable, "-m", "libsubst"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


def _redis(argv: list[str], env: dict, cwd: str, who: str, port: int,
           deadline_s: float = 120) -> int:
    """ns from spawn to redis's first PONG; then SHUTDOWN, exit status checked."""
    with tempfile.TemporaryFile() as err:
        t0 = time.monotonic_ns()
        proc = subprocess.Popen([*argv, "--port", str(port)], env=env, cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            while not _pong(port):
                if proc.poll() is not None:
                    err.seek(0)
                    check(False, f"{who} exited {proc.returncode} before answering", err.read())
                check(time.monotonic_ns() - t0 < deadline_s * 1e9, f"{who}: no PONG in time")
                time.sleep(0.0005)
            ns = time.monotonic_ns() - t0
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"SHUTDOWN NOSAVE\r\n")
                s.recv(100)
            status = proc.wait(timeout=60)
            err.seek(0)
            check(status == 0, f"{who} exited {status} after SHUTDOWN", err.read())
            return ns
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _command(argv: list[str], env: dict, cwd: str, expect: tuple, who: str) -> int:
    """ns from spawn to exit; the status, stdout and stderr must be native's."""
    t0 = time.monotonic_ns()
    r = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    ns = time.monotonic_ns() - t0
    got = (r.returncode, r.stdout, r.stderr)
    check(got == expect, f"{who} gave {got!r}, natively {expect!r}")
    return ns


def _configs(work: str, warm_env: dict, cold_env: dict, targets) -> dict:
    """{target: {native|warm|planned|cold: timer}}, each timer checked against native."""
    run = [*cli(), "run"]
    image = os.path.join(work, "true.lsi")
    r = subprocess.run([*cli(), "pack", "-o", image, "/bin/true"], env=warm_env, cwd=work,
                       capture_output=True)
    check(r.returncode == 0, f"libsubst pack /bin/true exited {r.returncode}", r.stderr)
    cold_cache = cold_env["XDG_CACHE_HOME"]

    def cold(timer):
        def emptied():
            shutil.rmtree(cold_cache, ignore_errors=True)
            os.mkdir(cold_cache)
            return timer(cold_env)
        return emptied

    # Planned runs have a cache of their own: emptying its plans leaves the
    # warm runs' entries alone.
    planned_env = dict(warm_env, XDG_CACHE_HOME=os.path.join(work, "planned-cache"))

    def planned(timer):
        def unplanned():
            shutil.rmtree(os.path.join(planned_env["XDG_CACHE_HOME"], "libsubst", "plans"),
                          ignore_errors=True)
            return timer(planned_env)
        return unplanned

    out = {}
    for name, native, guest in (("true", ["/bin/true"], [*run, "/bin/true"]),
                                ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"],
                                 [*run, "/usr/bin/python3", "-c", "pass"]),
                                ("true.lsi (packed)", ["/bin/true"], [*run, image])):
        r = subprocess.run(native, cwd=work, capture_output=True)
        expect = (r.returncode, r.stdout, r.stderr)
        check(r.returncode == 0, f"{native} exited {r.returncode}", r.stderr)
        out[name] = {
            "native": lambda n=native, e=expect, w=name: _command(n, warm_env, work, e, w),
            "warm": lambda env=warm_env, g=guest, e=expect, w=name:
                _command(g, env, work, e, f"libsubst run {w} (warm)"),
        }
        out[name]["planned"] = planned(lambda env, g=guest, e=expect, w=name:
                                       _command(g, env, work, e, f"libsubst run {w} (planned)"))
        out[name]["cold"] = cold(lambda env, g=guest, e=expect, w=name:
                                 _command(g, env, work, e, f"libsubst run {w} (cold)"))
    # One port for every round: the same command line, as a warm run is.
    redis = [*REDIS, "--port", str(_free_port())]
    out["redis-server to PONG"] = {
        "native": lambda: _redis(redis, warm_env, work, "redis-server", int(redis[-1])),
        "warm": lambda: _redis([*run, *redis], warm_env, work, "libsubst run redis-server",
                               int(redis[-1])),
        "planned": planned(lambda env: _redis([*run, *redis], env, work,
                                              "libsubst run redis-server (planned)",
                                              int(redis[-1]))),
        "cold": cold(lambda env: _redis([*run, *redis], env, work,
                                        "libsubst run redis-server (cold)", int(redis[-1]))),
    }
    return {t: out[t] for t in targets}


def measure(rounds: int = 10, n_density: int = 50, breakdown: bool = False,
            targets: tuple[str, ...] = TARGETS) -> dict:
    with tempfile.TemporaryDirectory(prefix="libsubst-startup-") as work:
        warm_env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "warm-cache"))
        cold_env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cold-cache"))
        configs = _configs(work, warm_env, cold_env, targets)
        flat = {(t, k): f for t, ks in configs.items() for k, f in ks.items()}
        for (t, k), f in flat.items():      # warms the caches (a cold run empties its own)
            if k != "cold":
                f()
        samples = alternate(rounds, flat)
        res: dict = {"rounds": rounds, "start_ms": {}}
        for t in configs:
            res["start_ms"][t] = {k: median(samples[(t, k)]) / 1e6 for k in configs[t]}
            res["start_ms"][t]["native_spread"] = fmt_spread(samples[(t, "native")])
        if n_density:
            res["density"] = density.measure(cli(), n_density, work)
        if breakdown:
            res["breakdown"] = timeline.measure(rounds, work)
            res["breakdown_frontend"] = timeline.measure_frontend(rounds, cli(), work, warm_env)
    return res


def report(res: dict) -> str:
    lines = [f"start-up, spawn to exit (redis: to its first PONG), ms, median of "
             f"{res['rounds']} alternating rounds",
             f"{'':24} {'native':>8} {'warm':>8} {'planned':>8} {'cold':>8}  "
             f"{'native/native':>13}"]
    for t, v in res["start_ms"].items():
        lines.append(f"{t:24} {v['native']:8.1f} {v['warm']:8.1f} {v['planned']:8.1f} "
                     f"{v['cold']:8.1f}  {v['native_spread']:>13}")
    if "density" in res:
        lines.append("")
        lines.append(density.report(res["density"]))
    if "breakdown" in res:
        lines.append("")
        lines.append(timeline.report_frontend(res["breakdown_frontend"]))
        lines.append(timeline.report(res["breakdown"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.startup",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--density", type=int, default=50, metavar="N",
                    help="idle guests for the density figures (0: none)")
    ap.add_argument("--breakdown", action="store_true",
                    help="where a warm `libsubst run /bin/true` spends its time")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.density < 0:
        sys.exit("libsubst: --rounds must be at least 1 and --density at least 0")
    try:
        res = measure(a.rounds, a.density, a.breakdown)
    except LibsubstError as e:
        sys.exit(f"libsubst: {e}")
    print(json.dumps(res, indent=1) if a.json else report(res))


if __name__ == "__main__":
    main_command(main)
