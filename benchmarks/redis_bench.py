"""redis-server natively and as a libsubst unikernel, in the same run:
redis-benchmark's requests per second and p50/p99 latency for SET, GET,
INCR, LPUSH and LRANGE_100 with 50 clients, unpipelined and with -P 16, and
the ratio to native.  With gVisor's runsc installed, its ptrace platform is
a third column; --sandbox-cost replaces it with libsubst without seccomp and
Landlock, to show what the sandbox costs.

    python -m libsubst.benchmarks.redis_bench [--requests N] [--rounds R] [--json]

Each configuration runs R rounds, alternating native and guest so drift on a
noisy machine hits both; the median of the rounds is reported, with the
spread of the native rounds (native / native).  A round counts only if
redis-benchmark reported every test and the server then exited 0 on SIGTERM."""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from .rounds import check, main_command, fmt_spread, median

TESTS = "set,get,incr,lpush,lrange_100"
# The rows redis-benchmark --csv prints for TESTS (LRANGE first fills a list).
ROWS = {"SET", "GET", "INCR", "LPUSH", "LPUSH (needed to benchmark LRANGE)",
        "LRANGE_100 (first 100 elements)"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, port: int, workdir: str) -> subprocess.Popen:
    server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]
    cmd = {
        "native": server,
        "libsubst": [sys.executable, "-m", "libsubst", "run", *server],
        # the same without seccomp and Landlock (not a CLI option: the API's)
        "nopolicy": [sys.executable, "-c", "import sys, libsubst; sys.exit(libsubst.run("
                     f"{server[0]!r}, {server[1:]!r}, policy=False).returncode)"],
        "gvisor": ["runsc", "--rootless", "--network=host", "--platform=ptrace", "do", *server],
    }[kind]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return listening(proc, port, f"{kind} redis-server")


def listening(proc: subprocess.Popen, port: int, what: str) -> subprocess.Popen:
    """proc, once something accepts connections on port; BenchmarkError if
    it exits first (with its stderr) or does not listen within 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                check(False, f"{what} exited {proc.returncode} at start", proc.stderr.read())
            time.sleep(0.05)
    stop(proc)
    check(False, f"{what} did not listen on {port} within 60 s")


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, then SIGKILL if it has not ended within 30 s: its exit status."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def bench(port: int, requests: int, pipeline: int) -> dict[str, dict[str, float]]:
    r = subprocess.run(["redis-benchmark", "-p", str(port), "-t", TESTS, "-c", "50",
                        "-n", str(requests), "-P", str(pipeline), "--csv"],
                       capture_output=True, text=True, timeout=900)
    check(r.returncode == 0, f"redis-benchmark exited {r.returncode}", r.stderr)
    rows = {row["test"]: {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]),
                          "p99": float(row["p99_latency_ms"])}
            for row in csv.DictReader(io.StringIO(r.stdout))}
    check(rows.keys() == ROWS and all(v["rps"] > 0 for v in rows.values()),
          "redis-benchmark did not report every test", r.stdout + r.stderr)
    return rows


def measure(requests: int = 100000, rounds: int = 3, sandbox_cost: bool = False) -> dict:
    kinds = ["native", "libsubst"] + (["nopolicy"] if sandbox_cost else []) + \
        (["gvisor"] if shutil.which("runsc") and not sandbox_cost else [])
    samples: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        for pipeline in (1, 16):
            for _ in range(rounds):
                for kind in kinds:
                    port = free_port()
                    proc = start(kind, port, workdir)
                    try:
                        res = bench(port, requests, pipeline)
                    finally:
                        status = stop(proc)
                    check(status == 0, f"{kind} redis-server exited {status} on SIGTERM")
                    for test, r in res.items():
                        for metric, v in r.items():
                            samples.setdefault((pipeline, test, kind, metric), []).append(v)
    results = {}
    for (pipeline, test, kind, metric), vals in samples.items():
        results.setdefault(f"P{pipeline} {test}", {}).setdefault(kind, {})[metric] = median(vals)
        if kind == "native" and metric == "rps":
            results[f"P{pipeline} {test}"]["native_spread"] = fmt_spread(vals)
    return {"kinds": kinds, "requests": requests, "rounds": rounds, "results": results}


def table(m: dict) -> str:
    kinds = m["kinds"]
    head = ["test"] + [f"{k} rps" for k in kinds] + [f"{k}/native" for k in kinds[1:]] + \
        ["native/native"] + [f"{k} p50/p99 ms" for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for test, r in m["results"].items():
        nat = r["native"]["rps"]
        cells = [test] + [f"{r[k]['rps']:.0f}" for k in kinds] + \
            [f"{r[k]['rps'] / nat:.2f}" for k in kinds[1:]] + [r["native_spread"]] + \
            [f"{r[k]['p50']:.3f}/{r[k]['p99']:.3f}" for k in kinds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sandbox-cost", action="store_true",
                    help="add libsubst without seccomp and Landlock (instead of gVisor)")
    a = ap.parse_args(argv)
    m = measure(a.requests, a.rounds, a.sandbox_cost)
    print(json.dumps(m, indent=2) if a.json else table(m))


if __name__ == "__main__":
    main_command(main)
