"""Helpers of the daemon tests (test_daemons.py, test_web_daemons.py,
test_net_programs.py, test_mail_and_proxies.py): a server started natively
or as a guest and always ended, a directory a server that dropped root can
read, a client's answer, a native backend."""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

from conftest import LIBSUBST, free_port, wait_for_port


@contextmanager
def daemon(argv, port, cwd, guest, opts=(), stderr=None):
    """argv started natively or as a guest and waited for on port (a
    number, or the path of a Unix socket); on the way out SIGTERM (SIGKILL
    if it outlives 60 s).  Yields the Popen; its
    exit status is its returncode afterwards.  stderr: a file to write it
    to (to poll), else a pipe."""
    cmd = [*LIBSUBST, "run", *opts, *argv] if guest else argv
    # A session of its own, as a service manager starts a server: Apache's
    # prefork ends by signalling its whole process group.
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=stderr or subprocess.PIPE, start_new_session=True)
    try:
        if isinstance(port, int):
            wait_for_port(port, proc, timeout=120)
        else:
            wait_for_socket(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=60)


@contextmanager
def open_dir(side):
    """A directory below /tmp that a server which dropped root (to nobody)
    can read, unlike pytest's; removed on the way out.  A guest gets it as
    a volume at the same path."""
    d = tempfile.mkdtemp(prefix=f"libsubst-daemons-{side}-")
    try:
        os.chmod(d, 0o755)
        yield pathlib.Path(d)
    finally:
        shutil.rmtree(d)


def client(argv, **kw):
    r = subprocess.run(argv, capture_output=True, timeout=120, **kw)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def curl(url):
    return client(["curl", "-s", "-w", " %{http_code}\\n", url])


def wait_for_log(path, needle, count, proc):
    """Polls (bounded) until path holds needle count times."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if path.read_text().count(needle) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{needle} x{count} not in {path}: {path.read_text()}")


def wait_for_socket(path, proc):
    """Polls (bounded) until a Unix socket at path accepts a connection."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(path))
                return
            except OSError:
                time.sleep(0.05)
    raise AssertionError(f"{path} never accepted (status {proc.returncode})")


def status(rc):
    """A death by signal N as 128+N, as `libsubst run` reports its guest's."""
    return 128 - rc if rc < 0 else rc


def stop(proc):
    """SIGTERM, then the server's exit status and stderr."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return status(proc.returncode), (err or b"").decode(errors="replace")


@contextmanager
def backend(d):
    """A native python http.server on loopback serving d/www (index.txt)."""
    (d / "www").mkdir()
    (d / "www" / "index.txt").write_text("from the backend\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port),
                             "-d", str(d / "www")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=60)
