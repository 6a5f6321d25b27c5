"""`libsubst run PROG` stands for exec'ing PROG: the program starts with the
caller's process state wherever execve(2) keeps it.  tests/c/exec_state.c
prints each attribute; it runs natively and under `libsubst run` from the
same configured caller, first planned by the Python CLI, then served by
the front end from the plan cache, and the lines compare.  Where the
sandbox must differ, SANDBOX says how (README, "What the program
inherits")."""

import contextlib
import ctypes
import fcntl
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import threading
import sys
import tempfile
import time

import pytest

from conftest import build_c, free_port, wait_for_port

FRONTEND = os.path.join(os.path.dirname(sys.executable), "libsubst")
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_DUMPABLE, PR_SET_TIMERSLACK = 4, 29
ADDR_NO_RANDOMIZE = 0x0040000
KFD_RESERVED = 64            # the kernel's own fds, above the guest's (c_src/kernel/kernel.h)


@pytest.fixture(scope="module")
def probe():
    """tests/c/exec_state.c, built outside /tmp (a program there is an image file)."""
    top = tempfile.mkdtemp(prefix="libsubst-exec-state-", dir="/var/tmp")
    os.chmod(top, 0o755)
    yield build_c("exec_state", top)
    shutil.rmtree(top, ignore_errors=True)


def _configure(fds, locked):
    """A preexec hook: the caller's fds ``fds`` at 3, 4, ... (``locked``'s
    copy locked), and a caller's state unlike a plain shell's in every
    attribute execve keeps (subprocess's own defaults changed too: it gives
    SIGPIPE and SIGXFSZ back their defaults, and Python ignores both)."""
    def hook():
        _at_three(fds)
        for s in (signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGUSR1, signal.SIGTTOU):
            signal.signal(s, signal.SIG_IGN)
        # a forwarded signal and a real-time one blocked, the first pending
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGRTMIN + 3})
        os.kill(os.getpid(), signal.SIGUSR2)
        signal.setitimer(signal.ITIMER_REAL, 1000.5, 2000)
        for lim, value in ((resource.RLIMIT_NOFILE, (1000, 4000)),
                           (resource.RLIMIT_CORE, (0, 1 << 20)),
                           (resource.RLIMIT_CPU, (1000, 2000)),
                           (resource.RLIMIT_FSIZE, (1 << 30, 1 << 31)),
                           (resource.RLIMIT_STACK, (4 << 20, 64 << 20))):
            resource.setrlimit(lim, value)
        os.umask(0o027)
        os.nice(3)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        os.setpgid(0, 0)
        libc.personality(ADDR_NO_RANDOMIZE)       # setarch -R
        libc.prctl(PR_SET_TIMERSLACK, 60000)
        libc.prctl(PR_SET_DUMPABLE, 0)          # reset by the execve of a readable file
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("500")
        os.setpriority(os.PRIO_PROCESS, 0, 3)
        libc.syscall(251, 1, 0, (2 << 13) | 7)  # ioprio_set: best effort, level 7
        if os.geteuid() == 0:
            os.setgroups([4, 24, 100])
        fcntl.lockf(3 + fds.index(locked), fcntl.LOCK_EX)
    return hook


