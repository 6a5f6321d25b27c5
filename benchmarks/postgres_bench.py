"""PostgreSQL natively and as a libsubst guest, in the same run: pgbench's
TPC-B-like transactions and its select-only ones against each server, with
the ratio to native and native's ratio to itself.

    python -m libsubst.benchmarks.postgres_bench [--rounds 5] [--seconds 10]
        [--clients 8] [--scale 5] [--json]

One cluster per kind is made first (initdb as the postgres user, natively
and in a guest with --user postgres, then pgbench -i), each the postgres
user's; every round then starts each server on its own cluster (native,
libsubst, native again: rounds.py), runs the two pgbench loads over its
Unix socket and stops it with SIGINT (a fast shutdown, which must exit 0).
A round counts only if pgbench reported no failed transaction.  fsync
stays on, as a server's default: the guest's fsync is the host's."""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from .redis_bench import free_port
from .rounds import alternate, check, fmt_spread, main_command, median, positive

KINDS = ("native", "libsubst", "native again")
AS_POSTGRES = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"]
LOADS = {"TPC-B-like": [], "select-only": ["-S"]}


def pg_bin() -> str:
    """The distribution's PostgreSQL programs' directory (the newest installed)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    check(bool(found), "no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)")
    return os.path.dirname(max(found, key=lambda p: int(p.split("/")[4])))


def guest(top: str, *argv: str) -> list[str]:
    return [sys.executable, "-m", "libsubst", "run", "--user", "postgres",
            "--volume", f"{top}/guest:/pg", *argv]


def where(top: str, kind: str) -> tuple[str, str]:
    """(the host directory of kind's cluster and socket, the path its server names it by)."""
    side = "guest" if kind == "libsubst" else "native"
    return f"{top}/{side}", "/pg" if side == "guest" else f"{top}/native"


def make_cluster(top: str, kind: str, pgbin: str, scale: int) -> None:
    host, named = where(top, kind)
    argv = [f"{pgbin}/initdb", "-D", f"{named}/data", "-U", "postgres", "-A", "trust"]
    cmd = guest(top, *argv) if kind == "libsubst" else [*AS_POSTGRES, *argv]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    check(r.returncode == 0, f"{kind} initdb exited {r.returncode}", r.stderr)
    with server(top, kind, pgbin) as port:
        r = subprocess.run(["pgbench", "-h", host, "-p", str(port), "-U", "postgres", "-i",
                            "-s", str(scale), "postgres"], capture_output=True, text=True,
                           timeout=900)
        check(r.returncode == 0, f"pgbench -i against {kind} exited {r.returncode}", r.stderr)


class server:
    """A context: kind's postmaster listening on its Unix socket; the port.
    Leaving it stops the server with SIGINT (a fast shutdown), which must
    end it with status 0."""

    def __init__(self, top: str, kind: str, pgbin: str):
        self.host, named = where(top, kind)
        self.port = free_port()
        argv = [f"{pgbin}/postgres", "-D", f"{named}/data", "-k", named, "-p", str(self.port),
                "-c", "listen_addresses="]
        self.cmd = guest(top, *argv) if kind == "libsubst" else [*AS_POSTGRES, *argv]
        self.kind = kind

    def __enter__(self) -> int:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while subprocess.run(["pg_isready", "-q", "-h", self.host, "-p", str(self.port)]).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                status = self.stop()
                check(False, f"{self.kind} postgres did not start (status {status})",
                      self.proc.stderr.read())
            time.sleep(0.1)
        return self.port

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __exit__(self, kind, value, tb) -> None:
        status = self.stop()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        if kind is None:
            check(status == 0, f"{self.kind} postgres exited {status} on SIGINT", err)


def pgbench(host: str, port: int, opts: list[str], seconds: int, clients: int) -> float:
    r = subprocess.run(["pgbench", "-h", host, "-p", str(port), "-U", "postgres", *opts,
                        "-c", str(clients), "-j", "2", "-T", str(seconds), "postgres"],
                       capture_output=True, text=True, timeout=seconds * 10 + 300)
    check(r.returncode == 0, f"pgbench exited {r.returncode}", r.stderr)
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    check(failed is not None and failed.group(1) == "0", "pgbench had failed transactions",
          r.stdout)
    return float(re.search(r"tps = ([0-9.]+) \(without initial", r.stdout).group(1))


def measure(rounds: int, seconds: int, clients: int, scale: int) -> dict:
    pgbin = pg_bin()
    top = tempfile.mkdtemp(prefix="libsubst-pgbench-")
    os.chmod(top, 0o755)
    try:
        for side in ("native", "guest"):
            os.mkdir(f"{top}/{side}")
            shutil.chown(f"{top}/{side}", "postgres", "postgres")
        for kind in ("native", "libsubst"):
            make_cluster(top, kind, pgbin, scale)

        def one(kind):
            def run():
                with server(top, kind, pgbin) as port:
                    return {load: pgbench(where(top, kind)[0], port, opts, seconds, clients)
                            for load, opts in LOADS.items()}
            return run

        samples = alternate(rounds, {kind: one(kind) for kind in KINDS})
    finally:
        shutil.rmtree(top, ignore_errors=True)
    out = {}
    for load in LOADS:
        tps = {kind: [s[load] for s in samples[kind]] for kind in KINDS}
        ratio = [g / n for g, n in zip(tps["libsubst"], tps["native"])]
        again = [a / n for a, n in zip(tps["native again"], tps["native"])]
        out[load] = {"tps": {k: median(v) for k, v in tps.items()},
                     "libsubst/native": median(ratio), "native again/native": median(again),
                     "native spread": fmt_spread(tps["native"] + tps["native again"])}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.postgres_bench",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=positive, default=5)
    p.add_argument("--seconds", type=positive, default=10, help="each pgbench run")
    p.add_argument("--clients", type=positive, default=8)
    p.add_argument("--scale", type=positive, default=5, help="pgbench -i -s")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    res = measure(args.rounds, args.seconds, args.clients, args.scale)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print("| load | native tps | libsubst tps | libsubst/native | native again/native "
          "| native rounds' spread |")
    print("| --- | --- | --- | --- | --- | --- |")
    for load, r in res.items():
        print(f"| {load} | {r['tps']['native']:.0f} | {r['tps']['libsubst']:.0f} | "
              f"{r['libsubst/native']:.2f} | {r['native again/native']:.2f} | "
              f"{r['native spread']} |")
    return 0


if __name__ == "__main__":
    main_command(main)
