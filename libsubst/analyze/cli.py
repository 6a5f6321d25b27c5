"""``libsubst analyze``: loaded only when asked for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import click

from ..errors import LibsubstError

# Calls whose ENOSYS answer is not a question worth asking: the run ends in them.
_NOT_ASKED = frozenset({"exit", "exit_group", "execve"})
RUN_TIMEOUT = 120      # seconds a run (or a server's start) may take
STOP_TIMEOUT = 30      # seconds a server has to end after SIGTERM


@dataclass
class Outcome:
    """What a run's answer to Loupe's question is compared on: the program's
    exit status and stdout; with a workload, the workload's exit status and
    stdout and the server's exit status after SIGTERM.  ``shown``: the
    program's output, for the user; ``ready``: seconds until the workload
    first succeeded."""
    result: tuple
    shown: bytes
    ready: float = 0.0


def _command(trace: str | None, deny: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "libsubst", "run"]
    if trace:
        cmd += ["--trace-file", trace, "--trace-format", "json"]
    if deny:
        cmd += ["--enosys", deny]
    return cmd


def _run(program: str, args, trace: str | None = None, deny: str | None = None,
         workload: str | None = None, ready: float = RUN_TIMEOUT) -> Outcome | None:
    """One run under libsubst; None when it did not finish (or, with a
    workload, the server ended or the workload did not succeed, within
    ``ready`` seconds)."""
    cmd = [*_command(trace, deny), program, *args]
    if workload is None:
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            return None
        return Outcome((done.returncode, done.stdout), done.stdout + done.stderr)
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT)
        try:
            # Retried until it succeeds: the server takes a while to listen.
            while True:
                try:
                    w = subprocess.run(["sh", "-c", workload], stdin=subprocess.DEVNULL,
                                       capture_output=True, timeout=RUN_TIMEOUT)
                except subprocess.TimeoutExpired:
                    w = None
                took = time.monotonic() - start
                if (w is not None and w.returncode == 0) or server.poll() is not None \
                        or took > ready:
                    break
                time.sleep(0.1)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                status = server.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                status = server.wait()
        out.seek(0)
        if w is None:
            return None
        return Outcome((w.returncode, w.stdout, status), out.read() + w.stdout + w.stderr, took)


def _called(trace: str) -> set[str]:
    """The calls of a JSON trace (every process and thread)."""
    names = set()
    try:
        with open(trace, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("name"), str) and "nr" in rec:
                    names.add(rec["name"])
    except OSError as e:
        raise LibsubstError(f"the run left no trace ({e.strerror})") from None
    return names


def dynamic(program: str, args, report: dict, survival: bool = True,
            workload: str | None = None) -> dict:
    """Runs the program under ``libsubst run --trace-file`` (stdin empty, its
    output shown on stderr) — a server with ``workload``, a shell command run
    against it once it is up, then SIGTERM — compares the calls it made with
    the static set, and — the question Loupe asks — for each call it made,
    runs it again with that one call answered ENOSYS (``--enosys``): it
    survives when the outcome (``Outcome``) is the first run's."""
    with tempfile.TemporaryDirectory(prefix="libsubst-analyze-") as tmp:
        trace = os.path.join(tmp, "trace")
        done = _run(program, args, trace=trace, workload=workload)
        if done is None:
            raise LibsubstError(f"{program} did not finish within {RUN_TIMEOUT} s under libsubst"
                                if workload is None else
                                f"the workload did not succeed against {program} within "
                                f"{RUN_TIMEOUT} s under libsubst")
        used = sorted(_called(trace))
    if workload is not None and done.result[0] != 0:
        raise LibsubstError(f"the workload exited {done.result[0]} against {program} under "
                            f"libsubst: {done.shown[-300:].decode(errors='replace').strip()}")
    # The first run's output is the user's to see; stdout stays the report's.
    sys.stderr.buffer.write(done.shown)
    sys.stderr.flush()
    static = {r["name"] for r in report["syscalls"]}
    out = {"used": used, "status": done.result[-1] if workload else done.result[0],
           "not_static": [n for n in used if n not in static]}
    if workload is not None:
        out["workload_status"] = done.result[0]
    if survival:
        # A trial's server gets the first run's start-up time twice over and some.
        ready = 2 * done.ready + 10
        survives, needs = [], []
        for name in used:
            if name in _NOT_ASKED:
                continue
            trial = _run(program, args, deny=name, workload=workload, ready=ready)
            (survives if trial is not None and trial.result == done.result else needs).append(name)
        out["survives_enosys"], out["needs"] = survives, needs
    return out


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--dynamic", "run_it", is_flag=True,
              help="Also run PROGRAM ARGS under libsubst and report the calls it made.")
@click.option("--workload", metavar="CMD",
              help="With --dynamic, for a server: a shell command run against PROGRAM once it is "
                   "up (retried until it succeeds), then PROGRAM gets SIGTERM; the run's outcome "
                   "is CMD's exit status and output and PROGRAM's exit status.")
@click.argument("program")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def analyze(as_json, run_it, workload, program, args):
    """The system calls PROGRAM and its libraries can make, and how libsubst
    serves each (guest kernel, host, or ENOSYS)."""
    from . import analyze as do_analyze, render

    if workload is not None and not run_it:
        raise LibsubstError("--workload is for --dynamic")
    report = do_analyze(program, list(args))
    if run_it:
        report["dynamic"] = dynamic(program, list(args), report, workload=workload)
    click.echo(json.dumps(report, indent=1) if as_json else render(report), nl=not as_json)
