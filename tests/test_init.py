"""`libsubst run --init`: a small init is pid 1 of the guest's pid
namespace and the program its child (c_src/kernel/proc/init.c), as
`docker run --init` gives a container.  The reference is a native run in
a fresh pid namespace under a real init: a shell, pid 1, that waits for
the program (`unshare --pid --fork`); without --init, the program alone
as that namespace's pid 1.  tests/c/init_probe.c says what it sees."""

import glob
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import LIBSUBST, build_c, children, run_guest
from test_supervisor import (FRONTEND, counted_once, ended, exe_name, how,  # noqa: F401
                             start, still_served, wait_supervised)

PIDNS = ["unshare", "--pid", "--fork", "--mount-proc"]
UNDER_INIT = [*PIDNS, "sh", "-c", '"$0" "$@" & wait $!']     # a shell as pid 1 that waits
PATHS = pytest.mark.parametrize("path", [(), ("--no-subst",)], ids=["fast", "trap"])


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return build_c("init_probe", str(tmp_path_factory.mktemp("init")))


def native(argv, cwd, init=True):
    return subprocess.run([*(UNDER_INIT if init else PIDNS), *argv], cwd=cwd,
                          capture_output=True, timeout=120)


@PATHS
@pytest.mark.parametrize("init", [True, False], ids=["init", "no-init"])
def test_the_program_is_the_inits_child(probe, tmp_path, path, init):
    want = native([probe, "ids"], tmp_path, init)
    got = run_guest([probe, "ids"], tmp_path, opts=(*path, *(["--init"] if init else [])))
    assert want.stdout == (b"pid 2 ppid 1\n" if init else b"pid 1 ppid 0\n")
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr


@PATHS
@pytest.mark.parametrize("init", [True, False], ids=["init", "no-init"])
def test_orphans_are_reaped_by_the_init(probe, tmp_path, path, init):
    """An orphan is re-parented to pid 1, which reaps it when it ends: no
    zombie is left in /proc.  Without an init, the program is pid 1 and,
    not reaping, keeps one (as natively)."""
    want = native([probe, "orphan"], tmp_path, init)
    got = run_guest([probe, "orphan"], tmp_path, opts=(*path, *(["--init"] if init else [])))
    assert want.stdout == b"orphan's parent 1\nzombies %d\n" % (0 if init else 1)
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr


@pytest.mark.parametrize("args", [["exit", "0"], ["exit", "7"], ["die", "15"], ["die", "11"],
                                  ["die", "6"]], ids=lambda a: "-".join(a))
def test_the_status_is_the_programs(probe, tmp_path, args, how):
    """The program's exit status, or 128+N for death by signal N (the
    init, which no signal but SIGKILL can end, hands it to the relay)."""
    want = native([probe, *args], tmp_path)
    proc = start([probe, *args], tmp_path, ("--init",), how=how)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        ended(proc)
    still_served(proc, tmp_path)
    assert proc.returncode == want.returncode, err
    assert want.returncode == (int(args[1]) if args[0] == "exit" else 128 + int(args[1]))
    assert b"crashed" not in err       # a signal sent is no crash, with an init too


def test_signals_sent_to_libsubst_reach_the_program(probe, tmp_path, how):
    """SIGUSR1, SIGINT, SIGHUP and SIGTERM sent to `libsubst run --init`
    are passed on by the supervisor, the relay and the init to the program,
    which gets each as natively when sent to it."""
    sent = [signal.SIGUSR1, signal.SIGINT, signal.SIGHUP, signal.SIGTERM]

    def deliver(proc, pid):
        lines = [proc.stdout.readline()]
        for sig in sent:
            os.kill(pid() if callable(pid) else pid, sig)
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, f"no line after {sig.name}: {lines}"
            lines.append(proc.stdout.readline())
        proc.wait(timeout=60)
        return lines

    nat = subprocess.Popen([probe, "signals"], stdout=subprocess.PIPE, bufsize=0)
    proc = start([probe, "signals"], tmp_path, ("--init",), how=how, bufsize=0)
    try:
        want = deliver(nat, nat.pid)
        assert want == [b"ready\n", b"SIGUSR1\n", b"SIGINT\n", b"SIGHUP\n", b"SIGTERM\n"]
        got = deliver(proc, lambda: (wait_supervised(proc), proc.pid)[1])
        assert got == want, proc.stderr.read()
        assert proc.returncode == nat.returncode == 3
    finally:
        ended(proc)
        ended(nat)
    still_served(proc, tmp_path)


def test_a_process_groups_signal_reaches_the_program_once(tmp_path):
    """kill(-pgid) reaches the program itself (the init is in its group
    too): the init passes on only what the relay queues it, so the program
    counts each signal once, as natively."""
    counted_once(tmp_path, lambda exe: start([exe], tmp_path, ("--init",),
                                             process_group=0, bufsize=0))


