"""Packed images, measured: size against the files they hold, start-up of
a guest against the same program run natively, ``libsubst run app.lsi`` end
to end against native exec, and the RSS of a guest.

    python -m libsubst.benchmarks.images [--runs N] [--json]

Needs gcc (a hello-world program is built), redis-server, sqlite3 and
python3.  Every timing alternates guest and native runs (benchmarks/
rounds.py) and is the median of N rounds (default 21) on CLOCK_MONOTONIC,
with the spread of the native rounds; every timed run's exit status and
output are checked.

How each number is taken:

- *image size*: the image file's bytes against the distinct file contents it
  holds plus the kernel (``Image.content_size``); also against the sum of
  every file's size (duplicates counted).
- *spawn -> main* (hello) and *spawn -> ready* (redis-server's "Ready to
  accept connections" on its stdout, read as it comes): both runs are timed
  from the same point, just before the process is spawned -- ``Popen``
  natively, ``run_spec`` for the guest (which encodes the boot info and
  spawns the kernel; the image is opened and verified once, before) -- to
  the program's report.  The program prints the monotonic time at the top
  of ``main``.
- *kernel start -> ld.so / main* (hello, guest only, no native counterpart):
  the kernel reports the monotonic time of its first instruction and of its
  jump to ld.so (the ``boot`` record of the report channel, report.h).
- *end to end*: ``libsubst run app.lsi`` as a command (a new Python process,
  verifying every sha256), ``libsubst.run(image)`` in-process, native exec
  of the same program, and a bare ``python3 -c pass``.
- *RSS*: VmRSS (and VmHWM) of the kernel process running a hello-world
  image that blocks reading stdin after printing, and of the same program
  run natively (``ru_maxrss`` would count the forking Python's pages).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading

from .image_startup import guest_boot, boot_hello, boot_redis, end_to_end
from .rounds import alternate, check, main_command, fmt_range, median

HELLO_C = r"""
#include <stdio.h>
#include <time.h>
int main(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);      /* first thing in main */
    printf("main %ld\n", t.tv_sec * 1000000000L + t.tv_nsec);
    return 0;
}
"""

# For RSS: stays alive (blocked reading stdin) once it has said "ready".
WAIT_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    char c;
    printf("ready\n");
    fflush(stdout);
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
"""

PY_SCRIPT = "import json, sys\nprint(json.dumps({'hello': sys.argv[1:]}))\n"


def build(work: str) -> dict[str, str]:
    """The images: hello (C), sqlite3, redis-server, python3 with a script."""
    from libsubst import Image

    hello = os.path.join(work, "hello")
    with open(hello + ".c", "w") as f:
        f.write(HELLO_C)
    subprocess.run(["gcc", "-O2", "-o", hello, hello + ".c"], check=True)
    wait = os.path.join(work, "wait")
    with open(wait + ".c", "w") as f:
        f.write(WAIT_C)
    subprocess.run(["gcc", "-O2", "-o", wait, wait + ".c"], check=True)
    script = os.path.join(work, "hello.py")
    with open(script, "w") as f:
        f.write(PY_SCRIPT)
    images = {}
    specs = {
        "hello": (hello, [], {}),
        "_wait": (wait, [], {}),
        "sqlite3": ("/usr/bin/sqlite3", ["-batch"], {}),
        "redis-server": ("/usr/bin/redis-server", [], {}),
        "python3": ("/usr/bin/python3", ["/app/hello.py"],
                    {"add": [f"{script}:/app/hello.py"], "keep_args": 1}),
    }
    for name, (prog, args, kw) in specs.items():
        path = os.path.join(work, name + ".lsi")
        Image.from_program(prog, args, **kw).write(path)
        images[name] = path
    images["_hello_bin"] = hello
    images["_wait_bin"] = wait
    return images


def sizes(images: dict[str, str]) -> dict[str, dict]:
    from libsubst import Image

    out = {}
    for name, path in images.items():
        if name.startswith("_"):
            continue
        with Image.open(path) as img:
            files = [f for f in img.manifest["files"] if f["kind"] == "file"]
            all_files = sum(f["size"] for f in files) + img.manifest["kernel"]["size"]
            out[name] = {"image": img.size, "content": img.content_size(),
                         "all_files": all_files, "files": len(files),
                         "ratio": img.size / img.content_size()}
    return out


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) of a live process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(val.split()[0])
    return out


def _children(pid="self") -> list[int]:
    pids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    return pids


def _innermost(pid: int) -> int:
    """The program's process: for a guest, the relay's child (the relay is
    the process the monitor starts, outside the guest's namespaces)."""
    while kids := _children(pid):
        pid = kids[-1]
    return pid


