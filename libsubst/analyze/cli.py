"""``libsubst analyze``: loaded only when asked for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import click

_TRACE_LINE = re.compile(rb"^(?:\[pid\s+\d+\]\s+)?(?:fast|trap)\s+([a-z0-9_]+)\(", re.M)


def dynamic(program: str, args, report: dict) -> dict:
    """Runs the program under ``libsubst run --trace-file`` (its stdin and
    stderr are this command's, its stdout goes to stderr so the report
    stays alone on stdout) and compares the calls it made with the static set."""
    with tempfile.TemporaryDirectory(prefix="libsubst-analyze-") as tmp:
        trace = os.path.join(tmp, "trace")
        done = subprocess.run([sys.executable, "-m", "libsubst", "run", "--trace-file", trace,
                               program, *args], stdout=sys.stderr.fileno())
        with open(trace, "rb") as f:
            used = sorted({m.decode() for m in _TRACE_LINE.findall(f.read())})
    static = {r["name"] for r in report["syscalls"]}
    return {"used": used, "status": done.returncode,
            "not_static": [n for n in used if n not in static]}


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