def _at_three(fds):
    """In a child before its exec: fds at 3, 4, ..., inheritable, and no
    other fd above stdio (the originals, Python's, are close-on-exec; one
    the test runner inherited is closed); the copies made on the way closed
    before any lock is taken (a close drops the process's locks)."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
    for fd in high:
        os.close(fd)
    for fd in map(int, os.listdir("/proc/self/fd")):
        with contextlib.suppress(OSError):
            if fd >= 3 + len(fds) and os.get_inheritable(fd):
                os.close(fd)


ENV = {"ODD": "a\nb", "WITH SPACE": "x y", "EMPTY": "", "UTF": "\u00e9", "A-B.C": "=1="}


def _run(argv, cwd, env):
    """argv from the configured caller, with fds 3.. of odd kinds: a
    socket, an eventfd, a file opened O_APPEND and locked, a sealed memfd."""
    a, b = socket.socketpair()
    ev = os.eventfd(3)
    f = os.open(os.path.join(cwd, f"log{time.monotonic_ns()}"),
                os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(f, b"abc")
    m = os.memfd_create("probe", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    os.write(m, b"x" * 10)
    fcntl.fcntl(m, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW)
    fds = [a.fileno(), ev, f, m]
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, close_fds=False, env=env,
                              timeout=120, preexec_fn=_configure(fds, f))
    finally:
        for fd in fds[1:]:
            os.close(fd)
        a.close()
        b.close()


def _lines(out):
    return dict(line.split(": ", 1) if ": " in line else (line, "")
                for line in out.decode().splitlines() if not line.startswith("env:")), \
        [line for line in out.decode().splitlines() if line.startswith("env:")]


# What the sandbox changes, and what the program sees instead.
SANDBOX = {
    # The kernel's own fds lie above the guest's (at most 65536 in all).
    "rlimit NOFILE": lambda native: "{} {}".format(
        native.split()[0], min(int(native.split()[1]), 65536) - KFD_RESERVED),
    # The seccomp filter is installed without CAP_SYS_ADMIN over the host.
    "no_new_privs": lambda native: "1",
    # The guest's capabilities are its user namespace's, without those
    # over the host's network (namespaces.c).
    "caps": None,
    # The program's process is the guest's first, a child of libsubst's:
    # not the caller's process group's leader, nor a subreaper itself.
    "session leader": lambda native: native.replace("group leader: yes", "group leader: no"),
    "subreaper": lambda native: "0",
}
if os.geteuid() != 0:
    # An unprivileged caller's guest maps only its own ids: its other
    # groups are unmapped there (the overflow gid).
    SANDBOX["groups"] = None


def test_the_program_starts_with_the_callers_state(probe, cache, tmp_path):
    """Every attribute of exec_state.c, on both paths, as native (SANDBOX
    aside), the caller's four fds passed by --preserve-fds 4."""
    env, plans = cache
    env = dict(env, **ENV)
    native = _run([probe], str(tmp_path), env)
    assert native.returncode == 0, native.stderr
    want, want_env = _lines(native.stdout)
    assert want["pending"] == "12" and want["itimer real"].startswith("armed")
    made = None
    assert sum(line.startswith("fd ") for line in want) == 4
    for _ in range(2):                  # planned, then served by the front end
        guest = _run([FRONTEND, "run", "--preserve-fds", "4", probe], str(tmp_path), env)
        assert (guest.returncode, guest.stderr) == (0, b"")
        got, got_env = _lines(guest.stdout)
        made = _served(plans, made)
        assert got_env == want_env
        assert got.keys() == want.keys()
        for key, value in want.items():
            if key in SANDBOX:
                if SANDBOX[key] is not None:
                    assert got[key] == SANDBOX[key](value), key
            else:
                assert got[key] == value, key


def _status(done):
    """As a shell shows it, and as `libsubst run` returns it: 128+N for a
    process killed by signal N."""
    return 128 - done.returncode if done.returncode < 0 else done.returncode


def _served(plans, made):
    """The plan entries now; asserts none was remade since `made`, if
    given (a miss rewrites its entry: the run was not the front end's)."""
    now = {p.name: p.stat().st_ino for p in plans.iterdir()}
    if made is not None:
        assert now == made
    return now


def test_a_sigpipe_the_caller_ignores_stays_ignored(cache, tmp_path):
    """yes(1) writing to a pipe nobody reads: killed by SIGPIPE, or, with
    SIGPIPE ignored (which Python, the planning CLI, also does itself),
    told EPIPE: one message and status 1 (libsubst's status is 128+N for
    a program killed by signal N, README)."""
    env, plans = cache

    def yes(argv, ignore):
        r, w = os.pipe()
        os.close(r)
        try:
            return subprocess.run(argv, cwd=tmp_path, stdout=w, stderr=subprocess.PIPE, env=env,
                                  timeout=120, preexec_fn=lambda: signal.signal(
                                      signal.SIGPIPE, signal.SIG_IGN if ignore else signal.SIG_DFL))
        finally:
            os.close(w)
    for ignore in (True, False):
        native = yes(["yes"], ignore)
        assert native.returncode == (1 if ignore else -signal.SIGPIPE)
        shutil.rmtree(plans, ignore_errors=True)
        made = None
        for _ in range(2):              # planned, then served by the front end
            guest = yes([FRONTEND, "run", "yes"], ignore)
            assert (guest.returncode, guest.stderr) == (_status(native), native.stderr)
            made = _served(plans, made)


