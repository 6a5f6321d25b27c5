"""Multi-process daemons nobody listed for libsubst, whose architecture is
the hard part, run as a user runs them (configuration and data in a volume
at the same path, loopback only, free ports), each natively and as a guest,
asked by the same native clients, their answers, exit status and log lines
(but for times, pids and queue ids) compared: varnish (a manager that
compiles its VCL with gcc at start and dlopens it, a child that drops root,
a shared-memory log read by varnishstat and varnishncsa) in front of a native
backend; php-fpm (a master and a pool of workers that drop root, a reload
that executes the master again) behind nginx's fastcgi_pass over a Unix
socket in a volume, nginx native and as a guest too; postfix's master
(smtpd, cleanup, qmgr, trivial-rewrite, local: helpers over Unix sockets,
chrooted into the queue, logging through postlogd to /dev/stdout) receiving
mail by SMTP from smtplib into a Maildir that dovecot (its master, config,
auth, imap-login and imap processes) serves over IMAP to imaplib."""

import grp
import imaplib
import os
import pwd
import re
import signal
import smtplib
import subprocess
import time

import pytest

from conftest import LIBSUBST, free_port
from daemons import backend, client, curl, daemon, open_dir, status, stop, wait_for_log


def volume(d):
    return ["--volume", f"{d}:{d}"]


VCL = """vcl 4.1;
backend default {{ .host = "127.0.0.1"; .port = "{port}"; }}
"""
# varnishd runs `rm -rf vmod_cache` through system(3) and its VCL compiler
# as `exec x86_64-linux-gnu-gcc ...` from sh: programs of other packages.
VARNISH_OPTS = ["--add", "/usr/bin/rm", "--add", "/usr/bin/x86_64-linux-gnu-gcc"]
NCSA = "%m %U %s %{Varnish:hitmiss}x"


def varnish_session(tmp_path, side):
    """varnishd -F in front of a native backend: a miss, a hit, a 404 miss;
    its counters and request log read from its shared memory natively, and
    as a guest of their own sharing the volume; SIGTERM."""
    guest = side == "guest"
    with open_dir(side) as d, backend(d) as up:
        (d / "default.vcl").write_text(VCL.format(port=up))
        port = free_port()
        name = f"{d}/vn"
        argv = ["varnishd", "-F", "-a", f"127.0.0.1:{port}", "-f", f"{d}/default.vcl",
                "-n", name, "-s", "malloc,16m"]
        url = f"http://127.0.0.1:{port}"
        with daemon(argv, port, tmp_path, guest, [*VARNISH_OPTS, *volume(d)]) as proc:
            out = [curl(f"{url}/index.txt"), curl(f"{url}/index.txt"), curl(f"{url}/missing")]
            stat = ["varnishstat", "-n", name, "-1", "-f", "MAIN.cache_hit", "-f",
                    "MAIN.cache_miss"]
            ncsa = ["varnishncsa", "-n", name, "-d", "-F", NCSA]
            for argv in (stat, ncsa):
                for cmd in (argv, [*LIBSUBST, "run", *volume(d), *argv]):
                    rc, text, err = client(cmd)
                    # name and value, not the rate since the start
                    out.append((rc, [line.split()[:2] if argv is stat else line
                                     for line in text.splitlines()], err))
            rc, err = stop(proc)
    log = [re.sub(r"\(\d+\)", "(PID)", line) for line in err.splitlines()]
    return out, rc, log


def test_varnish_in_front_of_a_backend(tmp_path):
    native = varnish_session(tmp_path, "native")
    guest = varnish_session(tmp_path, "guest")
    assert native[0][:2] == [(0, "from the backend\n 200\n", "")] * 2, native
    assert native[0][3] == (0, [["MAIN.cache_hit", "1"], ["MAIN.cache_miss", "2"]], ""), native
    assert native[0][5][1] == ["GET /index.txt 200 miss", "GET /index.txt 200 hit",
                               "GET /missing 404 miss"], native
    assert native[1] == 0 and "Info: manager dies" in native[2], native
    assert guest == native


