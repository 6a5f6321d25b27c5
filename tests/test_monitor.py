"""The monitor (`libsubst run`, host side): signals sent to it reach the
guest, one list of them for every forwarder; a guest that does not stop is
ended, and none outlives a killed monitor; nothing the guest writes to its
report channel makes the monitor open a file or grow without bound."""

import ctypes
import fcntl
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import time

import pytest

from conftest import LIBSUBST, WAIT_FOR_SIGNALS, build_c, children, gone, guest_pid
from libsubst.monitor.signals import FORWARDED

PYTHON = "/usr/bin/python3"

# Handlers write with os.write: a print there could find stdout's buffer
# locked by the print they interrupted (Python's "reentrant call" error).
HANDLERS = ("import os, signal, sys\n"
            "def on(n, _f):\n"
            "    os.write(1, b'got ' + signal.Signals(n).name.encode() + b'\\n')\n"
            "    sys.exit(3)\n"
            "for s in {sigs}:\n"
            "    signal.signal(s, on)\n") + WAIT_FOR_SIGNALS


def read_line(f, timeout=60):
    ready, _, _ = select.select([f], [], [], timeout)
    assert ready, f"no line within {timeout} s"
    return f.readline()


def expect_term(proc):
    """The guest's TERM line; a failure says how libsubst ended instead."""
    line = read_line(proc.stdout)
    if line != b"TERM\n":
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            err = b"(still running)"
        pytest.fail(f"{line!r} instead of TERM: status {proc.returncode}, stderr {err!r}")


def start(argv, cwd, **kw):
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def end(proc):
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_the_forwarded_signals_include_the_interactive_ones():
    assert {signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP} <= set(FORWARDED)


@pytest.mark.parametrize("sig", FORWARDED, ids=lambda s: s.name)
def test_each_forwarded_signal_reaches_a_guest_handler(tmp_path, sig):
    code = HANDLERS.format(sigs=[int(sig)])
    native = start([PYTHON, "-c", code], tmp_path)
    guest = start([*LIBSUBST, "run", PYTHON, "-c", code], tmp_path)
    try:
        for p in (native, guest):
            assert read_line(p.stdout) == b"ready\n"
            os.kill(p.pid, sig)
        results = [(p.communicate(timeout=60), p.returncode) for p in (native, guest)]
        assert results[0] == results[1]
        assert results[1][0][0] == f"got {sig.name}\n".encode()
    finally:
        end(native)
        end(guest)


FRONTEND = os.path.join(os.path.dirname(sys.executable), "libsubst")


def _ignoring(sig):
    """A preexec hook: the child starts with sig ignored, as under nohup
    (SIGHUP) or as a non-interactive shell's background job (SIGINT,
    SIGQUIT)."""
    return lambda: signal.signal(sig, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT],
                         ids=lambda s: s.name)
def test_a_signal_the_caller_ignores_stays_ignored_in_the_guest(tmp_path, sig):
    """SIG_IGN is inherited across exec: the guest's program starts with it,
    whether libsubst plans the run (the first, from the Python CLI) or its
    front end serves the cached plan (the second)."""
    argv = ["/bin/sh", "-c", f"kill -{sig.name[3:]} $$; echo alive"]
    native = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=60,
                            preexec_fn=_ignoring(sig))
    assert (native.returncode, native.stdout) == (0, b"alive\n")
    for _ in range(2):
        guest = subprocess.run([FRONTEND, "run", *argv], cwd=tmp_path, capture_output=True,
                               timeout=120, preexec_fn=_ignoring(sig))
        assert (guest.returncode, guest.stdout, guest.stderr) == (0, b"alive\n", b"")