def test_an_alarm_pending_across_exec_ends_the_program(cache, tmp_path):
    """sleep(1) started with 2 s left on the caller's ITIMER_REAL (POSIX
    keeps alarm()'s time across exec) dies of SIGALRM, as natively, on both
    paths; libsubst itself is not what it ends (its timer is the program's)."""
    env, plans = cache
    made = None
    for argv in (["sleep", "20"], *[[FRONTEND, "run", "sleep", "20"]] * 2):
        start = time.monotonic()
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, env=env, timeout=120,
                              preexec_fn=lambda: signal.setitimer(signal.ITIMER_REAL, 2))
        assert (_status(done), done.stderr) == (128 + signal.SIGALRM, b"")
        assert time.monotonic() - start < 15
        if argv[0] == FRONTEND:
            made = _served(plans, made)


def test_a_shell_uses_the_fds_its_caller_gave(cache, tmp_path):
    """dash reads fd 3 and writes fd 4, a pipe of the caller's each, passed
    by --preserve-fds 2 (`sh -c ... 3<&- 4>&-`); the reader of fd 4 sees its end once dash has
    closed it, while the program still runs (libsubst keeps no copy): it
    then waits for fd 3's end, which the caller makes once it has seen that."""
    env, plans = cache
    script = "read line <&3; echo \"got $line\" >&4; exec 4>&-; read rest <&3 || :"
    made = None
    for argv in (["sh", "-c", script],
                 *[[FRONTEND, "run", "--preserve-fds", "2", "sh", "-c", script]] * 2):
        r3, w3 = os.pipe()
        r4, w4 = os.pipe()
        os.write(w3, b"hello\n")
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, close_fds=False,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=lambda: (os.dup2(r3, 3), os.dup2(w4, 4)))
        try:
            for fd in (r3, w4):
                os.close(fd)
            with os.fdopen(r4, "rb") as out:
                assert out.read() == b"got hello\n"       # the end: fd 4 closed by dash
            assert proc.poll() is None                    # before the program ended
            os.close(w3)
            w3 = None
            assert proc.communicate(timeout=60) == (b"", b"")
            assert proc.returncode == 0
        finally:
            if w3 is not None:
                os.close(w3)
            proc.kill()
            proc.wait()
        if argv[0] == FRONTEND:
            made = _served(plans, made)


@pytest.mark.parametrize("listen", [{}, {"LISTEN_FDS": "1", "LISTEN_PID": "1"}],
                         ids=["plain", "another pid's LISTEN_FDS"])
def test_no_fd_above_stdio_passes_unasked(cache, tmp_path, listen):
    """Without --preserve-fds (or socket activation) the program gets fds
    0, 1 and 2 only, as a container does: dash finds no fd 3, as natively
    when the caller's fd 3 is closed; a LISTEN_FDS meant for another
    process (LISTEN_PID not libsubst's) passes none."""
    env, _plans = cache
    env = dict(env, **listen)
    script = "cat <&3; echo $?"
    native = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, env=env,
                            timeout=60)
    assert native.stdout == b"2\n" and native.stderr
    r, w = os.pipe()
    os.write(w, b"secret\n")
    os.close(w)
    try:
        for _ in range(2):
            guest = subprocess.run([FRONTEND, "run", "sh", "-c", script], cwd=tmp_path,
                                   capture_output=True, env=env, timeout=120, close_fds=False,
                                   preexec_fn=lambda: _at_three([r]))
            assert (guest.returncode, guest.stdout, guest.stderr) == \
                (native.returncode, native.stdout, native.stderr)
    finally:
        os.close(r)


def _closed(_cwd):
    return []


def _missing_second(cwd):
    return [os.open(os.path.join(cwd, "file"), os.O_RDONLY)]


def _directory(cwd):
    return [os.open(cwd, os.O_RDONLY | os.O_DIRECTORY)]


