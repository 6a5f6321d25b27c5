"""The other servers of a Debian machine, run as a user runs them (`libsubst
run` with their configuration and data in the current directory's volume,
loopback only), each natively and as a guest, driven by the same native
clients, their answers compared: rsync's daemon (a chroot per module),
dnsmasq (DNS over UDP and TCP, privileges dropped, SIGHUP's reload),
Apache (event and prefork, its modules, graceful restarts), sshd (a key
login, a pty), haproxy in front of lighttpd, MariaDB (its datadir in a
volume, a socket and TCP)."""

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager

import pytest

from conftest import LIBSUBST, free_port, wait_for_port


@contextmanager
def daemon(argv, port, cwd, guest, opts=(), stderr=None):
    """argv started natively or as a guest and waited for on port; on the
    way out SIGTERM (SIGKILL if it outlives 60 s).  Yields the Popen; its
    exit status is its returncode afterwards.  stderr: a file to write it
    to (to poll), else a pipe."""
    cmd = [*LIBSUBST, "run", *opts, *argv] if guest else argv
    # A session of its own, as a service manager starts a server: Apache's
    # prefork ends by signalling its whole process group.
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=stderr or subprocess.PIPE, start_new_session=True)
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


@contextmanager
def open_dir(side):
    """A directory below /tmp that a server which dropped root (to nobody)
    can read, unlike pytest's; removed on the way out.  A guest gets it as
    a volume at the same path."""
    d = tempfile.mkdtemp(prefix=f"libsubst-daemons-{side}-")
    try:
        os.chmod(d, 0o755)
        yield pathlib.Path(d)
    finally:
        shutil.rmtree(d)


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


DNS_HOSTS = "127.0.0.1 a.test\n10.0.0.7 b.test\n"


def dig(port, *args):
    return client(["dig", "-p", str(port), "@127.0.0.1", "+tries=1", "+time=10", "+short", *args])


def dnsmasq_session(tmp_path, side):
    """dnsmasq on loopback, which drops root for nobody (keeping the
    capabilities it needs: PR_SET_KEEPCAPS, capset), asked by the host's dig
    over UDP and TCP, its hosts file changed and reread on SIGHUP.  The
    hosts file is in a directory nobody can read (a volume at the same
    path for the guest)."""
    with open_dir(side) as d:
        hosts = d / "hosts"
        hosts.write_text(DNS_HOSTS)
        port = free_port()
        argv = ["dnsmasq", "--keep-in-foreground", "--log-facility=-", f"--port={port}",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                f"--addn-hosts={hosts}", "--address=/example.test/10.1.2.3",
                "--conf-file=/dev/null", "--log-queries"]
        with daemon(argv, port, tmp_path, side == "guest", opts=["--volume", f"{d}:{d}"]) as proc:
            out = [dig(port, "b.test"), dig(port, "+tcp", "x.example.test"),
                   dig(port, "-x", "10.0.0.7"), dig(port, "missing.test")]
            with open(hosts, "a") as f:
                f.write("10.0.0.8 c.test\n")
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60      # the reload is asynchronous: poll for it
            while (again := dig(port, "c.test"))[1] == "" and time.monotonic() < deadline:
                time.sleep(0.1)
            out.append(again)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    log = [line.split(" ", 1)[1].replace(str(d), "HOSTS") for line in err.decode().splitlines()
           if line.startswith("dnsmasq[") and "compile time options" not in line]
    return out, proc.returncode, log


def test_dnsmasq_answers_over_udp_and_tcp_and_rereads_on_sighup(tmp_path):
    native = dnsmasq_session(tmp_path, "native")
    guest = dnsmasq_session(tmp_path, "guest")
    assert native[0][0] == (0, "10.0.0.7\n", "") and native[0][4][1] == "10.0.0.8\n", native
    assert "exiting on receipt of SIGTERM" in native[2], native
    assert guest == native


HTTPD_CONF = """ServerRoot {d}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {d}/httpd.pid
Mutex file:{d}
LoadModule mpm_{mpm}_module /usr/lib/apache2/modules/mod_mpm_{mpm}.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule status_module /usr/lib/apache2/modules/mod_status.so
User nobody
Group nogroup
ErrorLog {d}/error.log
LogLevel notice
TypesConfig {d}/mime.types
DocumentRoot {d}/www
StartServers 3
ServerLimit 8
MaxRequestWorkers 8
<Location /status>
  SetHandler server-status
</Location>
"""


def curl(url):
    return client(["curl", "-s", "-w", " %{http_code}\\n", url])


