"""``libsubst analyze``: loaded only when asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import click

from ..errors import LibsubstError



# Calls whose ENOSYS answer is not a question worth asking: the run ends in them.
_NOT_ASKED = frozenset({"exit", "exit_group", "execve"})


def _run(program: str, args, trace: str | None = None, deny: str | None = None):
    cmd = [sys.executable, "-m", "libsubst", "run"]
    if trace:
        cmd += ["--trace-file", trace, "--trace-format", "json"]
    if deny:
        cmd += ["--enosys", deny]
    try:
        return subprocess.run([*cmd, program, *args], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None


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


def dynamic(program: str, args, report: dict, survival: bool = True) -> dict:
    """Runs the program under ``libsubst run --trace-file`` (stdin empty, its
    output shown on stderr), compares the calls it made with the static set, and — the
    question Loupe asks — for each call it made, runs it again with that one
    call answered ENOSYS (``--enosys``): it survives when its exit status and
    standard output are those of the first run."""
    with tempfile.TemporaryDirectory(prefix="libsubst-analyze-") as tmp:
        trace = os.path.join(tmp, "trace")
        done = _run(program, args, trace=trace)
        if done is None:
            raise LibsubstError(f"{program} did not finish within 120 s under libsubst")
        used = sorted(_called(trace))
    # The first run's output is the user's to see; stdout stays the report's.
    sys.stderr.buffer.write(done.stdout + done.stderr)
    sys.stderr.flush()
    static = {r["name"] for r in report["syscalls"]}
    out = {"used": used, "status": done.returncode, "not_static": [n for n in used
                                                                     if n not in static]}
    if survival:
        survives, needs = [], []
        for name in used:
            if name in _NOT_ASKED:
                continue
            trial = _run(program, args, deny=name)
            ok = trial is not None and (trial.returncode, trial.stdout) == (done.returncode,
                                                                           done.stdout)
            (survives if ok else needs).append(name)
        out["survives_enosys"], out["needs"] = survives, needs
    return out


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--dynamic", "run_it", is_flag=True,
              help="Also run PROGRAM ARGS under libsubst and report the calls it made.")
@click.argument("program")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def analyze(as_json, run_it, program, args):
    """The system calls PROGRAM and its libraries can make, and how libsubst
    serves each (guest kernel, host, or ENOSYS)."""
    from . import analyze as do_analyze, render

    report = do_analyze(program, list(args))
    if run_it:
        report["dynamic"] = dynamic(program, list(args), report)
    click.echo(json.dumps(report, indent=1) if as_json else render(report), nl=not as_json)
