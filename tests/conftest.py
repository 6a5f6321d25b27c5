"""Shared helpers: run a command natively and under libsubst, compare."""

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

LIBSUBST = [sys.executable, "-m", "libsubst"]

# Marks the processes of this test run: every guest started with the
# runner's environment (or one derived from it) carries it in its host
# process's environment.  Set at import, before any test starts a guest.
RUN_MARK = "LIBSUBST_TEST_RUN"
os.environ[RUN_MARK] = f"{os.getpid()}-{uuid.uuid4().hex}"


def pytest_collection_modifyitems(config, items):
    # The whole of a long suite (a corpus, a foreign test suite) runs on request; its fast
    # subset stays in the default run, which CI makes.
    if os.environ.get("LIBSUBST_LONG_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="long test: set LIBSUBST_LONG_TESTS=1 to run it")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


# The guests below say ready, then wait in select on their signals' wakeup
# fd, never in time.sleep: a signal that lands after sleep's last check for
# handlers and before its clock_nanosleep runs no handler until the sleep is
# over (natively too: 1 run in ~40 on a loaded machine), while the byte the C
# handler writes to the wakeup fd wakes select whenever it lands.
WAIT_FOR_SIGNALS = ("import os, select, signal\n"
                    "r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)\n"
                    "signal.set_wakeup_fd(w)\n"
                    "print('ready', flush=True)\n"
                    "while True:\n"
                    "    select.select([r], [], [])\n"
                    "    os.read(r, 64)\n")


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


def wait_for_guest(proc, timeout=30):
    """guest_pid of a `libsubst run` Popen, polled for (bounded) while the
    guest starts; fails if libsubst exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return guest_pid(proc.pid)
        except (ValueError, FileNotFoundError):
            if proc.poll() is not None:
                raise AssertionError(f"libsubst exited with {proc.returncode} before its guest started")
            if time.monotonic() > deadline:
                raise AssertionError(f"no guest process after {timeout} s")
            time.sleep(0.02)


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


def gone(pid, timeout=30):
    """True once pid has ended (a zombie or no process), within timeout s.
    Between the open and the read of /proc/PID/stat the process can be reaped:
    the read then answers ESRCH."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.02)
    return False


def _stat(pid):
    """(session id, start time in clock ticks) of pid, from /proc/PID/stat."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[3]), int(fields[19])   # fields 6 and 22 of proc(5)


def run_guests():
    """The pids of the guest kernel processes (libsubst-kernel) this test run
    started and that still exist: those with the run's mark in their
    environment, and, as the environment of a zombie or of a guest started
    with an environment of its own cannot say, those of the runner's session
    started after it."""
    mark = f"{RUN_MARK}={os.environ[RUN_MARK]}".encode()
    session, since = _stat(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if not os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("libsubst-kernel"):
                continue
        except OSError:   # gone, a kernel thread, or a zombie (whose exe is unreadable)
            try:
                if open(f"/proc/{pid}/comm").read().strip() != "libsubst-kernel":
                    continue
            except OSError:
                continue
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            sid, start = _stat(pid)
        except OSError:
            continue
        if mark in environ or (sid == session and start >= since):
            found.append(pid)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_guest_outlives_the_run():
    """Fails the run if a guest it started is still there at its end (after a
    bounded wait for the last ones to be reaped), and kills those."""
    yield
    deadline = time.monotonic() + 10
    while (left := run_guests()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        described = []
        for pid in left:
            try:
                argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
                described.append(f"{pid} ({b' '.join(argv).decode(errors='replace').strip()})")
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        pytest.fail(f"{len(left)} guest kernel process(es) outlived the test run: "
                    + ", ".join(described), pytrace=False)


@pytest.fixture(scope="module")
def as_nobody():
    """Runs the libsubst CLI as nobody: a copy of the package nobody can
    read, run by Debian's python3 (this one's may be root's alone)."""
    same = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2])"],
                          capture_output=True, text=True)
    if same.stdout.strip() != str(tuple(sys.version_info[:2])):
        pytest.skip("Debian's python3 is not this Python's version: the copied package won't load")
    top = tempfile.mkdtemp(prefix="libsubst-nobody-")   # pytest's tmp_path is root-only
    os.chmod(top, 0o755)
    site = os.path.join(top, "site")
    os.mkdir(site)
    for name in ("libsubst", "click", "cffi", "_cffi_backend", "capstone", "elftools", "numpy"):
        path = importlib.import_module(name).__file__
        if os.path.basename(path) == "__init__.py":
            shutil.copytree(os.path.dirname(path), os.path.join(site, name))
        else:
            shutil.copy(path, site)
    # A numpy wheel's bundled libraries lie beside the package.
    libs = os.path.join(os.path.dirname(os.path.dirname(importlib.import_module("numpy").__file__)),
                        "numpy.libs")
    if os.path.isdir(libs):
        shutil.copytree(libs, os.path.join(site, "numpy.libs"))
    home = os.path.join(top, "home")
    os.mkdir(home)
    os.chown(home, 65534, 65534)

    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    def run(*argv):
        return subprocess.run(["/usr/bin/python3", "-m", "libsubst", "run", *argv], preexec_fn=drop,
                              cwd=home, capture_output=True, timeout=300,
                              env={"HOME": home, "PYTHONPATH": site, "PATH": "/usr/bin:/bin"})
    run.home = home
    yield run
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory):
    """An XDG cache of the module's own (its substitutes made once), for
    runs that the plan cache serves (test_plan_cache.py, test_exec_state.py)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cache(cache_home):
    """(environment for the runs, the plans folder), the folder emptied."""
    plans = cache_home / "libsubst" / "plans"
    if plans.exists():
        plans.chmod(0o700)
        shutil.rmtree(plans)
    return dict(os.environ, XDG_CACHE_HOME=str(cache_home)), plans
