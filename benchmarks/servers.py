"""Servers natively and as libsubst unikernels, in the same run: nginx
serving a 4 KiB file (wrk), redis SET/GET unpipelined and with -P 16
(redis-benchmark) and memcached (memcaslap, Debian's libmemcached-tools),
with the ratio to native and native's ratio to itself.

    python -m libsubst.benchmarks.servers [--rounds 9] [--seconds 3] [--requests 50000]
        [--baseline-python PYTHON] [--only nginx,redis,memcached] [--json]

--only runs the servers named alone (all three otherwise).

Beside native, the same native server under the sandbox's layers, without
libsubst (contained.c): "container", under the guest's own seccomp filter
(the filter compiled from hostcalls.py, as `bench syscalls`' container
column; any seccomp-confined process, a container's too, pays it), and
"container+Landlock", the same restricted first with the tender's Landlock
rules for the guest's volumes (its working directory read-write, nginx's
files read-only).  libsubst over container+Landlock, round by round, is
libsubst's own share; container+Landlock over native the sandbox's.
--baseline-python adds a configuration to every round: the libsubst
installed for that Python (another build, e.g. the main branch's), to
compare two builds against the same native rounds.

Native and guest alternate round by round (rounds.py), each round a fresh
server, and each round ends with native once more ("native again"): a
guest's ratio to native is the median of its rounds' ratios, and native
again's ratio to the round's first native, measured the same way, is what
noise alone makes of a ratio (its median and range are printed); the server runs on the first CPU and the load generator on the
second where this process may use two, so they do not take turns on one.
A round counts only if its work succeeded: nginx answered the file byte for
byte before the load and wrk saw no error and no status but 200; every
redis-benchmark test reported; memcaslap missed no key it had set; and the
server then exited 0 on SIGTERM.

Throughput alone cannot tell a slower server when the load generator, not
the server, is what saturates (redis-benchmark and memcaslap on one core:
a server that answers later hands the client bigger batches, and the client
then goes faster).  So every server also gets a row of the CPU time its
process tree spent per request while the load ran (the tasks' on-CPU time
from /proc/PID/task/TID/schedstat: host kernel and user space, the guest
kernel included), which does not depend on who waited for whom."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from importlib import resources

from ..kernel import seccomp
from .rounds import BenchmarkError, alternate, check, main_command, median, positive, program
from .redis_bench import free_port, listening, stop

CONTAINER = "container"             # native under the guest's filter (contained.c)
FLOOR = "container+Landlock"        # ... and the tender's Landlock rules for the volumes
KINDS = ("native", CONTAINER, FLOOR, "libsubst")
NATIVE = ("native", CONTAINER, FLOOR)
BASELINE = "baseline"
AGAIN = "native again"      # native once more in each round: the noise, measured like the rest
pythons = {"libsubst": sys.executable}     # the Python whose libsubst runs each guest kind
REDIS_TESTS = {"SET", "GET"}


def cpus() -> tuple[list[str], list[str]]:
    """taskset prefixes for the server and the load generator: apart when two CPUs are ours."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        return [], []
    return ["taskset", "-c", str(mine[0])], ["taskset", "-c", str(mine[1])]


def contained(kind: str, workdir: str, opts: list[str]) -> list[str]:
    """The launcher's arguments for a native kind: none for native; the guest's
    filter (written into workdir at the first call); and Landlock's rules for the
    volumes a guest gets (opts' --volume HOST:GUEST[:ro], and the working
    directory, mounted read-write)."""
    if kind in ("native", AGAIN):
        return []
    bpf = os.path.join(workdir, "filter.bpf")
    if not os.path.exists(bpf):
        with open(bpf, "wb") as f:
            f.write(seccomp.container_baseline(refusals_allowed=True))
    rules = []
    if kind == FLOOR:
        vols = [v.split(":") for o, v in zip(opts, opts[1:]) if o == "--volume"]
        rules = ["--rw", workdir, *(a for host, *rest in vols
                                    for a in ("--ro" if rest[1:] == ["ro"] else "--rw", host))]
    return [str(resources.files("libsubst") / "_bin" / "contained"), *rules, bpf]


