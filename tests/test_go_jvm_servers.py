"""Servers and tools of the Go and JVM runtimes nobody listed, Debian 12's,
run as a user runs them (`libsubst run`, their data in a volume, loopback
only), each natively and as a guest and driven by the same real clients
(curl, ab, the programs' own CLIs), their answers compared: caddy (a file
server, a reverse proxy, its admin API's reload, under ab), prometheus
(scraping itself and a native target, rules, its TSDB's WAL replayed at a
restart) and promtool, etcd (raft and its WAL fsync'd in a volume,
etcdctl from the host and from a guest, watch, a restart), hugo (a site
built, a server rebuilding on a change), restic (init, backup, check,
restore), rclone (copy, check, serve http) and tomcat10 (catalina.sh run:
a JSP, a servlet with a session).  The first run of each Go program
searches its 17-54 MB for syscall sites (README: *Servers*)."""

import hashlib
import http.server
import json
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager

import pytest

from conftest import LIBSUBST, free_port, wait_for_port
from daemons import client, curl, daemon, open_dir, wait_for_log


def needs(*programs):
    missing = [p for p in programs if shutil.which(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"tests/run.sh installs {' '.join(missing)}")


# Each program's run printing its version: the first searches it for syscall
# sites, minutes for the largest on a loaded machine (README: *Servers*),
# longer than a client's or a server's start's bounds below.
VERSION = {"caddy": "version", "prometheus": "--version", "promtool": "--version",
           "etcd": "--version", "etcdctl": "version", "hugo": "version", "restic": "version",
           "rclone": "version", "java": "-version"}


def searched(*programs):
    """Runs each program of VERSION once as a guest (bounded: 20 minutes)."""
    for p in programs:
        r = subprocess.run([*LIBSUBST, "run", p, VERSION[p]], capture_output=True, timeout=1200)
        assert r.returncode == 0, r.stderr.decode(errors="replace")


def status(rc):
    """A death by signal N as 128+N, as `libsubst run` reports its guest's."""
    return 128 - rc if rc < 0 else rc


def stop(proc):
    """SIGTERM, then the server's exit status."""
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    return status(proc.returncode)


def run(argv, side, d, **kw):
    """argv natively or as a guest with d as a volume: (status, stdout, stderr)."""
    cmd = [*LIBSUBST, "run", "--volume", f"{d}:{d}", *argv] if side == "guest" else argv
    return client(cmd, **kw)


def http_get(url, data=None, headers=None):
    """(status, body), an HTTP error's too."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def tree(top):
    """{relative path: bytes, link target or mode} of everything below top."""
    out = {}
    for p in sorted(top.rglob("*")):
        rel = p.relative_to(top).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = ("file", oct(p.stat().st_mode & 0o7777), p.read_bytes())
        else:
            out[rel] = ("dir", oct(p.stat().st_mode & 0o7777))
    return out


def poll(fetch, done, what):
    """fetch() until done(answer) (bounded): the answer."""
    deadline = time.monotonic() + 90
    while True:
        got = fetch()
        if done(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {got}")
        time.sleep(0.2)


CADDYFILE = """{
\tadmin 127.0.0.1:@ADMIN@
\tauto_https off
\tstorage file_system @D@/data
}
http://127.0.0.1:@PORT@ {
\troot * @D@/www
\tfile_server browse
@MORE@}
http://127.0.0.1:@PROXY@ {
\treverse_proxy 127.0.0.1:@PORT@
}
"""


def ab(url):
    """ApacheBench's counts of a load (2000 requests, 20 at a time)."""
    r = client(["ab", "-q", "-n", "2000", "-c", "20", url])
    keys = ("Complete requests", "Failed requests", "Non-2xx responses", "Document Length")
    return r[0], [line.split(":")[0] + ":" + line.split(":")[1].split()[0]
                  for line in r[1].splitlines() if line.startswith(keys)]