def _stopped_by(pid, timeout=60):
    """waitpid(pid, WUNTRACED), polled (bounded), as the shell that ran pid
    waits for its job: the signal that stopped it."""
    deadline = time.monotonic() + timeout
    while not (got := os.waitpid(pid, os.WUNTRACED | os.WNOHANG))[0]:
        assert time.monotonic() < deadline, f"{pid} not stopped after {timeout} s"
        time.sleep(0.01)
    assert os.WIFSTOPPED(got[1]), f"{pid} ended ({got[1]:#x}) instead of stopping"
    return os.WSTOPSIG(got[1])


def _state(pid, timeout=60):
    """pid's state letter (ps's STAT) once it is T, or after timeout s."""
    deadline = time.monotonic() + timeout
    while (state := open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]) != "T":
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return state


def _stop_and_continue(proc, program, sig, group):
    """A job-control stop sig sent to proc (to its process group when group,
    as `kill -TSTP %1` does), then SIGCONT as `fg` sends it: the signal the
    shell's wait saw proc stopped by, the state of the program (its pid,
    program()) then, its output and status."""
    send = os.killpg if group else os.kill
    assert proc.stdout.readline() == b"ready\n"
    send(proc.pid, sig)
    stopped_by = _stopped_by(proc.pid)
    state = _state(program())
    send(proc.pid, signal.SIGCONT)
    out = proc.stdout.read()
    proc.wait(timeout=60)
    return stopped_by, state, out, proc.returncode


def _program(pid, init=True):
    """The program of `libsubst run` (pid): the relay's child, or with
    --init that init's child (--profile's perf is another child of
    libsubst)."""
    (relay,) = [c for c in children(pid) if exe_name(c) == "libsubst-kernel"]
    (first,) = children(relay)
    return children(first)[0] if init else first


@pytest.mark.parametrize("sig", [signal.SIGTSTP, signal.SIGTTOU], ids=lambda s: s.name)
@pytest.mark.parametrize("group", [False, True], ids=["pid", "group"])
@pytest.mark.parametrize("monitor", ["supervisor", "python"])
@pytest.mark.parametrize("init", [True, False], ids=["init", "no-init"])
def test_a_stop_stops_the_program_and_the_job(probe, tmp_path, sig, group, monitor, init):
    """A job-control stop sent to `libsubst run` (kill -TSTP of its pid, or
    of its process group) stops the program and libsubst's process, which
    the shell waits for, by that signal; SIGCONT resumes the program, which
    ends with its status: as natively, where the program is the shell's job.
    The supervisor and the relay pass the stop on (through the Python
    monitor too, which --profile keeps beside the guest); with --init the
    init passes it to the program, pid 2; without, the relay stops the
    program, pid 1, which Linux spares a stop it has no handler for, with
    SIGSTOP."""
    if monitor == "python" and shutil.which("perf") is None:
        pytest.skip("perf is not installed (--profile keeps the Python monitor)")
    opts = (*(("--init",) if init else ()),
            *(("--profile", str(tmp_path / "p.svg")) if monitor == "python" else ()))
    nat = subprocess.Popen([probe, "stops"], stdout=subprocess.PIPE, process_group=0)
    proc = start([probe, "stops"], tmp_path, opts, process_group=0)
    try:
        want = _stop_and_continue(nat, lambda: nat.pid, sig, group)
        assert want == (sig, "T", b"SIGCONT\n", 5)
        if monitor == "supervisor":
            wait_supervised(proc)
        got = _stop_and_continue(proc, lambda: _program(proc.pid, init), sig, group)
        assert got == want, proc.stderr.read()
    finally:
        ended(proc)
        ended(nat)


@pytest.mark.parametrize("init", [True, False], ids=["init", "no-init"])
def test_ctrl_z_in_a_shell_stops_the_job(probe, tmp_path, init):
    """Ctrl-Z on an interactive shell's terminal (the terminal's SIGTSTP to
    its foreground group) stops `libsubst run [--init] PROGRAM` as it stops
    the program natively: the shell says the job stopped, `fg` resumes it
    and the job's status is the program's."""
    from test_monitor import _on_a_terminal, _read_until

    def job(command):
        bash, term = _on_a_terminal(["bash", "--norc", "--noprofile", "-i"], tmp_path,
                                    env=dict(os.environ, PS1="$ "))
        try:
            os.write(term, command.encode() + b" stops\n")
            _read_until(term, rb"ready")
            os.write(term, b"\x1a")
            stopped = _read_until(term, rb"\[1\]\+ +Stopped")
            os.write(term, b"fg\n")
            resumed = _read_until(term, rb"SIGCONT")
            os.write(term, b"echo status=$?\n")
            status = _read_until(term, rb"status=\d+")
            os.write(term, b"exit\n")
            bash.wait(timeout=60)
            return stopped.split()[1], resumed, status
        finally:            # the session's every process: the shell's jobs too
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if os.getsid(int(pid)) == bash.pid:
                        os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            bash.wait()
            os.close(term)
    want = job(probe)
    assert want == (b"Stopped", b"SIGCONT", b"status=5")
    assert job(" ".join([*LIBSUBST, "run", *(["--init"] if init else []), probe])) == want


