"""Which share of a program's system calls the trap path still serves: the
calls the rewriter left (or could not reach) in python3, sqlite3, nginx and
redis under load, and a static Go program, counted by the guest's own
--trace-summary (start-up included).

    python -m libsubst.benchmarks.trap_share [--json]

Each program's work is checked (its exit status, the servers' answers and
their exit on SIGTERM), so a count never comes from a failed run."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from .redis_bench import free_port
from .rounds import BenchmarkError, check, main_command
from .servers import nginx, one_round, redis

# A static Go program (no libc: the Go runtime's own syscall sites): a few
# goroutines on several threads, a channel, a timer, a file written.
GO_SOURCE = """package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

func main() {
	var wg sync.WaitGroup
	ch := make(chan int, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); time.Sleep(time.Millisecond); ch <- i * i }(i)
	}
	wg.Wait()
	close(ch)
	sum := 0
	for v := range ch {
		sum += v
	}
	if err := os.WriteFile(os.Args[1], []byte(fmt.Sprint(sum)), 0o644); err != nil {
		panic(err)
	}
	fmt.Println(sum)
}
"""

GUEST = [sys.executable, "-m", "libsubst", "run"]


def counts(summary_file: str) -> dict[str, dict[str, int]]:
    """{syscall: {"fast": n, "trap": n}} summed over the guest's processes."""
    out: dict[str, dict[str, int]] = {}
    with open(summary_file) as f:
        for line in f:
            for name, row in json.loads(line).get("summary", {}).items():
                c = out.setdefault(name, {"fast": 0, "trap": 0})
                c["fast"] += row["fast"]
                c["trap"] += row["trap"]
    check(bool(out), f"{summary_file} holds no summary")
    return out


def traced(work: str, name: str) -> tuple[list[str], str]:
    path = os.path.join(work, f"{name}.summary")
    return ["--trace-summary", "--trace-format", "json", "--trace-file", path], path


def run_once(work: str, name: str, argv: list[str], want: bytes | None = None) -> dict:
    opts, path = traced(work, name)
    r = subprocess.run([*GUEST, *opts, *argv], cwd=work, capture_output=True, timeout=600)
    check(r.returncode == 0, f"{name} in the guest exited {r.returncode}", r.stderr)
    if want is not None:
        check(r.stdout == want, f"{name} printed {r.stdout[:100]!r}, not {want!r}")
    return counts(path)


def server(work: str, name: str, make) -> dict:
    argv, load, opts = make
    topts, path = traced(work, name)
    port = free_port()
    one_round("libsubst", argv(port), port, work, load, [*topts, *opts])
    return counts(path)


def measure(seconds: float = 2, requests: int = 20000) -> dict[str, dict[str, dict[str, int]]]:
    """{program: {syscall: {"fast": n, "trap": n}}}."""
    res = {}
    with tempfile.TemporaryDirectory() as work:
        code = ("import json, sqlite3; db = sqlite3.connect(':memory:'); "
                "db.execute('create table t(a)'); "
                "db.executemany('insert into t values (?)', [(i,) for i in range(1000)]); "
                "print(json.dumps(db.execute('select sum(a) from t').fetchone()))")
        res["python3"] = run_once(work, "python3", ["/usr/bin/python3", "-c", code], b"[499500]\n")
        sql = "create table t(a); insert into t values (1), (2), (3); select sum(a) from t;"
        res["sqlite3"] = run_once(work, "sqlite3", ["sqlite3", os.path.join(work, "db"), sql],
                                  b"6\n")
        res["nginx"] = server(work, "nginx", nginx(work, seconds))
        res["redis"] = server(work, "redis", redis(requests))
        go_src, go_bin = os.path.join(work, "main.go"), os.path.join(work, "gostatic")
        with open(go_src, "w") as f:
            f.write(GO_SOURCE)
        env = dict(os.environ, CGO_ENABLED="0", GOCACHE=os.path.join(work, "gocache"),
                   GOFLAGS="-mod=mod", GO111MODULE="off")
        b = subprocess.run(["go", "build", "-o", go_bin, go_src], cwd=work, env=env,
                           capture_output=True, timeout=600)
        check(b.returncode == 0, "go build failed", b.stderr)
        res["static Go"] = run_once(work, "go", [go_bin, os.path.join(work, "go.out")], b"140\n")
    return res


def table(res: dict) -> str:
    lines = ["| program | calls | on the trap path | share | the trap path's calls |",
             "| --- | ---: | ---: | ---: | --- |"]
    for prog, calls in res.items():
        total = sum(c["fast"] + c["trap"] for c in calls.values())
        trap = sum(c["trap"] for c in calls.values())
        which = ", ".join(f"{n} {c['trap']}" for n, c in sorted(calls.items()) if c["trap"])
        lines.append(f"| {prog} | {total} | {trap} | {100 * trap / total:.3f} % | {which or '—'} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.trap_share",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = measure()
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")
    print(json.dumps(res, indent=2) if a.json else table(res))


if __name__ == "__main__":
    main_command(main)
