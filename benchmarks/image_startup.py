"""Start-up of packed images, timed (the images benchmark's timing half,
benchmarks/images.py): spawn -> main of hello world and spawn -> ready of
redis-server, guest against native, and whole runs end to end.  Each timing
alternates its configurations (benchmarks/rounds.py) and checks every run's
exit status and output; see images.py for what each number means."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from .rounds import alternate, check, median, spread


def _ms(ns):
    return ns / 1e6


def guest_boot(img, args=None, **io):
    """Boot an image's plan as the benchmarks do: (Completed, ns just before run_spec)."""
    from libsubst.monitor.guest import run_spec
    from libsubst.planner import kernel_executable, plan_image

    spec = plan_image(img, args)
    kernel, kfd, tmp = kernel_executable(img.kernel)
    try:
        t0 = time.monotonic_ns()
        return run_spec(spec, kernel=kernel, pass_fds=(kfd,) if kfd >= 0 else (), **io), t0
    finally:
        os.close(kfd) if kfd >= 0 else os.unlink(tmp)


def _main_ns(out: bytes, who: str) -> int:
    """The monotonic ns hello printed at the top of main."""
    words = out.split()
    check(len(words) == 2 and words[0] == b"main" and words[1].isdigit(), f"{who} printed", out)
    return int(words[1])


def boot_hello(images: dict[str, str], runs: int) -> dict:
    """Spawn -> main, guest and native alternating, and the guest's kernel start -> main."""
    from libsubst import Image

    parts: dict[str, list[int]] = {"k2main": [], "k2ldso": []}

    def guest():
        with tempfile.TemporaryFile() as out:
            done, t0 = guest_boot(img, stdout=out)
            out.seek(0)
            t_main = _main_ns(out.read(), f"hello (image) exited {done.returncode} and")
        check(done.returncode == 0, f"hello (image) exited {done.returncode}")
        start, enter = done.report.boot
        parts["k2main"].append(t_main - start)
        parts["k2ldso"].append(enter - start)
        return t_main - t0

    def native():
        t0 = time.monotonic_ns()
        r = subprocess.run([images["_hello_bin"]], capture_output=True)
        check(r.returncode == 0, f"hello exited {r.returncode}", r.stderr)
        return _main_ns(r.stdout, "hello") - t0

    with Image.open(images["hello"]) as img:
        img.verify()
        s = alternate(runs, {"guest": guest, "native": native})
    return {"kernel_start_to_main_ms": _ms(median(parts["k2main"])),
            "kernel_start_to_ldso_ms": _ms(median(parts["k2ldso"])),
            "guest_spawn_to_main_ms": _ms(median(s["guest"])),
            "native_spawn_to_main_ms": _ms(median(s["native"])),
            "native_spread": spread(s["native"])}


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


REDIS_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]


def _redis_ready(spawn, who: str) -> int:
    """Start redis with spawn(port, stdout fd) -> (status, t0): ns from t0 to "ready"."""
    port = _free_port()
    r, w = os.pipe()
    result: dict = {}
    th = _await_ready(r, port, result)
    try:
        status, t0 = spawn(port, w)
    finally:
        th.join()
    check("ready" in result, f"{who} never got ready", result.get("error", ""))
    check(status == 0, f"{who} exited {status} after SHUTDOWN")
    return result["ready"] - t0


def boot_redis(images: dict[str, str], runs: int) -> dict:
    """Spawn -> "Ready to accept connections", guest and native alternating."""
    from libsubst import Image

    def guest_spawn(port, w):
        try:
            # The monitor forwards signals: it runs on the main thread.
            done, t0 = guest_boot(img, ["--port", str(port), *REDIS_ARGS], stdout=w)
        finally:
            os.close(w)
        return done.returncode, t0

    def native_spawn(port, w):
        t0 = time.monotonic_ns()
        proc = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), *REDIS_ARGS], stdout=w)
        os.close(w)
        return proc.wait(), t0

    with Image.open(images["redis-server"]) as img:
        img.verify()
        s = alternate(runs, {"guest": lambda: _redis_ready(guest_spawn, "redis-server (image)"),
                             "native": lambda: _redis_ready(native_spawn, "redis-server")})
    return {"guest_spawn_to_ready_ms": _ms(median(s["guest"])),
            "native_spawn_to_ready_ms": _ms(median(s["native"])),
            "native_spread": spread(s["native"])}


def end_to_end(images: dict[str, str], runs: int) -> dict:
    """Native exec, `libsubst run app.lsi`, libsubst.run(image) and a bare
    Python start, alternating, each run's output checked against native's."""
    import libsubst

    cli = [sys.executable, "-m", "libsubst", "run"]
    work = os.path.dirname(images["hello"])

    def command(argv, stdin=None):
        r = subprocess.run(argv, input=stdin or b"", capture_output=True)
        return r.returncode, r.stdout

    def inproc(image, stdin):
        with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as i:
            i.write(stdin or b"")
            i.seek(0)
            done = libsubst.run(image, stdout=o, stdin=i)
            o.seek(0)
            return done.returncode, o.read()

    def timed(run, expect, shape, who):
        t0 = time.monotonic_ns()
        status, got = run()
        ns = time.monotonic_ns() - t0
        check(status == 0 and shape(got) == expect,
              f"{who} exited {status} and printed {got[-200:]!r}, natively {expect!r}")
        return ns

    out = {}
    for name, native, stdin in (("hello", [images["_hello_bin"]], None),
                                ("python3", ["/usr/bin/python3", work + "/hello.py"], None),
                                ("sqlite3", ["/usr/bin/sqlite3", "-batch"], b"select 1;")):
        # hello prints the time of its main: only its first word is the same each run
        shape = (lambda o: o.split()[:1]) if name == "hello" else (lambda o: o)
        expect = shape(command(native, stdin)[1])
        configs = {"native": lambda: command(native, stdin),
                   "libsubst_run_image": lambda: command([*cli, images[name]], stdin),
                   "api_run_image": lambda: inproc(images[name], stdin)}
        if name == "hello":
            configs["libsubst_run_program"] = lambda: command([*cli, "--no-cwd", native[0]])
        timers = {k: (lambda f=f, k=k: timed(f, expect, shape, f"{name} ({k})"))
                  for k, f in configs.items()}
        timers["python_startup"] = lambda: timed(lambda: command([sys.executable, "-c", "pass"]),
                                                 b"", lambda o: o, "python3 -c pass")
        s = alternate(runs, timers)
        out[name] = {f"{k}_ms": _ms(median(v)) for k, v in s.items()}
        out[name]["native_spread"] = spread(s["native"])
    return out
