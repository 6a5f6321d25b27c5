"""What a program that resolves names per request pays: python3 calling
getaddrinfo("localhost") and getpwnam("root") in a loop (glibc opens
/etc/nsswitch.conf, /etc/hosts, /etc/gai.conf -- missing -- and
/etc/passwd each time), natively and in a guest, µs per lookup as the
program times itself (start-up left out).

    python -m libsubst.benchmarks.name_lookups [--rounds 9] [--iterations 2000] [--baseline-python PYTHON]

``--baseline-python`` adds the guest of the libsubst installed for another
Python (another build) to the same rounds.  Every lookup's answer is
checked against the first: a loop that resolved nothing is not timed."""

from __future__ import annotations

import argparse
import subprocess
import sys

from .rounds import alternate, check, fmt_spread, main_command, median, positive, program

# Prints µs per lookup; exits 1 if an answer changed or nothing resolved.
LOOP = """
import pwd, socket, sys, time
n = int(sys.argv[1])
def once(kind):
    if kind == "hosts":
        return sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)})
    return pwd.getpwnam("root").pw_uid
for kind in sys.argv[2:]:
    first = once(kind)
    t = time.perf_counter()
    for _ in range(n):
        if once(kind) != first:
            sys.exit(1)
    print(kind, (time.perf_counter() - t) / n * 1e6, first)
"""
KINDS = ("hosts", "passwd")


def _run(cmd: list[str], iterations: int) -> dict[str, float]:
    r = subprocess.run([*cmd, "/usr/bin/python3", "-c", LOOP, str(iterations), *KINDS],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{' '.join(cmd) or 'natively'}: the loop exited {r.returncode}",
          r.stderr)
    out = {}
    for line in r.stdout.splitlines():
        kind, us, answer = line.split(maxsplit=2)
        check(answer not in ("[]", ""), f"{kind} resolved nothing", r.stdout)
        out[kind] = float(us)
    return out


def measure(iterations: int = 2000, rounds: int = 9, baseline: str | None = None) -> dict:
    """{kind: {config: [µs per lookup, one per round]}}."""
    configs = {"native": [], "guest": [sys.executable, "-m", "libsubst", "run", "--no-cwd"]}
    if baseline:
        configs["baseline"] = [baseline, "-m", "libsubst", "run", "--no-cwd"]
    runs = alternate(rounds, {name: (lambda c=c: _run(c, iterations))
                              for name, c in configs.items()})
    return {k: {name: [r[k] for r in per] for name, per in runs.items()} for k in KINDS}


def table(res: dict, what: str = "lookup") -> str:
    """res's medians as a Markdown table, a row per kind (``what`` heads them)."""
    configs = list(next(iter(res.values())))
    head = [what, *(f"{c} µs" for c in configs), *(f"{c} / native" for c in configs[1:]),
            "native / native"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for kind, r in res.items():
        m = {c: median(v) for c, v in r.items()}
        cells = [f"{m[c]:.1f}" for c in configs] + [f"{m[c] / m['native']:.2f}" for c in configs[1:]]
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {fmt_spread(r['native'])} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.name_lookups",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=9)
    ap.add_argument("--iterations", type=positive, default=2000)
    ap.add_argument("--baseline-python", type=program)
    a = ap.parse_args(argv)
    print(table(measure(a.iterations, a.rounds, a.baseline_python)))


if __name__ == "__main__":
    main_command(main)
