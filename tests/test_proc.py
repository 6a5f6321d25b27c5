"""/proc and /sys as programs read them: the generated entries, compared with
what the host shows natively where the two are comparable, and consistent
with the guest's own view where they are not."""

import os
import re
import socket

import pytest

from conftest import assert_same, run_guest, run_native

# The same in the guest as natively: the guest runs on the host's kernel,
# memory and network stack.  (pid_max is left out: since Linux 6.14 it is
# per pid namespace, and the guest has a pid namespace of its own.)
SAME_AS_HOST = [
    "/proc/sys/vm/mmap_min_addr", "/proc/sys/vm/overcommit_memory", "/proc/sys/vm/max_map_count",
    "/proc/sys/kernel/ngroups_max", "/proc/sys/kernel/osrelease", "/proc/sys/kernel/ostype",
    "/proc/sys/kernel/hostname", "/proc/sys/kernel/random/boot_id",
    "/proc/sys/kernel/overflowuid", "/proc/sys/kernel/overflowgid", "/proc/sys/kernel/cap_last_cap",
    "/proc/sys/fs/overflowuid", "/proc/sys/fs/overflowgid", "/proc/sys/fs/file-max",
    "/proc/sys/net/core/somaxconn", "/proc/sys/net/ipv4/ip_local_port_range",
    "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
    "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
    "/sys/kernel/mm/transparent_hugepage/shmem_enabled",
    "/sys/kernel/mm/transparent_hugepage/use_zero_page",
    # The machine's disks and CPUs (the host's sysfs tree of its CPUs, whole).
    "/proc/partitions", "/sys/devices/system/cpu/online", "/sys/devices/system/cpu/possible",
    "/sys/devices/system/cpu/kernel_max", "/sys/devices/system/cpu/cpu0/topology/core_cpus_list",
]
UUID = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize("path", SAME_AS_HOST)
def test_sysctl_as_native(path, tmp_path):
    if not os.path.exists(path):
        pytest.skip(f"this host has no {path}")
    assert_same(run_native(["cat", path], tmp_path), run_guest(["cat", path], tmp_path))


# Programs that size the machine from /proc and /sys: the same answer in the
# guest (psutil's tests compare it with these; lscpu -p reads the CPUs'
# sysfs tree, nproc --all its cpuN directories, lsblk-like tools /proc/partitions).
@pytest.mark.parametrize("argv", [["lscpu", "-p=CPU,CORE,SOCKET,CACHE"], ["nproc", "--all"],
                                  ["ls", "/sys/devices/system/cpu"]])
def test_machine_tools_as_native(argv, tmp_path):
    assert_same(run_native(argv, tmp_path), run_guest(argv, tmp_path))


def test_block_devices_as_native_beside_many_volumes(tmp_path):
    # perl's library trees are a dozen volumes: the host's sysfs trees
    # (one per block device) must not exhaust the kernel's few fds.
    script = ('opendir D, "/sys/block" or die "$!"; for (sort grep !/^\\./, readdir D) '
              '{ open F, "/sys/block/$_/size" or die "$_: $!"; print "$_ ", scalar <F> }')
    argv = ["perl", "-e", script]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


# Reads each path's first word (or its error), and whether /proc/self leads
# to the reader's own pid.
FIRST_WORDS = r"""
import os, sys
for p in sys.argv[1:]:
    try:
        with open(p, 'rb') as f:
            w = f.read().split()
        print(p, w[0].decode() if w else '')
    except OSError as e:
        print(p, e.strerror)
print('self', os.readlink('/proc/self') == str(os.getpid()))
"""
TREE_FILES = ["/proc/self/status", "/proc/meminfo", "/proc/sys/kernel/ostype", "/proc/self/fd/0",
              "/dev/null", "/sys/devices/system/cpu/online"]
IN_TREES = ["/proc/vol", "/sys/vol", "/dev/vol"]