FPM_CONF = """[global]
pid = {d}/fpm.pid
error_log = {d}/fpm.log
daemonize = no
[www]
user = nobody
group = nogroup
listen = {d}/php.sock
listen.mode = 0666
pm = static
pm.max_children = 3
"""

NGINX_CONF = """daemon off;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/nginx.err;
events {{}}
http {{
  access_log off;
  client_body_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{port};
    root {d}/www;
    location ~ \\.php$ {{
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass unix:{d}/php.sock;
    }}
  }}
}}
"""

PHP = """<?php
header("X-Sapi: " . php_sapi_name());
echo "hello ", $_GET["x"] ?? "-", " from uid ", posix_getuid() == 65534 ? "nobody" : "?", "\\n";
"""


def fpm_session(tmp_path, side, nginx_side):
    """php-fpm8.2 -F (a master, three workers as nobody) on a Unix socket
    in a volume, nginx (native or a guest) passing .php to it: a script,
    twelve at once, a missing script, a static file; php-fpm reloaded
    (SIGUSR2: its master executes itself again), asked again; both
    stopped."""
    with open_dir(side) as d:
        (d / "www").mkdir()
        (d / "tmp").mkdir()
        (d / "www" / "index.php").write_text(PHP)
        (d / "www" / "static.txt").write_text("static\n")
        port = free_port()
        (d / "fpm.conf").write_text(FPM_CONF.format(d=d))
        (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port))
        url = f"http://127.0.0.1:{port}"
        fpm = ["php-fpm8.2", "-F", "-y", f"{d}/fpm.conf"]
        nginx = ["nginx", "-c", f"{d}/nginx.conf"]
        with daemon(fpm, d / "php.sock", tmp_path, side == "guest", volume(d)) as php, \
                daemon(nginx, port, tmp_path, nginx_side == "guest", volume(d)) as web:
            out = [curl(f"{url}/index.php?x=1"), curl(f"{url}/missing.php"),
                   curl(f"{url}/static.txt"),
                   client(["curl", "-s", "-o", "/dev/null", "-D", "-", f"{url}/index.php"])[1]
                   .lower().count("x-sapi: fpm-fcgi")]
            many = [subprocess.Popen(["curl", "-s", f"{url}/index.php?x={i}"],
                                     stdout=subprocess.PIPE) for i in range(12)]
            out.append(sorted(p.communicate(timeout=60)[0] for p in many))
            php.send_signal(signal.SIGUSR2)
            wait_for_log(d / "fpm.log", "ready to handle connections", 2, php)
            out.append(curl(f"{url}/index.php?x=2"))
            out.append(stop(web)[0])
            out.append(stop(php)[0])
        log = [line.split("] ", 1)[-1] for line in (d / "fpm.log").read_text().splitlines()]
    return out, [re.sub(r"pid \d+", "pid N", line).replace(str(d), "D") for line in log]


@pytest.mark.parametrize("nginx_side", ["native", "guest"])
def test_php_fpm_behind_nginx(tmp_path, nginx_side):
    native = fpm_session(tmp_path, "native", "native")
    guest = fpm_session(tmp_path, "guest", nginx_side)
    assert native[0][0] == (0, "hello 1 from uid nobody\n 200\n", ""), native
    assert native[0][1][1].endswith(" 404\n") and native[0][3] == 1, native
    assert "NOTICE: reloading: execvp(" in "".join(native[1]), native
    assert guest == native


MAIN_CF = """compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
myhostname = mail.test
mydestination = mail.test, localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
mail_spool_directory = {d}/mail/
smtpd_peername_lookup = no
maillog_file = /dev/stdout
biff = no
"""

# Debian's master.cf, less what the test does not use; chroot "y" where Debian has it.
MASTER_CF = """127.0.0.1:{port} inet n - y - - smtpd
pickup unix n - y 60 1 pickup
cleanup unix n - y - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - y - - trivial-rewrite
bounce unix - - y - 0 bounce
defer unix - - y - 0 bounce
trace unix - - y - 0 bounce
verify unix - - y - 1 verify
flush unix n - y 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - y - - showq
error unix - - y - - error
retry unix - - y - - error
discard unix - - y - - discard
local unix - n n - - local
anvil unix - - y - 1 anvil
scache unix - - y - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

DOVECOT_CONF = """base_dir = {d}/run
state_dir = {d}/state
log_path = /dev/stderr
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""


