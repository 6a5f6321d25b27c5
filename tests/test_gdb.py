"""libsubst run --gdb against Debian's gdb in batch mode: the program's and
its libraries' symbols at their load addresses, breakpoints, stepping over
a fastcall, threads, watchpoints, signals and the exit status."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import LIBSUBST, build_c, free_port
from gdbdrive import debug, read_line

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gdb")
    return {"hello": build_c("gdb_hello", str(d), "-g", "-O0"),
            "threads": build_c("gdb_threads", str(d), "-g", "-O0", "-pthread"), "dir": d}


def test_breakpoint_in_libc_backtrace_through_main_and_exit_status(progs):
    out, rc, *_ = debug(progs["hello"], "break write", "continue", "bt", "delete", "continue",
                       cwd=progs["dir"])
    # gdb starts at ld.so's first instruction, as natively under gdbserver.
    assert re.search(r"in _start \(\) from /lib64/ld-linux-x86-64.so.2", out), out
    assert re.search(r"Breakpoint 1, (__GI___libc_write|write) \(fd=1", out), out
    assert re.search(r"#1\s+0x[0-9a-f]+ in main \(\) at .*gdb_hello.c:13", out), out
    assert "exited with code 03" in out, out
    assert rc == 3


def test_libraries_and_the_kernel_at_their_load_addresses(progs):
    out, rc, *_ = debug(progs["hello"], "break work", "continue", "info sharedlibrary",
                       "info symbol ls_fastcall_entry", "delete", "continue", cwd=progs["dir"])
    libs = {m.group(2): m.group(1) for m in
            re.finditer(r"^(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+Yes\s+(\S+)$", out, re.M)}
    assert "/lib/x86_64-linux-gnu/libc.so.6" in libs, out
    assert "/lib64/ld-linux-x86-64.so.2" in libs, out
    assert any(p.endswith("/libsubst-kernel") for p in libs), out
    assert re.search(r"ls_fastcall_entry in section \.text of .*libsubst-kernel", out), out
    assert "Breakpoint 1, work (n=10)" in out and rc == 3


def test_stepping_over_a_rewritten_syscall_site(progs):
    # Step instruction by instruction through write(): the site's jmp into
    # its stub steps over the whole call, as a syscall instruction does.
    cmds = ["break write", "continue"]
    cmds += ["stepi", "printf \"pc %#lx rax %ld\\n\", $pc, $rax"] * 4
    cmds += ["delete", "continue"]
    out, rc, *_ = debug(progs["hello"], *cmds, cwd=progs["dir"])
    steps = [(int(pc, 16), int(rax)) for pc, rax in re.findall(r"pc (0x[0-9a-f]+) rax (-?\d+)", out)]
    assert len(steps) == 4, out
    # The call's result (6 bytes written) appears after one step, and every
    # step stays in libc's write (never in a stub or the kernel).
    assert any(rax == 6 for _pc, rax in steps), out
    assert all(abs(pc - steps[0][0]) < 0x100 for pc, _ in steps), out
    assert rc == 3


def test_threads_watchpoint_and_a_signal(progs):
    out, rc, *_ = debug(progs["threads"], "break gdb_threads.c:23", "continue", "info threads",
                       "delete", "watch watched", "continue", "delete", "continue", "continue",
                       cwd=progs["dir"])
    assert len(re.findall(r"^\*?\s+\d+\s+Thread \d+", out, re.M)) == 3, out
    assert re.search(r"Hardware watchpoint 2: watched\s+Old value = 0\s+New value = 42", out), out
    assert "received signal SIGUSR1" in out, out
    assert rc == 128 + 10


def test_hardware_breakpoint(progs):
    out, rc, *_ = debug(progs["hello"], "hbreak work", "continue", "info registers rip", "delete",
                       "continue", cwd=progs["dir"])
    assert "Hardware assisted breakpoint 1" in out and "work (n=10)" in out, out
    assert rc == 3


def test_gdb_refuses_other_addresses_and_bad_ports(progs):
    for spec, words in (("0.0.0.0:1234", "not a loopback"), ("nope", "expected [HOST:]PORT"),
                        ("127.0.0.1:99999", "expected [HOST:]PORT")):
        done = subprocess.run([*LIBSUBST, "run", "--gdb", spec, progs["hello"]],
                              capture_output=True, timeout=60)
        err = done.stderr.decode()
        assert done.returncode != 0 and err.startswith("libsubst: ") and words in err, err
        assert len(err.splitlines()) == 1, err


def test_attach_to_a_running_guest_and_detach(progs, tmp_path):
    import time
    from conftest import guest_pid

    loop = build_c("gdb_loop", str(progs["dir"]), "-g", "-O0")
    guest = subprocess.Popen([*LIBSUBST, "run", loop], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    attacher = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                guest_pid(guest.pid)
                break
            except (ValueError, OSError):
                assert time.monotonic() < deadline, "the guest never started"
                time.sleep(0.05)
        port = free_port()
        attacher = subprocess.Popen([*LIBSUBST, "attach", "--gdb", f"127.0.0.1:{port}",
                                     str(guest.pid)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        line = read_line(attacher.stderr)
        assert "is stopped; connect with" in line and "gdb_loop" in line, line
        out = subprocess.run(["gdb", "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{port}",
                              "-ex", "break tick", "-ex", "continue", "-ex", "bt",
                              "-ex", "delete", "-ex", "detach", loop],
                             capture_output=True, timeout=120).stdout.decode()
        assert "Breakpoint 1, tick () at" in out, out
        assert re.search(r"#1\s+0x[0-9a-f]+ in main \(\) at .*gdb_loop.c", out), out
        assert "detached" in out, out
        assert attacher.wait(timeout=30) == 0
        time.sleep(0.2)
        assert guest.poll() is None, "the guest must go on after gdb detaches"
    finally:
        for p in (attacher, guest):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_attach_refuses_what_is_not_a_guest():
    done = subprocess.run([*LIBSUBST, "attach", "--gdb", f"127.0.0.1:{free_port()}",
                           str(os.getpid())], capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode != 0 and err.startswith("libsubst: ") and "not a libsubst guest" in err