@pytest.mark.parametrize("mounted", [False, True], ids=["none", "volumes"])
def test_volumes_in_the_synthetic_trees(mounted, tmp_path):
    """A volume mounted in /proc, /sys or /dev serves its files there, and
    beside it (or with none there, the trees' usual case, which the guest
    kernel classifies without looking for one: fs/synth_index.c) the trees'
    own files read as natively."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "f").write_text("from-the-volume\n")
    paths = TREE_FILES + [f"{d}/f" for d in IN_TREES] + [f"{d}/missing" for d in IN_TREES]
    argv = ["python3", "-c", FIRST_WORDS, *paths]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and b"self True" in native.stdout, native.stderr
    want = native.stdout
    if mounted:
        for d in IN_TREES:      # natively absent: there the volume's
            want = want.replace(f"{d}/f No such file or directory".encode(),
                                f"{d}/f from-the-volume".encode())
    opts = [a for d in IN_TREES for a in ("-v", f"{vol}:{d}")] if mounted else []
    guest = run_guest(argv, tmp_path, opts=opts)
    assert (guest.stdout, guest.stderr, guest.returncode) == (want, native.stderr, 0)


def test_uuid_fresh_per_read_boot_id_stable(tmp_path):
    argv = ["cat", "/proc/sys/kernel/random/uuid", "/proc/sys/kernel/random/uuid",
            "/proc/sys/kernel/random/boot_id", "/proc/sys/kernel/random/boot_id"]
    out = run_guest(argv, tmp_path)
    assert out.returncode == 0, out.stderr
    u1, u2, b1, b2 = out.stdout.split()
    assert UUID.match(u1) and UUID.match(u2) and u1 != u2
    assert b1 == b2 == open("/proc/sys/kernel/random/boot_id", "rb").read().strip()


@pytest.mark.parametrize("opts,want", [
    ([], [b"max", b"max 100000", b"max"]),
    (["--memory", "256M", "--cpus", "1", "--pids", "64"], [b"268435456", b"100000 100000", b"64"]),
])
def test_cgroup_files_show_the_guests_limits(opts, want, tmp_path):
    argv = ["cat", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.max",
            "/sys/fs/cgroup/pids.max", "/proc/self/cgroup", "/proc/self/mountinfo"]
    out = run_guest(argv, tmp_path, opts=opts)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == want
    assert lines[3] == b"0::/"                       # the root of the cgroup2 mount below
    assert any(ln.split()[4] == b"/sys/fs/cgroup" and b" - cgroup2 " in ln for ln in lines[4:])


LIMITS = """
import resource
names = {"Max open files": resource.RLIMIT_NOFILE, "Max address space": resource.RLIMIT_AS,
         "Max processes": resource.RLIMIT_NPROC, "Max stack size": resource.RLIMIT_STACK}
def shown(v):
    return "unlimited" if v == resource.RLIM_INFINITY else str(v)
for line in open("/proc/self/limits"):
    for name, r in names.items():
        if line.startswith(name):
            soft, hard = line[26:].split()[:2]
            print(name, (soft, hard) == tuple(map(shown, resource.getrlimit(r))))
"""


def test_limits_agree_with_getrlimit(tmp_path):
    """/proc/self/limits says what getrlimit says, in the guest as natively
    (the values differ: the kernel keeps a few fds for itself)."""
    argv = ["/usr/bin/python3", "-c", LIMITS]
    native, guest = run_native(argv, tmp_path), run_guest(argv, tmp_path, opts=["--memory", "1G"])
    assert native.stdout.count(b"True") == 4
    assert_same(native, guest)


def test_environ_is_the_guests(tmp_path):
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "A": "1", "B": "two words"}
    argv = ["/usr/bin/cat", "/proc/self/environ"]
    assert_same(run_native(argv, tmp_path, env=env), run_guest(argv, tmp_path, env=env))


IO = """
def io():
    return dict(line.split(": ") for line in open("/proc/self/io").read().split("\\n") if line)
before = io()
open("/usr/bin/python3", "rb").read()
after = io()
print("reads counted:", int(after["syscr"]) > int(before["syscr"]),
      int(after["rchar"]) > int(before["rchar"]))
print("writes:", int(after["syscw"]) - int(before["syscw"]),
      int(after["wchar"]) - int(before["wchar"]))
"""


def test_io_counts_no_write_of_the_kernels(tmp_path):
    """/proc/self/io between two reads of it, a file read: no write counted
    (the kernel fills a synthetic file without write(2); psutil's
    test_io_counters)."""
    argv = ["/usr/bin/python3", "-c", IO]
    native = run_native(argv, tmp_path)
    assert native.stdout == b"reads counted: True True\nwrites: 0 0\n", native.stderr
    assert_same(native, run_guest(argv, tmp_path))


TASKS = """
import os, threading
ev, ids = threading.Event(), []
def work():
    ids.append(threading.get_native_id())
    ev.wait()
