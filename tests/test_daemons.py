"""The other servers of a Debian machine, run as a user runs them (`libsubst
run` with their configuration and data in the current directory's volume,
loopback only), each natively and as a guest, driven by the same native
clients, their answers compared: rsync's daemon (a chroot per module),
dnsmasq (DNS over UDP and TCP, privileges dropped, SIGHUP's reload), sshd
(a key login, a pty), MariaDB (its datadir in a volume, a socket and TCP).
The web servers: test_web_daemons.py."""

import os
import re
import shutil
import signal
import subprocess

from conftest import LIBSUBST, free_port
from daemons import client, daemon, open_dir, wait_for_log, wait_for_socket


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
        with open(d / "log", "w") as err, \
                daemon(argv, port, tmp_path, side == "guest", opts=["--volume", f"{d}:{d}"],
                       stderr=err) as proc:
            out = [dig(port, "b.test"), dig(port, "+tcp", "x.example.test"),
                   dig(port, "-x", "10.0.0.7"), dig(port, "missing.test")]
            with open(hosts, "a") as f:
                f.write("10.0.0.8 c.test\n")
            proc.send_signal(signal.SIGHUP)
            # The reload is asynchronous: asked once it has logged it (a query
            # polling for it is logged too, as many times as the reload took).
            wait_for_log(d / "log", "- 3 names", 1, proc)
            out.append(dig(port, "c.test"))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        log = [line.split(" ", 1)[1].replace(str(d), "HOSTS")
               for line in (d / "log").read_text().splitlines()
               if line.startswith("dnsmasq[") and "compile time options" not in line]
    return out, proc.returncode, log


def test_dnsmasq_answers_over_udp_and_tcp_and_rereads_on_sighup(tmp_path):
    native = dnsmasq_session(tmp_path, "native")
    guest = dnsmasq_session(tmp_path, "guest")
    assert native[0][0] == (0, "10.0.0.7\n", "") and native[0][4][1] == "10.0.0.8\n", native
    assert "exiting on receipt of SIGTERM" in native[2], native
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
    # The pty's number is the first free one of its devpts: the host's (where
    # other terminals may be open) natively, the guest's own in a guest.
    for side in (native, guest):
        code, text, err = side[0][1]
        side[0][1] = (code, re.sub(r"^/dev/pts/\d+", "/dev/pts/N", text), err)
    assert guest == native


# What mariadb-install-db (a shell script) runs besides its own package's programs.
MARIADB_TOOLS = ("/usr/bin/my_print_defaults", "/usr/bin/sed", "/usr/bin/cat", "/usr/bin/chown",
                 "/usr/bin/chmod", "/usr/bin/find", "/usr/bin/dirname", "/usr/bin/mkdir",
                 "/usr/bin/uname", "/usr/bin/hostname", "/usr/bin/awk", "/usr/bin/mawk",
                 # mysql-common's, which mariadb-common's my.cnf (its alternative,
                 # made by its maintainer script, as natively) includes
                 "/etc/mysql/conf.d")

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
            # the Unix socket too: it listens there a moment after the port
            wait_for_socket(d / "sock", proc)
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
