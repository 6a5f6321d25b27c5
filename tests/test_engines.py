"""podman and containerd run containers with libsubst-runtime: the same
image run with runc (the native run of a container) and with libsubst
gives the same output and status; a terminal, a graceful stop, a published
port and a committed write behave as with runc.  Every container a test
starts is removed, whatever the test's outcome."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import termios
import time

import pytest

from engines import ULIMITS, containerd, need, podman, podman_image, runtime  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the engines run as root here")


@pytest.fixture(scope="module")
def image():
    return podman_image()


def _name(what: str) -> str:
    return f"libsubst-test-{os.getpid()}-{what}"


def _run(rt: str, image: str, *argv: str) -> subprocess.CompletedProcess:
    return podman("--runtime", rt, "run", "--rm", *ULIMITS, image, *argv)


PROGRAMS = [
    ["/bin/echo", "hello", "from", "a", "container"],
    ["sh", "-c", "echo out; echo err >&2; exit 7"],
    ["false"],
    ["cat", "/etc/debian_version"],
    ["id"],
    # An absolute symlink of the image, resolved in the container's root.
    ["readlink", "-f", "/lib64/ld-linux-x86-64.so.2"],
    # Writes go to the container's root, as root's, and read back.
    ["sh", "-c", "echo written > /root/f && ls -ln /root/f | cut -d' ' -f1-5 && cat /root/f"],
    ["sh", "-c", "wc -c < /etc/hostname; grep -c localhost /etc/hosts; echo $HOME"],
    # The container's process is its pid namespace's init: its own signals with
    # no handler are dropped (SIGKILL too), its child's are not.
    ["sh", "-c", "kill -TERM $$; kill -KILL $$; sh -c 'kill -TERM $$'; echo alive $?"],
]


@pytest.mark.parametrize("argv", PROGRAMS, ids=lambda a: " ".join(a)[:40])
def test_podman_run_gives_runcs_output_and_status(image, argv):
    native = _run("runc", image, *argv)
    guest = _run(runtime(), image, *argv)
    assert guest.stderr == native.stderr
    assert guest.stdout == native.stdout
    assert guest.returncode == native.returncode


# podman's options, each becoming part of config.json; the script reports on all of them.
REPORT = ("id; [ \"$(hostname)\" = box ] && echo box; echo $FOO; pwd; cat /data/h; "
          "echo w > /data/n; echo x > /scratch/f && cat /scratch/f; touch /x; echo y > /tmp/y; "
          "cat /tmp/y; ls /data")
OPTIONS = [["-v", "{vol}:/data"], ["-v", "{vol}:/data:ro"], ["--user", "1000:1000"],
           ["--user", "redis"], ["--tmpfs", "/scratch"], ["-e", "FOO=bar", "-w", "/etc"],
           ["--read-only"], ["--hostname", "box"]]


@pytest.mark.parametrize("options", OPTIONS, ids=" ".join)
def test_podman_options_as_runc_honours_them(image, tmp_path, options):
    results = []
    for rt in ("runc", runtime()):
        vol = tmp_path / os.path.basename(rt)
        vol.mkdir()
        (vol / "h").write_text("a host file\n")
        opts = [o.format(vol=vol) for o in options]
        r = podman("--runtime", rt, "run", "--rm", *ULIMITS, *opts, image, "sh", "-c", REPORT)
        results.append((r.stdout, r.stderr, r.returncode, sorted(os.listdir(vol))))
    assert results[1] == results[0]


def test_podman_memory_limit_is_the_guests(image):
    """--memory (with podman's swap of twice it) bounds the guest; its
    cgroup file shows the limit as runc's container's does (v2's or v1's)."""
    script = ("cat /sys/fs/cgroup/memory.max 2>/dev/null || "
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    results = [podman("--runtime", rt, "run", "--rm", *ULIMITS, "--memory", "64m", image,
                      "sh", "-c", script) for rt in ("runc", runtime())]
    assert results[0].stdout == b"67108864\n", results[0].stderr
    assert (results[1].stdout, results[1].returncode) == (b"67108864\n", 0), results[1].stderr


def test_symlinks_in_the_root_do_not_lead_to_the_host(image):
    """Escape attempt: absolute symlinks and ".." in the container's root
    toward a host directory the image lacks (this checkout).  Stopped by the
    guest kernel's walk, which resolves the root's symlinks from the guest's
    "/" (c_src/kernel/fs/path.c); beneath it the guest's mount namespace
    holds no host path but the root and the volumes.  As with runc."""
    host = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = (f"ln -s {host} /l1; ln -s ../../..{host} /tmp/l2; ln -s / /l3; "
              f"ls /l1 /tmp/l2 /l3{host} /../..{host}; echo $?")
    native = _run("runc", image, "sh", "-c", script)
    guest = _run(runtime(), image, "sh", "-c", script)
    assert b"No such file or directory" in native.stderr
    assert (guest.stdout, guest.stderr, guest.returncode) == \
        (native.stdout, native.stderr, native.returncode)


def test_the_container_is_a_libsubst_guest(image):
    """The pid podman has is libsubst-runtime's monitor, whose child is the
    guest kernel (not runc's process)."""
    name = _name("which")
    try:
        r = podman("--runtime", runtime(), "run", "-d", "--name", name, *ULIMITS, image,
                   "sleep", "100")
        assert r.returncode == 0, r.stderr.decode()
        pid = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.decode().strip()
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        assert any(a.endswith(b"libsubst-runtime") for a in cmdline), cmdline
        deadline = time.monotonic() + 60                 # the monitor boots it after start
        while True:
            children = open(f"/proc/{pid}/task/{pid}/children").read().split()
            exes = [os.readlink(f"/proc/{c}/exe") for c in children]
            if any(e.endswith("libsubst-kernel") for e in exes) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert any(e.endswith("libsubst-kernel") for e in exes), exes
    finally:
        podman("rm", "-f", "-t", "0", name)


def test_a_write_persists_for_podman_commit(image):
    name, tag = _name("commit"), f"localhost/{_name('committed')}:1"
    try:
        r = podman("--runtime", runtime(), "run", "--name", name, *ULIMITS, image,
                   "sh", "-c", "echo persisted > /etc/libsubst-mark")
        assert r.returncode == 0, r.stderr.decode()
        assert podman("commit", name, tag).returncode == 0
        r = _run("runc", tag, "cat", "/etc/libsubst-mark")
        assert r.stdout == b"persisted\n", r.stderr.decode()
    finally:
        podman("rm", "-f", name)
        podman("rmi", "-f", tag)


TERMINAL_SCRIPT = ["sh", "-c", "test -t 0 && echo a-tty; stty size; read l; echo got:$l"]


def _in_terminal(argv: list[str]) -> tuple[bytes, int]:
    """podman ARGV -it ... in a pty of the test's own (24x80), typing one line."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    p = subprocess.Popen(["podman", *argv], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    out, typed = b"", False
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    data = os.read(master, 4096)
                except OSError:                    # EIO: every slave is closed
                    break
                if not data:
                    break
                out += data
            if not typed and b"24 80" in out:
                os.write(master, b"typed\n")
                typed = True
        return out, p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_podman_run_it_in_a_terminal(image):
    native, guest = (_in_terminal(["--runtime", rt, "run", "--rm", "-it", *ULIMITS, image,
                                   *TERMINAL_SCRIPT]) for rt in ("runc", runtime()))
    assert b"got:typed" in native[0]
    assert guest == native


def test_podman_exec_it_in_a_terminal(image):
    results = []
    for rt in ("runc", runtime()):
        name = _name("exec-it")
        try:
            r = podman("--runtime", rt, "run", "-d", "--name", name, *ULIMITS, image,
                       "sleep", "100")
            assert r.returncode == 0, r.stderr.decode()
            results.append(_in_terminal(["exec", "-it", name, *TERMINAL_SCRIPT]))
        finally:
            podman("rm", "-f", "-t", "0", name)
    assert b"got:typed" in results[0][0]
    assert results[1] == results[0]


def _redis(rt: str, image: str, name: str, *podman_args: str) -> None:
    r = podman("--runtime", rt, "run", "-d", "--name", name, *ULIMITS, *podman_args, image,
               "redis-server", "--protected-mode", "no", "--dir", "/var/lib/redis", "--save", "3600", "1")
    assert r.returncode == 0, r.stderr.decode()


def _ping(port: int) -> bytes:
    """Redis's answer to PING on port, polled while the server starts (bounded)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("rt", ["runc", "libsubst"])
def test_podman_stop_stops_redis_gracefully(image, rt):
    rt = runtime() if rt == "libsubst" else rt
    name, port = _name("stop"), _free_port()
    try:
        _redis(rt, image, name, "-p", f"127.0.0.1:{port}:6379")
        assert _ping(port) == b"+PONG\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"SET k v\r\n")
            assert s.recv(64) == b"+OK\r\n"
        r = podman("stop", "-t", "60", name)
        assert r.returncode == 0, r.stderr.decode()
        code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = podman("logs", name).stdout.decode()
        assert code == b"0", logs                        # not 137: SIGTERM sufficed
        assert "Received SIGTERM" in logs and "DB saved on disk" in logs, logs
        assert "ready to exit" in logs, logs
    finally:
        podman("rm", "-f", "-t", "0", name)


@pytest.mark.parametrize("script", ["echo out; echo err >&2; exit 5",
                                    "echo $PPID; sh -c 'kill -TERM $$'; echo $?"])
def test_podman_run_init_as_runc(image, script):
    """podman run --init: the engine binds its init (catatonit) at
    /run/podman-init, which runs the program as its child; the output and
    status are runc's (create failed before: no such program in the root)."""
    results = [podman("--runtime", rt, "run", "--rm", "--init", *ULIMITS, image,
                      "sh", "-c", script) for rt in ("runc", runtime())]
    assert (results[1].stdout, results[1].stderr, results[1].returncode) == \
        (results[0].stdout, results[0].stderr, results[0].returncode)


def _exec_until(name: str, *argv: str) -> subprocess.CompletedProcess:
    """podman exec of argv, again until it succeeds (the container's process
    may still be starting), at most for 60 s."""
    deadline = time.monotonic() + 60
    while True:
        r = podman("exec", name, *argv)
        if r.returncode == 0 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_podman_stop_and_exec_signals_as_runc(image):
    """podman stop of a process with no SIGTERM handler: as the container's
    init it ignores SIGTERM, so podman waits its timeout and SIGKILLs it
    (137), as with runc; an exec'd process is no init and dies by its own
    SIGTERM (143)."""
    results = []
    for rt in ("runc", runtime()):
        name = _name("stopsleep")
        try:
            r = podman("--runtime", rt, "run", "-d", "--name", name, *ULIMITS, image,
                       "sh", "-c", "touch /tmp/up; exec sleep 120")
            assert r.returncode == 0, r.stderr.decode()
            assert _exec_until(name, "test", "-e", "/tmp/up").returncode == 0
            killed = podman("exec", name, "sh", "-c", "kill -TERM $$; echo alive")
            stop = podman("stop", "-t", "1", name)
            code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
            results.append((killed.returncode, killed.stdout, stop.returncode,
                            b"resorting to SIGKILL" in stop.stderr, code))
        finally:
            podman("rm", "-f", "-t", "0", name)
    assert results[0] == (143, b"", 0, True, b"137"), results
    assert results[1] == results[0]


def test_a_published_port_reaches_the_server(image):
    """-p HOST:CONTAINER through podman's network namespace, which the guest joins."""
    name, port = _name("port"), _free_port()
    try:
        _redis(runtime(), image, name, "-p", f"127.0.0.1:{port}:6379")
        assert _ping(port) == b"+PONG\r\n"
    finally:
        podman("rm", "-f", "-t", "0", name)


@pytest.mark.parametrize("rt", ["runc", "libsubst"])
def test_podman_exec_runs_beside_the_server(image, rt):
    """podman exec: a second process on the container's root and network
    (a second guest: docs/oci-runtime.md), with runc's output and status;
    it ends with the container."""
    rt = runtime() if rt == "libsubst" else rt
    name = _name("exec")
    try:
        _redis(rt, image, name)
        deadline = time.monotonic() + 60                 # until redis answers (bounded)
        while (r := podman("exec", name, "redis-cli", "ping")).stdout != b"PONG\n":
            assert time.monotonic() < deadline, r.stderr.decode()
            time.sleep(0.2)
        r = podman("exec", name, "sh", "-c", "echo shared > /tmp/f; cat /tmp/f; exit 4")
        assert (r.stdout, r.stderr, r.returncode) == (b"shared\n", b"", 4)
        r = podman("exec", name, "sh", "-c", "cat /tmp/f; redis-cli set k v")
        assert (r.stdout, r.returncode) == (b"shared\nOK\n", 0)
        # Stopped once it runs: a stop before the exec session exists fails
        # the exec ("container state improper"), a status that proves nothing.
        sleeper = subprocess.Popen(["podman", "exec", name, "sh", "-c", "echo up; exec sleep 300"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        try:
            assert select.select([sleeper.stdout], [], [], 60)[0], "the exec never started"
            assert sleeper.stdout.readline() == b"up\n"
            assert podman("stop", "-t", "60", name).returncode == 0
            assert sleeper.wait(60) != 0                 # ended with its container
        finally:
            if sleeper.poll() is None:
                sleeper.kill()
                sleeper.wait()
    finally:
        podman("rm", "-f", "-t", "0", name)


@pytest.mark.parametrize("argv", [["/bin/echo", "hello", "from", "containerd"],
                                  ["sh", "-c", "cat /etc/debian_version; echo err >&2; exit 5"]],
                         ids=["echo", "sh"])
def test_ctr_run_gives_runcs_output_and_status(containerd, argv):  # noqa: F811
    def run(binary, cid):
        return containerd.ctr("run", "--rm", "--runc-binary", binary,
                              containerd.image, cid, *argv)
    native = run("runc", _name("ctr-native"))
    guest = run(runtime(), _name("ctr-guest"))
    assert guest.stderr == native.stderr
    assert guest.stdout == native.stdout
    assert guest.returncode == native.returncode
    assert containerd.ctr("containers", "ls", "-q").stdout == b""


def test_the_container_benchmark_times_only_runs_that_succeeded(image):
    from libsubst.benchmarks import containers
    from libsubst.benchmarks.rounds import BenchmarkError
    with pytest.raises(BenchmarkError, match="/bin/true"):
        containers.podman_true("runc", "localhost/libsubst-test-no-such-image:1")
    samples = containers.measure(image, 1)
    assert {"runc", "libsubst-runtime"} <= set(samples)
    assert all(len(xs) == 1 and xs[0] > 0 for xs in samples.values()), samples
