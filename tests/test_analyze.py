"""``libsubst analyze``: the static set of system calls is sound against what
real runs make (traced natively with strace), and its report is what the
syscall table says."""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import LIBSUBST

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")

# Programs with real work to do, each run natively under strace -f.
CORPUS = [
    ["/bin/echo", "hello"],
    ["/bin/ls", "-la", "/usr/share/doc/coreutils"],
    ["/bin/cat", "/etc/os-release"],
    ["/usr/bin/sort", "-r", "/etc/os-release"],
    ["/bin/grep", "-c", "ID", "/etc/os-release"],
    ["/bin/sed", "s/a/b/g", "/etc/os-release"],
    ["/usr/bin/sha256sum", "/etc/os-release"],
    ["/bin/gzip", "-c", "/etc/os-release"],
    ["/bin/tar", "-cf", "-", "/etc/os-release"],
    ["/usr/bin/find", "/usr/share/doc/coreutils", "-type", "f"],
    ["/bin/date", "-u", "+%Y"],
    ["/usr/bin/sqlite3", ":memory:", "create table t(x); insert into t values (1); select * from t;"],
    ["/usr/bin/python3", "-c", "import json, os, threading; t = threading.Thread(target=print); "
                               "t.start(); t.join(); print(json.dumps(os.listdir('/etc')[:3]))"],
    ["/usr/bin/perl", "-e", "opendir(D, '/etc'); print scalar(readdir D), qq(\\n)"],
    ["/bin/sh", "-c", "echo $((1+2)) | cat"],
]


def analyze(*argv):
    done = subprocess.run([*LIBSUBST, "analyze", "--json", *argv], capture_output=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


_EXECVE_OK = re.compile(r'^(\d+)\s+execve\("([^"]+)".*= 0$')
_EXECVE_START = re.compile(r'^(\d+)\s+execve\("([^"]+)".*<unfinished \.\.\.>$')
_EXECVE_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. execve resumed>.*= 0$")
_CALL = re.compile(r"^(\d+)\s+([a-z0-9_]+)\(")


def traced(argv, tmp_path) -> dict[str, set[str]]:
    """{program: calls it made} of a native run under ``strace -f``: a
    process's calls after a successful execve belong to the new program."""
    out = tmp_path / "strace.out"
    subprocess.run(["strace", "-f", "-qq", "-o", str(out), *argv], capture_output=True,
                   timeout=120, cwd=tmp_path, check=False)
    program: dict[str, str] = {}
    calls: dict[str, set[str]] = {}
    pending: dict[str, str] = {}      # an execve strace split around another process's line
    first = None
    for line in out.read_text().splitlines():
        m = _EXECVE_OK.match(line)
        if m:
            program[m.group(1)] = m.group(2)
            first = first or m.group(2)
            continue
        m = _EXECVE_START.match(line)
        if m:
            pending[m.group(1)] = m.group(2)
            continue
        m = _EXECVE_RESUMED.match(line)
        if m and m.group(1) in pending:
            program[m.group(1)] = pending.pop(m.group(1))
            first = first or program[m.group(1)]
            continue
        m = _CALL.match(line)
        if m:
            # A child of fork runs its parent's program until it execs.
            prog = program.get(m.group(1)) or first
            calls.setdefault(prog, set()).add(m.group(2))
    return calls


@pytest.mark.parametrize("argv", CORPUS, ids=[" ".join(a)[:40] for a in CORPUS])
def test_static_set_contains_every_call_a_run_makes(argv, tmp_path):
    runs = traced(argv, tmp_path)
    assert runs, "strace saw no call"
    for program, used in runs.items():
        static = {r["name"] for r in analyze(program)["syscalls"]}
        # execve itself is how the run started; every other call must be found.
        assert used - static - {"execve"} == set(), program


def test_report_follows_the_syscall_table():
    from libsubst.kernel.syscalls import by_name
    report = analyze("/bin/echo", "hi")
    rows = {r["name"]: r for r in report["syscalls"]}
    assert rows["write"]["served"] == by_name("write").level
    assert rows["getpid"]["served"] == by_name("getpid").level if "getpid" in rows else True
    c = report["counts"]
    assert c["reachable"] == len(rows) == c["kernel"] + c["host"] + c["enosys"]
    enosys = sorted(n for n, r in rows.items() if r["served"] == "enosys")
    assert (report["verdict"] == "runs") == (not enosys)
    for name in enosys:
        assert name in report["verdict"]
    assert [os.path.basename(o) for o in report["objects"]][:3] == \
        ["echo", "ld-linux-x86-64.so.2", "libc.so.6"]


def test_a_static_program_sites_are_its_own(tmp_path):
    src = tmp_path / "raw.c"
    src.write_text('int main(void) { long r; __asm__ volatile("syscall" : "=a"(r) : "0"(39L) '
                   ': "rcx", "r11", "memory"); __asm__ volatile("syscall" : "=a"(r) : "0"(155L), '
                   '"D"(0L), "S"(0L), "d"(0L), "r"(0L) : "rcx", "r11", "memory"); return 0; }\n')
    exe = tmp_path / "raw"
    subprocess.run(["gcc", "-O1", "-static", "-o", exe, src], check=True)
    report = analyze(str(exe))
    rows = {r["name"]: r for r in report["syscalls"]}
    assert rows["getpid"]["served"] != "enosys"
    assert rows["pivot_root"]["served"] == "enosys"
    assert any(f.startswith("raw:main") for f in rows["pivot_root"]["from"])
    assert "pivot_root" in report["verdict"]


def test_dynamic_run_reports_calls_made(tmp_path):
    (tmp_path / "words").write_text("one\ntwo\n")
    done = subprocess.run([*LIBSUBST, "analyze", "--json", "--dynamic", "/bin/cat", "words"],
                          capture_output=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr.decode().startswith("one\ntwo\n")      # the program's output
    report = json.loads(done.stdout)
    d = report["dynamic"]
    assert d["status"] == 0
    assert {"openat", "read", "write", "close"} <= set(d["used"])
    assert d["not_static"] == []
    # Answered ENOSYS one at a time: cat cannot do without opening, reading
    # and writing; glibc goes on without a robust-futex list.
    assert {"openat", "read", "write"} <= set(d["needs"])
    assert "set_robust_list" in d["survives_enosys"]
    assert sorted(d["needs"] + d["survives_enosys"]) == \
        sorted(set(d["used"]) - {"exit", "exit_group", "execve"})


def test_enosys_answers_a_call_as_unimplemented(tmp_path):
    (tmp_path / "words").write_text("x\n")
    done = subprocess.run([*LIBSUBST, "run", "--enosys", "openat", "--trace", "/bin/cat",
                           "words"], capture_output=True, timeout=120, cwd=tmp_path)
    err = done.stderr.decode()
    # ld.so cannot open libc: it says so with the errno it got, ENOSYS (38).
    assert done.returncode == 127 and "libc.so.6" in err and "Error 38" in err, err
    assert re.search(r"openat\(.*= -1 ENOSYS", err), err
    bad = subprocess.run([*LIBSUBST, "run", "--enosys", "nosuchcall", "/bin/true"],
                         capture_output=True, timeout=60)
    assert bad.returncode != 0 and bad.stderr.decode().startswith("libsubst: --enosys nosuchcall")


def test_bad_program_is_one_line(tmp_path):
    done = subprocess.run([*LIBSUBST, "analyze", str(tmp_path / "nope")], capture_output=True,
                          timeout=60)
    assert done.returncode != 0
    err = done.stderr.decode()
    assert err.startswith("libsubst: ") and len(err.splitlines()) == 1, err
