"""Packed images, measured: size against the files they hold, boot time (the
guest kernel's first instruction to the program's ``main``), ``libsubst
run app.lsi`` end to end against native exec, and the RSS of a guest.

    python -m libsubst.benchmarks.images [--runs N] [--json]

Needs gcc (a hello-world program is built), redis-server, sqlite3 and
python3.  Times are medians of N runs (default 21) on CLOCK_MONOTONIC.

How each number is taken:

- *image size*: the image file's bytes against the distinct file contents it
  holds plus the kernel (``Image.content_size``); also against the sum of
  every file's size (duplicates counted).
- *kernel start -> main* (hello): the kernel reports the monotonic time of its
  first instruction and of its jump to ld.so (the ``boot`` record of the
  report channel, report.h); the program prints the monotonic time at the
  top of ``main``.  The same program run natively gives *spawn -> main*
  (from just before ``Popen``), to compare with the guest's *spawn -> main*
  (from just before the monitor encodes the boot info and spawns the kernel).
- *redis ready*: the same ends, with "Ready to accept connections" on its
  stdout (read as it comes) as the far end instead of ``main``.
- *end to end*: ``libsubst run app.lsi`` as a command (a new Python process,
  verifying every sha256), ``libsubst.run(image)`` in-process, and native
  exec of the same program.
- *RSS*: VmRSS (and VmHWM) of the kernel process running a hello-world
  image that blocks reading stdin after printing, and of the same program
  run natively (``ru_maxrss`` would count the forking Python's pages).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

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


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def _ms(ns):
    return ns / 1e6


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


def _spec_and_kernel(image):
    spec = image.boot_spec()
    kernel, kfd, tmp = image.kernel_executable()
    return spec, kernel, kfd, tmp


def boot_hello(images: dict[str, str], runs: int) -> dict:
    """Kernel start -> main, and spawn -> main against native."""
    from libsubst import Image
    from libsubst.monitor.guest import run_spec

    k2main, k2enter, enter2main, spawn2main = [], [], [], []
    with Image.open(images["hello"]) as img:
        img.verify()
        for _ in range(runs):
            spec, kernel, kfd, tmp = _spec_and_kernel(img)
            with tempfile.TemporaryFile() as out:
                t0 = time.monotonic_ns()
                done = run_spec(spec, stdout=out, kernel=kernel, pass_fds=(kfd,) if kfd >= 0 else ())
                out.seek(0)
                t_main = int(out.read().split()[1])
            os.close(kfd) if kfd >= 0 else os.unlink(tmp)
            start, enter = done.report.boot
            k2main.append(t_main - start)
            k2enter.append(enter - start)
            enter2main.append(t_main - enter)
            spawn2main.append(t_main - t0)
    native = []
    for _ in range(runs):
        t0 = time.monotonic_ns()
        r = subprocess.run([images["_hello_bin"]], capture_output=True, check=True)
        native.append(int(r.stdout.split()[1]) - t0)
    return {"kernel_start_to_main_ms": _ms(_median(k2main)),
            "kernel_start_to_ldso_ms": _ms(_median(k2enter)),
            "ldso_to_main_ms": _ms(_median(enter2main)),
            "guest_spawn_to_main_ms": _ms(_median(spawn2main)),
            "native_spawn_to_main_ms": _ms(_median(native))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shutdown_redis(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"SHUTDOWN NOSAVE\r\n")
        s.recv(100)


def _await_ready(fd: int, port: int, result: dict) -> threading.Thread:
    """A thread that reads redis-server's stdout, notes when it is ready,
    shuts it down, and drains the rest."""
    def read():
        buf = b""
        with os.fdopen(fd, "rb", buffering=0) as r:
            while b"Ready to accept connections" not in buf:
                chunk = r.read(65536)
                if not chunk:
                    result["error"] = buf.decode(errors="replace")[-500:]
                    return
                buf += chunk
            result["ready"] = time.monotonic_ns()
            _shutdown_redis(port)
            while r.read(65536):
                pass

    th = threading.Thread(target=read, daemon=True)
    th.start()
    return th


def boot_redis(images: dict[str, str], runs: int) -> dict:
    """Kernel start -> "Ready to accept connections", and from spawn, against native."""
    from libsubst import Image
    from libsubst.monitor.guest import run_spec

    k2ready, k2enter, spawn2ready, native = [], [], [], []
    args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
    with Image.open(images["redis-server"]) as img:
        img.verify()
        for _ in range(runs):
            port = _free_port()
            spec = img.boot_spec(["--port", str(port), *args])
            kernel, kfd, tmp = img.kernel_executable()
            r, w = os.pipe()
            result: dict = {}
            th = _await_ready(r, port, result)
            t0 = time.monotonic_ns()
            try:
                # The monitor forwards signals: it runs on the main thread.
                done = run_spec(spec, stdout=w, kernel=kernel, pass_fds=(kfd,) if kfd >= 0 else ())
            finally:
                os.close(w)
                th.join()
                os.close(kfd) if kfd >= 0 else os.unlink(tmp)
            if "ready" not in result:
                raise RuntimeError("redis-server (image) never got ready: " + result.get("error", ""))
            start, enter = done.report.boot
            k2ready.append(result["ready"] - start)
            k2enter.append(enter - start)
            spawn2ready.append(result["ready"] - t0)
    for _ in range(runs):
        port = _free_port()
        r, w = os.pipe()
        result = {}
        th = _await_ready(r, port, result)
        t0 = time.monotonic_ns()
        proc = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), *args], stdout=w)
        os.close(w)
        proc.wait()
        th.join()
        if "ready" not in result:
            raise RuntimeError("redis-server never got ready: " + result.get("error", ""))
        native.append(result["ready"] - t0)
    return {"kernel_start_to_ready_ms": _ms(_median(k2ready)),
            "kernel_start_to_ldso_ms": _ms(_median(k2enter)),
            "guest_spawn_to_ready_ms": _ms(_median(spawn2ready)),
            "native_spawn_to_ready_ms": _ms(_median(native))}


def _time(cmd, runs, **kw) -> float:
    ts = []
    for _ in range(runs):
        t0 = time.monotonic_ns()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
        ts.append(time.monotonic_ns() - t0)
    return _ms(_median(ts))


def end_to_end(images: dict[str, str], runs: int) -> dict:
    import libsubst

    cli = [sys.executable, "-m", "libsubst", "run"]
    out = {}
    for name, native, stdin in (("hello", [images["_hello_bin"]], None),
                                ("python3", ["/usr/bin/python3", os.path.dirname(images["hello"])
                                             + "/hello.py"], None),
                                ("sqlite3", ["/usr/bin/sqlite3", "-batch"], b"select 1;")):
        kw = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        inproc = []
        for _ in range(runs):
            with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as inp:
                if stdin:
                    inp.write(stdin)
                    inp.seek(0)
                t0 = time.monotonic_ns()
                libsubst.run(images[name], stdout=null, stdin=inp)
                inproc.append(time.monotonic_ns() - t0)
        out[name] = {"native_ms": _time(native, runs, **kw),
                     "libsubst_run_image_ms": _time([*cli, images[name]], runs, **kw),
                     "api_run_image_ms": _ms(_median(inproc)),
                     "python_startup_ms": _time([sys.executable, "-c", "pass"], runs)}
    out["hello"]["libsubst_run_program_ms"] = _time([*cli, "--no-cwd", images["_hello_bin"]],
                                                   runs, stdin=subprocess.DEVNULL)
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
    relay outside it is not counted)."""
    from libsubst import Image
    from libsubst.monitor.guest import run_spec

    def sample(start, stop):
        got = {}
        out_r, out_w = os.pipe()
        in_r, in_w = os.pipe()

        def watch():
            with os.fdopen(out_r, "rb", buffering=0) as r:
                r.read(6)                     # "ready\n"
                pid = _innermost(_children()[-1])
                got.update(_status(pid))
                os.close(in_w)
                while r.read(4096):
                    pass

        th = threading.Thread(target=watch, daemon=True)
        th.start()
        start(in_r, out_w)
        os.close(in_r)
        os.close(out_w)
        stop()
        th.join()
        return got

    guest, native = [], []
    with Image.open(images["_wait"]) as img:
        img.verify()
        for _ in range(max(3, runs // 4)):
            spec = img.boot_spec()
            kernel, kfd, tmp = img.kernel_executable()
            guest.append(sample(lambda i, o: run_spec(spec, stdin=i, stdout=o, kernel=kernel,
                                                      pass_fds=(kfd,)),
                                lambda: None))
            os.close(kfd) if kfd >= 0 else os.unlink(tmp)
    for _ in range(max(3, runs // 4)):
        procs = []
        native.append(sample(lambda i, o: procs.append(subprocess.Popen([images["_wait_bin"]],
                                                                        stdin=i, stdout=o)),
                             lambda: procs[0].wait()))
    g = {k: _median([x[k] for x in guest]) for k in ("VmRSS", "VmHWM")}
    n = {k: _median([x[k] for x in native]) for k in ("VmRSS", "VmHWM")}
    return {"guest_rss_kib": g["VmRSS"], "guest_hwm_kib": g["VmHWM"],
            "native_rss_kib": n["VmRSS"], "native_hwm_kib": n["VmHWM"],
            "delta_mib": (g["VmRSS"] - n["VmRSS"]) / 1024}


def measure(runs: int = 21) -> dict:
    with tempfile.TemporaryDirectory(prefix="libsubst-images-") as work:
        images = build(work)
        return {"sizes": sizes(images), "boot_hello": boot_hello(images, runs),
                "boot_redis": boot_redis(images, max(5, runs // 3)),
                "end_to_end": end_to_end(images, runs), "rss": rss(images, runs)}


def report(res: dict) -> str:
    lines = ["### Image size", "",
             "| image | files | image bytes | distinct contents + kernel | ratio | all files (with duplicates) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in res["sizes"].items():
        lines.append(f"| {name} | {s['files']} | {s['image']:,} | {s['content']:,} | "
                     f"{s['ratio'] * 100:.1f}% | {s['all_files']:,} |")
    b, r = res["boot_hello"], res["boot_redis"]
    lines += ["", "### Boot (median, ms)", "",
              "| program | kernel start -> ld.so | kernel start -> main / ready | "
              "spawn -> main / ready (guest) | spawn -> main / ready (native) |",
              "| --- | ---: | ---: | ---: | ---: |",
              f"| hello (main) | {b['kernel_start_to_ldso_ms']:.2f} | {b['kernel_start_to_main_ms']:.2f} | "
              f"{b['guest_spawn_to_main_ms']:.2f} | {b['native_spawn_to_main_ms']:.2f} |",
              f"| redis-server (ready) | {r['kernel_start_to_ldso_ms']:.2f} | "
              f"{r['kernel_start_to_ready_ms']:.2f} | {r['guest_spawn_to_ready_ms']:.2f} | "
              f"{r['native_spawn_to_ready_ms']:.2f} |",
              "", "### End to end (median, ms)", "",
              "| program | native exec | `libsubst run app.lsi` | `libsubst.run(image)` in-process | "
              "bare `python -c pass` |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, e in res["end_to_end"].items():
        lines.append(f"| {name} | {e['native_ms']:.1f} | {e['libsubst_run_image_ms']:.1f} | "
                     f"{e['api_run_image_ms']:.1f} | {e['python_startup_ms']:.1f} |")
    if "libsubst_run_program_ms" in res["end_to_end"]["hello"]:
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
    ap.add_argument("--runs", type=int, default=21, help="runs per timing (median)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    res = measure(args.runs)
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report(res))


if __name__ == "__main__":
    main()