def test_the_guest_starts_with_the_callers_signal_mask(tmp_path):
    """No signal is blocked in the guest that the caller did not block, on
    a run that plans and one the front end serves from the cache (whose
    mask of forwarded signals, built in an int, once blocked SIGRTMIN and
    six more real-time signals in the guest)."""
    argv = ["/bin/grep", "^SigBlk", "/proc/self/status"]
    native = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=60)
    assert native.returncode == 0
    for _ in range(2):
        guest = subprocess.run([FRONTEND, "run", *argv], cwd=tmp_path, capture_output=True,
                               timeout=120)
        assert (guest.returncode, guest.stdout) == (0, native.stdout)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT],
                         ids=lambda s: s.name)
def test_a_signal_the_caller_ignores_reaches_a_guest_handler(tmp_path, sig):
    """A program that handles a signal its caller ignored gets it (the
    monitor once set SIG_IGN back once the guest had started, which dropped
    one already pending for the guest: a lost signal, in most runs)."""
    code = HANDLERS.format(sigs=[int(sig)])
    procs = [subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=_ignoring(sig))
             for argv in ([PYTHON, "-c", code], [*LIBSUBST, "run", PYTHON, "-c", code])]
    try:
        for p in procs:
            assert read_line(p.stdout) == b"ready\n"
            os.kill(p.pid, sig)
        for p in procs:
            assert (p.communicate(timeout=60), p.returncode) == \
                ((f"got {sig.name}\n".encode(), b""), 3)
    finally:
        for p in procs:
            end(p)


COUNT_SIGINT = ("import os, signal, sys\n"
                "n = 0\n"
                "def on_int(_n, _f):\n"
                "    global n\n"
                "    n += 1\n"
                "    os.write(1, b'SIGINT\\n')\n"
                "def on_usr1(_n, _f):\n"
                "    os.write(1, b'SIGINT x %d\\n' % n)\n"
                "    sys.exit(0)\n"
                "signal.signal(signal.SIGINT, on_int)\n"
                "signal.signal(signal.SIGUSR1, on_usr1)\n") + WAIT_FOR_SIGNALS


def _on_a_terminal(argv, cwd, env=None):
    """argv on a new pseudo-terminal of its own, in its foreground process
    group; (process, master fd)."""
    master, slave = os.openpty()

    def take_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, preexec_fn=take_terminal)
    os.close(slave)
    return proc, master


def _read_until(master, pattern, timeout=60):
    """Reads the terminal until pattern (a bytes regex) matches; the match."""
    out, deadline = b"", time.monotonic() + timeout
    while not (m := re.search(pattern, out)):
        ready, _, _ = select.select([master], [], [], max(0, deadline - time.monotonic()))
        assert ready, f"{pattern!r} not seen in {out!r}"
        out += os.read(master, 4096)
    return m.group(0)


def test_a_terminal_signal_reaches_the_guest_once(tmp_path):
    """^C goes to the terminal's whole foreground group, the guest included:
    the monitor, the supervisor and the relay must not pass it on a second
    time.  SIGUSR1, sent after, takes the forwarders' path: any second
    SIGINT would come before it.  The native front end's runs too: the first
    plans (Python), the second is served from the plan cache."""
    counts = []
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    plans = tmp_path / "cache" / "libsubst" / "plans"
    front = [os.path.join(os.path.dirname(sys.executable), "libsubst"), "run", PYTHON, "-c",
             COUNT_SIGINT]
    served = None
    for argv in ([PYTHON, "-c", COUNT_SIGINT], [*LIBSUBST, "run", PYTHON, "-c", COUNT_SIGINT],
                 front, front):
        if argv is front and served is None and plans.exists():
            served = {p.name: p.stat().st_ino for p in plans.iterdir()}
        proc, master = _on_a_terminal(argv, tmp_path, env)
        try:
            _read_until(master, b"ready")
            os.write(master, b"\x03")
            _read_until(master, b"SIGINT\r\n")
            os.kill(proc.pid, signal.SIGUSR1)
            counts.append(_read_until(master, rb"SIGINT x \d+"))
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
    assert counts == [b"SIGINT x 1"] * 4
    assert served and {p.name: p.stat().st_ino for p in plans.iterdir()} == served


