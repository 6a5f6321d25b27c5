"""gdb's Host I/O through `libsubst run --gdb` (libsubst/debug/hostio.py):
`info proc`, `info proc mappings`, `gcore` and the libraries read through a
`target:` sysroot, each compared with gdb on the same program natively;
and the files gdb reaches are the guest's, whatever it asks."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import build_c
from gdbdrive import GDB, as_local, both, debug, native

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gdbfiles")
    return {"hello": build_c("gdb_hello", str(d), "-g", "-O0"),
            "threads": build_c("gdb_threads", str(d), "-g", "-O0", "-pthread"),
            "blocked": build_c("gdb_blocked", str(d), "-g", "-O0", "-pthread"), "dir": d}


def _mappings(out):
    """{(perms, object)} of `info proc mappings`' named lines: the objects
    and their permissions (addresses differ between runs)."""
    return set(re.findall(r"^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+"
                          r"([-rwxps]{4})\s+(\S+)$", out, re.M))


def _info_proc(out):
    return dict(re.findall(r"^(cmdline|cwd|exe) = '(.*)'$", out, re.M))


@pytest.mark.parametrize("prog", ["hello", "threads"])
def test_info_proc_and_its_mappings_as_natively(progs, prog):
    setup = ["break work" if prog == "hello" else "break gdb_threads.c:23"]
    after = ["info proc", "info proc mappings", "kill"]
    n_out, _ = native(progs[prog], setup, after, cwd=progs["dir"])
    out, *_ = debug(progs[prog], *setup, "continue", *after, cwd=progs["dir"])
    assert _info_proc(n_out) == {"cmdline": progs[prog], "cwd": str(progs["dir"]),
                                 "exe": progs[prog]}, n_out
    assert _info_proc(out) == _info_proc(n_out), out
    objects = _mappings(n_out)
    assert ("r-xp", progs[prog]) in objects and ("rw-p", "[stack]") in objects, n_out
    assert any(o.endswith("/libc.so.6") for _, o in objects), n_out
    assert _mappings(out) == objects, out


def _frames(out):
    return re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+ \(.*\) at \S+)$", out, re.M)


@pytest.mark.parametrize("prog", ["hello", "threads"])
def test_gcore_writes_a_core_gdb_reads_back_as_natively(progs, prog, tmp_path):
    # The stopped thread's backtrace and every thread (by the guest's ids,
    # which libthread_db matches with the program's own).  The other
    # threads wait inside the guest kernel, whose symbols a core does not
    # name (README, "Debugging with gdb").
    setup = ["break work" if prog == "hello" else "break gdb_threads.c:23"]
    cores = {kind: tmp_path / f"{kind}.core" for kind in ("native", "guest")}
    native(progs[prog], setup, [f"gcore {cores['native']}", "kill"], cwd=progs["dir"])
    out, *_ = debug(progs[prog], *setup, "continue", f"gcore {cores['guest']}", "kill",
                    cwd=progs["dir"])
    assert f"Saved corefile {cores['guest']}" in out, out
    back = {}
    for kind, core in cores.items():
        r = subprocess.run([*GDB, "-ex", "bt", "-ex", "info threads", progs[prog], str(core)],
                           capture_output=True, text=True, timeout=120)
        back[kind] = r.stdout + r.stderr
    assert _frames(back["native"]) and "main ()" in back["native"], back["native"]
    assert _frames(back["guest"]) == _frames(back["native"]), back["guest"]
    threads = [len(re.findall(r"^\*?\s+\d+\s+(?:Thread|LWP|process) ", back[k], re.M))
               for k in ("native", "guest")]
    assert threads[1] == threads[0] == (3 if prog == "threads" else 1), back["guest"]


def test_libraries_through_a_target_sysroot(progs):
    # gdb's default for a remote target, named: the program, ld.so, libc and
    # their debugging files are read from the guest's files.
    cmds = ["set sysroot target:", "break work", "continue", "info sharedlibrary", "bt",
            "kill"]
    out, *_ = debug(progs["hello"], *cmds, cwd=progs["dir"])
    n_out, _ = native(progs["hello"], ["break work"], ["info sharedlibrary", "bt", "kill"],
                      cwd=progs["dir"])
    assert "Reading /lib/x86_64-linux-gnu/libc.so.6 from remote target" in out, out
    libs = [set(re.findall(r"^0x\w+\s+0x\w+\s+Yes(?: \(\*\))?\s+(\S+)$", o, re.M))
            for o in (n_out, as_local(out))]
    assert {p for p in libs[1] if not p.endswith("libsubst-kernel")} == libs[0], out
    assert _frames(out) == _frames(n_out), out


def test_the_files_gdb_reaches_are_the_guests(progs, tmp_path):
    # A host file outside the guest's root is not there; one in the working
    # directory (a volume) is read and written; one put in the guest's own
    # root stays in the guest; /proc is the guest's, its pids too.
    outside = tmp_path / "outside.txt"
    outside.write_text("the host's\n")
    d = progs["dir"]
    (d / "vol.txt").write_text("in the volume\n")
    src = tmp_path / "src.txt"
    src.write_text("put by gdb\n")
    got = {n: tmp_path / f"got-{n}" for n in ("outside", "vol", "etc", "comm")}
    cmds = ["break work", "continue",
            f"remote get {outside} {got['outside']}",
            f"remote get {d}/vol.txt {got['vol']}",
            f"remote put {src} {d}/put.txt",
            f"remote put {src} /etc/put-by-gdb",
            f"remote get /etc/put-by-gdb {got['etc']}",
            f"remote get /proc/self/comm {got['comm']}",
            "maint packet vFile:readlink:" + b"/proc/self/exe".hex(),
            "maint packet vFile:readlink:" + b"/proc/1/exe".hex(),
            "kill"]
    out, *_ = debug(progs["hello"], *cmds, cwd=d)
    assert "Remote I/O error: No such file or directory" in out, out
    assert not got["outside"].exists()
    assert got["vol"].read_text() == "in the volume\n"
    assert (d / "put.txt").read_text() == "put by gdb\n"
    assert got["etc"].read_text() == "put by gdb\n" and not os.path.exists("/etc/put-by-gdb")
    assert got["comm"].read_text() == "gdb_hello\n"
    # The guest's first process is its pid namespace's 1.
    exe = re.escape(progs["hello"])
    assert len(re.findall(rf'received: "F[0-9a-f]+;{exe}"', out)) == 2, out


def test_bad_host_io_requests_get_errors_and_the_session_goes_on(progs):
    cmds = ["break work", "continue",
            "maint packet vFile:pread:63,10,0",           # no such handle: EBADF
            "maint packet vFile:close:-1",
            "maint packet vFile:open:zz,0,0",             # not hex
            "maint packet vFile:open:" + b"/nonexistent".hex() + ",0,0",
            "maint packet vFile:fstat:7fffffffffffffff",
            "maint packet vFile:unlink:" + b"/tmp".hex(),  # not offered
            "maint packet vFile:pread:63,10,ffffffffffffffffff",  # past off_t: EINVAL
            "maint packet vFile:pwrite:63,8000000000000000,00",
            "maint packet m" + "f" * 20 + ",1",                  # past 64 bits
            "delete", "continue"]
    out, rc, err, _ = debug(progs["hello"], *cmds, cwd=progs["dir"])
    replies = re.findall(r'^received: "(.*)"$', out, re.M)
    assert replies == ["F-1,9", "F-1,9", "E01", "F-1,2", "F-1,9", "", "F-1,16", "F-1,16",
                       "E14"], out
    assert "exited with code 03" in out and rc == 3, out + err


def test_threads_waiting_in_calls_make_the_guests_calls_and_their_calls_go_on(progs):
    # Each request is made by the thread gdb selected: here threads waiting
    # in read, poll and a futex (the host's calls, interrupted), which go on
    # waiting after it, and the program ends as natively.
    setup = ["break all_waiting"]
    after = ["thread 2", "info proc", "thread 3", "info proc mappings", "thread 4",
             "info proc", "delete", "continue"]
    (n_out, n_stdout), (out, rc, err, stdout) = both(progs["blocked"], setup, after,
                                                     progs["dir"])
    assert _info_proc(out) == _info_proc(n_out) and _info_proc(n_out), out
    assert _mappings(out) == _mappings(n_out), out
    assert stdout == n_stdout == "done\n" and rc == 0, out + err


def test_host_io_while_gdb_catches_syscalls(progs):
    # The guest's calls for gdb pass the server's own int3s at the kernel's
    # fastcall entry and returns, and are never reported as caught.
    cmds = ["catch syscall", "continue", "info proc", "continue", "info proc", "delete",
            "continue"]
    out, rc, err, stdout = debug(progs["hello"], *cmds, cwd=progs["dir"])
    assert len(re.findall(r"^Catchpoint 1 \((call to|returned from) syscall", out, re.M)) == 2, out
    assert "openat" not in out and "fstat" not in out, out
    assert _info_proc(out)["exe"] == progs["hello"], out
    assert stdout == "hello\n" and rc == 3, out + err
