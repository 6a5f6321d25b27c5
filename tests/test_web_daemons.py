"""The web servers of a Debian machine, run as a user runs them, each
natively and as a guest, asked by the same native clients, their answers
compared: Apache (mpm_event and mpm_prefork, its modules, a graceful
restart and a restart), haproxy in front of lighttpd.  (The other daemons:
test_daemons.py.)"""

import os
import signal
import subprocess

import pytest

from conftest import free_port
from daemons import client, curl, daemon, open_dir, wait_for_log


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
        # AH00052 with signal 9 is apache's parent killing a child that was slow to stop
        # (ap_reclaim_child_processes): the machine's load decides it, natively too.
        notices = [line.split("] ", 3)[-1].split(":")[0] for line in log.read_text().splitlines()
                   if ":notice]" in line and not ("AH00052" in line and line.endswith("(9)"))]
    return out, proc.returncode, notices


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_apache_with_its_modules_and_restarts(tmp_path, mpm):
    native = apache_session(tmp_path, "native", mpm)
    guest = apache_session(tmp_path, "guest", mpm)
    assert native[0][0] == (0, "hello from apache\n 200\n", "") and native[1] == 0, native
    assert native[0][2] == [f"ServerMPM: {mpm}"], native
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