def mail_tree(d, smtp, imap):
    """postfix's configuration and queue (what `postfix post-install`
    makes: the queue's directories with their owners and modes, the files
    a chrooted smtpd reads in its etc), dovecot's, and a spool directory
    local delivers each user's Maildir into."""
    postfix, postdrop = pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postdrop").gr_gid
    (d / "etc").mkdir()
    (d / "etc" / "main.cf").write_text(MAIN_CF.format(d=d))
    (d / "etc" / "master.cf").write_text(MASTER_CF.format(port=smtp))
    queue = d / "queue"
    queue.mkdir()
    for sub in ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
                "private", "saved", "trace"):
        (queue / sub).mkdir(mode=0o700)
        os.chown(queue / sub, postfix, -1)
    for sub, mode in (("maildrop", 0o1730), ("public", 0o2710)):
        (queue / sub).mkdir()
        os.chown(queue / sub, postfix, postdrop)
        os.chmod(queue / sub, mode)
    (queue / "pid").mkdir()
    (queue / "etc").mkdir()
    for name in ("services", "hosts", "nsswitch.conf"):
        (queue / "etc" / name).write_bytes(open(f"/etc/{name}", "rb").read())
    (d / "data").mkdir()
    os.chown(d / "data", postfix, -1)
    (d / "mail").mkdir()
    os.chmod(d / "mail", 0o1777)
    for sub in ("run", "state"):
        (d / sub).mkdir()
    (d / "passwd").write_text(f"nobody:{{PLAIN}}secret:65534:65534::{d}/mail/nobody\n")
    (d / "dovecot.conf").write_text(DOVECOT_CONF.format(d=d, port=imap))


def wait_for_files(d, count, proc):
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if d.is_dir() and len(os.listdir(d)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} files never in {d}")