def test_the_stop_timeout_still_kills(probe, tmp_path):
    """A program that ignores SIGTERM is killed --stop-timeout after it,
    init and all (status 137, as without --init)."""
    proc = start([probe, "deaf"], tmp_path, ("--init", "--stop-timeout", "1"))
    try:
        assert proc.stdout.readline() == b"ready\n"
        wait_supervised(proc)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGKILL
        assert b"did not end within 1 s of SIGTERM: killed" in err
    finally:
        ended(proc)


def test_a_crash_is_reported_traced_and_dumped(tmp_path):
    """What is said after the guest is as without --init: the relay ends
    by the program's signal, which the init left it."""
    argv = ["/usr/bin/python3", "-c", "import ctypes; ctypes.string_at(0)"]
    native = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=120)
    got = run_guest(argv, tmp_path, opts=("--init", "--trace", "--core", str(tmp_path)))
    err = got.stderr.decode()
    assert got.returncode == 128 - native.returncode == 128 + signal.SIGSEGV
    assert "libsubst: the guest crashed: SIGSEGV (SEGV_MAPERR) at address 0x0" in err
    assert "backtrace:" in err
    assert glob.glob(str(tmp_path / "core.python3*")), err
    assert "[pid 2] " in err              # traced: the program's calls, pid 2


def test_the_plan_cache_keys_on_init(probe, tmp_path):
    """The front end serves each run the plan of its own options: a run
    with --init is never served the plan of one without (or the reverse),
    by the CLI's key or the API's."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))

    def front(*opts):
        r = subprocess.run([FRONTEND, "run", *opts, probe, "ids"], cwd=tmp_path, env=env,
                           capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout
    for _ in range(2):       # the second of each is served from the first's entry
        assert front() == b"pid 1 ppid 0\n"
        assert front("--init") == b"pid 2 ppid 1\n"
    plans = [p for p in os.listdir(tmp_path / "cache" / "libsubst" / "plans")
             if not p.startswith((".", "kernel-"))]
    assert len(plans) == 2
    api = ("import libsubst, subprocess, sys\n"
           "for init in (False, True, False, True):\n"
           "    r = libsubst.run(sys.argv[1], ['ids'], init=init, stdout=subprocess.PIPE)\n"
           "    sys.stdout.buffer.write(r.stdout)\n")
    r = subprocess.run([sys.executable, "-c", api, probe], cwd=tmp_path, env=env,
                       capture_output=True, timeout=240)
    assert r.stdout == b"pid 1 ppid 0\npid 2 ppid 1\n" * 2, r.stderr


def test_pack_records_init(probe, tmp_path):
    """pack --init records it in the manifest, and the image's runs have
    the init; run --init adds one to an image packed without."""
    images = {}
    for init in (True, False):
        out = str(tmp_path / f"probe-{init}.lsi")
        subprocess.run([*LIBSUBST, "pack", *(["--init"] if init else []), "-o", out, probe,
                        "ids"], check=True, capture_output=True, timeout=300)
        images[init] = out
        shown = subprocess.run([*LIBSUBST, "inspect", "--json", out], capture_output=True,
                               timeout=120, check=True)
        assert json.loads(shown.stdout)["manifest"]["init"] is init
    assert run_guest([images[True]], tmp_path).stdout == b"pid 2 ppid 1\n"
    assert run_guest([images[False]], tmp_path).stdout == b"pid 1 ppid 0\n"
    assert run_guest([images[False]], tmp_path, opts=("--init",)).stdout == b"pid 2 ppid 1\n"


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_gdb_debugs_the_program_not_the_init(tmp_path):
    """--gdb attaches to the init's child, the program, stopped at its
    first instruction as without --init."""
    from gdbdrive import debug

    exe = build_c("gdb_hello", str(tmp_path), "-g", "-O0")
    out, rc, *_ = debug(exe, "break write", "continue", "bt", "delete", "continue",
                        cwd=tmp_path, extra=("--init",))
    assert "Breakpoint 1, " in out and "exited with code 03" in out, out
    assert rc == 3


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_profile_samples_the_program_not_the_init(tmp_path):
    """--profile samples the init's child: the program's hot loop, not the
    init's wait."""
    exe = build_c("profile_spin", str(tmp_path), "-g")
    out = tmp_path / "prof.svg"
    done = subprocess.run([*LIBSUBST, "run", "--init", "--profile", str(out), exe],
                          capture_output=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    folded = [line.rsplit(" ", 1) for line in (tmp_path / "prof.folded").read_text().splitlines()]
    total = sum(int(n) for _s, n in folded)
    hot = sum(int(n) for s, n in folded if s.split(";")[-1] == "hot_loop")
    assert total > 50 and hot / total > 0.8, folded


def test_pids_limits_the_program_not_the_init(probe, tmp_path):
    """--pids N leaves the program N processes whether or not an init runs
    beside it: with 1 it runs and cannot fork; with 3 its child and
    grandchild run too."""
    one = run_guest([probe, "orphan"], tmp_path, opts=("--init", "--pids", "1"))
    three = run_guest([probe, "orphan"], tmp_path, opts=("--init", "--pids", "3"))
    assert (one.returncode, one.stdout) == (0, b"zombies 0\n"), one.stderr
    assert (three.returncode, three.stdout) == (0, b"orphan's parent 1\nzombies 0\n"), three.stderr
