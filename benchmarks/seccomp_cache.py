"""What the host's layers cost a call they let through: seccomp, its action
cache, Syscall User Dispatch, and one trap mechanism in place of two.

    python -m libsubst.benchmarks.seccomp_cache [--rounds 5] [--iterations 20000]
    python -m libsubst.benchmarks.seccomp_cache --in-guest [--iterations 300000]

Linux (5.11+) emulates each filter once per system call number; a number
whose path through the filter reads nothing but the number and the
architecture, and ends in an allow, is marked allowed in a bitmap, and its
calls then skip the filter.  Any load of an argument or of the instruction
pointer on that path takes the number out of the cache.  The guest's filter
(hostcalls.py, compiled by seccomp.py) is a binary search on the number with
the argument pins in blocks of their own, so every unpinned call should be
cached.

The guest's host calls pass two layers: the filter, and Syscall User
Dispatch's check that the call comes from the kernel's text.  A filter
could make that check itself (seccomp's RET_TRAP outside an
instruction-pointer range) and SUD go, but the check reads the instruction
pointer, so no call is cached any more.  This times syscall_bench.c natively
under each of: no filter; a one-instruction allow-all filter, the cheapest a
filter can be; SUD alone (its region covering the program, so every call
passes the check, as the kernel's do); both; an instruction-pointer range
check alone (7 instructions, every address passing); the guest's filter
(the container baseline, seccomp.container_baseline); the guest's filter
with SUD, the guest's layers today; and the guest's filter behind the
instruction-pointer check, the one-mechanism alternative.

--in-guest checks the cache in a real guest, with the filter as the tender
installs it: `perf record -e cpu-clock` of syscall-bench's loops in the
guest, each alone, and the CPU time per iteration spent in the filter's
JIT-compiled BPF (kernel addresses perf cannot name: a classic filter's
image has no symbol) and in __seccomp_filter around it.  A cached call
spends none in the BPF (one sample, 50 µs, is ~0.15 ns per iteration of
300000); open_close_volume, whose open is a pinned call (openat2), is the
control that does."""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from ..kernel import hostcalls, seccomp
from .rounds import (BenchmarkError, alternate, check, fmt_range, fmt_spread, main_command, median,
                     positive)
from .server_profile import periods
from .syscalls import _native, bench_binary

TRAP = "trap by signal"
OPS = ("getppid", "read_1_dev_zero", "write_1_dev_null", "pread_1_volume", "epoll_wait_ready")
RET_TRAP = 0x00030000
USER_TOP_HI = 0x8000      # the high half of 2^47: no user address reaches it


