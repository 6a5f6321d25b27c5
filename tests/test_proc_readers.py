"""Programs that read /proc and /sys to learn who and where they are, run
natively in namespaces of their own as a container would give them (a user
namespace mapping the caller's ids, pid, mount, UTS, IPC and cgroup
namespaces, a fresh proc) and in a guest, compared.

What is normalised, and why that is honest: a namespace's inode number
(each run makes new namespaces, numbered in the order Linux allocates
them), free memory, uptime and CPU use (they change between two runs),
the storage directories the two runs are given, and the package a file
belongs to (podman asks dpkg, whose database is not in the guest's root)."""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import LIBSUBST, assert_same, run_guest, run_native, wait_for_guest

NS_ID = re.compile(rb"\b40265\d{5}\b")


def in_container(argv, cwd):
    """argv run natively with namespaces of its own, as root of its user
    namespace when the caller is root (as the guest is), else as itself."""
    who = "--map-root-user" if os.geteuid() == 0 else "--map-current-user"
    return subprocess.run(["unshare", "--user", who, "--pid", "--fork", "--mount", "--mount-proc",
                           "--uts", "--ipc", "--cgroup", *argv],
                          cwd=cwd, capture_output=True, timeout=120)


def ns_ids_out(r):
    r.stdout = NS_ID.sub(b"NSID", r.stdout)
    return r


# Each reads its answer from the guest's /proc and /sys: the namespaces
# (lsns, ps's ns columns: /proc/<pid>/ns), memory blocks and NUMA nodes
# (lsmem, lscpu: /sys/devices/system/{memory,node}), the System V IPC
# limits and objects (/proc/sys/kernel/{shm,msg}*, sem, /proc/sysvipc),
# the CPUs a process may use, and the process itself.
READERS = [
    ["lsns"],
    ["lsns", "-t", "user", "-o", "TYPE,NPROCS,PID,PPID,COMMAND,UID,USER"],
    ["ps", "-o", "pid,ppid,pgid,sid,tty,user,group,ruser,uid,gid,nlwp,pri,ni,cls,policy,rtprio,"
           "comm,args,f,ipcns,mntns,netns,pidns,userns,utsns,supgid,supgrp,wchan"],
    ["lsmem"],
    ["lscpu", "-p=CPU,NODE,SOCKET,CORE"],
    ["ipcs", "-l"],
    ["lsipc"],
    ["id"],
    ["nproc"],
    ["python3", "-c", "import os; print(os.cpu_count(), os.sched_getaffinity(0))"],
    ["buildah", "--version"],
]


@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a)[:40])
def test_reader_as_in_a_container(argv, tmp_path):
    native = ns_ids_out(in_container(argv, tmp_path))
    assert native.returncode == 0, native.stderr
    assert_same(native, ns_ids_out(run_guest(argv, tmp_path)))


# The /proc/self files that are the host's of the same task, read in the
# guest's namespaces: present, and what a native process in namespaces of
# its own reads.  (loginuid is shown as the reader's namespace maps it: a
# root caller's guest does not map host root, so a login of root's reads as
# 4294967295 there.  The id maps and setgroups are the guest's namespace's,
# compared below with the host's view of it; cgroup is the guest's cgroup v2
# root whatever the host's layout: test_proc.py.  stack is refused at the
# read, as to any reader without CAP_SYS_ADMIN in the host's namespace.
# arch_status's AVX512_elapsed_ms is the time since the task's registers
# were last saved (a context switch, a signal) with AVX-512 state in use,
# -1 if never: when those saves fall decides it, so only the field is
# compared.)
SELF_FILES = ["sessionid", "personality", "timens_offsets", "cpuset", "wchan", "oom_score_adj",
              "oom_adj", "timerslack_ns", "coredump_filter", "autogroup", "stack", "timers",
              "arch_status"]
AVX512_ELAPSED = re.compile(rb"(AVX512_elapsed_ms:\t)-?\d+")


def test_self_files_as_in_a_container(tmp_path):
    script = "; ".join(f"echo {f}; cat /proc/self/{f}" for f in SELF_FILES)
    argv = ["sh", "-c", script]
    native = in_container(argv, tmp_path)
    assert native.returncode == 0, native.stderr
    guest = run_guest(argv, tmp_path)
    native.stdout, guest.stdout = (AVX512_ELAPSED.sub(rb"\1N", out.stdout)
                                   for out in (native, guest))
    assert_same(native, guest)


