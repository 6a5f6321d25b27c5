"""The /proc files and directories real tools read beyond test_proc_readers.py's:
a directory read as a file, the per-process files of the host's task that a
container shows as they are, the program's auxiliary vector and memory, and
which container manager this is.  Each is compared with a native run in
namespaces of its own (test_proc_readers.in_container) or with what the
process itself knows (its own getauxval, its own bytes)."""

import subprocess

import pytest

from conftest import LIBSUBST, assert_same, run_guest, run_native
from test_proc_readers import in_container

# read, pread, sendfile, copy_file_range and lseek on a directory's fd.
DIR_READS = """
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    for name, f in [('read', lambda: os.read(fd, 10)), ('pread', lambda: os.pread(fd, 10, 0)),
                    ('sendfile', lambda: os.sendfile(1, fd, 0, 10)),
                    ('copy_file_range', lambda: os.copy_file_range(fd, 1, 10)),
                    ('lseek', lambda: os.lseek(fd, 0, os.SEEK_CUR))]:
        try:
            print(p, name, f())
        except OSError as e:
            print(p, name, e.strerror)
    os.close(fd)
"""
DIRS = ["/proc", "/proc/self", "/proc/self/fd", "/proc/sys", "/sys", "/dev", "/usr"]


@pytest.mark.parametrize("opts", [(), ("--read-only",)], ids=["layer", "read-only"])
def test_directory_reads_fail_as_on_linux(opts, tmp_path):
    """A synthetic directory (and an image's, under --read-only) read as a
    file: EISDIR (cat's "Is a directory"), not an empty file."""
    for argv in (["cat", *DIRS], ["python3", "-c", DIR_READS, *DIRS]):
        native = in_container(argv, tmp_path)
        said = native.stdout.count(b"Is a directory") + native.stderr.count(b"Is a directory")
        assert said == (3 if argv[0] == "python3" else 1) * len(DIRS), native
        assert_same(native, run_guest(argv, tmp_path, opts=opts))


# A process's /proc/<pid>/auxv against what its own libc's getauxval says
# (itself, its forked child, an exec'd child, pid 1 read by its child), and
# where its addresses lead (the program, ld.so, the stack).
AUXV = r"""
import ctypes, os, struct, subprocess, sys
libc = ctypes.CDLL(None)
libc.getauxval.restype = ctypes.c_ulong
libc.getauxval.argtypes = [ctypes.c_ulong]
def pairs(pid):
    b = open(f'/proc/{pid}/auxv', 'rb').read()
    v = struct.unpack(f'{len(b) // 8}Q', b)
    return list(zip(v[::2], v[1::2]))
def mapping(addr):
    for line in open('/proc/self/maps'):
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split('-'))
        if lo <= addr < hi:
            return os.path.basename(f[5]) if len(f) > 5 else ''
own = pairs('self')
d = dict(own)
print('ends with AT_NULL', own[-1] == (0, 0), 'each once', len(d) == len(own))
# (glibc's AT_HWCAP is its own, HWCAP_X86_64.)
print('not as getauxval', [t for t, v in own if t and libc.getauxval(t) != v])
print('entry, phdr', mapping(d[9]), mapping(d[3]), 'base', mapping(d[7]), d[7] % 4096 == 0,
      'random', mapping(d[25]), 'execfn', ctypes.string_at(d[31]),
      'platform', ctypes.string_at(d[15]))
print({t: d.get(t) for t in (5, 6, 11, 12, 13, 14, 17, 23)})
r, w = os.pipe()
sys.stdout.flush()                  # or the child writes the lines above again
child = os.fork()
if child == 0:
    os.read(r, 1)
    print('child reads its parent', pairs(os.getppid()) == own, flush=True)
    os._exit(0)
# At once: the child need not have run yet.
print('forked child as its parent', pairs(child) == own,
      open(f'/proc/{child}/cmdline', 'rb').read() == open('/proc/self/cmdline', 'rb').read(), flush=True)
os.write(w, b'x')
os.waitpid(child, 0)
SAYS = 'import ctypes, sys; g = ctypes.CDLL(None).getauxval; g.restype = ctypes.c_ulong; ' \
       'print([g(t) for t in (3, 7, 9, 25)], flush=True); sys.stdin.readline()'
p = subprocess.Popen([sys.executable, '-c', SAYS], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
says = eval(p.stdout.readline())
theirs = dict(pairs(p.pid))
print("exec'd child as it says", [theirs[t] for t in (3, 7, 9, 25)] == says, says != [d[t] for t in (3, 7, 9, 25)])
p.communicate(b'\n')
"""


