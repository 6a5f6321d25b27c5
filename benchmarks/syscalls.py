"""`libsubst bench syscalls`: ns per call of a few libc-made system calls,
natively, in the guest on the fastcall path (glibc substituted) and in the
guest on the trap path (--no-subst), all in the same run, with ratios.

Runs the same binary (syscall_bench.c, built with the package) three ways;
each reports the median of REPEATS timed runs of ITERATIONS calls."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from importlib import resources

from .. import api

PATHS = ("native", "fast", "trap", "fast_nopolicy")


def bench_binary() -> str:
    return str(resources.files("libsubst") / "_bin" / "syscall-bench")


def _parse(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        name, median, _min = line.split()
        out[name] = float(median)
    return out


def measure(iterations: int = 20000, repeats: int = 7) -> dict[str, dict[str, float]]:
    """{operation: {path: ns per call}} for the three paths."""
    exe = bench_binary()
    # open+close an image file: the benchmark binary itself is one.
    args = [str(iterations), str(repeats), exe]
    results = {"native": _parse(subprocess.run([exe, *args], capture_output=True, text=True,
                                               check=True).stdout)}
    # fast_nopolicy: the fastcall path without namespaces, seccomp and Landlock, to show
    # what the sandbox costs (the CLI cannot turn the policy off).
    for path, subst, policy in (("fast", True, True), ("trap", False, True),
                                ("fast_nopolicy", True, False)):
        with tempfile.TemporaryFile() as out:
            done = api.run(exe, args, subst=subst, stdout=out, mount_cwd=False, policy=policy)
            if done.returncode != 0:
                raise RuntimeError(f"the benchmark failed in the guest ({path} path)")
            out.seek(0)
            results[path] = _parse(out.read().decode())
    ops = results["native"].keys()
    return {op: {p: results[p][op] for p in PATHS} for op in ops}


def table(res: dict[str, dict[str, float]]) -> str:
    """A Markdown table: ns per call and the ratio to native."""
    lines = ["| call | native ns | fastcall ns | trap ns | fastcall / native | trap / native "
             "| fastcall, no sandbox ns |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for op, r in res.items():
        lines.append(f"| {op} | {r['native']:.1f} | {r['fast']:.1f} | {r['trap']:.1f} | "
                     f"{r['fast'] / r['native']:.2f} | {r['trap'] / r['native']:.2f} | "
                     f"{r['fast_nopolicy']:.1f} |")
    return "\n".join(lines)


def main(iterations: int = 20000, repeats: int = 7, as_json: bool = False) -> None:
    res = measure(iterations, repeats)
    if as_json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(table(res))


if __name__ == "__main__":
    main()
