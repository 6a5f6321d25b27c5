"""``libsubst analyze``: the static set of system calls is sound against what
the compatibility corpus's runs make (traced natively with strace:
benchmarks/soundness.py; the corpus's fast part by default, all of it with
LIBSUBST_LONG_TESTS=1), and its report is what the syscall table says."""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import LIBSUBST, build_c, free_port
from libsubst.benchmarks import corpus, corpus_run, soundness

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def analyze(*argv):
    done = subprocess.run([*LIBSUBST, "analyze", "--json", *argv], capture_output=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def checker():
    with corpus_run.Corpus() as c:
        yield soundness.Checker(c)


def _corpus():
    for p in corpus.PROGRAMS:
        yield pytest.param(p, id=p.name, marks=[] if p.fast else [pytest.mark.long])


@pytest.mark.parametrize("program", list(_corpus()))
def test_static_set_contains_every_call_a_run_makes(program, checker):
    """Each run of the compatibility corpus, natively under strace -f: every
    call each program made is in its static set, or the miss has one of the
    causes benchmarks/soundness.py names (a library the native run dlopened
    outside the image; the program's own sites of unknown number)."""
    check = checker.check(program)
    assert check.programs, "strace saw no program"
    assert not check.unexplained, check.unexplained
    assert set(check.unchecked.values()) <= {soundness.REMOVED}, \
        check.unchecked


def test_a_call_the_analysis_cannot_see_is_a_miss(checker, tmp_path):
    """The check itself: syscall(2) with a number computed at run time
    (tests/c/left_out.c) is a call the static set lacks, and not explained."""
    exe = build_c("left_out", str(tmp_path))
    check = checker.check(corpus.P("left_out", [exe]))
    assert [(m.program, m.calls, m.cause) for m in check.misses] == [(exe, ["getppid"], "")]


def test_constant_syscall_numbers_and_dlsym_names_are_found(tmp_path):
    """A constant passed to syscall(2), and a function looked up by name
    with dlsym, are in the static set; neither is an import."""
    src = tmp_path / "indirect.c"
    src.write_text("#include <dlfcn.h>\n#include <sys/syscall.h>\n#include <unistd.h>\n"
                   "int main(void) { void *f = dlsym(RTLD_DEFAULT, \"timerfd_create\");\n"
                   "  return syscall(SYS_pivot_root, 0, 0) == 0 && f == 0; }\n")
    exe = tmp_path / "indirect"
    subprocess.run(["gcc", "-O2", "-o", exe, src], check=True)
    rows = {r["name"]: r for r in analyze(str(exe))["syscalls"]}
    assert "indirect:syscall(155)" in rows["pivot_root"]["from"]
    assert "libc.so.6:timerfd_create" in rows["timerfd_create"]["from"]
    plain = tmp_path / "plain"
    subprocess.run(["gcc", "-O2", "-o", plain, "-x", "c", "-"], check=True,
                   input=b"int main(void) { return 0; }\n")
    rows = {r["name"] for r in analyze(str(plain))["syscalls"]}
    assert "pivot_root" not in rows and "timerfd_create" not in rows


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
    # The text report's verdict names the call by the object and function it comes from.
    text = subprocess.run([*LIBSUBST, "analyze", str(exe)], capture_output=True, timeout=600)
    assert text.returncode == 0, text.stderr.decode()
    verdict = text.stdout.decode().split("\nverdict: ", 1)[1].splitlines()
    assert "pivot_root" in verdict[0]
    assert re.fullmatch(r"  pivot_root +from raw:main\S*", [v for v in verdict
                                                            if "pivot_root" in v][1]), verdict


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


def _httpd(tmp_path):
    """busybox's httpd serving tmp_path on a free port, and a workload for it."""
    (tmp_path / "index.html").write_text("hi\n")
    port = free_port()
    return (["/usr/bin/busybox", "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(tmp_path)],
            f"curl -sf http://127.0.0.1:{port}/index.html")


def test_a_server_workload_answers_loupes_question(tmp_path, monkeypatch):
    """A server's outcome is its workload's (and its status after SIGTERM):
    answered ENOSYS, listen stops it serving; sendfile does not (busybox
    httpd falls back to read and write)."""
    from libsubst.analyze.cli import _run
    monkeypatch.chdir(tmp_path)          # the guest sees its current directory
    argv, workload = _httpd(tmp_path)
    first = _run(argv[0], argv[1:], workload=workload)
    assert first is not None and first.result[:2] == (0, b"hi\n"), first
    denied = _run(argv[0], argv[1:], deny="listen", workload=workload, ready=2 * first.ready + 10)
    assert denied is None or denied.result != first.result
    fallback = _run(argv[0], argv[1:], deny="sendfile", workload=workload,
                    ready=2 * first.ready + 10)
    assert fallback is not None and fallback.result == first.result, fallback


@pytest.mark.long
def test_dynamic_with_a_workload(tmp_path):
    argv, workload = _httpd(tmp_path)
    done = subprocess.run([*LIBSUBST, "analyze", "--json", "--dynamic", "--workload", workload,
                           *argv], capture_output=True, timeout=1800, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    d = json.loads(done.stdout)["dynamic"]
    assert d["workload_status"] == 0 and d["not_static"] == []
    assert {"socket", "bind", "listen", "accept"} <= set(d["needs"])
    assert "sendfile" in d["survives_enosys"]
    assert sorted(d["needs"] + d["survives_enosys"]) == \
        sorted(set(d["used"]) - {"exit", "exit_group", "execve"})


def test_workload_needs_dynamic():
    done = subprocess.run([*LIBSUBST, "analyze", "--workload", "true", "/bin/true"],
                          capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode != 0 and err.startswith("libsubst: --workload") \
        and len(err.splitlines()) == 1, err