def test_auxv_is_the_programs_own(tmp_path):
    argv = ["python3", "-c", AUXV]
    native = in_container(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.count(b"True") == 8, native
    assert_same(native, run_guest(argv, tmp_path))


# ld.so's LD_SHOW_AUXV (the vector on the stack) against od's reading of
# the same process's /proc/self/auxv.
SHOW_AUXV = ["sh", "-c", "LD_SHOW_AUXV=1 exec od -A n -t x8 -w16 -v /proc/self/auxv"]
SHOWN = {"AT_PHDR": 3, "AT_PHNUM": 5, "AT_PAGESZ": 6, "AT_BASE": 7, "AT_ENTRY": 9, "AT_RANDOM": 25}


def shown_and_read(r):
    shown, read = {}, {}
    for line in r.stdout.decode().splitlines():
        name, _, value = line.partition(":")
        if name in SHOWN:
            shown[SHOWN[name]] = int(value, 0) if value.strip().startswith("0x") else int(value)
        elif len(line.split()) == 2 and ":" not in line:
            t, v = (int(x, 16) for x in line.split())
            read[t] = v
    return shown, {t: read.get(t) for t in shown}


def test_auxv_as_ld_so_shows_it(tmp_path):
    native = shown_and_read(in_container(SHOW_AUXV, tmp_path))
    assert len(native[0]) == len(SHOWN) and native[0] == native[1]
    guest = shown_and_read(run_guest(SHOW_AUXV, tmp_path))
    assert len(guest[0]) == len(SHOWN) and guest[0] == guest[1]


# The host's files of the same task that Linux lets it write: written in
# the guest as in a container, and read back.  (Not autogroup: its nice
# value is the whole session's, the test runner's too.)
SELF_WRITES = ("echo 100 > /proc/self/timerslack_ns; cat /proc/self/timerslack_ns; "
               "echo 3 > /proc/self/oom_adj; cat /proc/self/oom_adj /proc/self/oom_score_adj; "
               "echo 7 > /proc/self/coredump_filter; cat /proc/self/coredump_filter;")


def test_self_file_writes_as_in_a_container(tmp_path):
    argv = ["sh", "-c", SELF_WRITES]
    native = in_container(argv, tmp_path)
    assert native.stdout == b"100\n2\n176\n00000007\n", native
    assert_same(native, run_guest(argv, tmp_path))


# What a container manager tells its container's processes (systemd's
# container interface: /run/host/container-manager), made natively in a
# mount namespace of its own.
AS_A_MANAGER = ("mount -t tmpfs run /run && mkdir /run/host && "
                "echo libsubst > /run/host/container-manager && exec \"$@\"")


@pytest.mark.parametrize("argv", [["systemd-detect-virt", "--container"],
                                  ["sh", "-c", "systemd-detect-virt -c; echo $?"]],
                         ids=["pid 1", "child"])
def test_detect_virt_names_a_container(argv, tmp_path):
    """systemd-detect-virt in a guest, as its first process or another:
    a container whose manager it does not know ("container-other"), as it
    says natively under a manager that names itself libsubst."""
    native = in_container(["sh", "-c", AS_A_MANAGER, "sh", *argv], tmp_path)
    assert native.stdout.startswith(b"container-other\n"), native
    assert_same(native, run_guest(argv, tmp_path))


# A process's own memory through /proc/self/mem, every mapping maps lists
# that can be read (the kernel's are not listed), a hole, its page table's
# entry, a forked child's memory read by its parent (and the parent's by
# the child: Linux's ptrace rule decides).
MEM = r"""
import ctypes, os, struct, sys
buf = ctypes.create_string_buffer(b'libsubst mem test' * 100)
addr = ctypes.addressof(buf)
with open('/proc/self/mem', 'rb', buffering=0) as f:
    f.seek(addr)
    print('own bytes', f.read(17), f.tell() == addr + 17)
    print('pread', os.pread(f.fileno(), 8, addr))
    for at in (0, addr + len(buf)):
        try:
            os.pread(f.fileno(), 8, at)
            print('read at', at == 0)
        except OSError as e:
            print('hole', at == 0, e.strerror)
    bad = []
    for line in open('/proc/self/maps'):
        fl = line.split()
        lo, hi = (int(x, 16) for x in fl[0].split('-'))
        if 'r' in fl[1] and (len(fl) < 6 or not fl[5].startswith(('[vvar', '[vsyscall'))):
            try:
                n = len(os.pread(f.fileno(), min(hi - lo, 1 << 16), lo))
                if n != min(hi - lo, 1 << 16):
                    bad.append((line, n))
            except OSError as e:
                bad.append((line, e.strerror))
    print('each mapping reads', bad)
with open('/proc/self/pagemap', 'rb', buffering=0) as f:
    e = struct.unpack('Q', os.pread(f.fileno(), 8, addr // 4096 * 8))[0]
    print('page present', e >> 63)
r, w = os.pipe()
r2, w2 = os.pipe()
sys.stdout.flush()
child = os.fork()
if child == 0:
    buf.value = b'child wrote this'
    try:
        print('parent from child', open(f'/proc/{os.getppid()}/mem', 'rb').read(0), flush=True)
    except OSError as e:
        print('parent from child', e.strerror, flush=True)
    os.write(w, b'x')
    os.read(r2, 1)
    os._exit(0)
os.read(r, 1)
with open(f'/proc/{child}/mem', 'rb', buffering=0) as f:
    print('child bytes', os.pread(f.fileno(), 16, addr))
os.write(w2, b'x')
os.waitpid(child, 0)
"""


def test_mem_is_the_programs_own(tmp_path):
    argv = ["python3", "-c", MEM]
    native = in_container(argv, tmp_path)
    assert b"each mapping reads []" in native.stdout and b"this'" in native.stdout, native
    assert_same(native, run_guest(argv, tmp_path))


def test_pmap_shows_one_stack(tmp_path):
    """pmap names the stack the program runs on, once, read by itself and
    by its child: the host's first stack of the kernel's process is not a
    second one."""
    argv = ["sh", "-c", "pmap $$ | grep -c '\\[ stack \\]'; "
                        "sh -c 'pmap $PPID' | grep -c '\\[ stack \\]'"]
    native = in_container(argv, tmp_path)
    assert native.stdout == b"1\n1\n", native
    assert_same(native, run_guest(argv, tmp_path))


def test_mem_hides_the_kernel(tmp_path):
    """The guest kernel's own memory (its image, which maps leaves out) reads
    as a hole through mem, and its pages as absent through pagemap; mem is
    not written through (the kernel's text stays sealed).  Its text is
    where stat's start_code and end_code say: the host's, of the kernel's
    executable."""
    script = ("import os, struct\n"
              "lo, hi = sorted(int(x) for x in open('/proc/self/stat').read().split()[25:27])\n"
              "mem = os.open('/proc/self/mem', os.O_RDWR)\n"
              "pm = os.open('/proc/self/pagemap', os.O_RDONLY)\n"
              "def kernel(at):\n"
              "    try:\n        os.pread(mem, 8, at)\n        return 'read'\n"
              "    except OSError as e:\n        return e.strerror\n"
              "print(kernel(lo), kernel(hi - 8))\n"
              "print(struct.unpack('Q', os.pread(pm, 8, lo // 4096 * 8))[0])\n"
              "try:\n    os.pwrite(mem, b'x', lo)\nexcept OSError as e:\n    print(e.strerror)\n")
    guest = run_guest(["python3", "-c", script], tmp_path)
    assert guest.stdout == b"Input/output error Input/output error\n0\nBad file descriptor\n", guest


# A mem and a pagemap fd that leave the entry the guest's open made: sent
# through SCM_RIGHTS to the process itself and to a child, and kept across
# the child's execve (the one it received and the one it inherited).  Each
# reads the process's own bytes; "kernel:" lines read at stat's start_code,
# the kernel's text in a guest (the program's natively).
PASSED_CHILD = r"""
import os, sys
fds, addr, lo, ppid = [int(a) for a in sys.argv[1:3]], *(int(a) for a in sys.argv[3:])
def probe(fd, at, n):
    try:
        return os.pread(fd, n, at)
    except OSError as e:
        return e.strerror
for name, fd in zip(('exec: received', 'exec: inherited'), fds):
    print(name, probe(fd, addr, 18), os.readlink(f'/proc/self/fd/{fd}').replace(str(ppid), 'PARENT'))
    print('kernel:', name, 'read' if isinstance(probe(fd, lo, 8), bytes) else probe(fd, lo, 8))
"""
PASSED = r"""
import ctypes, os, socket, struct, sys
buf = ctypes.create_string_buffer(b'passed mem fd test' * 50)
addr = ctypes.addressof(buf)
lo = int(open('/proc/self/stat').read().split()[25])
def probe(fd, at, n):
    try:
        return os.pread(fd, n, at)
    except OSError as e:
        return e.strerror
def show(name, fd, pid='SELF'):
    link = os.readlink(f'/proc/self/fd/{fd}')
    print(name, probe(fd, addr, 18), link.replace(str(os.getppid() if pid == 'PARENT' else os.getpid()), pid))
    print('kernel:', name, 'read' if isinstance(probe(fd, lo, 8), bytes) else probe(fd, lo, 8), flush=True)
def entry(fd, at):
    return struct.unpack('Q', os.pread(fd, 8, at // 4096 * 8))[0]
mem = os.open('/proc/self/mem', os.O_RDONLY)
pm = os.open('/proc/self/pagemap', os.O_RDONLY)
show('open', mem)
a, b = socket.socketpair()
socket.send_fds(a, [b'x'], [mem, pm])
_, (mem2, pm2), _, _ = socket.recv_fds(b, 1, 2)
show('self', mem2)
print('pagemap own page present', entry(pm2, addr) >> 63)
print('kernel: pagemap', entry(pm2, lo) != 0, flush=True)
re = os.open(f'/proc/self/fd/{mem2}', os.O_RDONLY)
show('reopen', re)
child = os.fork()
if child == 0:
    _, (got,), _, _ = socket.recv_fds(b, 1, 1)
    show('child', got, 'PARENT')
    os.set_inheritable(got, True)
    os.set_inheritable(mem, True)
    os.execv(sys.executable, [sys.executable, '-c', CHILD, str(got), str(mem), str(addr), str(lo),
                              str(os.getppid())])
socket.send_fds(a, [b'x'], [mem])
print('child exit', os.waitpid(child, 0)[1])
"""


def test_passed_mem_fd_hides_the_kernel(tmp_path):
    """A process's mem or pagemap fd passed through SCM_RIGHTS (to itself,
    to a child) or kept across an execve reads the process's memory as
    natively, and the kernel's text as every other path does (EIO; a
    pagemap entry of 0), not as the host's raw file."""
    argv = ["python3", "-c", PASSED.replace("CHILD", repr(PASSED_CHILD), 1)]
    native = in_container(argv, tmp_path)
    assert native.stdout.count(b"b'passed mem fd test'") == 6, native
    guest = run_guest(argv, tmp_path)

    def split(r):
        lines = r.stdout.splitlines()
        return [l for l in lines if not l.startswith(b"kernel:")], \
            [l for l in lines if l.startswith(b"kernel:")]
    (nat, _), (got, kernel) = split(native), split(guest)
    assert (got, guest.stderr, guest.returncode) == (nat, native.stderr, native.returncode)
    assert kernel == [b"kernel: %s Input/output error" % n for n in
                      (b"open", b"self")] + [b"kernel: pagemap False"] + \
        [b"kernel: %s Input/output error" % n for n in
         (b"reopen", b"child", b"exec: received", b"exec: inherited")], guest


MOUNTSTATS = """
import re
table = [l.split()[:3] for l in open('/proc/self/mounts')]
stats = [re.match(r'device (\\S+) mounted on (\\S+) with fstype (\\S+)', l).groups()
         for l in open('/proc/self/mountstats')]
print(len(stats) > 3, [list(s) for s in stats] == table)
"""


def test_mountstats_lists_the_mounts(tmp_path):
    """mountstats has a line per mount of the mount table, in its order."""
    argv = ["python3", "-c", MOUNTSTATS]
    native = in_container(argv, tmp_path)
    assert native.stdout == b"True True\n", native
    assert_same(native, run_guest(argv, tmp_path))