def postfix_log(text):
    """postfix's lines but for the time, pids, queue ids, message ids and delays."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\w+ \d+ [\d:]+ ", "", line)
        line = re.sub(r"\[\d+\]", "[PID]", line)
        line = re.sub(r"\b[0-9A-F]{8,12}\b", "QID", line)
        line = re.sub(r"message-id=<[^>]*>", "message-id", line)
        out.append(re.sub(r"delays?=[\d./]+", "delay", line))
    return out


def mail_session(tmp_path, side):
    """postfix's master -d and dovecot -F, each a guest of its own sharing
    the volume (or both native): two mails by SMTP (and one to a user that
    does not exist, refused), delivered into nobody's Maildir, read over
    IMAP: the mailbox, a search, headers and a body; both stopped."""
    guest = side == "guest"
    with open_dir(side) as d:
        smtp, imap = free_port(), free_port()
        mail_tree(d, smtp, imap)
        master = ["/usr/lib/postfix/sbin/master", "-d", "-c", f"{d}/etc"]
        dovecot = ["dovecot", "-F", "-c", f"{d}/dovecot.conf"]
        with daemon(master, smtp, tmp_path, guest, volume(d)) as mta, \
                daemon(dovecot, imap, tmp_path, guest, volume(d)) as imapd:
            out = []
            with smtplib.SMTP("127.0.0.1", smtp, local_hostname="client.test", timeout=60) as s:
                out.append(s.ehlo()[0])
                for n in (1, 2):
                    out.append(s.sendmail("alice@client.test", ["nobody@mail.test"],
                                          f"Subject: mail {n}\n\nhello nobody, {n}\n"))
                try:
                    s.sendmail("alice@client.test", ["nosuchuser@mail.test"], "Subject: x\n\nx\n")
                except smtplib.SMTPRecipientsRefused as e:
                    out.append(str(e))
            wait_for_files(d / "mail" / "nobody" / "new", 2, mta)
            m = imaplib.IMAP4("127.0.0.1", imap, timeout=60)
            try:
                out += [m.login("nobody", "secret"), m.select("INBOX"),
                        m.search(None, "SUBJECT", "mail 2"),
                        m.fetch("1:2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"),
                        m.fetch("2", "(BODY[TEXT])")]
            finally:
                out.append(m.logout())
            mta.send_signal(signal.SIGTERM)
            mta_log = mta.communicate(timeout=60)[0].decode(errors="replace")
            mta_rc = status(mta.returncode)
            imapd_rc, imapd_log = stop(imapd)
    # the sender of dovecot's SIGTERM: pid 0 and the overflow uid in a
    # guest (a host process, outside its namespaces); a session's byte
    # counts (untagged updates it happened to send)
    dovecot_log = [re.sub(r"^\w+ \d+ [\d:]+ ", "", re.sub(r"\(by pid=.*\)|<\d+><[^>]*>|"
                                                          r"session=<[^>]*>|mpid=\d+|waited \d+ secs|in=\d+ out=\d+", "", line))
                   for line in imapd_log.splitlines()]
    # in the order the processes happened to log in
    return (out, mta_rc, imapd_rc, sorted(postfix_log(mta_log.replace(str(d), "D"))),
            sorted(dovecot_log))


def test_postfix_delivers_and_dovecot_serves(tmp_path):
    native = mail_session(tmp_path, "native")
    guest = mail_session(tmp_path, "guest")
    assert native[0][1:3] == [{}, {}] and "User unknown" in native[0][3], native
    assert native[0][6] == ("OK", [b"2"]), native
    assert "hello nobody, 2" in str(native[0][8]), native
    assert any("status=sent (delivered to maildir)" in line for line in native[3]), native
    assert native[1:3] == (143, 0), native
    assert guest == native


NAMED_CONF = """include "{d}/upd.key";
options {{
  directory "{d}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file "{d}/named.pid";
  recursion no;
  dnssec-validation no;
}};
controls {{ }};
zone "test" {{ type primary; file "{d}/test.zone"; allow-update {{ key upd; }}; }};
"""

ZONE = """$TTL 300
@ IN SOA ns.test. admin.test. 1 3600 600 86400 300
@ IN NS ns.test.
ns IN A 127.0.0.1
a IN A 10.0.0.1
"""


def dig(port, *args):
    return client(["dig", "-p", str(port), "@127.0.0.1", "+tries=1", "+time=10", "+short",
                   *args])


def named_session(tmp_path, side):
    """bind9's named -g (as its bind user: -u bind) serving a zone over UDP
    and TCP, a record added by nsupdate with a TSIG key (the zone's journal
    written), asked again; SIGTERM."""
    with open_dir(side) as d:
        port = free_port()
        key = subprocess.run(["tsig-keygen", "-a", "hmac-sha256", "upd"], capture_output=True,
                             check=True, timeout=60).stdout
        (d / "upd.key").write_bytes(key)
        (d / "named.conf").write_text(NAMED_CONF.format(d=d, port=port))
        (d / "test.zone").write_text(ZONE)
        bind = pwd.getpwnam("bind")
        for f in (d, *d.iterdir()):
            os.chown(f, bind.pw_uid, bind.pw_gid)
        argv = ["named", "-g", "-u", "bind", "-c", f"{d}/named.conf"]
        log = tmp_path / f"named-{side}.log"
        with open(log, "wb") as logf, \
                daemon(argv, port, tmp_path, side == "guest", volume(d), stderr=logf) as proc:
            # it listens before its zones are loaded
            wait_for_log(log, "all zones loaded", 1, proc)
            out = [dig(port, "a.test"), dig(port, "+tcp", "ns.test"), dig(port, "b.test")]
            update = f"server 127.0.0.1 {port}\nzone test\nupdate add b.test 300 A 10.0.0.2\nsend\n"
            out.append(client(["nsupdate", "-k", f"{d}/upd.key"], input=update.encode()))
            out += [dig(port, "b.test"), dig(port, "test", "SOA"),
                    os.path.exists(d / "test.zone.jnl")]
            rc, _ = stop(proc)
        err = log.read_text()
    keep = ("zone test/IN: loaded", "all zones loaded", "running", "adding an RR",
            "UDP/IPv4 port range", "session", "shutting down", "exiting")
    log = [line.split(" ", 2)[2].split(": ", 1)[-1].replace(str(d), "D")
           for line in err.splitlines() if any(k in line for k in keep)]
    return out, rc, log


def test_named_serves_a_zone_and_takes_a_signed_update(tmp_path):
    native = named_session(tmp_path, "native")
    guest = named_session(tmp_path, "guest")
    assert native[0][0] == (0, "10.0.0.1\n", "") and native[0][2] == (0, "", ""), native
    assert native[0][4] == (0, "10.0.0.2\n", "") and native[0][6], native
    assert native[1] == 0 and "exiting" in native[2], native
    assert guest == native


SLAPD_CONF = """include /etc/ldap/schema/core.schema
pidfile {d}/db/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "dc=test"
rootdn "cn=admin,dc=test"
rootpw secret
directory {d}/db
"""

LDIF = """dn: dc=test
objectClass: dcObject
objectClass: organization
o: Test
dc: test

