"""The README's flame graph: redis-server under libsubst run --profile while
redis-benchmark loads it (SET and GET, 50 clients, 100 000 requests each):
``python -m libsubst.benchmarks.profile_redis OUT.svg``."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from .rounds import BenchmarkError, main_command


def main(out: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "libsubst", "run", "--profile", out,
                               "redis-server", "--port", str(port), "--save", ""],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline or server.poll() is not None:
                raise BenchmarkError("redis-server did not start under libsubst")
            time.sleep(0.05)
        time.sleep(1)                      # perf is attached by now
        bench = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", "100000",
                                "-t", "set,get", "-q"], capture_output=True, timeout=300)
        if bench.returncode != 0:
            raise BenchmarkError(f"redis-benchmark failed: {bench.stderr.decode()[-200:]}")
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], timeout=30,
                       capture_output=True)
        server.wait(timeout=120)
        sys.stderr.write(server.stderr.read().decode())
        if server.returncode != 0:
            raise BenchmarkError(f"redis-server under libsubst exited {server.returncode}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.profile_redis",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="redis-profile.svg", metavar="OUT.svg")
    out = ap.parse_args().out
    main_command(lambda: main(out))