def _path_directory(cwd):
    return [os.open("/", os.O_PATH)]


@pytest.mark.parametrize("fds, preserve, said", [
    (_closed, 1, "libsubst: fd 3 is not open (passed by --preserve-fds: fds 3 to 3)"),
    (_missing_second, 2, "libsubst: fd 4 is not open (passed by --preserve-fds: fds 3 to 4)"),
    (_directory, 1, "libsubst: fd 3 (passed by --preserve-fds) is a directory"),
    (_path_directory, 1, "libsubst: fd 3 (passed by --preserve-fds) is a directory"),
], ids=["closed", "second closed", "directory", "O_PATH directory"])
def test_a_passed_fd_that_cannot_pass_is_refused(cache, tmp_path, fds, preserve, said):
    """--preserve-fds N needs fds 3 .. 3+N-1 open, as podman's and runc's;
    a directory is refused (the guest resolves every path in its own root:
    a host directory's fd would name none of it).  One `libsubst:` line,
    status 2, the program never started, also when the front end holds the
    run's plan (made by a run whose fds could pass)."""
    env, plans = cache
    (tmp_path / "file").write_text("data\n")
    argv = [FRONTEND, "run", "--preserve-fds", str(preserve), "cat", "/dev/null"]
    ok = [os.open(tmp_path / "file", os.O_RDONLY) for _ in range(preserve)]
    try:
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, env=env, timeout=120,
                              close_fds=False, preexec_fn=lambda: _at_three(ok))
        assert (done.returncode, done.stderr) == (0, b"")
    finally:
        for fd in ok:
            os.close(fd)
    made = _served(plans, None)
    assert made
    given = fds(str(tmp_path))
    try:
        for _ in range(2):
            done = subprocess.run(argv, cwd=tmp_path, capture_output=True, env=env,
                                  timeout=120, close_fds=False,
                                  preexec_fn=lambda: _at_three(given))
            assert (done.returncode, done.stdout) == (2, b"")
            assert done.stderr.decode().startswith(said + ("\n" if "open" in said else ":"))
            assert done.stderr.count(b"\n") == 1
    finally:
        for fd in given:
            os.close(fd)


def _beanstalkd(port):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        f = s.makefile("rwb")
        f.write(b"put 0 0 60 5\r\nhello\r\npeek 1\r\n")
        f.flush()
        return [f.readline(), f.readline(), f.readline()]


def _lighttpd(port):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    return [head.split(b"\r\n")[0], body]


LIGHTTPD_CONF = """server.document-root = "{tmp}/www"
server.bind = "127.0.0.1"
server.port = {unused}
server.systemd-socket-activation = "enable"
"""