ts = [threading.Thread(target=work) for _ in range(3)]
for t in ts:
    t.start()
while len(ids) < 3:
    pass
me = threading.get_native_id()
print(sorted(int(x) for x in os.listdir("/proc/self/task")) == sorted(ids + [me]))
print(os.readlink("/proc/thread-self") == f"{os.getpid()}/task/{me}")
print(open("/proc/thread-self/stat").read().split()[0] == str(me))
status = open(f"/proc/self/task/{ids[0]}/status").read()
print(f"\\nPid:\\t{ids[0]}\\n" in status, f"\\nTgid:\\t{os.getpid()}\\n" in status)
print(sorted(os.listdir(f"/proc/self/task/{ids[0]}")) == sorted(os.listdir("/proc/thread-self")))
print("task" in os.listdir("/proc/self"), "task" in os.listdir("/proc/thread-self"))
print(sorted(os.listdir(f"/proc/{ids[0]}/task")) == sorted(os.listdir("/proc/self/task")),
      open(f"/proc/{ids[0]}/task/{me}/stat").read().split()[0] == str(me))
ev.set()
for t in ts:
    t.join()
"""


def test_task_directories(tmp_path):
    argv = ["/usr/bin/python3", "-c", TASKS]
    native = run_native(argv, tmp_path)
    assert native.stdout.count(b"True") == 9, native.stdout
    assert_same(native, run_guest(argv, tmp_path))


# Thread names: an unnamed thread's is the program's file name, read with
# prctl(PR_GET_NAME) (pthread_getname_np) and in its comm; one a thread
# gives itself (prctl(PR_SET_NAME)) reads back both ways.
NAMES = """
import ctypes, threading
libc = ctypes.CDLL(None)
def name():
    buf = ctypes.create_string_buffer(16)
    libc.prctl(16, buf)                              # PR_GET_NAME
    return buf.value.decode()
def comm():
    return open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip()
def work():
    print("unnamed", name(), comm())
    libc.prctl(15, b"worker")                        # PR_SET_NAME
    print("named", name(), comm())
print("main", name(), comm())
t = threading.Thread(target=work)
t.start()
t.join()
"""


def test_thread_names(tmp_path):
    argv = ["/usr/bin/python3", "-c", NAMES]
    native = run_native(argv, tmp_path)
    assert native.stdout == (b"main python3 python3\nunnamed python3 python3\n"
                             b"named worker worker\n"), native.stdout
    assert_same(native, run_guest(argv, tmp_path))


# The guest lists /proc/net/unix and binds a socket of its own in a volume
# whose guest path is not its host path.
UNIX_LIST = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind("/data/guest.sock")
sys.stdout.write(open("/proc/net/unix").read())
"""


@pytest.mark.parametrize("net", ["host", "none"])
def test_proc_net_unix_shows_only_the_guests_sockets(net, tmp_path):
    """/proc/net/unix names no host socket, by path or abstract name, even
    under --net host, where the network namespace (whose list Linux shows)
    is the host's: the guest kernel lists only sockets a guest process
    holds, each at the path the guest bound it at (fs/synth_net.c)."""
    host_dir = tmp_path / "host-only"           # not a volume of the guest
    vol = tmp_path / "vol"
    host_dir.mkdir()
    vol.mkdir()
    abstract = f"libsubst-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as named, socket.socket(socket.AF_UNIX) as anon:
        named.bind(str(host_dir / "host.sock"))
        anon.bind("\0" + abstract)
        native = open("/proc/net/unix").read()
        assert str(host_dir / "host.sock") in native and "@" + abstract in native
        out = run_guest(["/usr/bin/python3", "-c", UNIX_LIST], host_dir,
                        opts=["--net", net, "--no-cwd", "-v", f"{vol}:/data"])
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert text.startswith("Num ") and text.rstrip().endswith(" /data/guest.sock"), text
    assert str(tmp_path) not in text and abstract not in text, text


