"""`libsubst bench syscalls`: ns per call of libc-made system calls,
natively, natively under the guest's seccomp filter (the container
baseline), natively under that filter and the tender's Landlock rules
(container+Landlock), in the guest on the fastcall path (glibc substituted), in the
guest on the trap path (--no-subst), and on the fastcall path without the
sandbox, all in the same run, with ratios.

The container baseline is the floor the host imposes on any process under a
seccomp filter (a container's programs too): the native program with the
guest's own filter installed (``seccomp.container_baseline``: the same
instructions, its kills made allows so the program's other calls pass).
container+Landlock adds the Landlock rules a guest gets, as the servers
benchmark's floor does (contained.c: the volume read-write, the devices,
the rest of the host read-only, where the guest's image files are each a
rule of their own): the price the sandbox's path checks put on the open
and stat rows, which a guest pays too.
The trap path's floor is timed natively too (``syscall-bench --trap-floor``):
a getppid that Syscall User Dispatch turns into a SIGSYS answered by an
empty handler, what any trap by signal costs on this host.

Runs the same binary (syscall_bench.c, built with the package) eight ways,
once each per round, the rounds alternating (benchmarks/rounds.py).  Each run
reports, per call, the median of REPEATS timed loops of ITERATIONS calls and
checks that every call did its work; each figure is the median of the rounds'
medians, and the native/native column is the spread of the native rounds.

"no sandbox" is the boot spec's ``policy=False``: the guest boots without
namespaces, seccomp and Landlock, Syscall User Dispatch still on; "no
sandbox, no trap" also has ``trap=False``: no Syscall User Dispatch either
(a call that is not rewritten would go straight to the host; the benchmark's
calls are all rewritten).  Together they show what the sandbox and the trap
cost each host call.  Only benchmarks use them; the CLI cannot turn either
off.

``--baseline-python PYTHON`` adds the fastcall path of the libsubst
installed for another Python (another build, e.g. the branch point) to the
same rounds, run as ``PYTHON -m libsubst run``, so two builds are compared
against one native.

``--image`` adds the fastcall path of the same binary packed into an image
(``libsubst pack``, the volume declared), where the kernel holds the fds of
the image's files (the image row opens the packed copy of the binary): a
server run from an image pays that path; with ``--baseline-python`` the
other build packs and runs its own image too."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from importlib import resources

from .. import api
from ..errors import LibsubstError
from ..kernel import seccomp
from ..monitor.guest import run_spec
from .rounds import BenchmarkError, alternate, check, fmt_spread, median

# path name: (subst, policy, trap) of the guest's boot; "native" runs on the host.
GUEST_PATHS = {"fast": (True, True, True), "trap": (False, True, True),
               "fast_nosandbox": (True, False, True), "fast_nosandbox_notrap": (True, False, False)}
CONTAINER_LANDLOCK = "container_landlock"   # contained.c: the filter and Landlock's rules
PATHS = ("native", "container", CONTAINER_LANDLOCK, *GUEST_PATHS)
TRAP_FLOOR = "sud_trap_floor"   # syscall-bench --trap-floor: a signal round trip, natively
BASELINE = "baseline"           # --baseline-python: the fastcall path of another build
IMAGE = "image"                 # --image: the fastcall path of a packed image
BASELINE_IMAGE = "baseline_image"


def bench_binary() -> str:
    return str(resources.files("libsubst") / "_bin" / "syscall-bench")


def contained_binary() -> str:
    return str(resources.files("libsubst") / "_bin" / "contained")


MEDIAN, FASTEST = 1, 2     # the columns syscall-bench prints after a row's name


def _parse(text: str, column: int = MEDIAN) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        try:
            fields = line.split()
            if len(fields) != 3:
                raise ValueError
            out[fields[0]] = float(fields[column])
        except ValueError:
            raise BenchmarkError(f"syscall-bench printed {line!r}") from None
    return out


def _native(args: list[str], column: int = MEDIAN) -> dict[str, float]:
    exe = args[0]
    r = subprocess.run(args, capture_output=True, text=True)
    check(r.returncode == 0, f"{exe} natively exited {r.returncode}", r.stderr)
    return _parse(r.stdout, column)


def _guest(args: list[str], path: str, volume: str, column: int = MEDIAN) -> dict[str, float]:
    subst, policy, trap = GUEST_PATHS[path]
    spec = api.prepare(args[0], args[1:], subst=subst, mount_cwd=False, policy=policy,
                       volumes=[f"{volume}:{volume}"])
    spec.trap = trap
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = run_spec(spec, stdout=out, stderr=err)
        out.seek(0)
        err.seek(0)
        check(done.returncode == 0, f"syscall-bench in the guest ({path}) exited {done.returncode}",
              err.read())
        return _parse(out.read().decode(), column)


def _baseline(python: str, args: list[str], volume: str, column: int = MEDIAN) -> dict[str, float]:
    """The fastcall path of the libsubst installed for ``python``, by its CLI."""
    r = subprocess.run([python, "-m", "libsubst", "run", "--no-cwd", "--volume",
                        f"{volume}:{volume}", *args], capture_output=True, text=True)
    check(r.returncode == 0, f"syscall-bench under {python}'s libsubst exited {r.returncode}",
          r.stderr)
    return _parse(r.stdout, column)


def _pack(python: str, args: list[str], volume: str, out: str) -> str:
    """Packs the benchmark and its arguments with ``python``'s libsubst."""
    r = subprocess.run([python, "-m", "libsubst", "pack", "--volume", volume, *args, "-o", out],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"libsubst pack under {python} exited {r.returncode}", r.stderr)
    return out