def caddy_session(side, monkeypatch):
    """caddy run with a Caddyfile: a file server (a listing as JSON), a
    reverse proxy in front of it, both under ab's load; the admin API's
    config read and a new Caddyfile POSTed to /load; SIGTERM."""
    with open_dir(side) as d:
        (d / "www" / "sub").mkdir(parents=True)
        (d / "www" / "index.html").write_text("<p>hello</p>\n")
        (d / "www" / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 400)
        # Its autosaved config and data: the caller's XDG directories, in the volume.
        monkeypatch.setenv("XDG_CONFIG_HOME", str(d / "config"))
        monkeypatch.setenv("XDG_DATA_HOME", str(d / "xdata"))
        port, proxy, admin = free_port(), free_port(), free_port()

        def caddyfile(more=""):
            return (CADDYFILE.replace("@D@", str(d)).replace("@PORT@", str(port))
                    .replace("@PROXY@", str(proxy)).replace("@ADMIN@", str(admin))
                    .replace("@MORE@", more))
        (d / "Caddyfile").write_text(caddyfile())
        argv = ["caddy", "run", "--config", f"{d}/Caddyfile"]
        with open(d / "log", "w+") as log, \
                daemon(argv, proxy, d, side == "guest", ["--volume", f"{d}:{d}"],
                       stderr=log) as proc:
            # the other server's port too: caddy opens them one after the
            # other, in a Go map's order
            wait_for_port(port, proc)
            base = f"http://127.0.0.1:{port}"
            out = [curl(f"{base}/"), curl(f"{base}/missing"),
                   curl(f"http://127.0.0.1:{proxy}/index.html")]
            listing = json.loads(http_get(f"{base}/sub/", headers={"Accept": "application/json"})[1])
            out.append([(e["name"], e["size"], e["is_dir"]) for e in listing])
            body = http_get(f"http://127.0.0.1:{proxy}/sub/blob.bin")[1]
            out.append(hashlib.sha256(body).hexdigest())
            out.append(ab(f"{base}/sub/blob.bin"))
            out.append(ab(f"http://127.0.0.1:{proxy}/index.html"))
            # (The adapter names the servers srv0, srv1 in no fixed order: by a Go map's.)
            servers = json.loads(http_get(f"http://127.0.0.1:{admin}/config/apps/http/servers")[1])
            names = {f":{port}": ":PORT", f":{proxy}": ":PROXY"}
            out.append(sorted(names.get(a, a) for s in servers.values() for a in s["listen"]))
            new = caddyfile('\trespond /hi "hi from the new config" 201\n')
            out.append(http_get(f"http://127.0.0.1:{admin}/load", data=new.encode(),
                                headers={"Content-Type": "text/caddyfile"}))
            out.append(curl(f"{base}/hi"))
            out.append(stop(proc))
            log.seek(0)
            msgs = [json.loads(line)["msg"] for line in log if line.startswith("{")]
    ports = {str(port): "PORT", str(proxy): "PROXY", str(admin): "ADMIN"}
    text = re.sub(r"\b\d{4,5}\b", lambda m: ports.get(m.group(0), m.group(0)), repr(out))
    return text, [m for m in msgs if m in ("load complete", "shutdown complete")]


@needs("caddy", "ab")
def test_caddy_serves_proxies_and_reloads_by_its_admin_api(monkeypatch):
    searched("caddy")
    native = caddy_session("native", monkeypatch)
    guest = caddy_session("guest", monkeypatch)
    assert "<p>hello</p>" in native[0] and "hi from the new config 201" in native[0], native
    assert "'Failed requests:0'" in native[0] and "'Complete requests:2000'" in native[0], native
    assert native[1] == ["load complete", "shutdown complete"], native
    assert guest == native


PROMETHEUS_YML = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [{d}/rules.yml]
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
  - job_name: native
    static_configs: [{{targets: ["127.0.0.1:{target}"]}}]