NET_NONE = """
import os
print([l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]])
print(os.environ["PORT"] in open("/proc/net/tcp").read())
print(sorted(os.listdir("/sys/class/net")))
"""


def test_proc_net_of_net_none_is_the_guests_namespace(tmp_path):
    """Under --net none /proc/net and /sys/class/net show the guest's own
    namespace: loopback only, and none of the host's sockets (a listener
    open on the host)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = "%04X" % listener.getsockname()[1]
        env = {"PATH": os.environ["PATH"], "PORT": port}
        native = run_native(["/usr/bin/python3", "-c", NET_NONE], tmp_path, env=env)
        guest = run_guest(["/usr/bin/python3", "-c", NET_NONE], tmp_path, opts=["--net", "none"],
                          env=env)
    assert native.stdout.splitlines()[1] == b"True"
    assert guest.returncode == 0, guest.stderr
    assert guest.stdout.splitlines() == [b"['lo']", b"False", b"['lo']"]


MANY = """
import os, socket
pairs = [socket.socketpair() for _ in range(400)]
mine = {os.stat(f"/proc/self/fd/{s.fileno()}").st_ino for p in pairs for s in p}
listed = {int(l.split()[6]) for l in open("/proc/net/unix").readlines()[1:]}
print(len(mine), mine <= listed)
"""


def test_proc_net_unix_lists_many_sockets(tmp_path):
    """Every one of 800 sockets, as natively (the guest's set grows)."""
    argv = ["/usr/bin/python3", "-c", MANY]
    native = run_native(argv, tmp_path)
    assert native.stdout == b"800 True\n"
    assert_same(native, run_guest(argv, tmp_path))



# fds open read-only, write-only (appending), read-write and O_PATH on files
# of the working directory (a volume), each link's mode and size and fdinfo's
# flags as the process reads them: its own (python3) and another's (the
# shell's, from its child).
OWN = ("import os\n"
       "fds = [os.open('r.txt', os.O_RDONLY), os.open('w.txt', os.O_WRONLY | os.O_APPEND | os.O_CREAT),"
       " os.open('rw.txt', os.O_RDWR | os.O_CREAT), os.open('r.txt', os.O_PATH)]\n"
       "for fd in fds:\n"
       "    st = os.lstat(f'/proc/self/fd/{fd}')\n"
       "    flags = [l for l in open(f'/proc/self/fdinfo/{fd}') if l.startswith('flags')]\n"
       "    print(oct(st.st_mode), st.st_size, *flags, end='')\n")
ANOTHER = "exec 3<r.txt 4>>w.txt 5<>rw.txt; " + "".join(
    f"stat -c '%A %s' /proc/$$/fd/{n}; grep flags /proc/$$/fdinfo/{n}; " for n in (3, 4, 5))
# the shell's, inherited across the execve of python3, which reads F_GETFL
# and its own fdinfo
INHERITED = "exec 3<r.txt 4>>w.txt 5<>rw.txt; python3 -c \"import fcntl\n" + "".join(
    f"print(oct(fcntl.fcntl({n}, fcntl.F_GETFL)), open('/proc/self/fdinfo/{n}').read().split()[3])\n"
    for n in (3, 4, 5)) + "\""
SCRIPTS = {"own": ["python3", "-c", OWN], "another": ["sh", "-c", ANOTHER],
           "inherited": ["sh", "-c", INHERITED]}


@pytest.mark.parametrize("whose", list(SCRIPTS))
def test_fd_links_modes_and_fdinfo_flags_as_native(whose, tmp_path):
    """An fd's /proc link has the permissions of its open mode (r-x, -wx,
    rwx, none for O_PATH: lsof's FD column reads them) and a size of 64, and
    its fdinfo the open's flags without the O_NOFOLLOW the kernel adds to a
    volume's file (lsof +fg), also once an execve kept the fd (the exec
    block hands over which O_NOFOLLOW is the kernel's)."""
    (tmp_path / "r.txt").write_text("r\n")
    argv = SCRIPTS[whose]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.count(b"0") >= 6, native.stderr
    assert_same(native, run_guest(argv, tmp_path, opts=["--add", "/usr/bin/stat",
                                                        "--add", "/usr/bin/grep",
                                                        "--add", "/usr/bin/python3"]))