def _image(python: str, image: str, volume: str, column: int = MEDIAN) -> dict[str, float]:
    r = subprocess.run([python, "-m", "libsubst", "run", "--volume", f"{volume}:{volume}", image],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{image} under {python}'s libsubst exited {r.returncode}", r.stderr)
    return _parse(r.stdout, column)


def measure(iterations: int = 20000, repeats: int = 7, rounds: int = 5,
            baseline: str | None = None, image: bool = False, only: str | None = None,
            fastest: bool = False) -> dict:
    """{op: {path: [ns per call, one per round]}}, and TRAP_FLOOR: {"native": [...]}.
    fastest: each round's figure is its fastest timed loop, not their median
    (on a loaded machine, the least disturbed).
    only: the rows to time, comma-separated (syscall-bench --only)."""
    exe = bench_binary()
    with tempfile.TemporaryDirectory() as volume, tempfile.NamedTemporaryFile() as bpf, \
            tempfile.TemporaryDirectory() as images:
        bpf.write(seccomp.container_baseline())
        bpf.flush()
        # the image file opened is the benchmark binary itself; the volume is
        # mounted at its host path, so every run gets the same arguments.
        args = [exe, *([f"--only={only}"] if only else []), str(iterations), str(repeats), exe,
                volume]
        if only:
            # syscall-bench times those of the rows named that it has
            unknown = set(only.split(",")) - set(_native([*args[:2], "1", "1", exe, volume]))
            if unknown:     # bad input, not a failed run: status 2
                raise LibsubstError(f"bench syscalls has no row {', '.join(sorted(unknown))}")
        col = FASTEST if fastest else MEDIAN
        configs = {"native": lambda: _native(args, col),
                   "container": lambda: _native([*args, bpf.name], col),
                   CONTAINER_LANDLOCK: lambda: _native(
                       [contained_binary(), "--rw", volume, bpf.name, *args], col)}
        configs.update({p: (lambda p=p: _guest(args, p, volume, col)) for p in GUEST_PATHS})
        configs[TRAP_FLOOR] = lambda: _native([exe, "--trap-floor", str(iterations), str(repeats)],
                                              col)
        if baseline:
            configs[BASELINE] = lambda: _baseline(baseline, args, volume, col)
        if image:
            mine = _pack(sys.executable, args, volume, f"{images}/this.lsi")
            configs[IMAGE] = lambda: _image(sys.executable, mine, volume, col)
            if baseline:
                theirs = _pack(baseline, args, volume, f"{images}/baseline.lsi")
                configs[BASELINE_IMAGE] = lambda: _image(baseline, theirs, volume, col)
        runs = alternate(rounds, configs)
    floor = runs.pop(TRAP_FLOOR)
    ops = runs["native"][0].keys()
    for path, per_round in runs.items():
        check(all(r.keys() == ops for r in per_round), f"the {path} runs timed other calls")
    res = {op: {p: [r[op] for r in runs[p]] for p in runs} for op in ops}
    res[TRAP_FLOOR] = {"native": [r[TRAP_FLOOR] for r in floor]}
    return res


def table(res: dict) -> str:
    """A Markdown table: median ns per call, ratios to native, native's own spread."""
    lines = ["| call | native ns | container ns | container+Landlock ns | fastcall ns | trap ns "
             "| fastcall / native | fastcall / container | fastcall / container+Landlock "
             "| trap / native | native / native | fastcall, no sandbox ns "
             "| fastcall, no sandbox, no trap ns |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    first = next(r for op, r in res.items() if op != TRAP_FLOOR)
    has_base = BASELINE in first
    if has_base:
        lines[0] += " baseline fastcall ns | baseline / native |"
        lines[1] += " ---: | ---: |"
    extra = [p for p in (IMAGE, BASELINE_IMAGE) if p in first]
    for p in extra:
        lines[0] += f" {p.replace('_', ' ')} fastcall ns |"
        lines[1] += " ---: |"
    for op, r in res.items():
        if op == TRAP_FLOOR:
            continue
        m = {p: median(v) for p, v in r.items()}
        walled = m[CONTAINER_LANDLOCK]
        lines.append(f"| {op} | {m['native']:.1f} | {m['container']:.1f} | {walled:.1f} | "
                     f"{m['fast']:.1f} | {m['trap']:.1f} | {m['fast'] / m['native']:.2f} | "
                     f"{m['fast'] / m['container']:.2f} | {m['fast'] / walled:.2f} | "
                     f"{m['trap'] / m['native']:.2f} | "
                     f"{fmt_spread(r['native'])} | {m['fast_nosandbox']:.1f} | "
                     f"{m['fast_nosandbox_notrap']:.1f} |")
        if has_base:
            lines[-1] += f" {m[BASELINE]:.1f} | {m[BASELINE] / m['native']:.2f} |"
        lines[-1] += "".join(f" {m[p]:.1f} |" for p in extra)
    floor = median(res[TRAP_FLOOR]["native"])
    times = (f", {floor / median(res['getppid']['native']):.2f} × native getppid"
             if "getppid" in res else "")
    lines.append(f"\nThe host's floor for any trap by signal, natively (a getppid that Syscall "
                 f"User Dispatch turns into a SIGSYS, answered by an empty handler): "
                 f"{floor:.1f} ns{times} "
                 f"(native / native {fmt_spread(res[TRAP_FLOOR]['native'])}).")
    return "\n".join(lines)


def main(iterations: int = 20000, repeats: int = 7, as_json: bool = False, rounds: int = 5,
         baseline: str | None = None, image: bool = False, only: str | None = None,
         fastest: bool = False) -> None:
    res = measure(iterations, repeats, rounds, baseline, image, only, fastest)
    if as_json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(table(res))


if __name__ == "__main__":
    # `libsubst bench syscalls` parses the options (and answers --help).
    from libsubst.cli import main as cli
    cli(["bench", "syscalls", *sys.argv[1:]], prog_name="python -m libsubst.benchmarks.syscalls")
