"""Run control under `libsubst run --gdb`, each session compared with the
same gdb session run natively: breakpoints hit by several threads at once,
a fork under a breakpoint, signals gdb does or does not pass, a death by a
signal, exec, and malformed packets."""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import LIBSUBST, build_c, free_port
from gdbdrive import both, debug, read_line

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


def _end(out):
    """gdb's last word on the inferior: how it exited or what killed it."""
    found = re.findall(r"\[Inferior 1 \(.*?\) (exited [^\]]*)\]|(Program terminated with signal "
                       r"\w+)", out)
    assert found, out
    return found[-1][0] or found[-1][1]


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gdbctl")
    return {"race": build_c("gdb_race", str(d), "-g", "-O0", "-pthread"),
            "fork": build_c("gdb_fork", str(d), "-g"),
            "raise": build_c("gdb_raise", str(d), "-g"),
            "handler": build_c("gdb_handler", str(d), "-g"),
            "exec": build_c("gdb_exec", str(d), "-g"), "dir": d}


def test_breakpoint_hit_by_threads_stopped_meanwhile(progs):
    # Threads that reach the breakpoint while the server stops them for
    # another's hit keep that stop (rewound); resumed mid-instruction they
    # would crash.  The main thread, met in clone's event stop, is stopped
    # anew: it went on, and waited for ever in pthread_join for a new thread
    # held in its first stop, the server for it.
    (n_out, n_stdout), (out, rc, _err, stdout) = both(
        progs["race"], ["break *hit"], ["continue"] * 40 + ["delete", "continue"],
        cwd=progs["dir"])
    assert _end(out) == _end(n_out) == "exited normally", out
    assert stdout == n_stdout and rc == 0, out
    assert out.count("Breakpoint 1, ") == n_out.count("Breakpoint 1, ") == 41, out


def test_a_forked_child_runs_on_without_the_breakpoints(progs):
    (n_out, n_stdout), (out, rc, _err, stdout) = both(
        progs["fork"], ["break work"], ["continue"], cwd=progs["dir"])
    assert stdout == n_stdout == "child: exit 42\n", out
    assert _end(out) == _end(n_out) == "exited with code 02" and rc == 2, out


def test_a_signal_gdb_does_not_pass_is_not_delivered(progs):
    (n_out, n_stdout), (out, rc, _err, stdout) = both(
        progs["raise"], ["handle SIGUSR1 nopass"], ["continue"], cwd=progs["dir"])
    assert "received signal SIGUSR1" in out, out
    assert stdout == n_stdout == "survived\n", out
    assert _end(out) == _end(n_out) == "exited normally" and rc == 0, out


def test_signal_0_discards_the_signal(progs):
    (n_out, n_stdout), (out, rc, _err, stdout) = both(
        progs["raise"], [], ["signal 0"], cwd=progs["dir"])
    assert stdout == n_stdout == "survived\n", out
    assert _end(out) == _end(n_out) == "exited normally" and rc == 0, out


def test_backtrace_from_a_handler_of_a_raised_signal(progs):
    # The handler is shown raise's site and stack (signal/view.c), so gdb
    # unwinds through the signal frame into the program, as natively.
    (n_out, _), (out, rc, _err, _) = both(
        progs["handler"], ["handle SIGUSR1 nostop noprint pass", "break handler"],
        ["bt", "continue"], cwd=progs["dir"])
    frames = [re.findall(r"^#\d+\s+(?:0x\w+ in )?(\S+|<signal handler called>)", o, re.M)
              for o in (n_out, out)]
    assert frames[0][:2] == ["handler", "<signal"] and frames[0][-1] == "main", n_out
    assert frames[1] == frames[0], out
    assert _end(out) == _end(n_out) == "exited normally" and rc == 0, out


def test_death_by_a_signal_is_reported_as_such(progs):
    (n_out, n_stdout), (out, rc, _err, stdout) = both(
        progs["raise"], [], ["continue"], cwd=progs["dir"])
    assert "Remote connection closed" not in out, out + _err
    assert _end(out) == _end(n_out) == "Program terminated with signal SIGUSR1", out
    assert stdout == n_stdout == "" and rc == 128 + 10, out


def test_exec_says_so_and_ends_the_session(progs):
    out, rc, err, _stdout = debug(progs["exec"], "continue", cwd=progs["dir"])
    assert "the program exec'd another; gdb is detached" in out, out
    assert "Remote connection closed" not in out, out
    assert _end(out) == "exited normally" and rc == 0, out
    assert "execve" in err, err


def _packet(text):
    data = text.encode()
    return b"$" + data + b"#" + b"%02x" % (sum(data) & 0xFF)


def _reply(conn):
    buf = b""
    while not re.search(rb"\$([^#]*)#..", buf):
        chunk = conn.recv(4096)
        assert chunk, buf
        buf += chunk
    conn.sendall(b"+")
    return re.search(rb"\$([^#]*)#..", buf).group(1).decode()


def test_malformed_packets_get_an_error_reply(progs):
    # Bad hex, an unreadable address, a missing field: E replies, and the
    # server goes on serving (it reads the registers after them).
    port = free_port()
    guest = subprocess.Popen([*LIBSUBST, "run", "--gdb", f"127.0.0.1:{port}", progs["raise"]],
                             cwd=progs["dir"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert "connect with" in read_line(guest.stderr)
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            for bad in ("mzz,4", "Z0,1", "Pzz=00", "Hg" + "q" * 3, "T"):
                conn.sendall(_packet(bad))
                assert _reply(conn).startswith("E"), bad
            conn.sendall(_packet("g"))
            assert re.fullmatch(r"[0-9a-f]{100,}", _reply(conn))
            conn.sendall(_packet("vKill;1"))
            assert _reply(conn) == "OK"
        assert guest.wait(timeout=60) != 0
        err = guest.stderr.read().decode()
        assert "Traceback" not in err, err
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()


def test_gdb_refuses_a_packed_image(progs, tmp_path):
    image = tmp_path / "raise.lsi"
    subprocess.run([*LIBSUBST, "pack", progs["raise"], "-o", str(image)], check=True,
                   capture_output=True, timeout=300)
    done = subprocess.run([*LIBSUBST, "run", "--gdb", f"127.0.0.1:{free_port()}", str(image)],
                          capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode != 0 and err.startswith("libsubst: ") and "packed image" in err, err
    assert len(err.splitlines()) == 1, err


def test_attach_refuses_a_packed_image_guest(progs, tmp_path):
    from conftest import guest_pid

    loop = build_c("gdb_loop", str(tmp_path), "-g", "-O0")
    image = tmp_path / "loop.lsi"
    subprocess.run([*LIBSUBST, "pack", loop, "-o", str(image)], check=True,
                   capture_output=True, timeout=300)
    guest = subprocess.Popen([*LIBSUBST, "run", str(image)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                first = guest_pid(guest.pid)
                break
            except (ValueError, OSError):
                assert time.monotonic() < deadline, "the guest never started"
                time.sleep(0.05)
        done = subprocess.run([*LIBSUBST, "attach", "--gdb", f"127.0.0.1:{free_port()}",
                               str(guest.pid)], capture_output=True, timeout=60)
        err = done.stderr.decode()
        assert done.returncode != 0 and err.startswith("libsubst: ") and "packed image" in err
        assert len(err.splitlines()) == 1, err
        assert guest.poll() is None and os.path.exists(f"/proc/{first}"), \
            "the guest goes on, untouched"
    finally:
        guest.kill()
        guest.wait()
