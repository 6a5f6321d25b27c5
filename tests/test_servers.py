"""Servers as unikernels: threads, signals, sockets and epoll, with Debian's
redis-server, nginx and memcached and python3's http.server, checked with
real clients on loopback."""

import os
import random
import signal
import socket
import subprocess
from contextlib import contextmanager

import pytest

from conftest import (LIBSUBST, WAIT_FOR_SIGNALS, assert_same, children, free_port, guest_pid,
                      redis_cli, run_guest, run_native, wait_for_port)
from libsubst.benchmarks.redis_bench import stop

HERE = os.path.dirname(os.path.abspath(__file__))


@contextmanager
def server(argv, port, cwd, guest=True, opts=()):
    cmd = [*LIBSUBST, "run", *opts, *argv] if guest else argv
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            stop(proc)


def redis_argv(port):
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no"]


def test_redis_round_trips_and_graceful_shutdown(tmp_path):
    port = free_port()
    with server(redis_argv(port), port, tmp_path) as proc:
        assert redis_cli(port, "ping") == "PONG\n"
        assert redis_cli(port, "set", "greeting", "hello unikernel") == "OK\n"
        assert redis_cli(port, "get", "greeting") == "hello unikernel\n"
        assert redis_cli(port, "incrby", "n", "41") == "41\n"
        assert redis_cli(port, "incr", "n") == "42\n"
        assert redis_cli(port, "rpush", "l", "a", "b", "c") == "3\n"
        assert redis_cli(port, "lrange", "l", "0", "-1") == "a\nb\nc\n"
        assert redis_cli(port, "hset", "h", "f", "v") == "1\n"
        assert redis_cli(port, "hgetall", "h") == "f\nv\n"
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        log = proc.stdout.read().decode()
    assert "Received SIGTERM scheduling shutdown" in log
    assert "ready to exit, bye bye" in log
    # The exit status redis gives natively on SIGTERM.
    native_port = free_port()
    with server(redis_argv(native_port), native_port, tmp_path, guest=False) as native:
        native.send_signal(signal.SIGTERM)
        assert rc == native.wait(timeout=30) == 0


def test_redis_benchmark_without_errors(tmp_path):
    port = free_port()
    with server(redis_argv(port), port, tmp_path):
        r = subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-n", "2000", "-c", "20"],
                           capture_output=True, timeout=600)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    lines = [l for l in out.replace("\r", "\n").splitlines() if "requests per second" in l]
    assert len(lines) >= 15, out
    assert "error" not in out.lower()


def nginx_conf(tmp_path, head, *listen):
    """An nginx.conf serving /srv/www in the foreground, logging to stderr."""
    conf = tmp_path / "nginx.conf"
    listens = " ".join(f"listen {a};" for a in listen)
    conf.write_text(f"""{head}
daemon off;
error_log stderr;
pid /tmp/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path /tmp; proxy_temp_path /tmp; fastcgi_temp_path /tmp;
    uwsgi_temp_path /tmp; scgi_temp_path /tmp;
    server {{ {listens} root /srv/www; }}
}}
""")
    return conf


def test_nginx_serves_a_file_from_a_volume(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    payload = random.Random(7).randbytes(300_000)
    (www / "blob.bin").write_bytes(payload)
    (www / "index.html").write_text("<h1>hello from nginx in a unikernel</h1>\n")
    port = free_port()
    conf = nginx_conf(tmp_path, "master_process off;\nworker_processes 1;", f"127.0.0.1:{port}")
    with server(["nginx", "-c", str(conf), "-p", str(tmp_path)], port, tmp_path,
                opts=["--volume", f"{www}:/srv/www:ro"]):
        got = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/blob.bin"],
                             capture_output=True, timeout=30)
        index = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/"], capture_output=True,
                               timeout=30)
        missing = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                  f"http://127.0.0.1:{port}/nope"], capture_output=True, timeout=30)
    assert got.returncode == 0 and got.stdout == payload
    assert index.stdout == (www / "index.html").read_bytes()
    assert missing.stdout == b"404"


def free_privileged_port():
    for port in range(1023, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024")


def test_nginx_as_root_on_port_below_1024_drops_to_www_data(tmp_path):
    """nginx as a root caller runs it: the master binds a privileged port
    (which the guest's user namespace does not own: the relay binds it), and
    its workers change to www-data, an unprivileged host uid of the guest's
    range."""
    from libsubst.monitor import identity

    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<h1>port below 1024</h1>\n")
    port = free_privileged_port()
    conf = nginx_conf(tmp_path, "user www-data;\nworker_processes 2;", f"127.0.0.1:{port}",
                      f"[::1]:{port}")
    with server(["nginx", "-c", str(conf), "-p", str(tmp_path)], port, tmp_path,
                opts=["--volume", f"{www}:/srv/www:ro"]) as proc:
        got = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/"], capture_output=True,
                             timeout=30)
        got6 = subprocess.run(["curl", "-sf", f"http://[::1]:{port}/"], capture_output=True,
                              timeout=30)
        workers = children(guest_pid(proc.pid))
        uids = {open(f"/proc/{w}/status").read().split("Uid:")[1].split()[0] for w in workers}
    assert got.stdout == got6.stdout == (www / "index.html").read_bytes(), got.stderr
    assert len(workers) == 2
    assert uids == {str(identity.host_ids()[0] + 33)}      # www-data is uid 33 in Debian


