"""Shared helpers: run a command natively and under libsubst, compare."""

import os
import socket
import subprocess
import sys
import time

import pytest

LIBSUBST = [sys.executable, "-m", "libsubst"]


def run_native(argv, cwd, stdin=b"", env=None):
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, env=env, timeout=120)


def run_guest(argv, cwd, stdin=b"", opts=(), env=None):
    return subprocess.run([*LIBSUBST, "run", *opts, *argv], cwd=cwd, input=stdin,
                          capture_output=True, env=env, timeout=120)


def children(pid):
    """The pids of pid's child processes."""
    return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def guest_pid(monitor_pid):
    """The guest's first process: the child of the relay, which is the
    process a `libsubst run` (monitor_pid) starts outside the guest."""
    (relay,) = children(monitor_pid)
    (first,) = children(relay)
    return first


def build_c(name, out_dir, *flags):
    """tests/c/<name>.c compiled into out_dir; the executable's path."""
    exe = os.path.join(out_dir, name)
    subprocess.run(["gcc", "-O1", *flags, "-o", exe,
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "c", name + ".c")],
                   check=True)
    return exe


def assert_same(native, guest):
    assert guest.stderr.decode(errors="replace") == native.stderr.decode(errors="replace")
    assert guest.stdout == native.stdout
    assert guest.returncode == native.returncode


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          timeout=30).stdout.decode()


def wait_for_port(port, proc, timeout=30, skip_status=None, skip_reason=""):
    """Waits until something listens on port; fails if proc exits first
    (skips the test instead when it exits with skip_status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if skip_status is not None and proc.returncode == skip_status:
                pytest.skip(skip_reason)
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


@pytest.fixture
def work(tmp_path):
    """A working directory with a few files, the same for both runs."""
    (tmp_path / "notes.txt").write_text("alpha\nbeta\ngamma\nalpha\n" * 50)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a\n")
    (tmp_path / "sub" / "b.txt").write_text("bb\n")
    os.symlink("a.txt", tmp_path / "sub" / "link")
    return tmp_path
