"""The other servers of a Debian machine, run as a user runs them (`libsubst
run` with their configuration and data in the current directory's volume,
loopback only), each natively and as a guest, driven by the same native
clients, their answers compared: rsync's daemon (a chroot per module),
dnsmasq (DNS over UDP and TCP, privileges dropped, SIGHUP's reload),
lighttpd and haproxy in front of it."""

import os
import signal
import subprocess
import time
from contextlib import contextmanager

from conftest import LIBSUBST, free_port, wait_for_port


@contextmanager
def daemon(argv, port, cwd, guest, opts=()):
    """argv started natively or as a guest and waited for on port; on the
    way out SIGTERM (SIGKILL if it outlives 60 s).  Yields the Popen; its
    exit status is its returncode afterwards."""
    cmd = [*LIBSUBST, "run", *opts, *argv] if guest else argv
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc, timeout=120)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=60)


def client(argv, **kw):
    r = subprocess.run(argv, capture_output=True, timeout=120, **kw)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


RSYNCD_CONF = """pid file = {d}/rsyncd.pid
log file = {d}/rsyncd.log
use chroot = yes
[data]
  path = {d}/data
  read only = no
  uid = root
  gid = root
  incoming chmod = Fu=rw,Fgo=r
"""


def rsync_session(tmp_path, side):
    """rsync --daemon with a module it chroots into, asked by the host's
    rsync: the module list, a download, an upload, a download again."""
    d = tmp_path / side
    (d / "data" / "sub").mkdir(parents=True)
    (d / "data" / "a.txt").write_text("alpha\n")
    (d / "data" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 1000)
    os.symlink("../a.txt", d / "data" / "sub" / "link")
    (d / "rsyncd.conf").write_text(RSYNCD_CONF.format(d=d))
    (tmp_path / "up.txt").write_text("uploaded\n")
    port = free_port()
    url = f"rsync://127.0.0.1:{port}"
    argv = ["rsync", "--daemon", "--no-detach", f"--port={port}", "--address=127.0.0.1",
            f"--config={d}/rsyncd.conf"]
    out = []
    with daemon(argv, port, tmp_path, side == "guest") as proc:
        out.append(client(["rsync", f"{url}/"]))
        out.append(client(["rsync", "-a", "--out-format=%n %l", f"{url}/data/", f"{d}/down/"]))
        out.append(client(["rsync", "--out-format=%n %l", str(tmp_path / "up.txt"),
                           f"{url}/data/sub/"]))
        out.append(client(["rsync", "-a", "--out-format=%n %l", f"{url}/data/sub/",
                           f"{d}/again/"]))
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    files = {p.relative_to(d).as_posix(): (p.read_bytes() if not p.is_symlink()
                                           else os.readlink(p))
             for p in sorted(d.rglob("*")) if p.is_file() or p.is_symlink()
             if p.name not in ("rsyncd.log", "rsyncd.conf", "rsyncd.pid")}
    log = (d / "rsyncd.log").read_text()
    return out, files, proc.returncode, log


def test_rsync_daemon_chroots_into_its_module(tmp_path):
    """Each connection is a forked child that chroots into the module's
    path (the guest kernel's chroot: fs/root.c) before it serves it."""
    native = rsync_session(tmp_path, "native")
    guest = rsync_session(tmp_path, "guest")
    assert native[0][1][0] == 0 and "sub/b.bin 256000" in native[0][1][1], native
    assert native[1]["data/sub/up.txt"] == b"uploaded\n", native
    assert "chroot" not in native[3], native[3]
    assert guest[:3] == native[:3], guest[3]
