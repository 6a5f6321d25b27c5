"""The fastcall entry keeps the syscall ABI, and substituted programs make
their libc's calls as fastcalls."""

import os
import subprocess

import pytest

from conftest import assert_same, run_guest, run_native

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def regs_probe(tmp_path_factory):
    exe = tmp_path_factory.mktemp("probe") / "fastcall_regs"
    subprocess.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "c", "fastcall_regs.c")], check=True)
    return exe


@pytest.mark.parametrize("opts,fast,trap", [
    # The probe makes getppid through `call *%gs:0`, through a raw `syscall`
    # and through libc.  Without substitution only the first is a fastcall;
    # with it the probe's own `syscall` is rewritten too, and every register
    # must survive the rewritten site's stub as well.
    (["--no-subst"], 1, 2),
    ([], 3, 0),
])
def test_entry_keeps_registers_and_flags(regs_probe, tmp_path, opts, fast, trap):
    trace = tmp_path / "trace"
    r = run_guest([*opts, "--trace-file", str(trace), str(regs_probe)], tmp_path)
    assert r.stdout.decode().endswith("all registers kept\n"), r.stdout.decode()
    assert r.returncode == 0
    lines = trace.read_text().splitlines()
    assert sum(1 for l in lines if l.startswith("fast getppid(")) == fast
    assert sum(1 for l in lines if l.startswith("trap getppid(")) == trap
    assert any(l.startswith('fast write(1, "written through the probe') for l in lines)
