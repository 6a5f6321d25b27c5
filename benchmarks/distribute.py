"""Push and pull times of packed images through a registry on loopback:
``python -m libsubst.benchmarks.distribute`` (needs Debian's docker-registry).

For hello world, redis-server and python3: the image's size, and the
median of 3 rounds of `push` to a fresh repository and `pull` into an
empty store (plain HTTP on loopback; each pull's image is verified, as
every pull is).  A round whose push or pull fails stops the benchmark."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from .rounds import BenchmarkError, main_command

PROGRAMS = [("hello world (echo)", ["/bin/echo", "hi"]), ("redis-server", ["/usr/bin/redis-server"]),
            ("python3", ["/usr/bin/python3"])]
ROUNDS = 3


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _libsubst(*args, env=None) -> None:
    done = subprocess.run([sys.executable, "-m", "libsubst", *args], capture_output=True, env=env,
                          timeout=600)
    if done.returncode != 0:
        raise BenchmarkError(f"libsubst {' '.join(args[:2])} failed: {done.stderr.decode()[-300:]}")


def main() -> int:
    # No option: the parser answers --help with this page's docstring and
    # refuses anything else, instead of running the benchmark.
    argparse.ArgumentParser(prog="python -m libsubst.benchmarks.distribute", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    if shutil.which("docker-registry") is None:
        raise BenchmarkError("Debian's docker-registry is not installed")
    with tempfile.TemporaryDirectory(prefix="libsubst-distribute-") as tmp:
        port = _port()
        config = os.path.join(tmp, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: "
                    f"{{rootdirectory: {tmp}/data}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n")
        reg = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                if time.monotonic() > deadline or reg.poll() is not None:
                    raise BenchmarkError("the registry did not start")
                time.sleep(0.05)
            print("| image | size | push s (median of 3) | pull s (median of 3) |")
            print("| --- | ---: | ---: | ---: |")
            for label, argv in PROGRAMS:
                image = os.path.join(tmp, "image.lsi")
                _libsubst("pack", *argv, "-o", image)
                pushes, pulls = [], []
                for r in range(ROUNDS):
                    ref = f"localhost:{port}/bench/{os.path.basename(argv[0])}{r}:1"
                    env = dict(os.environ, LIBSUBST_STORE=os.path.join(tmp, f"store{r}"))
                    t0 = time.monotonic()
                    _libsubst("push", "--insecure", image, ref, env=env)
                    t1 = time.monotonic()
                    _libsubst("pull", "--insecure", ref, env=env)
                    pulls.append(time.monotonic() - t1)
                    pushes.append(t1 - t0)
                size = os.path.getsize(image) / (1 << 20)
                print(f"| {label} | {size:.1f} MiB | {statistics.median(pushes):.2f} | "
                      f"{statistics.median(pulls):.2f} |")
        finally:
            reg.terminate()
            reg.wait()
    return 0


if __name__ == "__main__":
    main_command(main)