# os.write, not print: CPython's flush runs handlers after each write with
# stdout's buffer held, so a SIGTERM landing as 'ready' is written made the
# handler's print fail ("reentrant call"), natively as in the guest.
IGNORES_SIGTERM = ("import os, signal\n"
                   "signal.signal(signal.SIGTERM, lambda *a: os.write(1, b'TERM\\n'))\n"
                   ) + WAIT_FOR_SIGNALS


def test_a_guest_that_ignores_sigterm_is_killed_after_the_stop_timeout(tmp_path):
    proc = start([*LIBSUBST, "run", "--stop-timeout", "1", PYTHON, "-c", IGNORES_SIGTERM],
                 tmp_path)
    try:
        assert read_line(proc.stdout) == b"ready\n"
        first = guest_pid(proc.pid)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        expect_term(proc)                                # forwarded first
        out, err = proc.communicate(timeout=60)
        assert time.monotonic() - sent >= 1.0
        assert proc.returncode == 128 + signal.SIGKILL
        assert err == b"libsubst: the guest did not end within 1 s of SIGTERM: killed\n"
        assert gone(first)
    finally:
        end(proc)


def test_a_second_sigterm_kills_the_guest_at_once(tmp_path):
    proc = start([*LIBSUBST, "run", "--stop-timeout", "600", PYTHON, "-c", IGNORES_SIGTERM],
                 tmp_path)
    try:
        assert read_line(proc.stdout) == b"ready\n"
        first = guest_pid(proc.pid)
        proc.send_signal(signal.SIGTERM)
        expect_term(proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGKILL and gone(first)
    finally:
        end(proc)


def test_sigkill_of_libsubst_leaves_no_guest_process(tmp_path):
    proc = start([*LIBSUBST, "run", "--add", "/usr/bin/sleep", "sh", "-c",
                  "sleep 600 & echo ready; wait"], tmp_path)
    try:
        assert read_line(proc.stdout) == b"ready\n"
        relay = children(proc.pid)[0]
        first = guest_pid(proc.pid)
        deadline = time.monotonic() + 30
        while not children(first) and time.monotonic() < deadline:
            time.sleep(0.02)
        (sleeper,) = children(first)
        proc.kill()
        proc.wait(timeout=60)
        assert gone(relay) and gone(first) and gone(sleeper)
    finally:
        end(proc)


def _marked(marker):
    """Pids of the processes whose host environment holds marker."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("delay", [0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0])
def test_sigkill_at_any_moment_of_the_start_leaves_no_guest(tmp_path, delay):
    """Whatever the monitor, the relay and the guest's first process are
    doing when the monitor is killed (parent-death signals set, or about to
    be), nothing of the guest is left.  The processes carry a marker in the
    host environment they inherit."""
    marker = f"LIBSUBST_TEST_MARK={os.getpid()}-{delay}".encode()
    env = dict(os.environ, LIBSUBST_TEST_MARK=marker.decode().split("=", 1)[1])
    proc = subprocess.Popen([*LIBSUBST, "run", "--add", "/usr/bin/sleep", "sh", "-c", "sleep 600"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(delay)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 30
    while (left := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert left == []


# ---- the report channel ----

IN_OPEN = 0x20


@pytest.fixture(scope="module")
def forger(tmp_path_factory):
    return build_c("report_forger", tmp_path_factory.mktemp("forger"))


def test_forged_report_records_open_no_host_file(forger, tmp_path):
    """The guest writes a crash report whose objects name a FIFO (opening
    it would block the monitor), a file of the host and /etc/shadow."""
    os.mkfifo(tmp_path / "fifo")
    shutil.copy("/bin/true", tmp_path / "canary")
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert watch >= 0
    try:
        for f in ("fifo", "canary"):
            assert libc.inotify_add_watch(watch, str(tmp_path / f).encode(), IN_OPEN) >= 0
        proc = start([*LIBSUBST, "run", "--no-subst", str(forger), "forge", "/etc/shadow",
                      str(tmp_path / "fifo"), str(tmp_path / "canary")], tmp_path)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            end(proc)
        assert proc.returncode == 0 and int(out) >= 1, err   # it found the channel
        # The forged crash was read, its objects not opened.
        report = err[err.index(b"libsubst: the guest crashed: SIGSEGV"):]
        assert b"canary" not in report and b"shadow" not in report
        with pytest.raises(BlockingIOError):
            os.read(watch, 4096)
    finally:
        os.close(watch)


MAXRSS = ("import resource, subprocess, sys\n"
          "r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
          "print(r.returncode, int(r.stdout),"
          " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n")


def test_a_flooded_report_channel_keeps_the_monitor_small(forger, tmp_path):
    """128 MiB in one endless line, then 128 MiB of records: the monitor
    (and every process it waited for) stays under 100 MiB."""
    r = subprocess.run([sys.executable, "-c", MAXRSS, *LIBSUBST, "run", "--no-subst",
                        str(forger), "flood", "128"], cwd=tmp_path, capture_output=True,
                       timeout=300)
    rc, found, max_mib = map(int, r.stdout.split())
    assert (rc, found) == (0, 1), r.stderr
    assert max_mib < 100, f"{max_mib} MiB"


def test_forged_missing_program_records_name_only_host_programs():
    """The paths the guest says its execve or stat found nothing at are
    the guest's to write: only a plain absolute path of a host program in
    a program directory is named, once per file."""
    from libsubst.monitor import report
    paths = [b"/usr/bin/head", b"/bin/head", b"/etc/shadow", b"/usr/bin/../../etc/shadow",
             b"/usr/bin/head\x1b[2J", b"/usr/share/doc", b"/usr/lib/os-release", b"relative",
             b"/usr/bin/no-such-program-xyz", b"/usr/bin/tr\x00x"]
    text = "\n".join(f"missing {p.hex()} 7" for p in paths) + "\nmissing zz 7\nmissing\n"
    rep = report.parse(text)
    assert rep.missing == paths                  # parsed as written, each once
    assert report.missing_programs(rep) == ["/usr/bin/head"]
    assert report.format_missing(report.parse(f"missing {b'/etc/shadow'.hex()} 7")) == ""


def test_only_the_last_search_is_named():
    """Of the paths processes that ended 127 looked for, those of the
    latest search (its time in the record): a subshell's, after the
    shell's own earlier one; a shell's, after a child's it went on from."""
    from libsubst.monitor import report
    first = [b"/usr/bin/tr", b"/bin/tr"]
    last = [b"/usr/local/bin/head", b"/usr/bin/head"]
    for order in (first + last, last + first):
        text = "\n".join(f"missing {p.hex()} {20 if p in last else 10}" for p in order)
        assert report.parse(text).missing == last
        assert report.missing_programs(report.parse(text)) == ["/usr/bin/head"]


def test_a_flood_of_forged_missing_records_is_parsed_in_linear_time():
    """A report channel's worth (LS_REPORT_MAX_BYTES) of distinct forged
    'missing' records: each kept once, in order, without comparing each
    with every other (a list's `in` took 40 s for these 78 000)."""
    from libsubst.monitor import report
    budget, paths = report.header_constant("LS_REPORT_MAX_BYTES"), []
    while budget > 0:
        paths.append(len(paths).to_bytes(3, "big"))
        budget -= len(f"missing {paths[-1].hex()} 7\n")
    text = "\n".join(f"missing {p.hex()} 7" for p in paths + paths[:1000])
    started = time.monotonic()
    rep = report.parse(text)
    assert time.monotonic() - started < 5
    assert rep.missing == paths
