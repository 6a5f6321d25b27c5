"""PostgreSQL (Debian's, tests/run.sh installs it) as a guest: initdb into a volume, the postmaster and its
children (fork, shared memory, semaphores, latches over signals and epoll,
fsync), reached by the host's psql on a Unix socket in the volume and on
loopback; the same SQL on a native server, outputs compared; fast and
smart shutdowns, a restart on the same data, a child killed (the
postmaster's crash-restart cycle) and the whole guest killed (crash
recovery at the next start).

The first run on a machine substitutes the package's programs and its
modules' libraries (LLVM's, for the JIT, the largest): about 2.5 minutes
on 2 busy cores, once (the cache keeps them). The default run is initdb,
the work with a fast shutdown and the crash recovery; the rest (smart
shutdown, a killed child, the default socket directory, pg_ctl) is marked
long."""

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager

import pytest

from conftest import LIBSUBST, children, free_port, gone, wait_for_guest

# The distribution's version's programs (Debian 12: 15; Ubuntu 24.04: 16).
PG = max(glob.glob("/usr/lib/postgresql/*/bin/postgres"), default="/usr/lib/postgresql/NONE/bin/postgres",
         key=lambda p: int(p.split("/")[4])).rsplit("/", 1)[0]
HERE = os.path.dirname(os.path.abspath(__file__))
WORK_SQL = os.path.join(HERE, "sql", "postgres_work.sql")
AS_POSTGRES = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"]
READY = "database system is ready to accept connections"


@pytest.fixture(scope="module")
def top():
    """A directory the host's postgres user can reach (pytest's tmp_path is
    root's alone): native/ and guest/ below it, each the postgres user's."""
    d = tempfile.mkdtemp(prefix="libsubst-pg-")
    os.chmod(d, 0o755)
    for side in ("native", "guest"):
        os.mkdir(os.path.join(d, side))
        shutil.chown(os.path.join(d, side), "postgres", "postgres")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def guest_cmd(top, *argv):
    """argv (run's options, a program of PG and its arguments) under
    libsubst as the guest's postgres user, top/guest at /pg."""
    return [*LIBSUBST, "run", "--user", "postgres", "--volume", f"{top}/guest:/pg", *argv]


def initdb(top, side):
    """initdb of side's cluster: (returncode, stdout, stderr)."""
    where = {"native": f"{top}/native", "guest": "/pg"}[side]
    argv = [f"{PG}/initdb", "-D", f"{where}/data", "-U", "postgres", "-A", "trust",
            "--locale", "C.UTF-8", "--no-sync"]
    # initdb's postgres runs `locale -a` (popen: /bin/sh) to import the
    # system's collations: a program the guest needs added.
    cmd = [*AS_POSTGRES, *argv] if side == "native" else \
        guest_cmd(top, "--add", "/usr/bin/locale", *argv)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=top)
    return r.returncode, r.stdout.replace(f"{where}/data", "DATA"), r.stderr


@pytest.fixture(scope="module")
def clusters(top):
    """Both clusters made by initdb, natively and as a guest; their outputs."""
    return {side: initdb(top, side) for side in ("native", "guest")}


class Server:
    """A postmaster on port, its socket in DIR/sock and its data in
    DIR/data: natively as the host's postgres user, or as a guest."""

    def __init__(self, top, side, port, own_socket=True):
        self.top, self.side, self.port = top, side, port
        self.host_dir = f"{top}/{side}"
        os.makedirs(f"{self.host_dir}/sock", exist_ok=True)
        shutil.chown(f"{self.host_dir}/sock", "postgres", "postgres")
        where = self.host_dir if side == "native" else "/pg"
        # Without own_socket, the default directory (Debian's /var/run/postgresql).
        argv = [f"{PG}/postgres", "-D", f"{where}/data", "-p", str(port),
                *(["-k", f"{where}/sock"] if own_socket else []),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"]
        cmd = [*AS_POSTGRES, *argv] if side == "native" else guest_cmd(top, *argv)
        # Its own process group natively: a crash kills the whole server, as
        # a killed guest ends all of its processes.
        self.proc = subprocess.Popen(cmd, cwd=top, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=side == "native")
        self.log = []
        self.wait_log(READY)

    def wait_log(self, text, count=1, timeout=120):
        """Reads the server's log until text has appeared count times."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.log) < count:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"{self.side} server ended before {text!r}:\n"
                                     + "".join(self.log))
            self.log.append(line)
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s"

    def psql(self, *args, host=None, stdin=None):
        r = subprocess.run(["psql", "-X", "-q", "-h", host or f"{self.host_dir}/sock",
                            "-p", str(self.port), "-U", "postgres", *args],
                           capture_output=True, text=True, timeout=300, input=stdin)
        return r

    def query(self, sql, **kw):
        r = self.psql("-At", "-v", "ON_ERROR_STOP=1", "-c", sql, **kw)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def signal(self, sig):
        """sig to the postmaster: to libsubst for a guest (which passes it on)."""
        self.proc.send_signal(sig)

    def kill_all(self):
        """SIGKILL to every process of the server: the guest's supervisor
        (the whole guest ends with it), or the native process group."""
        if self.side == "native":
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.kill()
        self.proc.wait(timeout=60)

    def child_pids(self):
        """Host pids of the postmaster's children (natively setpriv has
        exec'd postgres; a guest's postmaster is its first process)."""
        return children(self.proc.pid if self.side == "native" else wait_for_guest(self.proc))

    def stop(self):
        """Whatever is left, ended: SIGQUIT (immediate), then SIGKILL."""
        if self.proc.poll() is None:
            self.signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_all()
        self.proc.stdout.close()


@contextmanager
def server(top, side, **kw):
    s = Server(top, side, free_port(), **kw)
    try:
        yield s
    finally:
        s.stop()


def data_files(top, side):
    """The cluster's files (relative paths), as initdb laid them out."""
    root = f"{top}/{side}/data"
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _dirs, files in os.walk(root) for f in files)


