"""Does Linux's seccomp action cache serve the guest filter's common calls?

    python -m libsubst.benchmarks.seccomp_cache [--rounds 5] [--iterations 20000]

Linux (5.11+) emulates each filter once per system call number; a number
whose path through the filter reads nothing but the number and the
architecture, and ends in an allow, is marked allowed in a bitmap, and its
calls then skip the filter.  Any load of an argument or of the instruction
pointer on that path takes the number out of the cache.  The guest's filter
(hostcalls.py, compiled by seccomp.py) is a binary search on the number with
the argument pins in blocks of their own, so every unpinned call should be
cached.  This times syscall_bench.c natively under: no filter; the
container baseline (the guest's filter, seccomp.container_baseline); the
same with one argument load put in front, so no number is cached; and a
one-instruction allow-all filter, the cheapest a filter can be.  If the
baseline times like the one-instruction filter and below the uncacheable
one, the cache serves it, and what is left over native is the price of
having a filter at all."""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile

from ..kernel import seccomp
from .rounds import BenchmarkError, alternate, fmt_spread, median, positive
from .syscalls import _native, bench_binary

OPS = ("getppid", "read_1_dev_zero", "write_1_dev_null", "pread_1_volume", "epoll_wait_ready")


def filters() -> dict[str, bytes]:
    base = seccomp.container_baseline()
    return {"guest filter (container baseline)": base,
            "same, uncacheable": struct.pack("<HBBI", seccomp.LD_ABS_W, 0, 0, 16) + base,
            "one-instruction allow": struct.pack("<HBBI", seccomp.RET, 0, 0, seccomp.RET_ALLOW)}


def measure(iterations: int = 20000, repeats: int = 5, rounds: int = 5) -> dict:
    """{op: {config: [ns per call, one per round]}}."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as d:
        configs = {"native": (lambda: _native([exe, str(iterations), str(repeats), exe, d]))}
        for i, (name, bpf) in enumerate(filters().items()):
            path = os.path.join(d, f"{i}.bpf")
            with open(path, "wb") as f:
                f.write(bpf)
            configs[name] = (lambda p=path: _native([exe, str(iterations), str(repeats), exe, d,
                                                     p]))
        runs = alternate(rounds, configs)
    return {op: {k: [r[op] for r in v] for k, v in runs.items()} for op in OPS}


def table(res: dict) -> str:
    kinds = list(next(iter(res.values())))
    lines = ["| call | " + " | ".join(f"{k} ns" for k in kinds) + " | native / native |",
             "| --- |" + " ---: |" * (len(kinds) + 1)]
    for op, r in res.items():
        lines.append(f"| {op} | " + " | ".join(f"{median(r[k]):.1f}" for k in kinds) +
                     f" | {fmt_spread(r['native'])} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.seccomp_cache",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=5)
    ap.add_argument("--iterations", type=positive, default=20000)
    a = ap.parse_args(argv)
    try:
        print(table(measure(a.iterations, rounds=a.rounds)))
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")


if __name__ == "__main__":
    main()
