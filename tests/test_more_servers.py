"""Servers a user tries after the named ones, each natively and as a guest
with the same clients, outputs compared: a node http server, a Java
jdk.httpserver, dbus-daemon on a socket in a volume, a tmux server with
its clients. (python3 -m http.server: test_servers.py; PostgreSQL:
test_postgres.py.)"""

import os
import random
import signal
import subprocess

from conftest import LIBSUBST, assert_same, free_port, run_guest, run_native, wait_for_port
from daemons import wait_for_socket

NODE_SERVER = """
const http = require('http');
const crypto = require('crypto');
const server = http.createServer((req, res) => {
  const parts = [];
  req.on('data', c => parts.push(c));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${req.method} ${req.url} ${body.length} ` +
            crypto.createHash('sha256').update(body).digest('hex') + '\\n');
  });
});
server.listen(+process.argv[2], '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => server.close(() => { console.log('closed'); process.exit(3); }));
"""

JAVA_SERVER = """
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;

public class Hello {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(
            new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 0);
        server.createContext("/", exchange -> {
            byte[] body = exchange.getRequestBody().readAllBytes();
            String digest;
            try {
                digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body));
            } catch (Exception e) {
                digest = e.toString();
            }
            byte[] out = (exchange.getRequestMethod() + " " + exchange.getRequestURI() + " "
                          + body.length + " " + digest + "\\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(exchange.getRequestURI().getPath().equals("/nope") ? 404 : 200,
                                         out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(4));
        server.start();
        System.out.println("listening");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(0);
            System.out.println("stopped");
        }));
    }
}
"""


def start(argv, cwd, guest, opts=()):
    cmd = [*LIBSUBST, "run", *opts, *argv] if guest else argv
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def exchange(port, tmp_path):
    """The same requests to a server: GET, a POST of 1 MB, a 404, eight in parallel."""
    blob = tmp_path / "blob"
    blob.write_bytes(random.Random(5).randbytes(1 << 20))
    url = f"http://127.0.0.1:{port}"
    curl = ["curl", "-s", "-w", " %{http_code}\n"]
    out = [subprocess.run([*curl, f"{url}/hello?x=1"], capture_output=True, timeout=60).stdout,
           subprocess.run([*curl, "--data-binary", f"@{blob}", f"{url}/post"],
                          capture_output=True, timeout=60).stdout,
           subprocess.run([*curl, f"{url}/nope"], capture_output=True, timeout=60).stdout]
    many = [subprocess.Popen([*curl, f"{url}/p{i}"], stdout=subprocess.PIPE) for i in range(8)]
    out += [p.communicate(timeout=60)[0] for p in many]
    return out


def serve_and_stop(argv, tmp_path, guest, sig=signal.SIGTERM):
    """(responses, exit status, stdout) of a server started, asked, stopped by sig."""
    port = free_port()
    proc = start([*argv, str(port)], tmp_path, guest)
    try:
        wait_for_port(port, proc, timeout=120)
        got = exchange(port, tmp_path)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    return got, proc.returncode, out.decode(), err.decode()


def test_node_http_server(tmp_path):
    (tmp_path / "server.js").write_text(NODE_SERVER)
    argv = ["/usr/bin/node", str(tmp_path / "server.js")]
    native = serve_and_stop(argv, tmp_path, guest=False)
    guest = serve_and_stop(argv, tmp_path, guest=True)
    assert native[1] == 3 and native[2] == "listening\nclosed\n", native
    assert guest[:3] == native[:3], guest[3]


def test_java_httpserver(tmp_path):
    """jdk.httpserver, a thread pool, a shutdown hook run on SIGTERM (the
    JVM's signal handling, its threads, its JIT)."""
    (tmp_path / "Hello.java").write_text(JAVA_SERVER)
    subprocess.run(["javac", "-d", str(tmp_path), str(tmp_path / "Hello.java")], check=True,
                   timeout=300)
    argv = ["/usr/bin/java", "-cp", str(tmp_path), "Hello"]
    native = serve_and_stop(argv, tmp_path, guest=False)
    guest = serve_and_stop(argv, tmp_path, guest=True)
    assert native[1] == 128 + signal.SIGTERM and native[2] == "listening\nstopped\n", native
    assert guest[:3] == native[:3], guest[3]


DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <auth>ANONYMOUS</auth>
  <allow_anonymous/>
  <policy context="default">
    <!-- the policy of Debian's session.conf -->
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

DBUS_SEND = ["dbus-send", "--print-reply=literal", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus"]


def dbus_session(tmp_path, side):
    """A dbus-daemon on a socket in side's directory (a volume for the
    guest) asked by the host's dbus-send; then SIGTERM."""
    d = tmp_path / side
    d.mkdir()
    where = str(d) if side == "native" else "/bus"
    (d / "session.conf").write_text(DBUS_CONF.format(path=f"{where}/bus"))
    argv = ["dbus-daemon", f"--config-file={where}/session.conf", "--nofork"]
    proc = start(argv, tmp_path, side == "guest", opts=["--volume", f"{d}:/bus"])
    bus = f"--bus=unix:path={d}/bus"
    try:
        # Connected to, not seen: its file is there from bind, before listen.
        wait_for_socket(d / "bus", proc)
        calls = [["org.freedesktop.DBus.ListNames"],
                 ["org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.DBus"],
                 ["org.freedesktop.DBus.GetNameOwner", "string:org.example.None"]]
        got = [subprocess.run(["dbus-send", bus, *DBUS_SEND[1:], *c], capture_output=True,
                              text=True, timeout=60) for c in calls]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    return [(r.returncode, r.stdout, r.stderr) for r in got], proc.returncode


def test_dbus_daemon_on_a_socket_in_a_volume(tmp_path):
    """A host client's EXTERNAL credentials (its uid) mean nothing in the
    guest's user namespace, as in any container's: the bus allows
    ANONYMOUS too, which a host client falls back to."""
    native, guest = dbus_session(tmp_path, "native"), dbus_session(tmp_path, "guest")
    assert native[0][0][0] == 0 and ":1." in native[0][0][1], native
    assert guest == native


TMUX_SCRIPT = r"""
# tmux's server (forked by new -d), a client typing into its pane's shell,
# the pane read back, the server killed: $1 a directory for the socket.
S=$1/sock
tmux -S $S new -d -s main -x 80 -y 10
tmux -S $S send-keys -t main 'echo hello from $((6*7)) > '$1/out Enter
i=0
until [ -s $1/out ] || [ $i -ge 1000 ]; do i=$((i+1)); sleep 0.02; done
read line < $1/out; echo "$line"
tmux -S $S capture-pane -p -t main | grep -c "hello from"
tmux -S $S list-sessions -F '#{session_name} #{session_windows} #{window_width}x#{window_height}'
tmux -S $S split-window -t main; tmux -S $S list-panes -t main | wc -l
tmux -S $S kill-server; echo "kill-server $?"
"""


def test_tmux_server_and_its_clients(tmp_path):
    """The server a tmux client forks, a shell in its pane (a pty of the
    guest's devpts), other clients over its socket. The server outlives
    its first client but not the guest: its clients run in the same guest."""
    (tmp_path / "t.sh").write_text(TMUX_SCRIPT)
    (tmp_path / "n").mkdir()
    (tmp_path / "g").mkdir()
    env = {**os.environ, "SHELL": "/bin/sh", "TERM": "xterm", "HOME": str(tmp_path)}
    native = run_native(["/bin/sh", str(tmp_path / "t.sh"), str(tmp_path / "n")],
                        tmp_path, env=env)
    guest = run_guest(["/bin/sh", str(tmp_path / "t.sh"), "/t"], tmp_path, env=env,
                      opts=["--volume", f"{tmp_path / 'g'}:/t",
                            *(f"--add=/usr/bin/{p}" for p in ("tmux", "grep", "sleep", "wc"))])
    assert native.stdout == b"hello from 42\n1\nmain 1 80x10\n2\nkill-server 0\n", native
    assert_same(native, guest)