def test_id_maps_are_the_guests_user_namespace(tmp_path):
    """The guest's uid_map, gid_map and setgroups say what Linux's say of the
    guest's own process, read from outside it (the maps the tender wrote)."""
    names = ["uid_map", "gid_map", "setgroups"]
    script = "; ".join(f"cat /proc/self/{n} /proc/$$/{n}" for n in names) + "; echo; read x"
    proc = subprocess.Popen([*LIBSUBST, "run", "sh", "-c", script], cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pid = wait_for_guest(proc)
        # Read once the guest has: its maps are written before it runs.
        out = b""
        while (line := proc.stdout.readline()) not in (b"\n", b""):
            out += line
        host = b"".join(2 * open(f"/proc/{pid}/{n}", "rb").read() for n in names)
        rest, err = proc.communicate(b"\n", timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and not rest, err
    assert out == host
    assert host.startswith(b"         0 " if os.geteuid() == 0 else b"%10d " % os.geteuid())



# Opened to write and each write refused, as Linux does in a container
# whose maps are written (a map once, setgroups once gid_map is).
ID_MAP_WRITES = """
import os
for n, text in [('uid_map', b'0 0 1\\n'), ('gid_map', b'0 0 1\\n'), ('setgroups', b'deny\\n')]:
    p = '/proc/self/' + n
    print(n, oct(os.stat(p).st_mode), os.access(p, os.W_OK))
    try:
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        print('open', e.errno)
        continue
    try:
        print('wrote', os.write(fd, text))
    except OSError as e:
        print('write', e.errno)
    os.close(fd)
"""


@pytest.mark.parametrize("argv", [["python3", "-c", ID_MAP_WRITES],
                                  ["sh", "-c", "echo deny > /proc/self/setgroups"]], ids=["python", "sh"])
def test_id_map_writes_fail_as_in_a_container(argv, tmp_path):
    native = in_container(argv, tmp_path)
    assert argv[0] == "sh" or native.stdout.count(b"write 1\n") == 3     # EPERM
    assert_same(native, run_guest(argv, tmp_path))


def test_ns_links_lead_to_the_namespaces(tmp_path):
    """Each /proc/self/ns link names its namespace, and stat through it
    gives that namespace's inode, as natively (lsns, nsenter read both)."""
    kinds = ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time",
             "time_for_children", "user", "uts"]
    script = ("import os\n"
              f"for k in {kinds!r}:\n"
              "    p = '/proc/self/ns/' + k\n"
              "    t = os.readlink(p)\n"
              "    print(k, t, t.endswith('[%d]' % os.stat(p).st_ino), os.lstat(p).st_mode)\n"
              "print(sorted(os.listdir('/proc/self/ns')))\n"
              "try:\n    os.stat('/proc/self/ns/user/x')\nexcept OSError as e:\n    print(e.errno)\n")
    argv = ["python3", "-c", script]
    native = ns_ids_out(in_container(argv, tmp_path))
    assert native.returncode == 0, native.stderr
    assert b" True " in native.stdout
    assert_same(native, ns_ids_out(run_guest(argv, tmp_path)))



# Run once the pids the guest's pid namespace gives next are above 32767:
# a thread's ns links, a child's ns links, fd links and fdinfo.
HIGH_PID_READS = """
import os, sys, threading
KINDS = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'pid_for_children', 'time',
         'time_for_children', 'user', 'uts']
sys.stdin.readline()
def ns(d):
    return [(k, os.readlink(f'{d}/ns/{k}'), os.stat(f'{d}/ns/{k}').st_ino) for k in KINDS]
own = ns('/proc/self')
def thread():
    tid = threading.get_native_id()
    print('tid above 32767', tid > 32767, 'ns as its process', ns(f'/proc/self/task/{tid}') == own)
t = threading.Thread(target=thread)
t.start()
t.join()
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(w)
    os.read(r, 1)
    os._exit(0)
d = f'/proc/{child}'
print('child above 32767', child > 32767, 'ns as its parent', ns(d) == own)
print('fd 0', os.readlink(f'{d}/fd/0') == os.readlink('/proc/self/fd/0'),
      os.stat(f'{d}/fd/0').st_ino == os.fstat(0).st_ino)
print('fd r', os.stat(f'{d}/fd/{r}').st_ino == os.fstat(r).st_ino)
print([l for l in open(f'{d}/fdinfo/{r}').read().split('\\n') if l.startswith('flags')])
os.close(w)
os.waitpid(child, 0)
"""
# pid_max is its pid namespace's since Linux 6.14 (up to PID_MAX_LIMIT).
HIGH_PIDS = "echo 4194304 > /proc/sys/kernel/pid_max && echo 40000 > /proc/sys/kernel/ns_last_pid"


def test_links_of_pids_above_32767(tmp_path):
    """Pids and tids above 32767 (systemd sets pid_max to 4194304): each
    link and fdinfo names that very task's, as natively.  The guest cannot
    set its own pid namespace's next pid, so the test does, from outside."""
    if os.geteuid() != 0:
        pytest.skip("entering the guest's pid namespace needs root")
    native = in_container(["sh", "-c", f"{HIGH_PIDS} && echo | exec python3 -c \"$0\"",
                           HIGH_PID_READS], tmp_path)
    if b"pid_max" in native.stderr:
        pytest.skip("pid_max is not per pid namespace here (Linux before 6.14)")
    assert native.returncode == 0 and native.stdout.count(b" True") == 7, native
    proc = subprocess.Popen([*LIBSUBST, "run", "python3", "-c", HIGH_PID_READS], cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pid = wait_for_guest(proc)
        subprocess.run(["nsenter", "--target", str(pid), "--pid", "--", "sh", "-c", HIGH_PIDS],
                       check=True, timeout=30)
        out, err = proc.communicate(b"\n", timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert_same(native, subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


# The files a container's process reads that are the host's (its kernel's
# limits, the machine's state): present in the guest, as in a container.
HOST_FILES = ["/proc/sys/kernel/threads-max", "/proc/sys/kernel/randomize_va_space",
              "/proc/sys/kernel/perf_event_paranoid", "/proc/sys/kernel/kptr_restrict",
              "/proc/sys/kernel/shmmax", "/proc/sys/kernel/sem", "/proc/sys/kernel/msgmni",
              "/proc/sys/fs/nr_open", "/proc/sys/fs/pipe-max-size",
              "/proc/sys/fs/inotify/max_user_watches", "/proc/sys/user/max_user_namespaces",
              "/proc/sys/vm/swappiness", "/proc/sysvipc/shm"]


def test_host_limits_as_in_a_container(tmp_path):
    present = [p for p in HOST_FILES if os.path.exists(p)]
    argv = ["sh", "-c", "; ".join(f"echo {p}; cat {p}" for p in present)]
    native = in_container(argv, tmp_path)
    assert native.returncode == 0, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def flat(d, path=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from flat(v, f"{path}.{k}")
    else:
        yield path, d


# Changes between two runs, or comes from where the guest has no copy.
VOLATILE = re.compile(r"memFree|MemFree|uptime|cpuUtilization|graphRootUsed|graphRootAllocated"
                      r"|\.package$")


@pytest.mark.parametrize("engine", ["buildah", "podman"])
def test_container_engine_info_as_in_a_container(engine, tmp_path):
    """buildah and podman read the id maps (rootless or not, the maps to
    give a container), the cgroup version, the CPUs and memory: the same
    report in a guest, with their own configuration, conmon and runc."""
    def info(run, side):
        # podman wants a runroot of at most 50 characters.
        store = tempfile.mkdtemp(prefix="ls-store-")
        argv = [engine, "--storage-driver", "vfs", "--root", f"{store}/root",
                "--runroot", f"{store}/run", "info"]
        if engine == "podman":
            argv += ["--format", "json"]
        try:
            r = run(argv)
        finally:
            shutil.rmtree(store)
        assert r.returncode == 0, (side, r.stderr)
        return {k: v.replace(store, "STORE") if isinstance(v, str) else v
                for k, v in flat(json.loads(r.stdout)) if not VOLATILE.search(k)}, r.stderr
    adds = ["--add", "/usr/share/containers", "--add", "/usr/bin/runc", "--add", "/usr/bin/conmon"]
    if os.path.exists("/usr/bin/slirp4netns"):
        adds += ["--add", "/usr/bin/slirp4netns"]
    native = info(lambda a: in_container(a, tmp_path), "native")
    guest = info(lambda a: run_guest(a, tmp_path, opts=adds), "guest")
    assert guest[0] == native[0]
    assert guest[1] == native[1]


MAPS_IDS = """
import os
bad, files = [], set()
for line in open('/proc/self/maps'):
    f = line.split(None, 5)
    if len(f) == 6 and f[5].startswith('/'):
        path = f[5].rstrip('\\n')
        major, minor = (int(x, 16) for x in f[3].split(':'))
        st = os.stat(path)
        files.add(path)
        if (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) != (major, minor, int(f[4])):
            bad.append(path)
print(len(files) > 3, bad)
"""


def test_maps_ids_are_the_named_files(tmp_path):
    """A mapping's dev and inode are those stat gives its named file, as
    natively: lsof prints a mapping whose ids differ from its path's as
    another file's ("(path dev=0,44, inode=467)")."""
    argv = ["python3", "-c", MAPS_IDS]
    native = run_native(argv, tmp_path)
    assert native.stdout == b"True []\n", native.stderr
    assert_same(native, run_guest(argv, tmp_path))
    lsof = run_guest(["sh", "-c", "lsof -p $$"], tmp_path)
    assert lsof.returncode == 0 and b" mem " in lsof.stdout, lsof.stderr
    assert b"(path dev=" not in lsof.stdout