def test_initdb_as_the_guests_postgres_user(top, clusters):
    native, guest = clusters["native"], clusters["guest"]
    assert guest[0] == native[0] == 0, guest[2]
    assert (guest[1], guest[2]) == (native[1], native[2])
    assert data_files(top, "guest") == data_files(top, "native")
    # The volume is idmapped: the guest's postgres user owns the files as the host's does.
    st = os.stat(f"{top}/guest/data/PG_VERSION")
    assert (st.st_uid, st.st_gid) == (os.stat(f"{top}/native/data/PG_VERSION").st_uid,
                                      os.stat(f"{top}/native/data/PG_VERSION").st_gid)


def run_work(s):
    """The work's output; its server-side COPY's file is in the data directory."""
    data = f"{s.host_dir}/data" if s.side == "native" else "/pg/data"
    r = s.psql("-v", f"copy={data}/copy_out.csv", "-f", WORK_SQL)
    return r.returncode, r.stdout, r.stderr


PARALLEL = ("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
            "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2; "
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM big;")


def test_sql_then_fast_shutdown(top, clusters):
    """The work (10k rows, an index, a join, rollbacks, COPY in and out,
    a sort spilling to temporary files, VACUUM, CHECKPOINT) over the Unix
    socket, a query over loopback, a parallel query (dynamic shared memory,
    background workers), then SIGINT: a fast shutdown."""
    out = {}
    for side in ("native", "guest"):
        with server(top, side) as s:
            work = run_work(s)
            copied = open(f"{s.host_dir}/data/copy_out.csv").read()
            tcp = s.query("SELECT count(*), sum(price) FROM items", host="127.0.0.1")
            plan = s.query(PARALLEL)
            s.signal(signal.SIGINT)
            status = s.proc.wait(timeout=60)
            s.wait_log("database system is shut down")
            out[side] = (work, copied, tcp, re.findall(r"Workers Launched: \d+", plan), status,
                         "received fast shutdown request" in "".join(s.log))
    assert out["native"][0][0] == 0, out["native"][0][2]
    assert out["guest"] == out["native"]
    assert out["guest"][3] == ["Workers Launched: 2"]


@pytest.mark.long
def test_restart_smart_shutdown_waits_for_a_session(top, clusters):
    """After the fast shutdown, the same data again; SIGTERM (smart): new
    sessions are refused, an open one still runs queries, and the server
    ends when it closes."""
    out = {}
    for side in ("native", "guest"):
        with server(top, side) as s:
            counted = s.query("SELECT count(*) FROM items")
            session = subprocess.Popen(
                ["psql", "-X", "-At", "-h", f"{s.host_dir}/sock", "-p", str(s.port), "-U",
                 "postgres"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                session.stdin.write("SELECT 'open';\n")
                session.stdin.flush()
                assert session.stdout.readline() == "open\n"
                s.signal(signal.SIGTERM)
                s.wait_log("received smart shutdown request")
                refused = s.psql("-c", "SELECT 1")
                session.stdin.write("SELECT count(*) FROM groups;\n")
                session.stdin.flush()
                still = session.stdout.readline()
                running = s.proc.poll() is None
                session.stdin.close()
                session.wait(timeout=60)
            finally:
                if session.poll() is None:
                    session.kill()
                session.stdout.close()
            status = s.proc.wait(timeout=60)
            out[side] = (counted, refused.returncode, "shutting down" in refused.stderr, still,
                         running, status)
    assert out["guest"] == out["native"]
    assert out["guest"] == ("10000\n", 2, True, "97\n", True, 0)


@pytest.mark.long
def test_a_killed_child_restarts_the_servers_processes(top, clusters):
    """SIGKILL to one of the postmaster's children: the postmaster ends the
    others, reinitialises shared memory, recovers and accepts again."""
    out = {}
    for side in ("native", "guest"):
        with server(top, side) as s:
            s.query("CREATE TABLE IF NOT EXISTS marks (n int); INSERT INTO marks VALUES (1)")
            pids = s.child_pids()
            os.kill(pids[0], signal.SIGKILL)
            s.wait_log("all server processes terminated; reinitializing")
            s.wait_log(READY, count=2)
            out[side] = s.query("INSERT INTO marks VALUES (2); SELECT sum(n) FROM marks")
    assert out["guest"] == out["native"] == "3\n"


@pytest.mark.long
def test_the_default_socket_directory(top, clusters):
    """Without -k the server makes its socket in /var/run/postgresql,
    which postgresql-common's tmpfiles.d makes at boot: the guest has it
    (empty, its own)."""
    out = {}
    for side in ("native", "guest"):
        with server(top, side, own_socket=False) as s:
            listening = [re.sub(rf"{s.port}", "PORT", line.split("LOG:  ", 1)[1])
                         for line in s.log if "Unix socket" in line]
            out[side] = (listening, s.query("SHOW unix_socket_directories", host="127.0.0.1"))
    assert out["guest"] == out["native"]
    assert out["guest"][1] == "/var/run/postgresql\n" and out["guest"][0] == [
        'listening on Unix socket "/var/run/postgresql/.s.PGSQL.PORT"\n']


def test_crash_recovery_after_the_guest_is_killed(top, clusters):
    """The whole guest killed (SIGKILL to libsubst: the supervisor takes
    the guest), natively the whole process group: the next start on the
    same data recovers the committed rows from the WAL."""
    out = {}
    for side in ("native", "guest"):
        with server(top, side) as s:
            s.query("CREATE TABLE IF NOT EXISTS crash (n int); "
                    "INSERT INTO crash SELECT generate_series(1, 5000)")
            first = None if side == "native" else wait_for_guest(s.proc)
            s.kill_all()
            if first is not None:
                assert gone(first), "the guest outlived its supervisor"
        with server(top, side) as s:
            log = "".join(s.log)
            out[side] = ("automatic recovery in progress" in log,
                         s.query("SELECT count(*), sum(n) FROM crash"))
    assert out["guest"] == out["native"] == (True, "5000|12502500\n")


PG_CTL = """
set -e
$PG/pg_ctl -D $1/data -l $1/ctl.log -o "-k $1 -p $2 -c listen_addresses=" -w start
$PG/pg_ctl -D $1/data status | head -1
$PG/pg_ctl -D $1/data -m {mode} -w stop
$PG/pg_ctl -D $1/data status || echo "status $?"
"""


@pytest.mark.long
@pytest.mark.parametrize("mode", ["smart", "fast", "immediate"])
def test_pg_ctl_starts_and_stops_the_server_in_one_guest(top, clusters, mode):
    """pg_ctl start daemonises the postmaster and returns; stop reads its
    pid from postmaster.pid and signals it (SIGTERM, SIGINT, SIGQUIT) and
    waits: in one shell, natively and in a guest (pg_ctl added: the
    postgres beside it comes with it)."""
    script = PG_CTL.format(mode=mode)
    out = {}
    for side in ("native", "guest"):
        where = f"{top}/native" if side == "native" else "/pg"
        argv = ["/bin/sh", "-c", script, "sh", where, str(free_port())]
        env = {**os.environ, "PG": PG}
        cmd = [*AS_POSTGRES, *argv] if side == "native" else \
            guest_cmd(top, "--add", f"{PG}/pg_ctl", "--add", "/usr/bin/head", *argv)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=top, env=env)
        # pg_ctl prints a dot a poll while it waits: their number is timing.
        said = re.sub(r"\.+ done", "... done", re.sub(r"PID: \d+", "PID: N", r.stdout))
        out[side] = (r.returncode, said, r.stderr)
    assert out["native"][0] == 0, out["native"]
    assert out["guest"] == out["native"]
