"""stress-ng's syscall-exercising stressors (Debian's stress-ng) in verify
mode: each runs natively and under libsubst on both paths, a bounded number
of operations, and must end as natively, with its verification passing and
no `fail:` line.  The whole list is `long`; a few run by default."""

import subprocess

import pytest

from conftest import LIBSUBST

# Stressors whose work is system calls the guest kernel serves or passes on
# (files, locks, processes, signals, sockets, memory, IPC, /proc).  Not
# ptrace: the sandbox refuses it (ENOSYS), as the README says; not tmpfs,
# which natively depends on the host's free memory.
STRESSORS = """access affinity aio alarm brk chdir chmod chown clock close context copy-file dentry dir
    dirdeep dirmany dnotify dup epoll eventfd fallocate fault fcntl fiemap fifo file-ioctl flock
    fork fpunch fstat futex get getdent getrandom handle hdd inode-flags inotify io iomix kcmp
    kill lease link locka lockf lockofd madvise malloc memfd mincore mknod mlock mmap mmapaddr
    mq mremap msg msync nanosleep nice open pidfd pipe poll prctl procfs pthread readahead remap
    rename resources rlimit rseq sem sem-sysv sendfile session set shm shm-sysv sigchld sigfd
    sigpending sigq sigsuspend sleep sock sockdiag sockfd sockpair splice stack switch symlink
    sync-file sysinfo tee timer timerfd touch udp urandom utime vfork vm wait
    xattr yield zombie""".split()
FAST = ["fcntl", "get", "wait", "xattr"]
# Those that do not yet end as natively, and why (strict: one that starts to
# pass must leave this list).
KNOWN: dict[str, str] = {}
PATHS = {"fast": [], "trap": ["--no-subst"]}


def stress(name, cwd, opts=None):
    argv = ["/usr/bin/stress-ng", f"--{name}", "1", f"--{name}-ops", "100", "--verify",
            "--timeout", "8s", "--temp-path", ".", "-q"]
    cmd = argv if opts is None else [*LIBSUBST, "run", *opts, *argv]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=300)


def check(name, path, tmp_path):
    native = stress(name, tmp_path)
    assert native.returncode == 0, native.stderr.decode()
    guest = stress(name, tmp_path, PATHS[path])
    err = guest.stderr.decode(errors="replace") + guest.stdout.decode(errors="replace")
    assert "libsubst-kernel: fatal" not in err and "fail:" not in err, err
    assert guest.returncode == native.returncode, err


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", FAST)
def test_stressor(name, path, tmp_path):
    check(name, path, tmp_path)


@pytest.mark.long
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN[n], strict=True)) if n in KNOWN else n
    for n in sorted(set(STRESSORS) - set(FAST))])
def test_every_stressor(name, path, tmp_path):
    check(name, path, tmp_path)
