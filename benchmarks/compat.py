"""Compatibility, measured broadly: the corpus of Debian programs
(benchmarks/corpus.py, run by corpus_run.py), CPython's regression tests
(benchmarks/pytests.py) and psutil's test suite (benchmarks/psutil_suite.py),
natively and under ``libsubst run``.

    python -m libsubst.benchmarks.compat [--fast] [--no-python] [--no-psutil] [--json]

Prints programs identical / total (and what differs in each of the others),
Python and psutil test cases passing in the guest / natively (and those
lost), and the time each part took.  ``--fast``: only the subset the default test run takes.
The tests (tests/test_corpus.py) run the same runners."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from . import corpus, corpus_run, psutil_suite, pytests
from .rounds import main_command


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.compat")
    ap.add_argument("--fast", action="store_true", help="the default test run's subset only")
    ap.add_argument("--no-python", action="store_true", help="skip CPython's regression tests")
    ap.add_argument("--no-psutil", action="store_true", help="skip psutil's test suite")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = ap.parse_args(argv)
    # SIGTERM ends the report as SIGINT does, through its cleanups (the
    # scratch directory); the loopback server ends with it either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    programs = [p for p in corpus.PROGRAMS if p.fast or not args.fast]
    results, corpus_s = corpus_run.run_all(programs, progress=None if args.json else _dot)
    if not args.json:
        print(file=sys.stderr)
    differ = [r for r in results if not r.same]
    report = {"programs": len(results), "identical": len(results) - len(differ),
              "differ": {r.name: corpus.FAILING.get(r.name, "unexpected") for r in differ},
              "corpus_seconds": round(corpus_s, 1)}
    if not args.no_python:
        modules = pytests.FAST if args.fast else pytests.MODULES
        native = pytests.run(modules)
        guest = pytests.run(modules, guest=True)
        lost = pytests.lost(native, guest)
        report.update({"python_modules": len(modules), "python_native": len(native.passed),
                       "python_guest": len(native.passed) - len(lost),
                       "python_lost": {t: pytests.KNOWN.get(t, "unexpected") for t in sorted(lost)},
                       "python_seconds": {"native": round(native.seconds, 1),
                                          "guest": round(guest.seconds, 1)}})
    if not args.no_psutil:
        files = psutil_suite.FAST if args.fast else None
        native = psutil_suite.run(files)
        guest = psutil_suite.run(files, guest=True)
        lost = native.passed - guest.passed
        report.update({"psutil_native": len(native.passed),
                       "psutil_guest": len(native.passed) - len(lost),
                       "psutil_lost": {t: psutil_suite.KNOWN.get(t, "unexpected")
                                       for t in sorted(lost)},
                       "psutil_seconds": {"native": round(native.seconds, 1),
                                          "guest": round(guest.seconds, 1)}})
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _table(report)
    unexpected = [n for n, why in report["differ"].items() if why == "unexpected"]
    for part in ("python_lost", "psutil_lost"):
        unexpected += [t for t, why in report.get(part, {}).items() if why == "unexpected"]
    return 1 if unexpected else 0


def _dot(result) -> None:
    print("." if result.same else "x", end="", file=sys.stderr, flush=True)


def _table(r: dict) -> None:
    print(f"programs identical:        {r['identical']} / {r['programs']}"
          f"   ({r['corpus_seconds']:.0f} s)")
    for name, why in r["differ"].items():
        print(f"  differs: {name}: {why}")
    if "python_native" in r:
        s = r["python_seconds"]
        print(f"Python tests passing:      {r['python_guest']} in the guest / "
              f"{r['python_native']} natively, {r['python_modules']} modules"
              f"   ({s['native']:.0f} s natively, {s['guest']:.0f} s in the guest)")
        for name, why in r["python_lost"].items():
            print(f"  lost: {name}: {why}")
    if "psutil_native" in r:
        s = r["psutil_seconds"]
        print(f"psutil tests passing:      {r['psutil_guest']} in the guest / "
              f"{r['psutil_native']} natively, psutil {psutil_suite.VERSION}"
              f"   ({s['native']:.0f} s natively, {s['guest']:.0f} s in the guest)")
        for name, why in r["psutil_lost"].items():
            print(f"  lost: {name}: {why}")
    total = (r["corpus_seconds"] + sum(r.get("python_seconds", {}).values())
             + sum(r.get("psutil_seconds", {}).values()))
    print(f"time taken:                {total:.0f} s")


if __name__ == "__main__":
    main_command(main)
