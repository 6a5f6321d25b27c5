"""Helpers of the daemon tests (test_daemons.py, test_web_daemons.py): a
server started natively or as a guest and always ended, a directory a
server that dropped root can read, a client's answer."""

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager

from conftest import LIBSUBST, wait_for_port


@contextmanager
def daemon(argv, port, cwd, guest, opts=(), stderr=None):
    """argv started natively or as a guest and waited for on port; on the
    way out SIGTERM (SIGKILL if it outlives 60 s).  Yields the Popen; its
    exit status is its returncode afterwards.  stderr: a file to write it
    to (to poll), else a pipe."""
    cmd = [*LIBSUBST, "run", *opts, *argv] if guest else argv
    # A session of its own, as a service manager starts a server: Apache's
    # prefork ends by signalling its whole process group.
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=stderr or subprocess.PIPE, start_new_session=True)
    try:
        wait_for_port(port, proc, timeout=120)
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