"""
RULES_YML = """groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
"""
METRICS = b"""# HELP demo_value A gauge of the native target.
# TYPE demo_value gauge
demo_value{kind="a"} 42
demo_value{kind="b"} 7
"""


@contextmanager
def metrics_target():
    """A native target on loopback serving METRICS at /metrics."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(METRICS)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def prom_ready(port):
    """Waits (bounded) for its API, which answers 503 until the TSDB is open."""
    poll(lambda: http_get(f"http://127.0.0.1:{port}/-/ready"), lambda r: r[0] == 200,
         "never ready")


def prom_query(port, expr, at=None):
    """A query's result as sorted (labels, value), without its time and
    the instance (the ports differ from run to run)."""
    q = urllib.parse.urlencode({"query": expr, **({"time": at} if at else {})})
    data = json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/query?{q}")[1])
    assert data["status"] == "success", data
    return sorted((sorted((k, v) for k, v in r["metric"].items() if k != "instance"),
                   r["value"][1]) for r in data["data"]["result"])


def prometheus_session(side):
    """prometheus scraping itself and a native target every second, a
    recording rule, its TSDB in a volume; queried by its HTTP API and by
    promtool (as the same side); SIGTERM, then a restart on the same TSDB
    that answers for the time before it (the WAL replayed)."""
    with open_dir(side) as d, metrics_target() as target:
        port = free_port()
        (d / "prometheus.yml").write_text(PROMETHEUS_YML.format(d=d, port=port, target=target))
        (d / "rules.yml").write_text(RULES_YML)
        argv = ["prometheus", f"--config.file={d}/prometheus.yml", f"--storage.tsdb.path={d}/tsdb",
                f"--web.listen-address=127.0.0.1:{port}"]
        out = [run(["promtool", "check", "config", f"{d}/prometheus.yml"], side, d)]
        with open(d / "log", "w") as log, \
                daemon(argv, port, d, side == "guest", ["--volume", f"{d}:{d}"],
                       stderr=log) as proc:
            prom_ready(port)
            poll(lambda: prom_query(port, "job:up:sum"), lambda r: len(r) == 2, "no rule's result")
            out += [prom_query(port, "up"), prom_query(port, "demo_value"),
                    prom_query(port, "job:up:sum")]
            at = json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/query?query=demo_value")[1]
                            )["data"]["result"][0]["value"][0]
            r = run(["promtool", "query", "instant", f"http://127.0.0.1:{port}", "demo_value"],
                    side, d)
            out.append((r[0], re.sub(r" @\[[0-9.]+\]", "", r[1]), r[2]))
            out.append(stop(proc))
        with open(d / "log2", "w") as log, \
                daemon(argv, port, d, side == "guest", ["--volume", f"{d}:{d}"],
                       stderr=log) as proc:
            prom_ready(port)
            out.append(prom_query(port, "demo_value", at=at))
            out.append(stop(proc))
        replayed = "WAL replay completed" in (d / "log2").read_text()
        text = repr(out).replace(str(d), "D").replace(f"127.0.0.1:{port}", "SELF") \
            .replace(f"127.0.0.1:{target}", "TARGET")
    return text, out[2] == out[-2], out[-1], replayed


@pytest.mark.long   # its first run searches a 50-100 MB program: minutes
@needs("prometheus", "promtool")
def test_prometheus_scrapes_queries_and_replays_its_wal():
    searched("prometheus", "promtool")
    native = prometheus_session("native")
    guest = prometheus_session("guest")
    assert "SUCCESS: 1 rule files found" in native[0], native
    assert "'kind', 'a')], '42')" in native[0] and "kind=\"b\"} => 7" in native[0], native
    assert native[1:] == (True, 0, True), native
    assert guest == native


def etcd_watch(argv, side, last):
    """etcdctl watch from revision 1 (the history, in order) until its
    output ends with the event ``last`` (bounded), then SIGTERM."""
    cmd = [*LIBSUBST, "run", *argv] if side == "guest" else argv
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    try:
        deadline = time.monotonic() + 90
        while not out.endswith(last):
            assert time.monotonic() < deadline, out
            if select.select([proc.stdout], [], [], 1)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, (out, proc.stderr.read())
                out += chunk
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    return out.decode()