def wait_for_log(path, needle, count, proc):
    """Polls (bounded) until path holds needle count times."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if path.read_text().count(needle) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{needle} x{count} not in {path}: {path.read_text()}")


def apache_session(tmp_path, side, mpm):
    """Apache's apache2 in the foreground with mpm (event: threads in
    forked children; prefork: a process a request), its modules loaded from
    /usr/lib/apache2/modules (which come with the program's package), asked
    by curl, restarted gracefully (SIGUSR1) and not (SIGHUP), stopped."""
    with open_dir(side) as d:
        (d / "www").mkdir()
        (d / "www" / "index.html").write_text("hello from apache\n")
        (d / "mime.types").write_text("text/html html\n")
        port = free_port()
        (d / "httpd.conf").write_text(HTTPD_CONF.format(d=d, port=port, mpm=mpm))
        url = f"http://127.0.0.1:{port}"
        log = d / "error.log"
        with daemon(["apache2", "-DFOREGROUND", "-f", f"{d}/httpd.conf"], port, tmp_path,
                    side == "guest", opts=["--volume", f"{d}:{d}"]) as proc:
            out = [curl(f"{url}/"), curl(f"{url}/missing")]
            status = client(["curl", "-s", f"{url}/status?auto"])[1]
            out.append([line for line in status.splitlines() if line.startswith("ServerMPM")])
            many = [subprocess.Popen(["curl", "-s", f"{url}/"], stdout=subprocess.PIPE)
                    for _ in range(12)]
            out.append([p.communicate(timeout=60)[0] for p in many])
            for n, sig in ((2, signal.SIGUSR1), (3, signal.SIGHUP)):
                proc.send_signal(sig)
                wait_for_log(log, "resuming normal operations", n, proc)
                out.append(curl(f"{url}/"))
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        notices = [line.split("] ", 3)[-1].split(":")[0] for line in log.read_text().splitlines()
                   if ":notice]" in line]
    return out, proc.returncode, notices


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_apache_with_its_modules_and_restarts(tmp_path, mpm):
    native = apache_session(tmp_path, "native", mpm)
    guest = apache_session(tmp_path, "guest", mpm)
    assert native[0][0] == (0, "hello from apache\n 200\n", "") and native[1] == 0, native
    assert native[0][2] == [f"ServerMPM: {mpm}"], native
    assert guest == native


SSHD_CONFIG = """ListenAddress 127.0.0.1
HostKey {d}/hostkey
AuthorizedKeysFile {d}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile {d}/sshd.pid
PermitRootLogin prohibit-password
PrintLastLog no
StrictModes no
"""


def sshd_session(tmp_path, side):
    """OpenSSH's sshd in the foreground, its host key and the user's
    public key in a volume, /bin/bash added (root's shell): the host's ssh
    logs in with the key and runs commands, with and without a pty (the
    pre-authentication child chroots into /run/sshd and drops to the sshd
    user; the session's child is root's, on a pty of the guest's devpts)."""
    with open_dir(side) as d:
        for key in ("hostkey", "userkey"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                           check=True, timeout=60)
        (d / "authorized_keys").write_bytes((d / "userkey.pub").read_bytes())
        (d / "sshd_config").write_text(SSHD_CONFIG.format(d=d))
        port = free_port()
        ssh = ["ssh", "-F", "/dev/null", "-i", str(d / "userkey"), "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-p", str(port), "root@127.0.0.1"]
        # A pty session's login is recorded in the machine's lastlog
        # (login's), which the guest gets a copy of.
        opts = ["--volume", f"{d}:{d}", *(f"--add={p}" for p in (
            "/bin/bash", "/usr/bin/id", "/usr/bin/tty", "/var/log/lastlog"))]
        argv = ["/usr/sbin/sshd", "-D", "-e", "-p", str(port), "-f", f"{d}/sshd_config"]
        with daemon(argv, port, tmp_path, side == "guest", opts=opts) as proc:
            out = [client([*ssh, "echo hello; id; echo $SHELL $USER $HOME; exit 3"]),
                   client([*ssh, "-tt", "tty; echo on a pty"], stdin=subprocess.DEVNULL),
                   client([*ssh, "read x; echo got $x"], input=b"data\n")]
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    # (A session's "Disconnected" line may come after the SIGTERM: left out.)
    log = [line.split(" port ")[0] for line in err.decode().splitlines()
           if line.startswith(("Accepted", "Received signal"))]
    return out, proc.returncode, log


def test_sshd_logs_in_with_a_key_and_runs_commands(tmp_path):
    # sshd refuses to start without its privilege separation directory,
    # which systemd makes as the ssh service starts (RuntimeDirectory=).
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    native = sshd_session(tmp_path, "native")
    guest = sshd_session(tmp_path, "guest")
    assert native[0][0] == (3, "hello\nuid=0(root) gid=0(root) groups=0(root)\n"
                               "/bin/bash root /root\n", ""), native
    assert native[0][1][1].startswith("/dev/pts/") and native[0][2][1] == "got data\n", native
    assert guest == native


LIGHTTPD_CONF = """server.document-root = "{d}/www"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{d}/lighttpd.log"
server.pid-file = "{d}/lighttpd.pid"
server.username = "nobody"
server.groupname = "nogroup"
mimetype.assign = (".html" => "text/html")
index-file.names = ("index.html")
"""

HAPROXY_CFG = """global
    chroot {d}/empty
    user nobody
    group nogroup
    pidfile {d}/haproxy.pid
defaults
    mode http
    timeout connect 10s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:{front}
    default_backend be
backend be
    server s1 127.0.0.1:{back}
"""


def proxy_session(tmp_path, side):
    """lighttpd (it drops root for nobody) behind haproxy in master-worker
    mode (its worker chroots into an empty directory and drops root too),
    each its own guest, asked through haproxy by curl; haproxy reloaded by
    SIGUSR2 (its master executes itself again), then both stopped."""
    with open_dir(side) as d:
        (d / "www").mkdir()
        (d / "empty").mkdir()
        (d / "www" / "index.html").write_text("hello from lighttpd\n")
        (d / "lighttpd.log").touch(0o666)         # opened once it is nobody
        os.chmod(d / "lighttpd.log", 0o666)
        back, front = free_port(), free_port()
        (d / "lighttpd.conf").write_text(LIGHTTPD_CONF.format(d=d, port=back))
        (d / "haproxy.cfg").write_text(HAPROXY_CFG.format(d=d, front=front, back=back))
        opts = ["--volume", f"{d}:{d}"]
        guest = side == "guest"
        url = f"http://127.0.0.1:{front}"
        with daemon(["lighttpd", "-D", "-f", f"{d}/lighttpd.conf"], back, tmp_path, guest,
                    opts) as light, \
                open(d / "haproxy.err", "wb") as err, \
                daemon(["haproxy", "-W", "-db", "-f", f"{d}/haproxy.cfg"], front, tmp_path,
                       guest, opts, stderr=err) as proxy:
            out = [curl(f"{url}/"), curl(f"{url}/missing")]
            proxy.send_signal(signal.SIGUSR2)
            # The master executes itself again: until its loop runs again
            # (it reaps the former worker there), a SIGTERM is the default
            # action's.
            wait_for_log(d / "haproxy.err", "Loading success.", 2, proxy)
            wait_for_log(d / "haproxy.err", "Former worker", 1, proxy)
            out.append(curl(f"{url}/"))
            for proc in (proxy, light):
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=60)
        log = [line.split(") ", 1)[-1] for line in (d / "lighttpd.log").read_text().splitlines()]
    return out, proxy.returncode, light.returncode, [line for line in log if "stopped" not in line]


def test_haproxy_in_front_of_lighttpd(tmp_path):
    native = proxy_session(tmp_path, "native")
    guest = proxy_session(tmp_path, "guest")
    assert native[0][0] == (0, "hello from lighttpd\n 200\n", ""), native
    assert native[0][1][1].endswith(" 404\n") and native[0][2] == native[0][0], native
    assert guest == native


# What mariadb-install-db (a shell script) runs besides its own package's programs.
MARIADB_TOOLS = ("/usr/bin/my_print_defaults", "/usr/bin/sed", "/usr/bin/cat", "/usr/bin/chown",
                 "/usr/bin/chmod", "/usr/bin/find", "/usr/bin/dirname", "/usr/bin/mkdir",
                 "/usr/bin/uname", "/usr/bin/hostname", "/usr/bin/awk", "/usr/bin/mawk")

MARIADB_SQL = """create database shop;
use shop;
create table item (id int primary key auto_increment, name varchar(20), n int, key(n));
insert into item (name, n) values ('a', 3), ('b', 1), ('c', 2);
insert into item (name, n) select concat(name, id), n * 10 from item;
start transaction; delete from item; rollback;
select id, name, n from item order by n;
select count(*), sum(n) from item where n > 1;
"""


def mariadb_session(tmp_path, side):
    """mariadb-install-db, then mariadbd (it drops root for mysql) on a
    datadir in a volume, asked by the host's mariadb client through its
    socket there and over TCP, stopped by SIGTERM."""
    with open_dir(side) as d:
        shutil.chown(d, "mysql", "mysql")
        opts = ["--volume", f"{d}:{d}", *(f"--add={p}" for p in MARIADB_TOOLS)]
        init = ["mariadb-install-db", "--user=mysql", f"--datadir={d}/data",
                "--auth-root-authentication-method=normal"]
        r = subprocess.run([*LIBSUBST, "run", *opts, *init] if side == "guest" else init,
                           cwd=tmp_path, capture_output=True, timeout=300)
        assert r.returncode == 0, r.stderr.decode()
        port = free_port()
        argv = ["mariadbd", "--user=mysql", f"--datadir={d}/data", f"--socket={d}/sock",
                f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={d}/pid",
                f"--log-error={d}/err.log"]
        with daemon(argv, port, tmp_path, side == "guest", opts) as proc:
            out = [client(["mariadb", "-S", f"{d}/sock", "-u", "root"], input=MARIADB_SQL.encode()),
                   client(["mariadb", "-h", "127.0.0.1", "-P", str(port), "-u", "root", "-e",
                           "select name, n from shop.item where n = 20; show databases"])]
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=120)
        log = (d / "err.log").read_text()
    return out, proc.returncode, "Shutdown complete" in log


def test_mariadb_on_a_datadir_in_a_volume(tmp_path):
    native = mariadb_session(tmp_path, "native")
    guest = mariadb_session(tmp_path, "guest")
    assert native[0][0][0] == 0 and "c3\t20" in native[0][1][1], native
    assert native[1:] == (0, True), native
    assert guest == native
