"""Density, the start-up benchmark's second half (benchmarks/startup.py):
N idle guests (`libsubst run sleep 60`) against N native sleeps — the PSS
of everything kept running for each (for a guest: the monitor, the relay
and the guest's processes, read from the host's /proc/PID/smaps_rollup)
and how many are started per second, up to the moment every one sleeps.

Every process started here is killed before measure() returns, even when
it fails: a monitor killed with SIGKILL takes its relay and guest with it
(their parent-death signal), and the loop checks that none is left."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from .rounds import check

# x86-64 nanosleep and clock_nanosleep: what a sleeping `sleep` is blocked in.
_SLEEP_CALLS = {35, 230}


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
    """pid and all its descendants, as the host sees them."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def pss_kib(pid: int) -> int:
    """Proportional set size of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _sleeping(pid: int) -> bool:
    """The deepest process under pid is blocked in a sleep call."""
    leaf = tree(pid)[-1]
    try:
        with open(f"/proc/{leaf}/syscall") as f:
            return int(f.read().split()[0]) in _SLEEP_CALLS
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return False


def _start_all(argv: list[str], n: int, who: str, cwd: str,
               procs: list[subprocess.Popen], deadline_s: float) -> float:
    """Start n copies, wait until all sleep: seconds from the first spawn."""
    t0 = time.monotonic()
    for _ in range(n):
        procs.append(subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    waiting = list(procs)
    while waiting:
        for p in [p for p in waiting if p.poll() is not None]:
            check(False, f"{who} exited {p.returncode} before sleeping", p.stderr.read())
        waiting = [p for p in waiting if not _sleeping(p.pid)]
        check(time.monotonic() - t0 < deadline_s,
              f"{len(waiting)} of {n} {who} not sleeping after {deadline_s:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - t0


def _end_all(procs: list[subprocess.Popen]) -> None:
    pids = [q for p in procs for q in tree(p.pid)]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
    for p in procs:
        p.wait()
        p.stderr.close()
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{q}") and _state(q) != "Z" for q in pids):
        check(time.monotonic() < deadline, "guest processes left after their monitors died")
        time.sleep(0.01)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return "gone"


def _one(argv: list[str], n: int, who: str, cwd: str, deadline_s: float) -> dict:
    procs: list[subprocess.Popen] = []
    try:
        secs = _start_all(argv, n, who, cwd, procs, deadline_s)
        per = [sum(pss_kib(q) for q in tree(p.pid)) for p in procs]
        top = [pss_kib(p.pid) for p in procs]
        counts = [len(tree(p.pid)) for p in procs]
        check(all(per), f"{who}: a process vanished while measured")
        return {"started_per_s": n / secs, "seconds_to_all_sleeping": secs,
                "pss_kib_per_instance": sum(per) / n, "pss_kib_total": sum(per),
                "pss_kib_top_process": sum(top) / n,
                "processes_per_instance": max(counts)}
    finally:
        _end_all(procs)


def measure(cli: list[str], n: int, cwd: str, deadline_s: float = 300) -> dict:
    """N idle guests and N native sleeps, one batch after the other."""
    native = _one(["/bin/sleep", "60"], n, "native sleep", cwd, deadline_s)
    guest = _one([*cli, "run", "--no-cwd", "/bin/sleep", "60"], n, "libsubst run sleep",
                 cwd, deadline_s)
    return {"n": n, "native": native, "guest": guest}
