"""Shared helpers: run a command natively and under libsubst, compare."""

import os
import subprocess
import sys

import pytest

LIBSUBST = [sys.executable, "-m", "libsubst"]


def run_native(argv, cwd, stdin=b"", env=None):
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, env=env, timeout=120)


def run_guest(argv, cwd, stdin=b"", opts=(), env=None):
    return subprocess.run([*LIBSUBST, "run", *opts, *argv], cwd=cwd, input=stdin,
                          capture_output=True, env=env, timeout=120)


def assert_same(native, guest):
    assert guest.stderr.decode(errors="replace") == native.stderr.decode(errors="replace")
    assert guest.stdout == native.stdout
    assert guest.returncode == native.returncode


@pytest.fixture
def work(tmp_path):
    """A working directory with a few files, the same for both runs."""
    (tmp_path / "notes.txt").write_text("alpha\nbeta\ngamma\nalpha\n" * 50)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a\n")
    (tmp_path / "sub" / "b.txt").write_text("bb\n")
    os.symlink("a.txt", tmp_path / "sub" / "link")
    return tmp_path
