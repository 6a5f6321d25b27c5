"""What the host charges the guest kernel's own host calls for a volume's
file, natively: the floor under the `open` and `stat` rows of `bench
syscalls`, apart from anything libsubst adds.

    python -m libsubst.benchmarks.host_floors [--rounds 9] [--iterations 20000] [--fastest]

Times syscall_bench.c's floor operations (``syscall-bench --floors``: from
an fd of the volume's directory, a file three directories down, as the
guest kernel makes them) in three configurations, alternating round by
round: natively; under the guest's seccomp filter (*container*, as `bench
syscalls`, its pins' refusals made allows too: the floors' `openat2` takes
the same comparisons as the kernel's, but its `open_how` is not in the
kernel's sealed text); and under what the guest's own host calls pass (*sandbox*:
Syscall User Dispatch letting every call through, the guest's filter and
the tender's Landlock rule for a read-write volume).  So each row says
what a host call costs with and without the sandbox, and a guest's row can
be read against the host calls it makes (`strace -f -c` of a guest)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

from ..kernel import seccomp
from .rounds import BenchmarkError, alternate, check, fmt_spread, median, positive
from .syscalls import _native, bench_binary

CONFIGS = ("native", "container", "sandbox")


def _fastest(args: list[str]) -> dict[str, float]:
    """syscall-bench's fastest timed loop of each operation (its third column)."""
    r = subprocess.run(args, capture_output=True, text=True)
    check(r.returncode == 0, f"{args[0]} natively exited {r.returncode}", r.stderr)
    try:
        return {name: float(low) for name, _med, low in (line.split() for line in
                                                         r.stdout.splitlines())}
    except ValueError:
        raise BenchmarkError(f"syscall-bench printed {r.stdout!r}") from None


def measure(iterations: int = 20000, repeats: int = 5, rounds: int = 9,
            fastest: bool = False) -> dict:
    """{op: {config: [ns per operation, one per round]}}: each round's median
    loop, or with fastest its fastest loop."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as volume, tempfile.NamedTemporaryFile() as bpf:
        bpf.write(seccomp.container_baseline(refusals_allowed=True))
        bpf.flush()
        base = [exe, "--floors"]
        tail = [str(iterations), str(repeats), exe, volume]
        argv = {"native": [*base, *tail], "container": [*base, *tail, bpf.name],
                "sandbox": [*base, "--sud", "--landlock=rw", *tail, bpf.name]}
        run = _fastest if fastest else _native
        runs = alternate(rounds, {c: (lambda a=argv[c]: run(a)) for c in CONFIGS})
    ops = runs["native"][0].keys()
    return {op: {c: [r[op] for r in runs[c]] for c in CONFIGS} for op in ops}


def table(res: dict, stat=median) -> str:
    """stat: of each configuration's rounds (median, or min: see main)."""
    lines = ["| host calls | native ns | container ns | sandbox ns | sandbox − native ns |"
             " native / native |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for op, r in res.items():
        m = {c: stat(v) for c, v in r.items()}
        lines.append(f"| {op} | {m['native']:.1f} | {m['container']:.1f} | {m['sandbox']:.1f} | "
                     f"{m['sandbox'] - m['native']:.1f} | {fmt_spread(r['native'])} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.host_floors",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=9)
    ap.add_argument("--iterations", type=positive, default=20000)
    ap.add_argument("--fastest", action="store_true",
                    help="the fastest timed loop of all rounds, not the median of the rounds' "
                         "median loops: a floor, where other work on the machine slows some loops")
    a = ap.parse_args(argv)
    try:
        print(table(measure(a.iterations, rounds=a.rounds, fastest=a.fastest),
                    min if a.fastest else median))
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")


if __name__ == "__main__":
    main()
