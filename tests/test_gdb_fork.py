"""Forks under gdb through `libsubst run --gdb` (the remote protocol's
fork-events): `catch fork`, gdb's default detach-on-fork, and
`set follow-fork-mode child`, with a C program that forks and with
/bin/sh running a pipeline, each compared with the same gdb session run
natively; detach-on-fork off, which the server does not offer, ends in an
error, not a hang."""

import re
import shutil

import pytest

from conftest import build_c
from gdbdrive import debug, native

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

SH = ("/bin/sh", "-c", "echo hi | tr a-z A-Z")
TR = ("--add", "/usr/bin/tr")


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gdbfork")
    return {"fork": build_c("gdb_fork", str(d), "-g", "-O0"), "dir": d}


def _events(out):
    """What gdb said of forks, stops and the end, pids and addresses left out."""
    pattern = (r"^(Catchpoint \d+ \(forked process) \d+\), (\S+)|"
               r"^\[(Detaching after fork from (?:child|parent) process) \d+\]|"
               r"^\[(Attaching after) .* fork to child .*\]|"
               r"^(?:Thread \S+ \"[^\"]*\" hit )?(Breakpoint \d+), (\S+ \(.*\))|"
               r"^\[(Inferior \d+) \(process \d+\) (exited .*|detached)\]")
    return [tuple(g for g in m.groups() if g) for m in re.finditer(pattern, out, re.M)]


def _frames(out):
    return re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", out, re.M)


def test_catch_fork_stops_where_the_fork_returns_and_detaches_the_child(progs):
    setup = ["catch fork", "break work"]
    after = ["bt", "continue", "bt", "continue"]
    n_out, n_stdout = native(progs["fork"], setup, after, cwd=progs["dir"])
    out, rc, err, stdout = debug(progs["fork"], *setup, "continue", *after, cwd=progs["dir"])
    assert _events(n_out)[:3] == [("Catchpoint 1 (forked process", "arch_fork"),
                                  ("Detaching after fork from child process",),
                                  ("Breakpoint 2", "work (n=1)")], n_out
    assert _events(out) == _events(n_out), out
    assert _frames(out) == _frames(n_out), out
    assert stdout == n_stdout == "child: exit 42\n" and rc == 2, out + err


def test_follow_fork_mode_child(progs):
    # gdb follows the child to its breakpoint; the parent goes on detached,
    # waits for it and prints its status, as natively.
    setup = ["set follow-fork-mode child", "break work"]
    after = ["bt", "continue"]
    n_out, n_stdout = native(progs["fork"], setup, after, cwd=progs["dir"])
    out, rc, err, stdout = debug(progs["fork"], *setup, "continue", *after, cwd=progs["dir"])
    assert ("Breakpoint 1", "work (n=41)") in _events(n_out), n_out
    assert ("Inferior 2", "exited with code 052") in _events(n_out), n_out
    assert _events(out) == _events(n_out), out
    assert _frames(out) == _frames(n_out) == ["work", "main"], out
    assert stdout == n_stdout == "child: exit 42\n" and rc == 2, out + err


@pytest.mark.parametrize("mode", ["parent", "child"])
def test_a_shell_pipeline_under_catch_fork(progs, mode):
    setup = ["catch fork", f"set follow-fork-mode {mode}"]
    after = ["continue"] * 3
    n_out, n_stdout = native("/bin/sh", setup, after, cwd=progs["dir"], args=SH[1:])
    out, rc, err, stdout = debug("/bin/sh", *setup, "continue", *after, cwd=progs["dir"],
                                 extra=TR, args=SH[1:])
    assert _events(n_out)[0] == ("Catchpoint 1 (forked process", "arch_fork"), n_out
    assert _events(out) == _events(n_out), out
    assert stdout == n_stdout == "HI\n" and rc == 0, out + err


def test_detach_on_fork_off_is_an_error_not_a_hang(progs):
    # The server follows one process: gdb cannot reach the child it would
    # keep, says so, and the child runs on.
    out, rc, err, stdout = debug(progs["fork"], "set detach-on-fork off", "break work",
                                 "continue", "continue", cwd=progs["dir"])
    assert "Cannot insert breakpoint 1" in out, out
    assert "Traceback" not in err, err
