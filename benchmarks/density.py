"""Density, the start-up benchmark's second half (benchmarks/startup.py):
N idle guests of a small server against the same server run natively, N
each, one batch after the other:

    python -m libsubst.benchmarks.density [--n 50] [--json]

The server is benchmarks/echo_server.c (the package build's
libsubst/_bin/echo-server), each instance on its own loopback port.  An
instance counts as started when it echoes a request (every one is checked,
and checked again after the memory is read); "started per second" is N over
the time from the first spawn to the last instance's first answer, with at most
WINDOW instances starting at a time; "CPU/start" is the CPU time an
instance's processes have run once it answers (median and mean over N: the
mean counts the first ones, which plan), which bounds the rate two idle
cores reach, and the load average beside says what share
of them other work left.  Memory
is the PSS of everything kept running for an instance, read from the host's
/proc/PID/smaps_rollup: natively the server; for a guest the supervisor
(what `libsubst run` became: c_src/tender/supervise.c), the relay and the
guest's process (its kernel and the program in one address space), with
each one's anonymous, file and shmem parts and page tables (VmPTE, which
PSS leaves out), and the guest process's largest mappings.

Every process started here is killed before measure() returns, even when
it fails: a supervisor killed with SIGKILL takes its relay and guest with it
(their parent-death signal), and the loop checks that none is left."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from .rounds import check, main_command

SERVER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bin",
                      "echo-server")
ROLES = {"native": ("server",), "guest": ("supervisor", "relay", "guest")}
WINDOW = 8        # instances starting at once (density._start_all)
_ROLLUP = {"Pss:": "pss", "Pss_Anon:": "anon", "Pss_File:": "file", "Pss_Shmem:": "shmem"}


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return kids


def tree(pid: int) -> list[int]:
    """pid and all its descendants, as the host sees them, parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += _children(p)
    return out


