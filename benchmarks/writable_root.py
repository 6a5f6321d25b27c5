"""What the writable root costs: the same program booted with its root's
scratch layer (the default) and with ``--read-only``, alternating.

    python -m libsubst.benchmarks.writable_root [--runs N] [--add DIR] [--json]

The program is Debian's nginx testing a configuration (``nginx -t``: it
reads the configuration, which includes the package's mime.types, and
exits), whose image holds its package's files: the layer has that many
entries to lay out at boot.  ``--add DIR`` puts a host directory's files
into the image as well (``/usr/share/zoneinfo``: some 1,800 more), to see
the cost per entry.
Figures, each the median of N rounds (default 21; benchmarks/rounds.py):

- *entries*: the image's entries the kernel lays out in the layer;
- *kernel start -> ld.so*: the guest kernel's own boot (the ``boot`` record
  of the report channel), which includes laying out the layer;
- *spawn -> exit*: the whole run, from just before ``run_spec`` to the
  guest's end, which includes the walk's extra host lstat per component
  of every path the program looks up in its root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

from .rounds import alternate, check, main_command, median

PROGRAM = ["/usr/sbin/nginx", "-t", "-q", "-c"]
CONF = "pid /tmp/nginx.pid;\nevents {}\nhttp { include /etc/nginx/mime.types; }\n"


def measure(runs: int, add: tuple[str, ...] = ()) -> dict:
    from libsubst import api

    conf_dir = tempfile.mkdtemp(prefix="libsubst-bench-")
    conf = os.path.join(conf_dir, "site.conf")
    with open(conf, "w") as fh:
        fh.write(CONF)
    try:
        return _measure(runs, api.prepare(PROGRAM[0], [*PROGRAM[1:], conf], mount_cwd=False,
                                          volumes=[f"{conf_dir}:{conf_dir}:ro"], add=add))
    finally:
        shutil.rmtree(conf_dir)


def _measure(runs: int, spec) -> dict:
    from libsubst.image import rootfs
    from libsubst.monitor.guest import run_spec

    layer = [m for m in spec.mounts]
    read_only = [m for m in spec.mounts if m != rootfs.ROOT_LAYER]
    check(len(layer) == len(read_only) + 1, "the spec has no writable root's layer")
    boots: dict[str, list[float]] = {"layer": [], "read-only": []}

    def boot(name, mounts):
        def run():
            spec.mounts = list(mounts)
            t0 = time.monotonic_ns()
            done = run_spec(spec, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t1 = time.monotonic_ns()
            check(done.returncode == 0, f"{' '.join(PROGRAM)} exited {done.returncode}")
            start, enter = done.report.boot
            boots[name].append(enter - start)
            return t1 - t0
        return run

    total = alternate(runs, {"layer": boot("layer", layer),
                             "read-only": boot("read-only", read_only)})
    return {"program": " ".join(PROGRAM), "entries": len(spec.entries), "runs": runs,
            "kernel start -> ld.so ms": {k: median(v) / 1e6 for k, v in boots.items()},
            "spawn -> exit ms": {k: median(v) / 1e6 for k, v in total.items()}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--add", action="append", default=[], metavar="DIR",
                    help="a host directory whose files join the image")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = measure(args.runs, tuple(args.add))
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"{r['program']}: {r['entries']} image entries, median of {r['runs']} rounds")
    for what in ("kernel start -> ld.so ms", "spawn -> exit ms"):
        v = r[what]
        print(f"  {what[:-3]}: {v['layer']:.2f} ms with the layer, "
              f"{v['read-only']:.2f} ms --read-only")


if __name__ == "__main__":
    main_command(main)