def rss(images: dict[str, str], runs: int) -> dict:
    """RSS of the live process (the guest's is its first process, which holds
    the kernel, the program, its libraries and everything they allocate; the
    relay outside it is not counted), guest and native alternating."""
    from libsubst import Image

    def sample(start, who):
        """start(stdin, stdout) runs the program to its end; its status."""
        got = {}
        out_r, out_w = os.pipe()
        in_r, in_w = os.pipe()

        def watch():
            with os.fdopen(out_r, "rb", buffering=0) as r:
                got["said"] = r.read(6)
                if got["said"] == b"ready\n":
                    got.update(_status(_innermost(_children()[-1])))
                os.close(in_w)
                while r.read(4096):
                    pass

        th = threading.Thread(target=watch, daemon=True)
        th.start()
        try:
            status = start(in_r, out_w)
        finally:
            os.close(in_r)
            os.close(out_w)
            th.join()
        check(status == 0 and "VmRSS" in got, f"{who} exited {status} and said {got.get('said')!r}")
        return got

    def guest():
        return sample(lambda i, o: guest_boot(img, stdin=i, stdout=o)[0].returncode, "wait (image)")

    def native():
        return sample(lambda i, o: subprocess.Popen([images["_wait_bin"]], stdin=i, stdout=o).wait(),
                      "wait")

    with Image.open(images["_wait"]) as img:
        img.verify()
        s = alternate(max(3, runs // 4), {"guest": guest, "native": native})
    g = {k: median([x[k] for x in s["guest"]]) for k in ("VmRSS", "VmHWM")}
    n = {k: median([x[k] for x in s["native"]]) for k in ("VmRSS", "VmHWM")}
    return {"guest_rss_kib": g["VmRSS"], "guest_hwm_kib": g["VmHWM"],
            "native_rss_kib": n["VmRSS"], "native_hwm_kib": n["VmHWM"],
            "delta_mib": (g["VmRSS"] - n["VmRSS"]) / 1024}


def measure(runs: int = 21) -> dict:
    with tempfile.TemporaryDirectory(prefix="libsubst-images-") as work:
        images = build(work)
        return {"sizes": sizes(images), "boot_hello": boot_hello(images, runs),
                "boot_redis": boot_redis(images, max(5, runs // 3)),
                "end_to_end": end_to_end(images, runs), "rss": rss(images, runs)}


def _sp(x: dict) -> str:
    return fmt_range(x["native_spread"])


def report(res: dict) -> str:
    lines = ["### Image size", "",
             "| image | files | image bytes | distinct contents + kernel | ratio | all files (with duplicates) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in res["sizes"].items():
        lines.append(f"| {name} | {s['files']} | {s['image']:,} | {s['content']:,} | "
                     f"{s['ratio'] * 100:.1f}% | {s['all_files']:,} |")
    b, r = res["boot_hello"], res["boot_redis"]
    lines += ["", "### Start-up (median, ms): from just before the process is spawned", "",
              "| program | guest | native | guest / native | native / native |",
              "| --- | ---: | ---: | ---: | ---: |",
              f"| hello: spawn -> main | {b['guest_spawn_to_main_ms']:.2f} | "
              f"{b['native_spawn_to_main_ms']:.2f} | "
              f"{b['guest_spawn_to_main_ms'] / b['native_spawn_to_main_ms']:.2f} | {_sp(b)} |",
              f"| redis-server: spawn -> ready | {r['guest_spawn_to_ready_ms']:.2f} | "
              f"{r['native_spawn_to_ready_ms']:.2f} | "
              f"{r['guest_spawn_to_ready_ms'] / r['native_spawn_to_ready_ms']:.2f} | {_sp(r)} |",
              "", f"In the guest (hello), from the kernel's first instruction: to ld.so "
              f"{b['kernel_start_to_ldso_ms']:.2f} ms, to main {b['kernel_start_to_main_ms']:.2f} ms.",
              "", "### End to end (median, ms)", "",
              "| program | native exec | native / native | `libsubst run app.lsi` | "
              "`libsubst.run(image)` in-process | bare `python3 -c pass` |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, e in res["end_to_end"].items():
        lines.append(f"| {name} | {e['native_ms']:.1f} | {_sp(e)} | {e['libsubst_run_image_ms']:.1f} | "
                     f"{e['api_run_image_ms']:.1f} | {e['python_startup_ms']:.1f} |")
    lines.append(f"\n`libsubst run ./hello` (not packed): "
                 f"{res['end_to_end']['hello']['libsubst_run_program_ms']:.1f} ms")
    m = res["rss"]
    lines += ["", "### RSS of a hello-world program (blocked in read, after printing)", "",
              f"guest {m['guest_rss_kib']:.0f} KiB (peak {m['guest_hwm_kib']:.0f}), native "
              f"{m['native_rss_kib']:.0f} KiB (peak {m['native_hwm_kib']:.0f}): "
              f"{m['delta_mib']:+.2f} MiB"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21, help="alternating rounds per timing (median)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    res = measure(args.runs)
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report(res))


if __name__ == "__main__":
    main_command(main)
