"""``libsubst analyze`` against real runs: each run of the compatibility
corpus (benchmarks/corpus.py) is made natively under ``strace -f``, with the
corpus's files, environment, stdin and loopback server (corpus_run.Corpus),
and every call each program of the run made must be in that program's
static set.

    python -m libsubst.benchmarks.soundness [--fast] [--json]

What counts: the calls a process makes after a successful ``execve`` belong
to the program it exec'd (a ``#!`` script's to its interpreter, as
``analyze`` resolves it), a child's before its own execve to its parent's;
ld.so's calls are the program's (ld.so is an object of its image, analysed
from its entry); the ``execve`` that started a program is how it was
started, not a call it made.  The guest kernel's own start-up calls are not
the program's: a native run makes none.

A call missing from a static set is a miss, explained when its cause
is one of these, found from the run and the report (else it fails):

- ``dlopen``: the native run loaded a library outside the image ``run``
  lays out (the host's /etc/nsswitch.conf names libnss_systemd, whose
  libcap calls prctl at load; procps's libproc2 dlopens libnuma), whose own
  static set has the call.  In the guest that dlopen fails: its
  nsswitch.conf names ``files`` only, and the image has no such library.
- ``unknown sites``: the program's own ``syscall`` sites whose numbers
  come from its callers at run time (Go's ``syscall.Syscall6``), which the
  report lists as unknown: the static set is not complete, and says so.

A program the run wrote and removed (gzexe's decompressed copy) cannot be
analysed afterwards: it is listed as not checked.
tests/test_analyze.py runs the corpus's fast part and, as ``long``, all of it."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field

from . import corpus, corpus_run
from .rounds import main_command

REMOVED = "a program the run wrote and removed"     # not checked, with this reason

_EXECVE_OK = re.compile(r'^(\d+)\s+execve\("([^"]+)".*= 0$')
_EXECVE_START = re.compile(r'^(\d+)\s+execve\("([^"]+)".*<unfinished \.\.\.>$')
_EXECVE_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. execve resumed>.*= 0$")
_CALL = re.compile(r"^(\d+)\s+([a-z0-9_]+)\(")
_LIBRARY = re.compile(r'^(\d+)\s+open(?:at)?\((?:[A-Z_]+, )?"([^"]+\.so(?:\.[0-9.]+)?)".* = \d+$')


@dataclass
class Trace:
    """What one program did in a run."""
    calls: set[str] = field(default_factory=set)
    libraries: set[str] = field(default_factory=set)     # shared objects it opened


def parse(text: str, cwd: str) -> dict[str, Trace]:
    """{program: its Trace} from ``strace -f -qq`` output."""
    program: dict[str, str] = {}
    traces: dict[str, Trace] = {}
    pending: dict[str, str] = {}      # an execve strace split around another process's line
    first = None
    for line in text.splitlines():
        pid, path = None, None
        m = _EXECVE_OK.match(line)
        if m:
            pid, path = m.groups()
        else:
            m = _EXECVE_START.match(line)
            if m:
                pending[m.group(1)] = m.group(2)
                continue
            m = _EXECVE_RESUMED.match(line)
            if m and m.group(1) in pending:
                pid, path = m.group(1), pending.pop(m.group(1))
        if pid:
            program[pid] = os.path.join(cwd, path)    # an absolute path stays as it is
            first = first or program[pid]
            continue
        m = _CALL.match(line)
        if m:
            # A child of fork runs its parent's program until it execs.
            t = traces.setdefault(program.get(m.group(1)) or first, Trace())
            t.calls.add(m.group(2))
            lib = _LIBRARY.match(line)
            if lib:
                t.libraries.add(os.path.realpath(lib.group(2)))
    return traces


def traced(argv: list[str], cwd: str, out: str, run) -> dict[str, Trace]:
    """A native run of argv under strace -f: {program: its Trace}.  ``run``
    runs the strace command line in cwd (corpus_run.Corpus.once, with the
    corpus's files, environment and stdin)."""
    run(["strace", "-f", "-qq", "-o", out, *argv])
    with open(out, encoding="utf-8", errors="replace") as f:
        return parse(f.read(), cwd)


@dataclass
class Miss:
    program: str
    calls: list[str]
    cause: str = ""               # empty: not explained


@dataclass
class Check:
    name: str
    programs: int = 0                                   # programs the run exec'd
    misses: list[Miss] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)   # program -> why

    @property
    def unexplained(self) -> list[Miss]:
        return [e for e in self.misses if not e.cause]


