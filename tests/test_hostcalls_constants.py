"""The Linux constants typed by hand in libsubst/kernel/hostcalls.py (the
seccomp filter's pins and the host calls newer than the build headers)
against the system's headers, read by a C program the test compiles; the few
newer than those headers against the running kernel's behaviour."""

import ctypes
import os
import shutil
import subprocess

import pytest

from libsubst.kernel import hostcalls

HEADERS = ("stdio.h", "sys/socket.h", "sys/stat.h", "linux/prctl.h", "linux/memfd.h",
           "linux/netlink.h", "asm/ioctls.h", "asm/prctl.h", "linux/sched.h", "asm/unistd.h",
           "linux/fcntl.h")
# hostcalls' names that are no single macro of the headers: what they stand for.
EXPRESSIONS = {
    "CLONE_NEW_ANY": "CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | "
                     "CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET",
}
# Linux's SOCK_TYPE_MASK is kernel-internal (include/linux/net.h): checked
# below against the flags that must lie outside it.
NOT_UAPI = {"SOCK_TYPE_MASK"}
# libsubst's own choices, no constant of Linux's.
OWN = {"RELAY_STATUS_FD"}
# Newer than the headers of Debian 12 (Linux 6.1): checked on the running
# kernel below, and here too where the headers have them.
NEWER = set(hostcalls.NEWER_THAN_HEADERS) | {f"__NR_{n}" for n in hostcalls.EXTRA_NR}


def typed_constants() -> dict[str, int]:
    """Every integer constant hostcalls.py types, and the syscall numbers it adds."""
    consts = {k: v for k, v in vars(hostcalls).items()
              if k.isupper() and isinstance(v, int) and not isinstance(v, bool)}
    consts.update({f"__NR_{name}": nr for name, nr in hostcalls.EXTRA_NR.items()})
    return {k: v for k, v in consts.items() if k not in OWN}


@pytest.fixture(scope="module")
def header_values(tmp_path_factory) -> dict[str, int]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    d = tmp_path_factory.mktemp("consts")
    lines = [f"#include <{h}>" for h in HEADERS] + ["int main(void)", "{"]
    for name in typed_constants():
        if name in NOT_UAPI:
            continue
        expr = EXPRESSIONS.get(name, name)
        guard = " && ".join(f"defined({w})" for w in expr.replace("|", " ").split())
        lines += [f"#if {guard}", f'    printf("{name} %lld\\n", (long long)({expr}));', "#endif"]
    lines += ["    return 0;", "}"]
    (d / "consts.c").write_text("\n".join(lines) + "\n")
    subprocess.run(["gcc", "-o", str(d / "consts"), str(d / "consts.c")], check=True)
    out = subprocess.run([str(d / "consts")], check=True, capture_output=True, text=True).stdout
    return {name: int(v) for name, v in (line.split() for line in out.splitlines())}


def test_every_hand_typed_constant_is_the_headers(header_values):
    typed = typed_constants()
    missing = set(typed) - set(header_values) - NOT_UAPI - NEWER
    assert not missing, f"hostcalls.py constants the headers do not define: {sorted(missing)}"
    wrong = {n: (typed[n], v) for n, v in header_values.items() if typed[n] != v}
    assert not wrong, f"hostcalls.py value != header value: {wrong}"
    assert len(header_values) >= 35


def test_sock_type_mask_covers_the_types_and_not_the_flags():
    import socket
    mask = hostcalls.SOCK_TYPE_MASK
    for t in (hostcalls.SOCK_STREAM, hostcalls.SOCK_DGRAM, hostcalls.SOCK_SEQPACKET):
        assert t & mask == t
    assert socket.SOCK_NONBLOCK & mask == 0 and socket.SOCK_CLOEXEC & mask == 0


def _syscall(nr, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(ctypes.c_long(nr), *args)
    return r, ctypes.get_errno()


def test_fchmodat2_is_the_running_kernels(tmp_path):
    """fchmodat2 (Linux 6.6) is the one chmod that honours AT_SYMLINK_NOFOLLOW
    on a regular file: a number that were another call could not do this."""
    f = tmp_path / "f"
    f.write_bytes(b"")
    os.chmod(f, 0o600)
    AT_FDCWD, AT_SYMLINK_NOFOLLOW = -100, 0x100
    r, err = _syscall(hostcalls.EXTRA_NR["fchmodat2"], ctypes.c_int(AT_FDCWD),
                      ctypes.c_char_p(os.fsencode(f)), ctypes.c_uint(0o640),
                      ctypes.c_int(AT_SYMLINK_NOFOLLOW))
    if r < 0 and err == 38:  # ENOSYS
        pytest.skip("the running kernel predates fchmodat2 (Linux 6.6)")
    assert (r, os.stat(f).st_mode & 0o777) == (0, 0o640), os.strerror(err)


def test_memfd_exec_flags_are_the_running_kernels():
    """MFD_EXEC makes an executable memfd, MFD_NOEXEC_SEAL one that is not
    (Linux 6.3); a kernel that lacks them refuses both with EINVAL."""
    nr = 319  # memfd_create
    modes = {}
    for name in ("MFD_EXEC", "MFD_NOEXEC_SEAL"):
        fd, err = _syscall(nr, ctypes.c_char_p(b"x"), ctypes.c_uint(hostcalls.NEWER_THAN_HEADERS[name]))
        if fd < 0 and err == 22 and name == "MFD_EXEC":
            pytest.skip("the running kernel predates MFD_EXEC (Linux 6.3)")
        if fd < 0 and err == 13 and name == "MFD_EXEC":
            continue    # vm.memfd_noexec = 2 refuses MFD_EXEC: only the other can be checked
        assert fd >= 0, f"{name}: {os.strerror(err)}"
        modes[name] = os.fstat(fd).st_mode & 0o111
        os.close(fd)
    assert modes["MFD_NOEXEC_SEAL"] == 0
    assert modes.get("MFD_EXEC", 0o111) == 0o111


def test_f_dupfd_query_is_the_running_kernels(tmp_path):
    """F_DUPFD_QUERY (Linux 6.10) says 1 for two fds of one open file (a
    dup) and 0 for two opens of the same directory, O_PATH ones too; a
    kernel that lacks it answers EINVAL (net/recvmsg.c then compares inodes)."""
    import fcntl
    fds = [os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)]
    fds += [os.dup(fds[0]), os.open(tmp_path, os.O_RDONLY), os.open(tmp_path, os.O_PATH)]
    fds.append(os.dup(fds[3]))
    try:
        query = hostcalls.NEWER_THAN_HEADERS["F_DUPFD_QUERY"]
        try:
            got = [fcntl.fcntl(fds[0], query, fd) for fd in fds[1:3]] + \
                [fcntl.fcntl(fds[3], query, fds[4]), fcntl.fcntl(fds[4], query, fds[0])]
        except OSError as e:
            if e.errno == 22:
                pytest.skip("the running kernel predates F_DUPFD_QUERY (Linux 6.10)")
            raise
        assert got == [1, 0, 1, 0]
    finally:
        for fd in fds:
            os.close(fd)
