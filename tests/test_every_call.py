"""Every call the guest may make gets an answer, never a kill: each served
system call on both paths, and calls of another ABI (int $0x80)."""

import os

from conftest import build_c, run_guest, run_native


def test_int80_is_never_read_as_x86_64(tmp_path):
    """Natively, int $0x80 runs i386's calls (20 is getpid there, writev on
    x86-64); the guest kernel serves only the x86-64 ABI and answers an i386
    call ENOSYS, reported at exit like any unimplemented call."""
    exe = build_c("int80", tmp_path, "-no-pie")
    native = run_native([exe], tmp_path)
    assert native.stdout.decode().splitlines() == [
        "i386 getpid (20): served", "written by i386 write", "i386 write (4): served",
        "i386 getuid (24): served"]
    guest = run_guest([exe], tmp_path, opts=("--trace",))
    assert guest.returncode == native.returncode == 0, guest.stderr
    assert guest.stdout.decode().splitlines() == [
        f"i386 {c}: Function not implemented" for c in ("getpid (20)", "write (4)", "getuid (24)")]
    assert guest.stderr.decode().splitlines()[-1] == (
        "libsubst: unimplemented syscalls answered ENOSYS: i386:int0x80 (4) x1, "
        "i386:int0x80 (20) x1, i386:int0x80 (24) x1")