def _stop(proc):
    """Ends a server (and the guest it runs), even when the test failed."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=60)
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("opts", [[], ["--init"], ["image --init"]],
                         ids=["pid 1", "--init", "an image packed with --init"])
@pytest.mark.parametrize("server", ["beanstalkd", "lighttpd"])
def test_socket_activation_passes_the_listening_socket(cache, tmp_path, server, opts):
    """systemd-socket-activate binds a port and execs the server with the
    socket at fd 3, LISTEN_FDS=1 and LISTEN_PID its pid; under libsubst
    the socket is passed and LISTEN_PID is the program's pid in the guest
    (1, or 2 under --init), as podman does: beanstalkd and lighttpd (whose
    configured port then stays unused) serve on the activated socket, as
    natively; an image gets the LISTEN_* variables added to its own
    environment, and its recorded --init makes LISTEN_PID 2.  A
    socket-activated run is never kept in the plan cache (its LISTEN_PID
    is one run's)."""
    env, plans = cache
    (tmp_path / "l.conf").write_text(LIGHTTPD_CONF.format(tmp=tmp_path, unused=free_port()))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("served\n")
    argv = {"beanstalkd": ["beanstalkd"],
            "lighttpd": ["lighttpd", "-D", "-f", str(tmp_path / "l.conf")]}[server]
    guest = [FRONTEND, "run", *opts, *argv]
    if opts == ["image --init"]:
        image = tmp_path / "server.lsi"
        subprocess.run([FRONTEND, "pack", "--init", "--add", str(tmp_path / "l.conf"), "-o",
                        str(image), argv[0]], cwd=tmp_path, env=env, check=True,
                       capture_output=True, timeout=600)
        www = tmp_path / "www"
        guest = [FRONTEND, "run", "-v", f"{www}:{www}:ro", str(image), *argv[1:]]
    got = []
    for cmd in (argv, guest):
        port = free_port()
        proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", *cmd],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            wait_for_port(port, proc)           # systemd-socket-activate's own socket
            got.append({"beanstalkd": _beanstalkd, "lighttpd": _lighttpd}[server](port))
        finally:
            _stop(proc)
    assert got[0] in ([b"INSERTED 1\r\n", b"FOUND 1 5\r\n", b"hello\r\n"],
                      [b"HTTP/1.0 200 OK", b"served\n"])
    assert got[1] == got[0]
    assert not plans.exists() or not any(plans.iterdir())


@pytest.mark.parametrize("pid, opts", [("1", []), ("2", ["--init"])], ids=["pid 1", "--init"])
def test_another_process_s_socket_activation_is_not_the_program_s(cache, tmp_path, pid, opts):
    """LISTEN_PID and LISTEN_FDS=1 meant for another process (podman sets
    LISTEN_PID=1 in a socket-activated container, where a script may run
    `libsubst run SERVER`): beanstalkd ignores them natively and serves on
    its own port; in the guest LISTEN_PID would be its own pid (1, or 2
    under --init), so libsubst drops the LISTEN_* variables and it serves
    as natively: planned, then with the run's plan in the cache (the
    front end hands a run with LISTEN_PID set to the Python CLI)."""
    env, plans = cache
    env = dict(env, LISTEN_PID=pid, LISTEN_FDS="1", LISTEN_FDNAMES="x")
    shutil.rmtree(plans, ignore_errors=True)
    port = free_port()
    argv = ["beanstalkd", "-l", "127.0.0.1", "-p", str(port)]
    got = []
    for cmd in (argv, *[[FRONTEND, "run", *opts, *argv]] * 2):
        if len(got) == 2:
            assert plans.exists() and any(plans.iterdir())      # the cached path's run
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            wait_for_port(port, proc, timeout=120)
            got.append(_beanstalkd(port))
        finally:
            _stop(proc)
    assert got[0] == [b"INSERTED 1\r\n", b"FOUND 1 5\r\n", b"hello\r\n"]
    assert got[1] == got[0] and got[2] == got[0]


def test_preserved_fds_follow_the_socket_activation_ones(cache, tmp_path):
    """LISTEN_FDS=1 for libsubst's pid and --preserve-fds 1: fd 3 is the
    activation's, fd 4 the preserved one, as runc orders them; dash reads
    fd 4 as natively, and LISTEN_PID is its own pid there (1 in the guest)."""
    env, _plans = cache
    script = 'cat <&4; echo "$LISTEN_FDS $LISTEN_PID" $$'

    def run(argv):
        """argv exec'd with LISTEN_PID its own pid, as systemd sets it, and
        a pipe at fd 3 and at fd 4 (holding "four")."""
        r3, w3 = os.pipe()
        r4, w4 = os.pipe()
        os.write(w4, b"four\n")
        for fd in (w3, w4):
            os.close(fd)
        try:
            return subprocess.run(["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh",
                                   *argv], cwd=tmp_path, capture_output=True, env=env,
                                  timeout=120, close_fds=False,
                                  preexec_fn=lambda: _at_three([r3, r4]))
        finally:
            for fd in (r3, r4):
                os.close(fd)
    native = run(["sh", "-c", script])
    pid = native.stdout.split()[-1]
    assert (native.returncode, native.stdout, native.stderr) == \
        (0, b"four\n1 " + pid + b" " + pid + b"\n", b"")
    guest = run([FRONTEND, "run", "--preserve-fds", "1", "sh", "-c", script])
    assert (guest.returncode, guest.stdout, guest.stderr) == (0, b"four\n1 1 1\n", b"")


def test_a_passed_file_reaches_nothing_beside_it(cache, tmp_path):
    """A file passed by --preserve-fds from a directory outside the guest's
    root: cat reads it as natively (the user's grant), and neither its
    sibling nor its directory is reachable through its name or its fd
    (README, "The sandbox": "Passed fds")."""
    env, _plans = cache
    outside = tempfile.mkdtemp(prefix="libsubst-passed-", dir="/var/tmp")
    try:
        for name in ("granted", "sibling"):
            with open(os.path.join(outside, name), "w") as f:
                f.write(f"{name}\n")

        def run(argv):                  # the file opened afresh (its offset is the run's)
            fd = os.open(os.path.join(outside, "granted"), os.O_RDONLY)
            try:
                return subprocess.run(argv, cwd=tmp_path, capture_output=True, env=env,
                                      timeout=120, close_fds=False,
                                      preexec_fn=lambda: _at_three([fd]))
            finally:
                os.close(fd)
        native = run(["sh", "-c", "cat <&3"])
        assert (native.returncode, native.stdout) == (0, b"granted\n")
        guest = run([FRONTEND, "run", "--preserve-fds", "1", "sh", "-c", "cat <&3"])
        assert (guest.returncode, guest.stdout, guest.stderr) == (0, b"granted\n", b"")
        reach = f"cat {outside}/sibling; ls /proc/self/fd/3/; ls /proc/self/fd/3/.."
        guest = run([FRONTEND, "run", "--preserve-fds", "1", "sh", "-c", reach])
        assert guest.stdout == b""
        assert guest.stderr.count(b"No such file or directory") == 1
        assert guest.stderr.count(b"Not a directory") == 2
    finally:
        shutil.rmtree(outside)


def _without_directories(native: str) -> str:
    """recv_fds's native report as the guest's must be: each message's fds
    up to its first directory's, MSG_CTRUNC where any was left out."""
    out, head, cut = [], None, False
    for line in [*native.splitlines(), ""]:
        if head is not None and not line.startswith("  fd: "):
            out[head] = re.sub(r"\d+ fds, MSG_CTRUNC \d",
                               f"{len(out) - head - 1} fds, MSG_CTRUNC {int(cut)}", out[head])
            head = None
        if line.startswith("message"):
            head, cut = len(out), False
        elif line.startswith("  fd: "):
            cut = cut or "directory" in line
            if cut:
                continue
        out.append(line)
    return "\n".join(out[:-1]) + "\n"


@pytest.mark.parametrize("how", ["msg", "mmsg", "fork"])
def test_a_received_directory_fd_is_refused(cache, tmp_path, how):
    """A directory's fd an SCM_RIGHTS message brings, from a host process
    through a socket passed by --preserve-fds (by recvmsg and recvmmsg) or
    from another guest process, is refused as --preserve-fds refuses one:
    not installed, nor the fds after it in its message, MSG_CTRUNC set, as
    Linux does for a file an LSM refuses (README, "The sandbox": "Passed
    fds").  The files before it, and other messages, are the native run's,
    and so is the receiver's own fd of the directory the child sends (fork):
    still open, as only copies of a refused fd are closed."""
    env, _plans = cache
    outside = tempfile.mkdtemp(prefix="libsubst-received-", dir="/var/tmp")
    prog = build_c("recv_fds", outside)
    for name in ("a", "b"):
        for d in (outside, tmp_path):
            with open(os.path.join(d, name), "w") as f:
                f.write(f"file {name}\n")
    sends = [["a", ".", "b"], [".", "b"], ["a"]]
    argv = [prog, "fork"] if how == "fork" else [prog, how, str(len(sends))]

    def run(prefix):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        opened = []
        try:
            for i, names in enumerate(sends):
                opened = [os.open(os.path.join(outside, n), os.O_RDONLY) for n in names]
                socket.send_fds(mine, [b"m%d" % i], opened)
                for fd in opened:
                    os.close(fd)
            return subprocess.run([*prefix, *argv], cwd=tmp_path, capture_output=True,
                                  env=env, timeout=120, close_fds=False,
                                  preexec_fn=lambda: _at_three([theirs.fileno()]))
        finally:
            mine.close()
            theirs.close()
    try:
        native = run([])
        assert native.returncode == 0 and "directory of" in native.stdout.decode(), native
        guest = run([FRONTEND, "run", "--preserve-fds", "1"])
        assert guest.returncode == 0, guest.stderr
        assert guest.stdout.decode() == _without_directories(native.stdout.decode()), native
        assert "MSG_CTRUNC 1" in guest.stdout.decode()
    finally:
        shutil.rmtree(outside)


def test_a_copy_of_a_refused_directory_fd_made_meanwhile_is_closed(cache, tmp_path):
    """recv_race.c: another thread dup()s the number a received directory's
    fd gets while the guest kernel has not refused it yet (the host
    installs it first).  Natively every message gives the directory and
    the copies stay open; in the guest none is given (MSG_CTRUNC) and the
    refusal closes every copy made before it: none is left open (one was
    left, a host directory outside the guest's root, reviewer s14 F1)."""
    env, _plans = cache
    outside = tempfile.mkdtemp(prefix="libsubst-race-", dir="/var/tmp")
    prog = build_c("recv_race", str(tmp_path), "-pthread")
    rounds = 3000

    def run(prefix):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        d = os.open(outside, os.O_RDONLY | os.O_DIRECTORY)

        def serve():
            # One message with the directory's fd for each request byte.
            with contextlib.suppress(OSError):
                while mine.recv(1):
                    socket.send_fds(mine, [b"m"], [d])
        server = threading.Thread(target=serve)
        server.start()
        try:
            return subprocess.run([*prefix, prog, str(rounds)], cwd=tmp_path, capture_output=True,
                                  env=env, timeout=300, close_fds=False,
                                  preexec_fn=lambda: _at_three([theirs.fileno()]))
        finally:
            mine.shutdown(socket.SHUT_RDWR)
            server.join()
            mine.close()
            theirs.close()
            os.close(d)
    try:
        native = run([])
        assert native.returncode == 0, native
        lines = native.stdout.decode().splitlines()
        assert lines[:2] == [f"messages {rounds}", f"directories given {rounds}"], native
        guest = run([FRONTEND, "run", "--preserve-fds", "1"])
        assert guest.returncode == 0, guest.stderr
        assert guest.stdout.decode() == (f"messages {rounds}\ndirectories given 0\n"
                                         "directory copies still open 0\n"), native
    finally:
        shutil.rmtree(outside)


def test_a_removed_working_directory_is_refused(probe, cache, tmp_path):
    """Natively the program starts in a removed directory (getcwd: ENOENT);
    libsubst, which mounts the working directory by its path, refuses the
    run with one line, on both paths (README, "What the program inherits")."""
    env, _plans = cache
    gone = tmp_path / "gone"

    def enter_removed():
        gone.mkdir()
        os.chdir(gone)
        gone.rmdir()
    native = subprocess.run([probe], capture_output=True, env=env, timeout=60,
                            preexec_fn=enter_removed)
    assert "cwd: ENOENT" in native.stdout.decode()
    for _ in range(2):
        guest = subprocess.run([FRONTEND, "run", probe], capture_output=True, env=env,
                               timeout=120, preexec_fn=enter_removed)
        assert (guest.returncode, guest.stdout) == (2, b"")
        assert guest.stderr.decode().startswith("libsubst: the current directory has been deleted")
        assert guest.stderr.count(b"\n") == 1


def test_the_environment_is_the_callers_in_the_c_locale(cache, tmp_path):
    """env(1) started with no locale variable: the Python CLI that plans
    the run coerces the C locale (PEP 538), which sets LC_CTYPE in its own
    environment; the program's is still the caller's, byte for byte."""
    env, plans = cache
    env = {k: v for k, v in env.items() if not k.startswith(("LC_", "LANG"))}
    env["ODD NAME"] = "tab\there\nnewline"
    native = subprocess.run(["env"], cwd=tmp_path, capture_output=True, env=env, timeout=60)
    made = None
    for _ in range(2):                  # planned, then served by the front end
        guest = subprocess.run([FRONTEND, "run", "env"], cwd=tmp_path, capture_output=True,
                               env=env, timeout=120)
        assert (guest.returncode, guest.stderr) == (0, b"")
        assert sorted(guest.stdout.split(b"\n")) == sorted(native.stdout.split(b"\n"))
        made = _served(plans, made)
