"""The fastcall entry keeps the syscall ABI, and substituted programs make
their libc's calls as fastcalls."""

import os
import subprocess

import pytest

from conftest import assert_same, run_guest, run_native

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def regs_probe(tmp_path_factory):
    exe = tmp_path_factory.mktemp("probe") / "fastcall_regs"
    subprocess.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "c", "fastcall_regs.c")], check=True)
    return exe


@pytest.mark.parametrize("opts,fast,trap", [
    # The probe makes getppid through `call *%gs:0`, through a raw `syscall`
    # and through libc.  Without substitution only the first is a fastcall;
    # with it the probe's own `syscall` is rewritten too, and every register
    # must survive the rewritten site's stub as well.
    (["--no-subst"], 1, 2),
    ([], 3, 0),
])
def test_entry_keeps_registers_and_flags(regs_probe, tmp_path, opts, fast, trap):
    trace = tmp_path / "trace"
    r = run_guest([*opts, "--trace-file", str(trace), str(regs_probe)], tmp_path)
    assert r.stdout.decode().endswith("all registers kept\n"), r.stdout.decode()
    assert r.returncode == 0
    lines = trace.read_text().splitlines()
    assert sum(1 for l in lines if l.startswith("fast getppid(")) == fast
    assert sum(1 for l in lines if l.startswith("trap getppid(")) == trap
    assert any(l.startswith('fast write(1, "written through the probe') for l in lines)


@pytest.mark.parametrize("opts", [["--no-subst"], []])
def test_entry_keeps_registers_and_flags_untraced(regs_probe, tmp_path, opts):
    # Untraced, a call the host serves unchanged (the probe's write) goes
    # from the entry straight to the host (arch/x86_64/fastcall.S), a call
    # the kernel serves (getppid) through the dispatcher: both keep the ABI.
    r = run_guest([*opts, str(regs_probe)], tmp_path)
    assert r.stdout.decode().endswith("all registers kept\n"), r.stdout.decode()
    assert r.returncode == 0


def _paths(trace_file):
    lines = trace_file.read_text().splitlines()
    assert lines, "empty trace"
    return [l.split(" ", 1)[0] for l in lines if l.split(" ", 1)[0] in ("fast", "trap")]


@pytest.mark.parametrize("argv", [
    ["/usr/bin/python3", "-c", "print(sum(range(10**6)))"],
    ["sqlite3", "db.sqlite", "create table t(a); insert into t values (41); select a + 1 from t;"],
])
def test_substituted_programs_make_only_fastcalls(argv, tmp_path):
    """With glibc (and ld.so) substituted, not one call takes the trap path:
    in particular every call after ld.so hands over to main."""
    trace = tmp_path / "trace"
    work = tmp_path / "work"
    work.mkdir()
    guest = run_guest(["--trace-file", str(trace), *argv], work)
    (work / "db.sqlite").unlink(missing_ok=True)
    assert_same(run_native(argv, work), guest)
    paths = _paths(trace)
    assert len(paths) > 20
    assert "trap" not in paths, [l for l in trace.read_text().splitlines() if l.startswith("trap")]


def test_same_programs_on_the_trap_path_only(tmp_path):
    trace = tmp_path / "trace"
    argv = ["/usr/bin/python3", "-c", "print(sum(range(10**6)))"]
    guest = run_guest(["--no-subst", "--trace-file", str(trace), *argv], tmp_path)
    assert_same(run_native(argv, tmp_path), guest)
    assert set(_paths(trace)) == {"trap"}


MUSL_C = r"""
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
int main(int argc, char **argv) {
    int fd = open("musl-out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dprintf(fd, "written by musl, %d args\n", argc);
    close(fd);
    printf("pid is %s\n", getpid() > 0 ? "there" : "missing");
    return 0;
}
"""


def test_musl_program_is_substituted_too(tmp_path):
    """The rewriter does not depend on glibc: musl's libc.so (its loader and
    libc in one) is substituted the same way and its calls are fastcalls."""
    src = tmp_path / "m.c"
    src.write_text(MUSL_C)
    exe = tmp_path / "musl-prog"
    subprocess.run(["musl-gcc", "-O2", "-o", exe, src], check=True)
    assert "ld-musl" in subprocess.run(["readelf", "-l", exe], capture_output=True, text=True).stdout
    trace = tmp_path / "trace"
    guest = run_guest(["--trace-file", str(trace), str(exe), "x"], tmp_path)
    assert guest.stdout == b"pid is there\n" and guest.returncode == 0, guest.stderr
    assert (tmp_path / "musl-out.txt").read_text() == "written by musl, 2 args\n"
    lines = trace.read_text().splitlines()
    assert any(l.startswith("fast open") and '"musl-out.txt", O_WRONLY|O_CREAT|O_TRUNC' in l
               for l in lines)
    assert "trap" not in _paths(trace)


def test_data_in_the_code_is_not_rewritten(tmp_path):
    """Bytes of .text that no FDE or function symbol covers may be data
    (tests/c/text_table.c, as OpenSSL's P-256 table in libcrypto: a
    rewritten one made 6 of 400 keys generated in the guest invalid): the
    program reads them as natively, and its own syscall in main is still a
    fastcall."""
    from conftest import build_c

    exe = build_c("text_table", str(tmp_path))
    trace = tmp_path / "trace"
    native = run_native([exe], tmp_path)
    assert native.returncode == 0 and native.stdout.startswith(b"table "), native.stderr
    assert_same(native, run_guest(["--trace-file", str(trace), exe], tmp_path))
    assert any(l.startswith("fast getppid(") for l in trace.read_text().splitlines())


def test_p256_keys_made_in_the_guest_are_valid(tmp_path):
    """openssl derives public keys from private ones with libcrypto's P-256
    table of multiples (in its .text): for 64 fixed private keys, the guest's
    public keys are the native ones."""
    import hashlib

    keys = tmp_path / "keys"
    keys.mkdir()
    for i in range(64):
        d = hashlib.sha256(b"key %d" % i).digest()
        # ECPrivateKey { version 1, privateKey d, [0] prime256v1 }, no public key
        (keys / f"{i:02d}.der").write_bytes(bytes.fromhex("30310201010420") + d +
                                            bytes.fromhex("a00a06082a8648ce3d030107"))
    argv = ["sh", "-c", "for k in keys/*.der; do "
            "openssl ec -inform DER -in $k -pubout -outform DER 2>/dev/null | od -An -tx1; done"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.count(b"\n") > 64 * 4, native.stderr
    assert_same(native, run_guest(["--add", "/usr/bin/openssl", "--add", "/usr/bin/od", *argv],
                                  tmp_path))
