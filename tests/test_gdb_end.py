"""A `libsubst run --gdb` ends with its monitor: SIGTERM, SIGINT and SIGKILL
sent to `libsubst run`, before a debugger has connected and with gdb
holding the program at a breakpoint, leave no process of the run — not the
guest (a pid namespace's init in a tracing stop, which even SIGKILL does
not end while its tracer lives), not its tracer, not the relay."""

import contextlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import LIBSUBST, build_c, children, free_port, wait_for_guest
from gdbdrive import read_line

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    return build_c("gdb_loop", str(tmp_path_factory.mktemp("gdbend")), "-g", "-O0")


def _alive(pid):
    """pid is a process (or thread) that has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _tracer(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln for ln in f if ln.startswith("TracerPid:")).split()[1])


@contextlib.contextmanager
def _debugged(loop, gdb=None, after=()):
    """A `libsubst run --gdb` of loop and, with gdb's first options, a gdb
    stopped at tick's breakpoint, then running the commands after: (the
    run, its guest's first process, gdb, gdb's output so far).  Both are
    ended after."""
    port = free_port()
    run = subprocess.Popen([*LIBSUBST, "run", "--gdb", f"127.0.0.1:{port}", loop],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc, seen = None, ""
    try:
        assert "connect with" in read_line(run.stderr)
        guest = wait_for_guest(run)
        if gdb is not None:
            argv = ["gdb", *gdb, "-ex", f"target remote 127.0.0.1:{port}", "-ex", "break tick",
                    "-ex", "continue"]
            for c in after:
                argv += ["-ex", c]
            proc = subprocess.Popen([*argv, loop], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            while "Breakpoint 1, tick" not in seen:
                seen += read_line(proc.stdout)
        yield run, guest, proc, seen
    finally:
        for p in (proc, run):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.parametrize("connected", [False, True], ids=["unconnected", "at-a-breakpoint"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=lambda s: s.name)
def test_a_signal_to_the_monitor_leaves_no_process_of_the_run(loop, sig, connected):
    # An interactive gdb (its stdin open) stays at the breakpoint.
    with _debugged(loop, ["-nx", "-q", "-ex", "set confirm off"] if connected else None) as (
            run, guest, _gdb, _seen):
        (relay,) = children(run.pid)
        tracer = _tracer(guest)
        assert tracer and tracer != guest, "the guest waits for gdb, traced"
        run_pids = {run.pid, relay, guest, tracer}
        os.kill(run.pid, sig)
        status = run.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in run_pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = sorted(p for p in run_pids if _alive(p))
        assert not left, f"processes of the run left: {left}"
        # As if the guest got the signal; SIGKILL ends the monitor itself.
        assert status == (-sig if sig == signal.SIGKILL else 128 + sig), status
        if sig != signal.SIGKILL:
            assert "Traceback" not in run.stderr.read().decode()


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()[0]


def test_sigterm_while_gdb_continues_tells_gdb_how_the_program_ended(loop):
    with _debugged(loop, ["-batch", "-nx"], ["delete", "continue"]) as (run, guest, gdb, seen):
        # Resumed by the second continue: out of its tracing stop.
        deadline = time.monotonic() + 30
        while _state(guest) == "t":
            assert time.monotonic() < deadline, "gdb never resumed the program"
            time.sleep(0.02)
        run.terminate()
        assert run.wait(timeout=30) == 128 + signal.SIGTERM
        out = seen + gdb.communicate(timeout=60)[0].decode()
        assert "Program terminated with signal SIGTERM" in out, out


def test_an_exception_in_the_monitor_leaves_no_process_of_the_run(loop):
    # The API's handle owns the guest: leaving its with block by an exception
    # closes it, which must end a guest held stopped for a debugger too.
    from libsubst import api
    from libsubst.debug.protocol import listen

    class Failed(Exception):
        pass

    with pytest.raises(Failed):
        with api.Popen(loop, gdb=listen(f"127.0.0.1:{free_port()}", False),
                       stdout=subprocess.DEVNULL) as run:
            relay, deadline = run.pid, time.monotonic() + 30     # the handle's pid is the relay's
            while not children(relay):
                assert time.monotonic() < deadline, "no guest process after 30 s"
                time.sleep(0.02)
            (guest,) = children(relay)
            while not _tracer(guest):        # seized by the server's thread
                assert time.monotonic() < deadline, "the guest was never traced"
                time.sleep(0.02)
            tracer = _tracer(guest)
            raise Failed
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in (relay, guest, tracer)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in (relay, guest, tracer) if _alive(p)]
    assert run.returncode == 128 + signal.SIGKILL