def etcd_session(side):
    """A single-member etcd with its data directory (raft's WAL and
    snapshots, bbolt's db) in a volume; etcdctl puts, reads, deletes,
    compacts and watches from the host and from a guest; SIGTERM, then a
    restart that replays the WAL."""
    with open_dir(side) as d:
        port, peer = free_port(), free_port()
        argv = ["etcd", "--name", "m1", "--data-dir", f"{d}/data", "--snapshot-count", "20",
                "--listen-client-urls", f"http://127.0.0.1:{port}",
                "--advertise-client-urls", f"http://127.0.0.1:{port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"m1=http://127.0.0.1:{peer}"]
        ctl = ["etcdctl", f"--endpoints=127.0.0.1:{port}"]
        # --init: etcd's SIGTERM handler exits 0 when it is pid 1 ("the kernel
        # will not help to kill pid 1"), else kills itself by the signal.
        opts = ["--init", "--volume", f"{d}:{d}"]
        out = []
        # It listens before it serves (its election, a restart's WAL replay):
        # a request before its "ready" line can outlast etcdctl's timeouts.
        with open(d / "log", "w") as log, \
                daemon(argv, port, d, side == "guest", opts, stderr=log) as proc:
            wait_for_log(d / "log", "ready to serve client requests", 1, proc)
            for i in range(30):
                out.append(client([*ctl, "put", f"k{i:02}", f"v{i}"]))
            out.append(client([*ctl, "del", "k03"]))
            out.append(client([*LIBSUBST, "run", *ctl, "put", "from-guest", "yes"]))
            out.append(client([*LIBSUBST, "run", *ctl, "get", "--prefix", "k1"]))
            out.append(client([*ctl, "get", "from-guest"]))
            out.append(client([*ctl, "txn"], input=b"value(\"k01\") = \"v1\"\n\nput k01 new\n\n"
                                                   b"put k01 old\n\n"))
            watch = [*ctl, "watch", "--rev", "1", "--prefix", "k"]
            out.append(etcd_watch(watch, "native", b"PUT\nk01\nnew\n"))
            out.append(etcd_watch(watch, "guest", b"PUT\nk01\nnew\n"))
            out.append(client([*ctl, "compact", "10"]))
            out.append(client([*ctl, "defrag"])[0])
            st = json.loads(client([*ctl, "endpoint", "status", "-w", "json"])[1])[0]["Status"]
            out.append((st["leader"] == st["header"]["member_id"], st["header"]["revision"]))
            out.append(stop(proc))
        with open(d / "log2", "w") as log, \
                daemon(argv, port, d, side == "guest", opts, stderr=log) as proc:
            wait_for_log(d / "log2", "ready to serve client requests", 1, proc)
            out.append(client([*ctl, "get", "--prefix", "k", "--keys-only"]))
            out.append(client([*ctl, "get", "k01"]))
            out.append(stop(proc))
        snaps = sorted(p.name for p in (d / "data" / "member" / "snap").iterdir())
    return out, snaps


@needs("etcd", "etcdctl")
def test_etcd_serves_its_clients_and_replays_its_wal():
    searched("etcd", "etcdctl")
    native = etcd_session("native")
    guest = etcd_session("guest")
    assert native[0][0] == (0, "OK\n", "") and native[0][-3][1].count("\n\n") == 29, native
    assert "PUT\nk29\nv29\nDELETE\nk03\n" in native[0][35] == native[0][36], native
    # (Its SIGTERM handler stops the server, then kills itself by the signal: 143.)
    assert native[0][-1] == native[0][-4] == 143 and "db" in native[1], native
    assert guest == native


HUGO_LAYOUTS = {
    "_default/baseof.html": "<!doctype html><title>{{ .Title }}</title>"
                            "<body>{{ block \"main\" . }}{{ end }}</body>\n",
    "_default/single.html": "{{ define \"main\" }}<h1>{{ .Title }}</h1>"
                            "<p>{{ .Date.Format \"2006-01-02\" }} {{ .WordCount }} words</p>"
                            "{{ .Content }}{{ end }}\n",
    "_default/list.html": "{{ define \"main\" }}<ul>{{ range .Pages }}<li>"
                          "<a href=\"{{ .RelPermalink }}\">{{ .Title }}</a></li>{{ end }}</ul>"
                          "{{ end }}\n",
    "index.html": "{{ define \"main\" }}{{ range .Site.RegularPages }}{{ .Title }}: "
                  "{{ delimit .Params.tags \", \" }} {{ end }}{{ end }}\n",
}


def hugo_site(d):
    site = d / "site"
    for name, text in HUGO_LAYOUTS.items():
        (site / "layouts" / name).parent.mkdir(parents=True, exist_ok=True)
        (site / "layouts" / name).write_text(text)
    (site / "content" / "posts").mkdir(parents=True)
    (site / "static").mkdir()
    (site / "static" / "style.css").write_text("body { color: #333 }\n")
    (site / "config.toml").write_text('baseURL = "http://example.test/"\ntitle = "Site"\n'
                                      '[taxonomies]\ntag = "tags"\n')
    for i in range(1, 9):
        (site / "content" / "posts" / f"p{i}.md").write_text(
            f'---\ntitle: "Post {i}"\ndate: 2024-01-0{i}T10:00:00Z\ntags: ["t{i % 3}", "all"]\n'
            f"---\n\n# Heading {i}\n\nSome *markdown* with a [link](https://example.test/{i})"
            f" and code:\n\n```go\nfunc main() {{ println({i}) }}\n```\n")
    return site


@pytest.mark.long   # its first run searches a 50-100 MB program: minutes
@needs("hugo")
def test_hugo_builds_the_same_site():
    """Its goroutines render the pages in parallel; the output tree, byte
    for byte (highlighted code, taxonomies, the sitemap, RSS), is native's."""
    searched("hugo")
    out = {}
    for side in ("native", "guest"):
        with open_dir(side) as d:
            site = hugo_site(d)
            r = run(["hugo", "--source", str(site), "--destination", f"{d}/public", "--quiet"],
                    side, d)
            out[side] = r, tree(d / "public")
    assert out["native"][0] == (0, "", "") and len(out["native"][1]) > 20, out["native"]
    assert out["guest"] == out["native"]


def hugo_server_session(side):
    """hugo server renders to memory and watches the site (fsnotify:
    inotify); a page changed on the host is served rebuilt."""
    with open_dir(side) as d:
        site = hugo_site(d)
        port = free_port()
        argv = ["hugo", "server", "--source", str(site), "--bind", "127.0.0.1", "--port",
                str(port), "--disableLiveReload", "--watch"]
        with daemon(argv, port, d, side == "guest", ["--volume", f"{d}:{d}"]) as proc:
            url = f"http://127.0.0.1:{port}/posts/p1/"
            before = http_get(url)
            page = site / "content" / "posts" / "p1.md"
            page.write_text(page.read_text().replace("Some *markdown*", "Changed *text*"))
            after = poll(lambda: http_get(url), lambda r: b"Changed" in r[1], "never rebuilt")
            status = stop(proc)
    return before, after, status


@pytest.mark.long   # its first run searches a 50-100 MB program: minutes
@needs("hugo")
def test_hugo_server_rebuilds_a_changed_page():
    searched("hugo")
    native = hugo_server_session("native")
    guest = hugo_server_session("guest")
    assert native[0][0] == 200 and b"<em>markdown</em>" in native[0][1], native
    assert guest == native


def restic_session(src, side):
    """restic init, backup, check, snapshots, ls and restore, its
    repository and the restored tree in a volume."""
    with open_dir(side) as d:
        env = {**os.environ, "RESTIC_PASSWORD": "secret", "RESTIC_CACHE_DIR": f"{d}/cache"}
        vol = ["--volume", f"{src}:{src}:ro"]
        repo = ["restic", "--repo", f"{d}/repo", "--quiet"]
        out = []
        for args in (["init"], ["backup", "--host", "h", str(src)], ["check"],
                     ["snapshots", "--json"], ["ls", "--json", "latest"],
                     ["restore", "latest", "--target", f"{d}/restored"]):
            argv = [*repo, *args]
            cmd = [*LIBSUBST, "run", *vol, "--volume", f"{d}:{d}", *argv] \
                if side == "guest" else argv
            r = client(cmd, env=env)
            out.append(r)
        snaps = json.loads(out[3][1])
        files = [json.loads(line) for line in out[4][1].splitlines()]
        summary = ([(s["paths"], s["hostname"]) for s in snaps],
                   # (The directories above a volume are the guest's own, 0755: not compared.)
                   [(f.get("path"), f.get("type"), f.get("size"), f.get("mode")) for f in files
                    if f.get("struct_type") == "node" and f["path"].startswith(str(src))])
        restored = tree(d / "restored" / src.relative_to("/"))
    return [r[0] for r in out], out[1][1:], out[2][1:], summary, restored


@needs("restic")
def test_restic_backs_up_checks_and_restores_the_same_tree(tmp_path):
    searched("restic")
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "x.txt").write_text("hello\n")
    os.chmod(src / "a" / "x.txt", 0o600)
    (src / "a" / "b" / "big.bin").write_bytes(os.urandom(1 << 21) * 2)   # deduplicated
    os.symlink("../x.txt", src / "a" / "b" / "link")
    native = restic_session(src, "native")
    guest = restic_session(src, "guest")
    assert native[0] == [0] * 6 and native[4] == tree(src), native[:4]
    assert guest == native


