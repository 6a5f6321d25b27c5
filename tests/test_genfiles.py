"""The image's generated /etc files as a program that resolves names per
request reads them: python3's getaddrinfo, getpwnam and getgrgid in a
loop, from several threads at once (the first opens of each file race to
make the memfd the process keeps: fs/data_fd.c), in a forked child and
after an execve; the answers compared with a native run.
tests/conformance/genfiles.c checks each file's bytes, size, modes and
fds as a program sees them."""

import subprocess

from conftest import LIBSUBST

PYTHON = "/usr/bin/python3"

LOOKUPS = r"""
import grp, os, pwd, socket, sys, threading
def lookups(n):
    seen = set()
    for _ in range(n):
        seen.add((pwd.getpwnam("root").pw_dir, grp.getgrgid(0).gr_name,
                  tuple(sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80,
                                                                     type=socket.SOCK_STREAM)}))))
    return seen
results = []
threads = [threading.Thread(target=lambda: results.append(lookups(50))) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(set().union(*results)), len(results))
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    print("child", sorted(lookups(20)))
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
if len(sys.argv) < 2:
    os.execv(sys.executable, [sys.executable, "-c", CODE, "again"])
print("after execve", sorted(lookups(20)), sorted(os.listdir("/proc/self/fd")))
"""


def test_name_lookups_per_request_answer_as_natively(tmp_path):
    code = "CODE = " + repr(LOOKUPS) + "\n" + LOOKUPS     # what it execs again
    native = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert native.returncode == 0, native.stderr
    assert "('/root', 'root'" in native.stdout and ")] 4\n" in native.stdout, native.stdout
    guest = subprocess.run([*LIBSUBST, "run", "--no-cwd", PYTHON, "-c", code],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert guest.returncode == 0, guest.stderr
    assert guest.stdout == native.stdout, guest.stderr


def test_the_resolvers_options_are_the_hosts(tmp_path):
    """/etc/host.conf's "multi on" makes getaddrinfo give every address
    /etc/hosts lists for a name (localhost's 127.0.0.1 and ::1 in a packed
    image's, or a host's that has both): the guest reads the host's."""
    argv = ["/usr/bin/cat", "/etc/host.conf", "/etc/gai.conf"]
    native = subprocess.run(argv, capture_output=True, timeout=60)
    assert native.returncode == 0 and b"multi" in native.stdout, native.stderr
    guest = subprocess.run([*LIBSUBST, "run", "--no-cwd", *argv], capture_output=True, timeout=120,
                           cwd=tmp_path)
    assert (guest.returncode, guest.stdout) == (0, native.stdout), guest.stderr


def test_the_system_says_what_it_is_as_natively(tmp_path):
    """Which distribution and release this is (os-release, debian_version)
    and the login shells (getusershell), as programs ask them: the same
    answers natively and in a guest."""
    code = ("import platform, ctypes\n"
            "print(sorted(platform.freedesktop_os_release().items()))\n"
            "print(open('/etc/debian_version').read())\n"
            "libc = ctypes.CDLL(None); libc.getusershell.restype = ctypes.c_char_p\n"
            "print(list(iter(libc.getusershell, None)))\n")
    native = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert native.returncode == 0 and "ID" in native.stdout, native.stderr
    guest = subprocess.run([*LIBSUBST, "run", "--no-cwd", PYTHON, "-c", code],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert (guest.returncode, guest.stdout) == (0, native.stdout), guest.stderr
