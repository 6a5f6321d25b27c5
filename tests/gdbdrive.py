"""Driving Debian's gdb -batch against `libsubst run --gdb`, and natively,
for tests/test_gdb*.py."""

import os
import re
import select
import shlex
import subprocess
import time

from conftest import LIBSUBST, free_port

GDB = ["gdb", "-batch", "-nx", "-ex", "set confirm off"]


def read_line(pipe, timeout=60.0) -> str:
    """One line from a pipe within timeout (read unbuffered, so the rest can
    still be read from the pipe object); fails the test when none comes."""
    fd, line = pipe.fileno(), b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, f"no line within {timeout}s: {line!r}"
        if select.select([fd], [], [], left)[0]:
            c = os.read(fd, 1)
            if not c:
                break
            line += c
    return line.decode(errors="replace")


def debug(exe, *commands, cwd, extra=(), args=()):
    """Runs exe under libsubst run --gdb and drives gdb -batch with commands;
    (gdb's output, libsubst's exit status, libsubst's stderr, the program's stdout)."""
    port = free_port()
    guest = subprocess.Popen([*LIBSUBST, "run", *extra, "--gdb", f"127.0.0.1:{port}", exe,
                              *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = read_line(guest.stderr)
        assert "connect with" in line, line + guest.stderr.read().decode()
        argv = [*GDB, "-ex", f"target remote 127.0.0.1:{port}"]
        for c in commands:
            argv += ["-ex", c]
        out = subprocess.run([*argv, exe], capture_output=True, timeout=120, cwd=cwd)
        stdout, err = guest.communicate(timeout=60)
        return (out.stdout.decode() + out.stderr.decode(), guest.returncode, err.decode(),
                stdout.decode())
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()


def as_local(out: str) -> str:
    """gdb's output with the ``target:`` prefix of the files it read through
    the server (its default sysroot for a remote target, as with gdbserver)
    taken off, to compare paths with a native run's."""
    return re.sub(r"(?<![\w/])target:(?=/)", "", out)


def native(exe, setup, after, cwd, args=()):
    """gdb running exe natively: the setup commands, ``run`` (the program's
    stdout to a file), the commands after; (gdb's output, the program's stdout)."""
    out_file = os.path.join(cwd, "native.out")
    argv = list(GDB)
    for c in [*setup, " ".join(["run", *map(shlex.quote, args), ">", out_file]), *after]:
        argv += ["-ex", c]
    out = subprocess.run([*argv, exe], capture_output=True, timeout=120, cwd=cwd)
    with open(out_file) as f:
        return out.stdout.decode() + out.stderr.decode(), f.read()


def both(exe, setup, after, cwd):
    """The same session natively and under libsubst (``continue`` for
    ``run``): ((gdb output, stdout) natively, (gdb output, rc, stderr, stdout))."""
    return native(exe, setup, after, cwd), debug(exe, *setup, "continue", *after, cwd=cwd)