def rclone_session(src, side):
    """rclone copy, check and lsjson between local trees, and serve http."""
    with open_dir(side) as d:
        vol = ["--volume", f"{src}:{src}:ro"]
        out = []
        for args in (["copy", str(src), f"{d}/dst"], ["check", str(src), f"{d}/dst"],
                     ["lsjson", "-R", "--hash", "--files-only", f"{d}/dst"]):
            argv = ["rclone", "--config", "/dev/null", *args]
            r = client([*LIBSUBST, "run", *vol, "--volume", f"{d}:{d}", *argv]
                       if side == "guest" else argv)
            out.append((r[0], r[1], [re.sub(r"^\S+ \S+ ", "", line).replace(str(d), "D")
                                     for line in r[2].splitlines()]))
        port = free_port()
        argv = ["rclone", "--config", "/dev/null", "serve", "http", "--addr",
                f"127.0.0.1:{port}", str(src)]
        with daemon(argv, port, d, side == "guest", vol) as proc:
            body = http_get(f"http://127.0.0.1:{port}/d/b.bin")
            out.append((body[0], hashlib.sha256(body[1]).hexdigest()))
            out.append(curl(f"http://127.0.0.1:{port}/missing"))
            out.append(stop(proc))
        copied = tree(d / "dst")
    return out, copied


