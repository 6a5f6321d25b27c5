"""What the tracer costs a call, in the guest on the fastcall path: ns per
call of syscall_bench.c's operations untraced, with a --trace-calls filter
that leaves every one of them out (exit_group only), with --trace-summary
alone (each call counted and timed, no lines), and with every call written
as a line to a file, all in the same run.

    python -m libsubst.benchmarks.trace_cost [--iterations N] [--repeats N] [--rounds N]

The modes alternate round by round (benchmarks/rounds.py); each figure is
the median of the rounds, each round's the median of REPEATS timed loops in
which every call is checked (syscall_bench.c), and the untraced rounds'
own spread says how large a difference noise alone makes.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from .. import api
from ..kernel import syscalls
from ..monitor.tracing import Trace
from .rounds import alternate, check, main_command, fmt_spread, median
from .syscalls import _parse, bench_binary

MODES = ("untraced", "filtered_out", "summary", "every_line")


def measure(iterations: int, repeats: int, rounds: int = 5) -> dict[str, dict[str, list[float]]]:
    """{operation: {mode: [ns per call, one per round]}}."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as volume:
        args = [str(iterations), str(repeats), exe, volume]
        sink = os.path.join(tmp, "trace")
        only_exit = frozenset({syscalls.by_name("exit_group").nr})
        traces = {"untraced": None,
                  "filtered_out": Trace(sink, calls=only_exit),
                  "summary": Trace(sink, lines=False, summary=True),
                  "every_line": Trace(sink)}

        def one(mode):
            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                done = api.run(exe, args, stdout=out, stderr=err, mount_cwd=False,
                               volumes=[f"{volume}:{volume}"], trace=traces[mode])
                err.seek(0)
                check(done.returncode == 0,
                      f"syscall-bench in the guest ({mode}) exited {done.returncode}", err.read())
                out.seek(0)
                return _parse(out.read().decode())

        runs = alternate(rounds, {m: (lambda m=m: one(m)) for m in MODES})
    ops = runs["untraced"][0].keys()
    return {op: {m: [r[op] for r in runs[m]] for m in MODES} for op in ops}


def table(res: dict[str, dict[str, list[float]]]) -> str:
    lines = ["| call | untraced ns | untraced / untraced | filtered out ns | summary only ns "
             "| every call a line ns |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for op, r in res.items():
        lines.append(f"| {op} | {median(r['untraced']):.1f} | {fmt_spread(r['untraced'])} | " +
                     " | ".join(f"{median(r[m]):.1f}" for m in MODES[1:]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.trace_cost")
    p.add_argument("--iterations", type=int, default=2000, help="calls per timed run")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per operation (median)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of the modes (median)")
    a = p.parse_args(argv)
    print(table(measure(a.iterations, a.repeats, a.rounds)))
    return 0


if __name__ == "__main__":
    main_command(main)