def test_memcached_set_get(tmp_path):
    port = free_port()
    with server(["memcached", "-u", "root", "-l", "127.0.0.1", "-p", str(port)], port, tmp_path):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"set k 0 0 9\r\nunikernel\r\nget k\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = s.recv(4096)
                assert chunk
                data += chunk
    assert data == b"STORED\r\nVALUE k 0 9\r\nunikernel\r\nEND\r\n"


def test_python_http_server_from_a_volume(tmp_path):
    www = tmp_path / "site"
    www.mkdir()
    (www / "page.txt").write_text("served by python3 in a unikernel\n")
    port = free_port()
    argv = ["/usr/bin/python3", "-m", "http.server", str(port), "--bind", "127.0.0.1",
            "--directory", "/srv/site"]
    with server(argv, port, tmp_path, opts=["--volume", f"{www}:/srv/site:ro"]):
        got = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/page.txt"],
                             capture_output=True, timeout=30)
    assert got.stdout == b"served by python3 in a unikernel\n"


@pytest.fixture(scope="module")
def threads_signals(tmp_path_factory):
    exe = tmp_path_factory.mktemp("ts") / "threads_signals"
    subprocess.run(["gcc", "-O2", "-pthread", "-o", exe, os.path.join(HERE, "c", "threads_signals.c")],
                   check=True)
    return exe


@pytest.mark.parametrize("opts", [[], ["--no-subst"]])
def test_threads_mutexes_condvars_and_signals(threads_signals, tmp_path, opts):
    native = run_native([str(threads_signals)], tmp_path)
    assert native.returncode == 3
    assert_same(native, run_guest([*opts, str(threads_signals)], tmp_path))


def test_bind_to_a_port_in_use_is_eaddrinuse(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        argv = ["/usr/bin/python3", "-c",
                f"import socket; s = socket.socket(); s.bind(('127.0.0.1', {port}))"]
        native, guest = run_native(argv, tmp_path), run_guest(argv, tmp_path)
    assert b"Address already in use" in guest.stderr
    assert_same(native, guest)


@pytest.mark.parametrize("sig", ["SIGSEGV", "SIGABRT", "SIGKILL", "SIGTERM"])
def test_self_signal_exit_status(tmp_path, sig):
    argv = ["/usr/bin/python3", "-c", f"import os, signal; os.kill(os.getpid(), signal.{sig})"]
    native = subprocess.run(["sh", "-c", '"$@"; echo "status $?"', "sh", *argv],
                            capture_output=True, cwd=tmp_path)
    guest = run_guest(argv, tmp_path)
    expected = 128 + getattr(signal, sig)
    assert native.stdout.decode().strip() == f"status {expected}"
    assert guest.returncode == expected


def test_sigterm_to_libsubst_reaches_the_guest(tmp_path):
    code = ("import os, signal, sys\n"
            "signal.signal(signal.SIGTERM, lambda *a: (os.write(1, b'got SIGTERM\\n'), sys.exit(7)))\n"
            ) + WAIT_FOR_SIGNALS
    proc = subprocess.Popen([*LIBSUBST, "run", "/usr/bin/python3", "-c", code], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 7
    assert proc.stdout.read() == b"got SIGTERM\n"


NET_PROBE = """
import socket, sys
print(sorted(name for _, name in socket.if_nameindex()))
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("reached the host's listener")
except OSError as e:
    print("cannot reach the host's listener:", e.strerror)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.sendall(b"own loopback")
print(a.recv(32).decode())
"""


def test_net_none_has_only_its_own_loopback(tmp_path):
    with socket.socket() as host_listener:
        host_listener.bind(("127.0.0.1", 0))
        host_listener.listen()
        port = str(host_listener.getsockname()[1])
        none = run_guest(["--net", "none", "/usr/bin/python3", "-c", NET_PROBE, port], tmp_path)
        host = run_guest(["--net", "host", "/usr/bin/python3", "-c", NET_PROBE, port], tmp_path)
    assert none.returncode == 0, none.stderr
    assert none.stdout.decode().splitlines() == [
        "['lo']", "cannot reach the host's listener: Connection refused", "own loopback"]
    assert host.stdout.decode().splitlines()[1:] == ["reached the host's listener", "own loopback"]
