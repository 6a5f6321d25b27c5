"""Every call the guest may make gets an answer, never a kill: each served
system call on both paths, and calls of another ABI (int $0x80)."""

import pytest

from libsubst.kernel import syscalls

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


# Served calls that cannot be made with harmless arguments, each with why.
SKIP = {
    "exit": "ends the calling thread",
    "exit_group": "ends the process",
    "rt_sigreturn": "restores the registers of a signal frame it takes from the stack",
    "pause": "waits for a signal, which never comes",
    "fork": "makes a process, which would run the rest of the list too (test_processes.py)",
    "vfork": "likewise, and suspends the caller",
}
POINTER_KINDS = {"path", "ptr", "buf_in", "buf_out", "argv", "envp"}


def test_the_skipped_calls_are_served():
    served = {s.name for s in syscalls.implemented()}
    assert set(SKIP) <= served


@pytest.mark.parametrize("opts", [(), ("--no-subst",)], ids=["fastcall", "trap"])
def test_every_served_call_answers(tmp_path, opts):
    """Every call syscalls.py marks as served (by the kernel or the host),
    made with -1 for each scalar and zeroed memory for each pointer: the
    guest gets a value or an errno for each, and is never killed (a call
    the table passes to the host but the seccomp filter does not allow
    would kill it: the table and the filter cannot disagree)."""
    calls = [s for s in syscalls.implemented() if s.name not in SKIP]
    args = [f"{s.nr}:{sum(1 << i for i, k in enumerate(s.args) if k in POINTER_KINDS)}"
            for s in calls]
    r = run_guest([build_c("every_call", tmp_path), *args], tmp_path, opts=opts)
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0, (lines[-1:], r.stderr.decode()[-2000:])
    answers = [line.split(": ") for line in lines if not line.startswith("calling ")]
    assert [int(nr) for nr, _ in answers] == [s.nr for s in calls]
    for nr, answer in answers:
        assert answer == "value" or answer.startswith("E"), (nr, answer)