def serve(kind: str, argv: list[str], port: int, workdir: str, opts: list[str]):
    """The server started natively (under contained.c for the container kinds)
    or in a guest (the workdir mounted at its own path)."""
    pin, _ = cpus()
    if kind in (*NATIVE, AGAIN):
        cmd = [*contained(kind, workdir, opts), *argv]
    else:
        cmd = [pythons[kind], "-m", "libsubst", "run", *opts, *argv]
    proc = subprocess.Popen([*pin, *cmd], cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    return listening(proc, port, f"{kind} {argv[0]}")


def tree_cpu_ns(pid: int) -> int:
    """On-CPU ns so far of every task of pid and its descendants (schedstat's first field)."""
    total, level = 0, [pid]
    while level:
        kids = []
        for p in level:
            try:
                tids = os.listdir(f"/proc/{p}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                        total += int(f.read().split()[0])
                    with open(f"/proc/{p}/task/{tid}/children") as f:
                        kids += [int(k) for k in f.read().split()]
                except OSError:
                    pass      # ended meanwhile
        level = kids
    return total


def one_round(kind: str, argv: list[str], port: int, workdir: str, load, opts=()) -> dict:
    """Starts the server, runs load(port) -> ({metric: value}, requests), stops it; checks
    its exit.  Adds the row of the server's CPU µs per request during the load."""
    proc = serve(kind, argv, port, workdir, list(opts))
    try:
        before = tree_cpu_ns(proc.pid)
        res, requests = load(port)
        used = tree_cpu_ns(proc.pid) - before
    finally:
        status = stop(proc)
        err = proc.stderr.read()
    check(status == 0, f"{kind} {argv[0]} exited {status} on SIGTERM", err)
    check(requests > 0 and used > 0, f"{kind} {argv[0]}: no requests or no CPU time counted")
    name = os.path.basename(argv[0]).replace("-server", "")
    return {**res, f"{name} CPU µs per request": used / 1e3 / requests}


def nginx(workdir: str, seconds: float):
    """(argv, load, opts) of nginx serving a 4 KiB file to wrk -t1 -c50."""
    www = os.path.join(workdir, "www")
    os.makedirs(www, exist_ok=True)
    body = os.urandom(4096)
    with open(os.path.join(www, "4k.bin"), "wb") as f:
        f.write(body)
    conf = os.path.join(workdir, "nginx.conf")

    def argv(port: int) -> list[str]:
        with open(conf, "w") as f:
            f.write(f"""master_process off; worker_processes 1; daemon off;
error_log {workdir}/error.log; pid {workdir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {workdir}; proxy_temp_path {workdir}; fastcgi_temp_path {workdir};
    uwsgi_temp_path {workdir}; scgi_temp_path {workdir};
    server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
""")
        return ["nginx", "-c", conf, "-p", workdir]

    def load(port: int) -> tuple[dict, int]:
        url = f"http://127.0.0.1:{port}/4k.bin"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                got = r.read()
        except urllib.error.URLError as e:
            got = e
        check(got == body, "nginx did not serve the file as written", str(got)[:200])
        _, client = cpus()
        r = subprocess.run([*client, "wrk", "-t1", "-c50", f"-d{max(1, round(seconds))}s",
                            url],
                           capture_output=True, text=True, timeout=seconds + 120)
        check(r.returncode == 0, f"wrk exited {r.returncode}", r.stderr)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
        done = re.search(r"(\d+) requests in", r.stdout)
        check(rps is not None and float(rps[1]) > 0 and done is not None,
              "wrk reported no requests", r.stdout)
        check("Non-2xx" not in r.stdout and "Socket errors" not in r.stdout,
              "wrk saw failed requests", r.stdout)
        return {"nginx 4 KiB (wrk -t1 -c50) rps": float(rps[1])}, int(done[1])

    return argv, load, ["--volume", f"{www}:{www}:ro"]


def redis(requests: int):
    def argv(port: int) -> list[str]:
        return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no"]

    def load(port: int) -> tuple[dict, int]:
        _, client = cpus()
        out = {}
        for pipeline in (1, 16):
            r = subprocess.run([*client, "redis-benchmark", "-p", str(port), "-t", "set,get",
                                "-c", "50", "-n", str(requests), "-P", str(pipeline), "--csv"],
                               capture_output=True, text=True, timeout=900)
            check(r.returncode == 0, f"redis-benchmark exited {r.returncode}", r.stderr)
            rows = {row["test"]: float(row["rps"]) for row in csv.DictReader(io.StringIO(r.stdout))}
            check(rows.keys() == REDIS_TESTS and min(rows.values()) > 0,
                  "redis-benchmark did not report every test", r.stdout + r.stderr)
            out.update({f"redis {t} -P {pipeline} rps": v for t, v in sorted(rows.items())})
        return out, requests * len(out)

    return argv, load, []


def memcached(seconds: float):
    def argv(port: int) -> list[str]:
        return ["memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", str(port), "-U", "0"]

    def load(port: int) -> tuple[dict, int]:
        _, client = cpus()
        r = subprocess.run([*client, "memcaslap", "-s", f"127.0.0.1:{port}",
                            f"-t{max(1, round(seconds))}s", "-c", "16", "-T", "1"],
                           capture_output=True, text=True, timeout=seconds + 120)
        check(r.returncode == 0, f"memcaslap exited {r.returncode}", r.stderr)
        tps = re.search(r"Ops: (\d+) TPS: (\d+)", r.stdout)
        misses = re.search(r"get_misses: (\d+)", r.stdout)
        check(tps is not None and int(tps[1]) > 0 and misses is not None and misses[1] == "0",
              "memcaslap reported no operations or missed keys", r.stdout + r.stderr)
        return {"memcached (memcaslap -c16, 90 % get) ops/s": float(tps[2])}, int(tps[1])

    return argv, load, []


SERVERS = ("nginx", "redis", "memcached")


def measure(rounds: int = 9, seconds: float = 3, requests: int = 50000,
            baseline: str | None = None, only: str | None = None) -> dict:
    """{row: {kind: [one figure per round]}}, kinds alternating within each round;
    only: the servers to run, comma-separated (all of SERVERS if None)."""
    names = only.split(",") if only else list(SERVERS)
    unknown = sorted(set(names) - set(SERVERS))
    check(not unknown, f"no server {', '.join(unknown)} (there are {', '.join(SERVERS)})")
    kinds = (*KINDS, AGAIN)
    if baseline:
        pythons[BASELINE] = baseline
        kinds = (*KINDS, BASELINE, AGAIN)
    out: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        loads = {"nginx": lambda: nginx(workdir, seconds), "redis": lambda: redis(requests),
                 "memcached": lambda: memcached(seconds)}
        for argv, load, opts in (loads[name]() for name in SERVERS if name in names):
            def config(kind):
                def run():
                    port = free_port()
                    return one_round(kind, argv(port), port, workdir, load, opts)
                return run
            runs = alternate(rounds, {k: config(k) for k in kinds})
            for row in runs["native"][0]:
                out[row] = {k: [r[row] for r in runs[k]] for k in kinds}
    return out


def paired(res: dict, kind: str, over: str = "native") -> list[float]:
    """kind's figure over over's of the same round, round by round."""
    return [k / n for k, n in zip(res[kind], res[over])]


def table(res: dict) -> str:
    """Medians of each kind, and each kind's ratio to native as the median of its rounds'
    ratios (each round's native ran minutes apart at most), and each guest's to
    container+Landlock the same way (libsubst's own share); the native-again column is
    the same ratio of native to itself: its median and its range are the noise."""
    guests = [k for k in next(iter(res.values())) if k not in ("native", AGAIN)]
    own = [k for k in guests if k not in NATIVE] if FLOOR in guests else []
    head = ["load", "native", *guests, *(f"{k} / native" for k in guests),
            *(f"{k} / {FLOOR}" for k in own), "native again / native", "rounds"]
    fmt = {True: "{:.2f}", False: "{:.0f}"}
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for row, r in res.items():
        f = fmt["µs" in row].format
        again = paired(r, AGAIN)
        cells = [row, f(median(r["native"])), *(f(median(r[k])) for k in guests),
                 *(f"{median(paired(r, k)):.2f}" for k in guests),
                 *(f"{median(paired(r, k, FLOOR)):.2f}" for k in own),
                 f"{median(again):.2f} ({min(again):.2f}–{max(again):.2f})",
                 str(len(r["native"]))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.servers",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=9, help="alternating rounds (median)")
    ap.add_argument("--seconds", type=positive, default=3,
                    help="wrk's and memcaslap's run time, whole seconds")
    ap.add_argument("--requests", type=positive, default=50000, help="redis-benchmark's per test")
    ap.add_argument("--baseline-python", type=program,
                    help="also run the libsubst installed for this Python")
    ap.add_argument("--only", metavar="NAME,...", help=f"these servers alone (of {', '.join(SERVERS)})")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = measure(a.rounds, a.seconds, a.requests, a.baseline_python, a.only)
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")
    print(json.dumps(res, indent=2) if a.json else table(res))


if __name__ == "__main__":
    main_command(main)