def _ins(code: int, jt: int = 0, jf: int = 0, k: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def ip_check(top_hi: int = USER_TOP_HI) -> bytes:
    """A range check of the instruction pointer, as a filter standing in for
    SUD would put first (trap outside [lo, hi)), with bounds every user
    address passes: what the check costs, never its trap (a ``top_hi`` of 0
    traps every call, which the test uses to see that it checks)."""
    return b"".join((
        _ins(seccomp.LD_ABS_W, k=seccomp.IP_HI),
        _ins(seccomp.JGE, 0, 1, top_hi), _ins(seccomp.RET, k=RET_TRAP),
        _ins(seccomp.LD_ABS_W, k=seccomp.IP_LO),
        _ins(seccomp.JGE, 1, 0, 0), _ins(seccomp.RET, k=RET_TRAP)))


ALLOW = _ins(seccomp.RET, k=seccomp.RET_ALLOW)
# name: (filter or None, SUD on)
CONFIGS = {
    "native": (None, False),
    "one-instruction filter": (lambda: ALLOW, False),
    "SUD": (None, True),
    "one-instruction filter + SUD": (lambda: ALLOW, True),
    "IP-check filter": (lambda: ip_check() + ALLOW, False),
    "guest filter": (seccomp.container_baseline, False),
    "guest filter + SUD (today)": (seccomp.container_baseline, True),
    "IP check + guest filter (one mechanism)": (lambda: ip_check() + seccomp.container_baseline(),
                                                False),
}


def command(name: str, d: str, iterations: int, repeats: int) -> list[str]:
    """syscall-bench's command line for configuration ``name`` (its filter
    written into ``d``, which also holds its files)."""
    bpf, sud = CONFIGS[name]
    exe = bench_binary()
    argv = [exe, *(["--sud"] if sud else []), f"--only={','.join(OPS)}",
            str(iterations), str(repeats), exe, d]
    if bpf:
        argv.append(os.path.join(d, f"{list(CONFIGS).index(name)}.bpf"))
        with open(argv[-1], "wb") as f:
            f.write(bpf())
    return argv


# The trap path's floor by each mechanism: a getppid turned into a SIGSYS
# that an empty handler answers (syscall-bench --trap-floor).
TRAPS = {"trap by SUD": ([], "sud_trap_floor"),
         "trap by seccomp": (["--seccomp"], "seccomp_trap_floor")}


def measure(iterations: int = 20000, repeats: int = 5, rounds: int = 5) -> dict:
    """{op: {config: [ns per call, one per round]}}, and TRAP: {mechanism: [...]}."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as d:
        configs = {name: (lambda a=command(name, d, iterations, repeats): _native(a))
                   for name in CONFIGS}
        for name, (opt, key) in TRAPS.items():
            configs[name] = (lambda a=[exe, *opt, "--trap-floor", str(iterations), str(repeats)],
                             k=key: {TRAP: _native(a)[k]})
        runs = alternate(rounds, configs)
    res = {op: {k: [r[op] for r in runs[k]] for k in CONFIGS} for op in OPS}
    res[TRAP] = {k: [r[TRAP] for r in runs[k]] for k in TRAPS}
    return res


GUEST_OPS = ("read_1_dev_zero", "write_1_dev_null", "pread_1_volume", "epoll_wait_ready",
             "stat_volume", "fstat_volume", "sendfile_4k_volume", "open_close_volume",
             "open_nonblock_close_volume_deep")


SAMPLE_NS = 50000        # a sample every 50 µs of CPU time


def in_guest(iterations: int = 300000, ops=GUEST_OPS) -> dict[str, dict[str, float]]:
    """{op: {"BPF": ns per iteration, "__seccomp_filter": ns per iteration}}."""
    check(shutil.which("perf") is not None, "perf is not installed (Debian: linux-perf)")
    exe, out = bench_binary(), {}
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "perf.data")
        for op in ops:
            r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-c", str(SAMPLE_NS),
                                "-o", data, "--",
                                sys.executable, "-m", "libsubst", "run", "--no-cwd", "--volume",
                                f"{d}:{d}", exe, f"--only={op}", str(iterations), "1", exe, d],
                               capture_output=True, text=True)
            check(r.returncode == 0, f"syscall-bench under perf in the guest exited {r.returncode}",
                  r.stderr)
            ns = periods(data)
            out[op] = {"BPF": sum(v for (dso, sym), v in ns.items()
                                  if dso == "[unknown]" and sym.startswith("0xffffffff")),
                       "__seccomp_filter": ns.get(("[kernel.kallsyms]", "__seccomp_filter"), 0)}
            out[op] = {k: v / (iterations * 1.1) for k, v in out[op].items()}   # + the warm-up
    return out


def guest_table(res: dict) -> str:
    lines = ["| loop (in the guest) | filter's BPF ns per iteration | __seccomp_filter ns per iteration |",
             "| --- | ---: | ---: |"]
    lines += [f"| {op} | {r['BPF']:.2f} | {r['__seccomp_filter']:.2f} |" for op, r in res.items()]
    return "\n".join(lines)


TODAY, ONE = "guest filter + SUD (today)", "IP check + guest filter (one mechanism)"


def table(res: dict) -> str:
    """Medians, and the one mechanism over today's two round by round
    (median, fastest–slowest): the two ran back to back in each round."""
    res = dict(res)
    traps = res.pop(TRAP)
    kinds = list(next(iter(res.values())))
    lines = ["| call | " + " | ".join(f"{k} ns" for k in kinds) +
             " | one mechanism / today | native / native |",
             "| --- |" + " ---: |" * (len(kinds) + 2)]
    for op, r in res.items():
        ratios = [o / t for o, t in zip(r[ONE], r[TODAY])]
        lines.append(f"| {op} | " + " | ".join(f"{median(r[k]):.1f}" for k in kinds) +
                     f" | {median(ratios):.2f} ({fmt_range((min(ratios), max(ratios)))}) |"
                     f" {fmt_spread(r['native'])} |")
    sud, sec = traps["trap by SUD"], traps["trap by seccomp"]
    ratios = [b / a for a, b in zip(sud, sec)]
    lines.append(f"\nA trap by signal, natively (a getppid answered by an empty SIGSYS handler): "
                 f"{median(sud):.1f} ns by SUD, {median(sec):.1f} ns by seccomp's RET_TRAP "
                 f"({median(ratios):.2f} of SUD's, {fmt_range((min(ratios), max(ratios)))}).")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.seccomp_cache",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=5)
    ap.add_argument("--iterations", type=positive, default=None,
                    help="calls per timed loop (default 20000; --in-guest: 300000)")
    ap.add_argument("--in-guest", action="store_true",
                    help="whether the cache serves each call in a real guest (perf)")
    a = ap.parse_args(argv)
    if a.in_guest:
        try:
            print(guest_table(in_guest(a.iterations or 300000)))
        except BenchmarkError as e:
            sys.exit(f"libsubst: {e}")
        return
    ins, _slots = seccomp.compile_filter()
    pinned = sum(1 for h in hostcalls.allowed() if h.pins)
    try:
        print(table(measure(a.iterations or 20000, rounds=a.rounds)))
        print(f"\nThe guest's filter: {len(ins)} instructions; Linux's action cache serves "
              f"{len(seccomp.cached(ins))} of its {len(hostcalls.allowed())} allowed calls "
              f"(the {pinned} with pinned arguments run the BPF).")
    except BenchmarkError as e:
        sys.exit(f"libsubst: {e}")


if __name__ == "__main__":
    main_command(main)