class Checker:
    """Static reports, one per program or library (objects are cached by
    build-id on disk), and a corpus context to run in."""

    def __init__(self, c: corpus_run.Corpus):
        self.c = c
        self.reports: dict[str, dict | str] = {}

    def report(self, program: str) -> dict | str:
        """The program's static report, or why it could not be analysed."""
        from libsubst.analyze import analyze
        from libsubst.errors import LibsubstError
        if program not in self.reports:
            try:
                self.reports[program] = analyze(program, env=self.c.env)
            except (LibsubstError, OSError) as e:
                self.reports[program] = str(e)
        return self.reports[program]

    def _cause(self, report: dict, trace: Trace, lacking: set[str]) -> str:
        objects = {os.path.realpath(o) for o in report["objects"]}
        loaded, reached = [], set()
        for lib in sorted(trace.libraries - objects):
            r = self.report(lib)
            if isinstance(r, dict):
                loaded.append(os.path.basename(lib))
                reached |= {row["name"] for row in r["syscalls"]}
        if loaded and lacking <= reached:
            return ("dlopen: the native run loaded " + ", ".join(loaded) + ", outside the "
                    "image libsubst lays out, whose static set has them")
        own = os.path.basename(report["program"]) + ":"
        if any(u.startswith(own) for u in report["unknown_sites"]):
            return "unknown sites: the program's own syscall sites whose numbers its callers pass"
        return ""

    def check(self, p: corpus.P) -> Check:
        out = os.path.join(self.c.top, "strace.out")
        work = self.c.env["HOME"]
        runs = traced(self.c.argv(p), work, out,
                      run=lambda cmd: self.c.once(cmd, p.stdin, None))
        result = Check(p.name, programs=len(runs))
        if not runs:
            result.unchecked[p.name] = "strace saw no call"
        for prog, trace in runs.items():
            if not os.path.exists(prog):
                result.unchecked[prog] = REMOVED
                continue
            report = self.report(prog)
            if isinstance(report, str):
                result.unchecked[prog] = report
                continue
            lacking = trace.calls - {row["name"] for row in report["syscalls"]} - {"execve"}
            if lacking:
                result.misses.append(
                    Miss(prog, sorted(lacking), self._cause(report, trace, lacking)))
        return result


def check_all(programs=corpus.PROGRAMS, progress=None) -> tuple[list[Check], float]:
    start = time.monotonic()
    checks = []
    with corpus_run.Corpus() as c:
        checker = Checker(c)
        for p in programs:
            checks.append(checker.check(p))
            if progress:
                progress(checks[-1])
    return checks, time.monotonic() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.soundness")
    ap.add_argument("--fast", action="store_true", help="the default test run's subset only")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))   # as compat's
    if shutil.which("strace") is None:
        print("libsubst: the soundness check needs strace (apt-get install strace)",
              file=sys.stderr)
        return 2
    programs = [p for p in corpus.PROGRAMS if p.fast or not args.fast]
    checks, seconds = check_all(programs, progress=None if args.json else _dot)
    report = {"runs": len(checks), "programs": sum(c.programs for c in checks),
              "misses": [{"run": c.name, "program": e.program, "calls": e.calls,
                          "cause": e.cause or "unexplained"} for c in checks for e in c.misses],
              "unchecked": [{"run": c.name, "program": prog, "why": why}
                            for c in checks for prog, why in c.unchecked.items()],
              "seconds": round(seconds, 1)}
    failed = [e for e in report["misses"] if e["cause"] == "unexplained"]
    failed += [u for u in report["unchecked"] if u["why"] != REMOVED]
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(file=sys.stderr)
        print(f"runs checked:      {report['runs']} ({report['programs']} programs exec'd, "
              f"{report['seconds']:.0f} s)")
        print(f"misses:            {len(report['misses'])} "
              f"({len(failed)} unexplained or not checked)")
        for e in report["misses"]:
            print(f"  {e['run']}: {e['program']}: {', '.join(e['calls'])}: {e['cause']}")
        for u in report["unchecked"]:
            print(f"  {u['run']}: {u['program']}: not checked: {u['why']}")
    return 1 if failed else 0


def _dot(check: Check) -> None:
    print("x" if check.misses or check.unchecked else ".", end="", file=sys.stderr,
          flush=True)


if __name__ == "__main__":
    main_command(main)
