"""The image's generated /etc files as a program that resolves names per
request reads them: python3's getaddrinfo, getpwnam and getgrgid in a
loop, from several threads at once, in a forked child and after an
execve; the answers compared with a native run.  Each file is one file to
every process of the guest, as natively (the tender writes it into the
guest's read-only root: c_src/tender/root.c): a lock one program holds on
it stops another's, and a description shared across fork shares its
position.  tests/conformance/genfiles.c checks each file's bytes, size,
modes and fds as a program sees them."""

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


LOCKS = r"""
import fcntl, os, subprocess, sys
for name in ("/etc/hostname", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"):
    fd = os.open(name, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    child = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
             "except BlockingIOError:\n    print('held')\n")
    out = subprocess.run([sys.executable, "-c", child, name], capture_output=True, text=True)
    print(name, out.returncode, out.stdout.strip(), flush=True)
    os.close(fd)
"""

# head reads a buffer, then seeks its shared description back to the end of
# the first line, where cat, another program, goes on: the file once.
ONCE = "for f in /etc/passwd /etc/group; do { head -n 1; cat; } < $f | cksum; cksum < $f; done"


def test_a_generated_file_is_one_file_to_every_process(tmp_path):
    """flock by one program holds off another program's (an exec'd child),
    and a shell's redirection read by two programs in turn gives the file
    once: both as natively, where a file made per process (a memfd each,
    the kernel's way without the sandbox) gave the lock to both."""
    native = subprocess.run([PYTHON, "-c", LOCKS], capture_output=True, text=True, timeout=60)
    assert native.returncode == 0 and native.stdout.count(" held") == 4, native.stdout
    guest = subprocess.run([*LIBSUBST, "run", "--no-cwd", PYTHON, "-c", LOCKS],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert (guest.returncode, guest.stdout) == (0, native.stdout), guest.stderr
    for argv in (["/bin/sh", "-c", ONCE], [*LIBSUBST, "run", "--no-cwd", "/bin/sh", "-c", ONCE]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        lines = done.stdout.splitlines()
        assert done.returncode == 0 and len(lines) == 4, (argv, done.stdout, done.stderr)
        assert lines[0] == lines[1] and lines[2] == lines[3], (argv, lines)