@pytest.mark.long   # its first run searches a 50-100 MB program: minutes
@needs("rclone")
def test_rclone_copies_checks_and_serves(tmp_path):
    searched("rclone")
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_text("a\n")
    (src / "d" / "b.bin").write_bytes(os.urandom(300000))
    native = rclone_session(src, "native")
    guest = rclone_session(src, "guest")
    assert native[0][0][0] == 0 and "0 differences found" in native[0][1][2][0], native
    assert native[1] == tree(src), native
    assert guest == native


TOMCAT_SERVER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
"""
JSP = """<%@ page contentType="text/plain" %><% int s = 0; for (int i = 1; i <= 10; i++) s += i; \
%>sum=<%= s %> method=<%= request.getMethod() %> q=<%= request.getParameter("q") %>
"""
SERVLET = """import jakarta.servlet.http.*;
import jakarta.servlet.annotation.WebServlet;
import java.io.IOException;
@WebServlet("/hello")
public class Hello extends HttpServlet {
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    HttpSession s = req.getSession(true);
    Integer n = (Integer) s.getAttribute("n");
    n = n == null ? 1 : n + 1;
    s.setAttribute("n", n);
    resp.setContentType("text/plain");
    resp.getWriter().println("hello " + req.getParameter("name") + " visit " + n);
  }
  protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    byte[] b = req.getInputStream().readAllBytes();
    resp.setContentType("text/plain");
    resp.getWriter().println("posted " + b.length);
  }
}
"""
CATALINA_HOME = "/usr/share/tomcat10"
# What catalina.sh (a shell script of tomcat10-common) runs of other packages.
TOMCAT_ADD = ("/usr/bin/uname", "/usr/bin/dirname", "/usr/bin/java")


def tomcat_session(side, monkeypatch):
    """catalina.sh run on a CATALINA_BASE in a volume: a JSP (compiled by
    Jasper with eclipse-jdt-core, another package's jar its jar's
    Class-Path names), a servlet keeping a session, a POST; SIGTERM."""
    with open_dir(side) as d:
        port = free_port()
        for sub in ("conf", "logs", "temp", "work", "webapps/ROOT/WEB-INF/classes"):
            (d / sub).mkdir(parents=True)
        for f in ("web.xml", "logging.properties", "catalina.properties"):
            shutil.copy(f"/etc/tomcat10/{f}", d / "conf")
        (d / "conf" / "server.xml").write_text(TOMCAT_SERVER_XML.format(port=port))
        (d / "webapps" / "ROOT" / "index.jsp").write_text(JSP)
        (d / "Hello.java").write_text(SERVLET)
        subprocess.run(["javac", "-cp", f"{CATALINA_HOME}/lib/servlet-api.jar", "-d",
                        f"{d}/webapps/ROOT/WEB-INF/classes", f"{d}/Hello.java"],
                       check=True, timeout=120)
        for k, v in (("CATALINA_HOME", CATALINA_HOME), ("CATALINA_BASE", str(d)),
                     ("CATALINA_TMPDIR", f"{d}/temp")):
            monkeypatch.setenv(k, v)
        opts = ["--volume", f"{d}:{d}", *(f"--add={p}" for p in TOMCAT_ADD)]
        with open(d / "out", "w") as log, \
                daemon([f"{CATALINA_HOME}/bin/catalina.sh", "run"], port, d, side == "guest",
                       opts, stderr=log) as proc:
            base = f"http://127.0.0.1:{port}"
            cookies = str(d / "cookies")
            session = ["curl", "-s", "-c", cookies, "-b", cookies]
            out = [curl(f"{base}/?q=x"),
                   client([*session, f"{base}/hello?name=a"]),
                   client([*session, f"{base}/hello?name=b"]),
                   client(["curl", "-s", "--data-binary", "@-", f"{base}/hello"],
                          input=bytes(100000)),
                   curl(f"{base}/missing.jsp")[1][-4:],
                   stop(proc)]
        text = (d / "out").read_text()
    return out, [w for w in ("SEVERE", "Exception") if w in text]


@needs("javac", f"{CATALINA_HOME}/bin/catalina.sh")
def test_tomcat_serves_a_jsp_and_a_servlet(monkeypatch):
    searched("java")
    native = tomcat_session("native", monkeypatch)
    guest = tomcat_session("guest", monkeypatch)
    assert native[0][0] == (0, "sum=55 method=GET q=x\n 200\n", ""), native
    assert native[0][2][1] == "hello b visit 2\n" and native[1] == [], native
    assert guest == native