dn: cn=alice,dc=test
objectClass: person
cn: alice
sn: Liddell
"""


def slapd_session(tmp_path, side):
    """OpenLDAP's slapd -d 0 dropping root for openldap (-u, -g), its mdb
    database in the volume (back_mdb a module it loads), two entries
    added, searched, one modified and one refused, by ldapadd, ldapsearch
    and ldapmodify natively; SIGTERM."""
    with open_dir(side) as d:
        port = free_port()
        (d / "db").mkdir()
        ldap = pwd.getpwnam("openldap")
        os.chown(d / "db", ldap.pw_uid, ldap.pw_gid)
        (d / "slapd.conf").write_text(SLAPD_CONF.format(d=d))
        (d / "add.ldif").write_text(LDIF)
        url = f"ldap://127.0.0.1:{port}"
        argv = ["slapd", "-d", "0", "-u", "openldap", "-g", "openldap", "-f", f"{d}/slapd.conf",
                "-h", f"{url}/"]
        admin = ["-x", "-H", url, "-D", "cn=admin,dc=test", "-w", "secret"]
        with daemon(argv, port, tmp_path, side == "guest", volume(d)) as proc:
            out = [client(["ldapadd", *admin, "-f", f"{d}/add.ldif"]),
                   client(["ldapsearch", "-x", "-LLL", "-H", url, "-b", "dc=test", "(cn=alice)"]),
                   client(["ldapmodify", *admin],
                          input=b"dn: cn=alice,dc=test\nchangetype: modify\nreplace: sn\n"
                                b"sn: Carroll\n"),
                   client(["ldapadd", *admin], input=b"dn: cn=bob,dc=test\nobjectClass: person\n"
                                                     b"cn: bob\n"),
                   client(["ldapsearch", "-x", "-LLL", "-H", url, "-b", "dc=test", "sn=Carroll",
                           "cn"])]
            rc, err = stop(proc)
    return out, rc, err


def test_slapd_with_ldap_clients(tmp_path):
    native = slapd_session(tmp_path, "native")
    guest = slapd_session(tmp_path, "guest")
    assert native[0][1][1] == "dn: cn=alice,dc=test\nobjectClass: person\ncn: alice\n" \
        "sn: Liddell\n\n", native
    assert native[0][3][0] != 0 and "sn" in native[0][3][2], native     # no surname: refused
    assert native[0][4][1] == "dn: cn=alice,dc=test\ncn: alice\n\n", native
    assert native[1] == 0, native
    assert guest == native


SQUID_CONF = """http_port 127.0.0.1:{port}
acl localnet src 127.0.0.1
http_access allow localnet
http_access deny all
cache_dir ufs {d}/cache 16 4 16
cache_mem 4 MB
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log stdio:{d}/access.log squid
cache_store_log none
cache_effective_user proxy
coredump_dir {d}
shutdown_lifetime 1 seconds
"""


def squid_session(tmp_path, side):
    """squid -N (as its proxy user) in front of a native backend, its disk
    cache made by squid -z in the volume: a miss, a hit from memory, a 404;
    restarted, a hit from the disk cache; stopped by SIGTERM each time."""
    guest = side == "guest"
    with open_dir(side) as d, backend(d) as up:
        port = free_port()
        (d / "cache").mkdir()
        proxy = pwd.getpwnam("proxy")
        for name in ("cache.log", "access.log"):
            (d / name).touch()
        for f in ("cache", "cache.log", "access.log"):
            os.chown(d / f, proxy.pw_uid, proxy.pw_gid)
        (d / "squid.conf").write_text(SQUID_CONF.format(d=d, port=port))
        argv = ["squid", "-N", "-f", f"{d}/squid.conf"]
        made = subprocess.run([*LIBSUBST, "run", *volume(d), *argv, "-z"] if guest
                              else [*argv, "-z"], capture_output=True, timeout=120)
        out = [made.returncode, sorted(os.listdir(d / "cache"))]
        url = f"http://127.0.0.1:{up}"
        get = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", f"127.0.0.1:{port}"]
        for run in (1, 2):
            with daemon(argv, port, tmp_path, guest, volume(d)) as proc:
                out += [client([*get, f"{url}/index.txt"])[1] for _ in range(run)]
                out.append(client([*get, f"{url}/missing"])[1])
                out.append(stop(proc)[0])
        # the result codes but for the probes of the port (NONE_NONE/000),
        # a hit (TCP_HIT, TCP_MEM_HIT, TCP_REFRESH_UNMODIFIED: which of them
        # depends on the time since the backend's Last-Modified) or not
        log = [line.split()[3] for line in (d / "access.log").read_text().splitlines()]
    return out, [("MISS" if "MISS" in code else "HIT") + code[-4:] for code in log
                 if not code.startswith("NONE")]


def test_squid_caches_in_a_volume(tmp_path):
    native = squid_session(tmp_path, "native")
    guest = squid_session(tmp_path, "guest")
    assert native[0][:2] == [0, ["00", "01", "02", "03"]], native
    # the second run's first hit is the disk cache's
    assert native[1] == ["MISS/200", "MISS/404", "HIT/200", "HIT/200", "MISS/404"], native
    assert guest == native


SUPERVISORD_CONF = """[supervisord]
nodaemon=true
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}
[unix_http_server]
file={d}/supervisor.sock
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{d}/supervisor.sock
[program:web]
command=python3 -m http.server -b 127.0.0.1 {port} -d {d}/www
startsecs=1
[program:ticker]
command=sh -c 'echo started >> {d}/ticks; sleep 2; exit 3'
startsecs=1
autorestart=true
"""


def supervisord_session(tmp_path, side):
    """supervisord -n running a web server and a program that ends (status
    3) after 2 s, which it restarts; supervisorctl natively over its Unix
    socket in the volume: status, a restart of the web server; SIGTERM."""
    with open_dir(side) as d:
        port = free_port()
        (d / "www").mkdir()
        (d / "www" / "index.txt").write_text("supervised\n")
        (d / "supervisord.conf").write_text(SUPERVISORD_CONF.format(d=d, port=port))
        ctl = ["supervisorctl", "-c", f"{d}/supervisord.conf"]
        argv = ["supervisord", "-n", "-c", f"{d}/supervisord.conf"]
        opts = ["--add", "/usr/bin/sleep", *volume(d)]
        with daemon(argv, port, tmp_path, side == "guest", opts) as proc:
            out = [curl(f"http://127.0.0.1:{port}/index.txt")]
            wait_for_log(d / "ticks", "started", 2, proc)
            out.append(client([*ctl, "restart", "web"]))
            out.append(curl(f"http://127.0.0.1:{port}/index.txt"))
            rc, _ = stop(proc)
        log = (d / "supervisord.log").read_text()
    keep = ("exited: ticker", "stopped: web", "spawned: 'web'", "received SIGTERM")
    # each once: the ticker ends every 2 s until the end
    log = {re.sub(r"pid \d+", "pid N", line.split(" ", 2)[2]) for line in log.splitlines()
           if any(k in line for k in keep)}
    return out, rc, sorted(log)


def test_supervisord_restarts_a_program_that_ends(tmp_path):
    native = supervisord_session(tmp_path, "native")
    guest = supervisord_session(tmp_path, "guest")
    assert native[0][0] == (0, "supervised\n 200\n", "") and native[0][2] == native[0][0], native
    assert "WARN exited: ticker (exit status 3; not expected)" in native[2], native
    assert native[1] == 0, native
    assert guest == native
