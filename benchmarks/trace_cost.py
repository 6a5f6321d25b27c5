"""What the tracer costs a call, in the guest on the fastcall path: ns per
call of syscall_bench.c's operations untraced, with a --trace-calls filter
that leaves every one of them out (exit_group only), with --trace-summary
alone (each call counted and timed, no lines), and with every call written
as a line to a file, all in the same run.

    python -m libsubst.benchmarks.trace_cost [--iterations N] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from .. import api
from ..kernel import syscalls
from ..monitor.tracing import Trace
from .syscalls import _parse, bench_binary

MODES = ("untraced", "filtered_out", "summary", "every_line")


def measure(iterations: int, repeats: int) -> dict[str, dict[str, float]]:
    """{operation: {mode: ns per call}}."""
    exe = bench_binary()
    args = [str(iterations), str(repeats), exe]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        sink = os.path.join(tmp, "trace")
        only_exit = frozenset({syscalls.by_name("exit_group").nr})
        traces = {"untraced": None,
                  "filtered_out": Trace(sink, calls=only_exit),
                  "summary": Trace(sink, lines=False, summary=True),
                  "every_line": Trace(sink)}
        for mode, trace in traces.items():
            with tempfile.TemporaryFile() as out:
                done = api.run(exe, args, stdout=out, mount_cwd=False, trace=trace)
                if done.returncode != 0:
                    raise RuntimeError(f"the benchmark failed in the guest ({mode})")
                out.seek(0)
                results[mode] = _parse(out.read().decode())
    return {op: {m: results[m][op] for m in MODES} for op in results["untraced"]}


def table(res: dict[str, dict[str, float]]) -> str:
    lines = ["| call | untraced ns | filtered out ns | summary only ns | every call a line ns |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for op, r in res.items():
        lines.append(f"| {op} | " + " | ".join(f"{r[m]:.1f}" for m in MODES) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.trace_cost")
    p.add_argument("--iterations", type=int, default=2000, help="calls per timed run")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per operation (median)")
    a = p.parse_args(argv)
    print(table(measure(a.iterations, a.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