def rollup(pid: int) -> dict[str, int]:
    """KiB of PSS (pss, anon, file, shmem) and page tables (pte) of one
    process; zeros if it is gone."""
    out = dict.fromkeys((*_ROLLUP.values(), "pte"), 0)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key = _ROLLUP.get(line.split(" ", 1)[0])
                if key:
                    out[key] = int(line.split()[1])
        with open(f"/proc/{pid}/status") as f:
            out["pte"] = next(int(line.split()[1]) for line in f if line.startswith("VmPTE:"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        pass
    return out


def pss_kib(pid: int) -> int:
    """Proportional set size of one process (0 if it is gone)."""
    return rollup(pid)["pss"]


def mappings(pid: int, top: int = 8) -> list[tuple[str, int]]:
    """The process's mappings grouped by name ([anon] for unnamed), the
    ``top`` largest by PSS: (name, KiB)."""
    sums: dict[str, int] = {}
    name = "[anon]"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split()
                if "-" in head[0] and not line.startswith(("Pss", "Rss")) and ":" not in head[0]:
                    name = head[5] if len(head) > 5 else "[anon]"
                elif head[0] == "Pss:":
                    sums[name] = sums.get(name, 0) + int(head[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return sorted(sums.items(), key=lambda kv: -kv[1])[:top]


def free_ports(n: int) -> list[int]:
    """n loopback ports free now (all bound at once, so distinct)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def answers(port: int, timeout: float = 5) -> bool:
    """The server on port echoes a request."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"ping\n")
            return s.recv(16) == b"ping\n"
    except OSError:
        return False


def _start_all(argv, n: int, who: str, cwd: str, procs: list, log, deadline_s: float,
               window: int) -> float:
    """Start n instances (argv(port) each), at most ``window`` of them not
    yet answering at a time (500 Python CLIs planning at once would hold
    GiBs), until each has answered a request: seconds from the first spawn."""
    ports = free_ports(n)
    t0 = time.monotonic()
    waiting: list = []
    while ports or waiting:
        while ports and len(waiting) < window:
            port = ports.pop()
            procs.append((subprocess.Popen(argv(port), cwd=cwd, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=log), port))
            waiting.append(procs[-1])
        for p, _port in waiting:
            if p.poll() is not None:
                log.seek(0)
                check(False, f"{who} exited {p.returncode} before answering", log.read()[-2000:])
        before = len(waiting)
        # A short wait: a server that has not accepted yet is asked again on the next pass.
        waiting = [(p, port) for p, port in waiting if not answers(port, 0.2)]
        check(time.monotonic() - t0 < deadline_s,
              f"{len(waiting) + len(ports)} of {n} {who} not answering after {deadline_s:.0f} s")
        if len(waiting) == before:
            time.sleep(0.002)
    return time.monotonic() - t0


def _end_all(procs: list) -> None:
    pids = [q for p, _port in procs for q in tree(p.pid)]
    for p, _port in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
    for p, _port in procs:
        p.wait()
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{q}") and _state(q) != "Z" for q in pids):
        check(time.monotonic() < deadline, "guest processes left after their supervisors died")
        time.sleep(0.01)


def _settle(procs: list, nroles: int, deadline_s: float = 60) -> None:
    """Waits until each instance is what stays running for it: a guest can
    answer before its CLI has handed over to the native supervisor, and an
    interpreter measured in its place would be counted as the supervisor."""
    python = os.path.realpath(sys.executable)
    deadline = time.monotonic() + deadline_s
    for p, _port in procs:
        while True:
            try:
                top = os.path.realpath(f"/proc/{p.pid}/exe")
            except OSError:
                top = ""
            if top != python and len(tree(p.pid)) >= nroles:
                break
            check(time.monotonic() < deadline, "an instance did not settle (its CLI still runs "
                  f"{top or 'nothing'} after {deadline_s:.0f} s)")
            time.sleep(0.005)


def cpu_ms(pid: int) -> float:
    """CPU time the process's threads have run so far (schedstat's, in ns:
    precise where stat's ticks miss a few milliseconds), ms; 0 if it is gone."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total / 1e6


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return "gone"


def _one(argv, n: int, who: str, cwd: str, deadline_s: float, roles=("server",),
         window: int = WINDOW) -> dict:
    procs: list = []
    with tempfile.TemporaryFile() as log:
        try:
            secs = _start_all(argv, n, who, cwd, procs, log, deadline_s, window)
            _settle(procs, len(roles))
            trees = [tree(p.pid) for p, _port in procs]
            # Idle since it answered: what its processes used is what starting cost (the
            # front end, its exec of the supervisor and the relay's of the kernel included).
            ran = [[cpu_ms(pid) for pid in t] for t in trees]
            cpu = sorted(sum(r) for r in ran)
            cpu_role = {r: sorted(sum(ms[i] for i in range(len(ms)) if
                                      roles[min(i, len(roles) - 1)] == r) for ms in ran)
                        for r in roles}
            per_role = {r: dict.fromkeys(("pss", "anon", "file", "shmem", "pte"), 0) for r in roles}
            per = []
            for t in trees:
                total = 0
                for i, pid in enumerate(t):
                    r = rollup(pid)
                    check(r["pss"] > 0, f"{who}: a process vanished while measured")
                    for k, v in r.items():
                        per_role[roles[min(i, len(roles) - 1)]][k] += v
                    total += r["pss"]
                per.append(total)
            check(all(answers(port) for _p, port in procs), f"{who}: an instance stopped answering")
            return {"started_per_s": n / secs, "seconds_to_all_answering": secs,
                    "cpu_ms_per_start": {"median": cpu[n // 2], "mean": sum(cpu) / n},
                    "cpu_ms_median_per_role": {r: v[n // 2] for r, v in cpu_role.items()},
                    "load_average": os.getloadavg()[0],
                    "pss_kib_per_instance": sum(per) / n, "pss_kib_total": sum(per),
                    "pss_kib_top_process": sum(pss_kib(t[0]) for t in trees) / n,
                    "processes_per_instance": max(len(t) for t in trees),
                    "kib_per_role": {r: {k: v / n for k, v in d.items()} for r, d in per_role.items()},
                    "largest_mappings_kib": mappings(trees[0][-1])}
        finally:
            _end_all(procs)


def measure(cli: list[str], n: int, cwd: str, deadline_s: float = 600) -> dict:
    """N echo servers natively, then N as guests."""
    check(os.access(SERVER, os.X_OK), f"{SERVER} is missing: reinstall libsubst with pip")
    native = _one(lambda port: [SERVER, str(port)], n, "native echo-server", cwd, deadline_s,
                  ROLES["native"])
    guest = _one(lambda port: [*cli, "run", "--no-cwd", SERVER, str(port)], n,
                 "libsubst run echo-server", cwd, deadline_s, ROLES["guest"])
    return {"n": n, "native": native, "guest": guest}


def report(d: dict) -> str:
    lines = [f"density: {d['n']} idle instances of echo-server, each answering on its own port",
             f"{'':10} {'PSS/instance':>13} {'of it top process':>18} {'processes':>10} "
             f"{'started/s':>10} {'CPU/start median/mean':>22}"]
    for who in ("native", "guest"):
        g = d[who]
        lines.append(f"{who:10} {g['pss_kib_per_instance'] / 1024:9.2f} MiB "
                     f"{g['pss_kib_top_process'] / 1024:14.2f} MiB "
                     f"{g['processes_per_instance']:10d} {g['started_per_s']:10.1f} "
                     f"{g['cpu_ms_per_start']['median']:10.1f} /"
                     f"{g['cpu_ms_per_start']['mean']:5.1f} ms")
    lines.append(f"per process, KiB per instance: {'PSS':>7} {'anon':>7} {'file':>7} "
                 f"{'shmem':>7} {'(PTE)':>7}; CPU ms (median)")
    for who in ("native", "guest"):
        for role, v in d[who]["kib_per_role"].items():
            lines.append(f"  {who + ' ' + role:28} {v['pss']:7.0f} {v['anon']:7.0f} "
                         f"{v['file']:7.0f} {v['shmem']:7.0f} {v['pte']:7.0f}; "
                         f"{d[who]['cpu_ms_median_per_role'][role]:5.2f}")
    lines.append("a guest process's largest mappings (PSS, KiB): " + ", ".join(
        f"{name} {kib}" for name, kib in d["guest"]["largest_mappings_kib"]))
    lines.append("load average (1 min) after each batch started: " + ", ".join(
        f"{who} {d[who]['load_average']:.1f}" for who in ("native", "guest")))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from ..errors import LibsubstError
    from .startup import cli

    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.density",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50, help="instances of each (default 50)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.n < 1:
        sys.exit("libsubst: --n must be at least 1")
    try:
        with tempfile.TemporaryDirectory(prefix="libsubst-density-") as work:
            res = measure(cli(), a.n, work)
    except LibsubstError as e:
        sys.exit(f"libsubst: {e}")
    print(json.dumps(res, indent=1) if a.json else report(res))


if __name__ == "__main__":
    main_command(main)
