"""--memory, --cpus and --pids bind the whole guest (a run's cgroup and
size-limited scratch file systems), or the run is refused at start; and a
host without the Landlock the sandbox relies on is refused unless the
caller accepts less.  Each case runs tests/c/limits.c natively and under
libsubst and checks the guest stops where the limit says."""

import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import LIBSUBST, build_c, guest_pid, run_guest, run_native


@pytest.fixture(scope="module")
def limits_exe():
    """tests/c/limits.c, built outside /tmp: a program under /tmp would be
    an image file there, and the guest would get no scratch /tmp."""
    top = tempfile.mkdtemp(prefix="libsubst-limits-", dir="/var/tmp")
    os.chmod(top, 0o755)
    yield build_c("limits", top)
    shutil.rmtree(top, ignore_errors=True)


def test_pids_binds_a_guest_that_switches_uids(tmp_path, limits_exe):
    """Guest root setuid()s to 5 host uids and forks 10 in each: RLIMIT_NPROC
    counts per uid, the run's pids cgroup counts them all."""
    exe = limits_exe
    native = run_native([exe, "forks", "5", "10"], tmp_path)
    assert native.stdout == b"forks 55 failed 0\n", native.stderr
    free = run_guest([exe, "forks", "5", "10"], tmp_path)
    assert free.stdout == native.stdout, free.stderr
    limited = run_guest([exe, "forks", "5", "10"], tmp_path, opts=("--pids", "10"))
    # 10 processes: the first and 9 forks; the others fail as Linux says
    # (how many are tried depends on which of the uids' first forks failed).
    words = limited.stdout.split()
    assert words[:2] == [b"forks", b"9"] and words[4:] == [b"EAGAIN"], limited.stderr
    assert limited.returncode == 0


# Each thread lives until the program ends (an event never set), not for a
# while: a thread ended before the last started frees its pid.
THREADS = ("import threading\nn = 0\nforever = threading.Event()\ntry:\n    for _ in range(40):\n"
           "        threading.Thread(target=forever.wait, daemon=True).start(); n += 1\n"
           "except RuntimeError as e:\n    print('stopped:', e)\nprint(n)")


def test_threads_count_too(tmp_path):
    r = run_guest(["--pids", "12", "/usr/bin/python3", "-c", THREADS], tmp_path)
    assert r.stdout == b"stopped: can't start new thread\n11\n", r.stderr


def test_cpus_binds_after_sched_setaffinity(tmp_path, limits_exe):
    """The guest asks for every CPU: natively (started on one) it gets them;
    under --cpus 1 it keeps the one it was given, and may not move to
    another."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs a host with 2 CPUs")
    exe = limits_exe
    first, other = allowed[0], allowed[-1]
    native = run_native(["taskset", "-c", str(first), exe, "affinity", str(other)], tmp_path)
    widened = " ".join(map(str, allowed))
    assert native.stdout.decode() == f"before 1\nset ok\nafter {widened}\nonly {other} ok\n", \
        native.stderr
    guest = run_guest([exe, "affinity", str(other)], tmp_path, opts=("--cpus", "1"))
    assert guest.stdout.decode() == f"before 1\nset ok\nafter {first}\nonly {other} EINVAL\n", \
        guest.stderr


def _written(out: bytes) -> int:
    """The MiB the filler says it wrote."""
    return max((int(x) for x in out.split() if x.isdigit()), default=0)


@pytest.mark.parametrize("where", ["/tmp/fill", "/dev/shm/fill", "memfd"])
def test_memory_binds_tmp_shm_and_memfds(tmp_path, where, limits_exe):
    """128 MiB into the guest's /tmp, /dev/shm or a memfd: without a limit
    it is written, as natively; under --memory 48M /tmp and /dev/shm are
    full at a third of it (ENOSPC: they share it with the root's layer), and a memfd's pages end with an OOM kill
    before 48 MiB, which libsubst reports."""
    exe = limits_exe
    target = {"/tmp/fill": str(tmp_path / "fill"), "/dev/shm/fill": "/dev/shm/fill-%d" % os.getpid(),
              "memfd": "memfd"}[where]
    try:
        native = run_native([exe, "fill", target, "128"], tmp_path)
    finally:
        if target.startswith("/"):
            os.unlink(target)
    assert native.stdout.endswith(b"128\ndone\n"), native.stderr
    free = run_guest([exe, "fill", where, "128"], tmp_path)
    assert free.stdout == native.stdout, free.stderr
    limited = run_guest([exe, "fill", where, "128"], tmp_path, opts=("--memory", "48M"))
    if where != "memfd":
        full = b"".join(native.stdout.splitlines(keepends=True)[:16]) + b"stopped ENOSPC\n"
        assert (limited.stdout, limited.returncode) == (full, 0), limited.stderr
        return
    assert 0 < _written(limited.stdout) < 48 and limited.returncode == 128 + signal.SIGKILL
    assert re.fullmatch(rb"libsubst: the guest reached --memory 48M: the memory cgroup's OOM "
                        rb"killer ended \d+ of its processes\n", limited.stderr), limited.stderr


def _own_cgroup_dirs():
    from libsubst.monitor import cgroup
    return [h.path for h in map(cgroup.locate, ("pids", "memory", "cpuset")) if h]


def _runs_left():
    return sorted(n for d in _own_cgroup_dirs() for n in os.listdir(d)
                  if n.startswith("libsubst-"))


def test_the_cgroup_holds_the_guest_and_goes_with_the_run(tmp_path):
    """The guest is in the run's cgroup, in a cgroup namespace rooted there
    (it sees no other); the cgroup is removed when the run ends, and one
    whose monitor was SIGKILLed is removed by the next run."""
    code = "import time; print('up', flush=True); time.sleep(60)"
    proc = subprocess.Popen([*LIBSUBST, "run", "--pids", "8", "--memory", "64M",
                             "/usr/bin/python3", "-c", code],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"up\n", proc.stderr.read()
        guest = guest_pid(proc.pid)
        host_view = dict(line.split(":", 2)[1:] for line in open(f"/proc/{guest}/cgroup").read().split())
        for ctrl in ("pids", "memory"):
            assert os.path.basename(host_view[ctrl]).startswith(f"libsubst-{proc.pid}-"), host_view
        # Seen from its own cgroup namespace, that cgroup is the root.
        inside = subprocess.run(["nsenter", "-t", str(guest), "--cgroup", "cat",
                                 f"/proc/{guest}/cgroup"], capture_output=True, text=True)
        assert inside.returncode == 0 and all(line.endswith(":/")
                                              for line in inside.stdout.split()), inside
    finally:
        proc.kill()                       # the monitor: it cannot remove the cgroup
        proc.wait()
    left = [n for n in _runs_left() if n.startswith(f"libsubst-{proc.pid}-")]
    assert left, "the killed monitor's cgroup should be there until the next run"
    r = run_guest(["--pids", "8", "--memory", "64M", "/bin/true"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert not [n for n in _runs_left() if n.startswith(f"libsubst-{proc.pid}-")]


def test_memory_binds_ram_not_address_space(tmp_path):
    """--memory is the cgroup's alone, as a container's: address space
    reserved beyond it and not touched (an anonymous 300 MiB mmap, a JVM's
    heap and class space, V8's code range) is not refused, and a runtime
    sizes itself from memory.max (the JVM: a quarter of it for its heap, the
    cgroup v2 found through /proc/cgroups, /proc/self/cgroup and the mount
    table as on a v2 host); --cpus is the affinity the JVM counts."""
    code = ("import mmap, os\ntry:\n    m = mmap.mmap(-1, 300 << 20)\n    print('mapped')\n"
            "except OSError as e:\n    print(e.strerror)\nprint(len(os.sched_getaffinity(0)))\n")
    limited = run_guest(["--memory", "128M", "--cpus", "1", "/usr/bin/python3", "-c", code], tmp_path)
    assert limited.stdout == b"mapped\n1\n", limited.stderr
    free = run_guest(["/usr/bin/python3", "-c", code], tmp_path)
    assert free.stdout == f"mapped\n{len(os.sched_getaffinity(0))}\n".encode()
    if shutil.which("node"):
        node = run_guest(["--memory", "512M", "node", "-e", "console.log(6 * 7)"], tmp_path)
        assert (node.returncode, node.stdout) == (0, b"42\n"), node.stderr
    if shutil.which("java"):
        java = run_guest(["--memory", "512M", "--cpus", "1", "java", "-XshowSettings:system",
                          "-XX:+PrintFlagsFinal", "-version"], tmp_path)
        assert java.returncode == 0, java.stderr
        assert re.search(rb"\bMaxHeapSize += 134217728 ", java.stdout), java.stdout[-2000:]
        for line in (b"Provider: cgroupv2", b"Effective CPU Count: 1", b"Memory Limit: 512.00M"):
            assert line in java.stderr, java.stderr
    bad = run_guest(["--memory", "lots", "true"], tmp_path)
    assert bad.returncode == 2 and bad.stderr == b"libsubst: --memory 'lots': expected a size such as 512M or 2G\n"
    many = run_guest(["--cpus", "4096", "true"], tmp_path)
    assert many.returncode == 2 and many.stderr == \
        f"libsubst: --cpus 4096: libsubst may use only {len(os.sched_getaffinity(0))} CPUs here\n".encode()


@pytest.mark.parametrize("flag,value", [("--memory", "64M"), ("--cpus", "1")])
def test_a_limit_nobody_cannot_enforce_is_refused(as_nobody, flag, value):
    r = as_nobody(flag, value, "/bin/true")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"libsubst: {flag}: cannot make a cgroup for the guest in ".encode())
    assert r.stderr.endswith(b"(Permission denied), so the limit cannot be enforced; run as root "
                             b"or from a cgroup delegated to you\n") and r.stderr.count(b"\n") == 1


def test_pids_binds_nobody_by_rlimit(as_nobody, limits_exe):
    """Nobody's guest is one uid: RLIMIT_NPROC counts all its processes
    (and the caller's others: libsubst's own two at least)."""
    exe = limits_exe
    r = as_nobody("--pids", "6", exe, "forks", "1", "10")
    words = r.stdout.split()
    assert words[:1] == [b"forks"] and words[4:] == [b"EAGAIN"], r.stderr
    # At most 6 of nobody's: libsubst's monitor and relay, the guest's first
    # process, and 3 forks (fewer when nobody runs more elsewhere).
    assert int(words[1]) <= 3 and int(words[3]) >= 8 and int(words[1]) + int(words[3]) == 11


def test_refuses_to_start_without_landlock(tmp_path):
    """With Landlock hidden (a seccomp filter answering ENOSYS, inherited by
    libsubst and its guest) the run is refused, unless the caller accepts
    less and is told what the sandbox lacks."""
    hide = build_c("no_landlock", tmp_path)
    native = run_native(["/bin/echo", "hi"], tmp_path)
    r = subprocess.run([hide, *LIBSUBST, "run", "/bin/echo", "hi"], cwd=tmp_path,
                       capture_output=True, timeout=120)
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr == (b"libsubst: this host has no Landlock; the sandbox needs ABI 6 (Linux 6.12) "
                        b"to confine the guest's files, signals and abstract sockets. "
                        b"--allow-weaker-sandbox runs it without that\n")
    weaker = subprocess.run([hide, *LIBSUBST, "run", "--allow-weaker-sandbox", "/bin/echo", "hi"],
                            cwd=tmp_path, capture_output=True, timeout=120)
    assert weaker.stdout == native.stdout and weaker.returncode == native.returncode
    assert weaker.stderr.startswith(b"libsubst: warning: --allow-weaker-sandbox: no Landlock: ")
    assert weaker.stderr.count(b"\n") == 1


def test_the_kernel_refuses_without_landlock_too(tmp_path):
    """The guest kernel asks the host itself: a boot block that does not
    accept a weaker sandbox stops before the program runs."""
    from libsubst import api
    from libsubst.monitor import bootinfo, ending, identity
    from libsubst.monitor.executables import kernel_path

    hide = build_c("no_landlock", tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        spec = api.prepare("/bin/echo", ["hi"])
    finally:
        os.chdir(cwd)
    spec.host_ids = identity.host_ids()
    fd = os.memfd_create("bootinfo")
    try:
        os.write(fd, bootinfo.encode(spec))
        r = subprocess.run([hide, kernel_path(), str(fd)], pass_fds=(fd,),
                           capture_output=True, cwd=tmp_path, timeout=60)
    finally:
        os.close(fd)
        ending.remove_scratch(spec.scratch)
    assert r.stdout == b"" and r.returncode != 0
    assert b"cannot restrict host file access (Landlock): error 38 (this host's Landlock is " \
           b"older than ABI 6 or absent: see --allow-weaker-sandbox)" in r.stderr


def test_each_controller_is_found_where_the_host_has_it(tmp_path, monkeypatch):
    """v2 where the unified hierarchy enables the controller, else the v1
    hierarchy it is mounted on; a controller in neither is an error at start."""
    from libsubst.errors import LibsubstError
    from libsubst.monitor import cgroup

    (tmp_path / "unified" / "run").mkdir(parents=True)
    (tmp_path / "unified" / "run" / "cgroup.controllers").write_text("hugetlb memory\n")
    monkeypatch.setattr(cgroup, "_mounts", lambda: [
        (str(tmp_path / "unified"), "/", "cgroup2", {"rw"}),
        (str(tmp_path / "pids"), "/", "cgroup", {"rw", "pids"}),
    ])
    monkeypatch.setattr(cgroup, "_own_cgroups", lambda: {"": "/run", "pids": "/a/b"})
    assert cgroup.locate("memory") == cgroup.Hierarchy(str(tmp_path / "unified" / "run"), True,
                                                       str(tmp_path / "unified"))
    assert cgroup.locate("pids") == cgroup.Hierarchy(str(tmp_path / "pids" / "a" / "b"), False,
                                                     str(tmp_path / "pids"))
    assert cgroup.locate("cpuset") is None
    with pytest.raises(LibsubstError, match="^--cpus: this host has no cpuset cgroup controller, "
                                            "so the limit cannot be enforced$"):
        cgroup.RunCgroup(None, [0], None)


def test_the_guest_cannot_reach_cgroupfs(tmp_path):
    """Leaving the run's cgroup means writing a cgroup.procs: the host's
    cgroup file systems are not in the guest's mount namespace (even from
    kernel text, where the guest kernel is not asked), and making one is
    refused by seccomp (fsopen and mount are boot-only host calls; mount
    itself: test_sandbox.py)."""
    from libsubst.kernel import syscalls
    from test_sandbox import GADGET_C

    src = tmp_path / "gadget.c"
    src.write_text(GADGET_C)
    gadget = tmp_path / "gadget"
    subprocess.run(["gcc", "-O1", "-o", gadget, src], check=True)
    procs = os.path.join(_own_cgroup_dirs()[0], "cgroup.procs")
    r = run_guest(["--no-subst", "--pids", "8", str(gadget), "open", procs], tmp_path)
    assert r.stdout.decode() == f"openat {procs}: No such file or directory\n", r.stderr
    nr = syscalls.by_name("fsopen").nr
    r = run_guest(["--no-subst", "--pids", "8", str(gadget), "call", str(nr), "0", "0"], tmp_path)
    assert r.returncode == 128 + signal.SIGSYS and r.stdout == b"", r.stderr
    assert b"seccomp filter does not allow" in r.stderr


def test_guests_of_a_root_caller_count_apart(tmp_path):
    """Guests of a root caller share one host uid range, but not a --pids
    count: each has its own cgroup (RLIMIT_NPROC, per host uid, summed them)."""
    holder = subprocess.Popen([*LIBSUBST, "run", "--pids", "6", "--add", "/usr/bin/sleep",
                               "/bin/sh", "-c", "for i in 1 2 3 4; do sleep 60 & done; echo up; wait"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"up\n", holder.stderr.read()
        # Both guests' first processes and threads are host uid host_ids()[0].
        r = run_guest(["--pids", "6", "/usr/bin/python3", "-c", THREADS], tmp_path)
        assert r.stdout == b"stopped: can't start new thread\n5\n", r.stderr
    finally:
        holder.terminate()                # forwarded: the guest ends and its cgroup goes
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    assert not [n for n in _runs_left() if n.startswith(f"libsubst-{holder.pid}-")]


def test_a_v2_run_cgroup_goes_where_the_controllers_can_be_enabled(tmp_path, monkeypatch):
    """v2 enables a controller for children only in a cgroup without
    processes of its own (or the root): under systemd the monitor's own is
    a session scope that holds it, so the run's cgroup goes under the
    nearest ancestor that hands the controllers down (a slice)."""
    from libsubst.monitor import cgroup

    top = tmp_path / "cg"
    scope = top / "user.slice" / "session-1.scope"
    scope.mkdir(parents=True)
    for d, procs, sub in ((top, "1\n", ""), (top / "user.slice", "", "memory pids"),
                          (scope, f"{os.getpid()}\n", "")):
        (d / "cgroup.procs").write_text(procs)
        (d / "cgroup.subtree_control").write_text(sub)
        (d / "cgroup.controllers").write_text("memory pids\n")
    monkeypatch.setattr(cgroup, "_mounts", lambda: [(str(top), "/", "cgroup2", {"rw"})])
    monkeypatch.setattr(cgroup, "_own_cgroups", lambda: {"": "/user.slice/session-1.scope"})
    group = cgroup.RunCgroup(64 << 20, None, 8)
    (made,) = group.dirs
    assert os.path.dirname(made) == str(top / "user.slice")
    assert (top / "user.slice" / "cgroup.subtree_control").read_text() == "memory pids"
    assert open(os.path.join(made, "memory.max")).read() == str(64 << 20)
    assert open(os.path.join(made, "pids.max")).read() == "9"       # and the relay
    # With the scope's own processes gone, it is the parent itself.
    (scope / "cgroup.procs").write_text("")
    assert cgroup._v2_parent(cgroup.locate("memory"), ["memory"]) == str(scope)


@pytest.mark.parametrize("scratch,root,each", [
    (None, 16 << 20, 16 << 20),        # a third each
    (8 << 20, 8 << 20, 20 << 20),      # the root its size, the others half of the rest
])
def test_the_scratch_mounts_together_fit_in_memory(scratch, root, each):
    """/, /tmp and /dev/shm share --memory: filled together they reach
    ENOSPC, not the OOM killer."""
    from libsubst.volumes import Mount
    from libsubst.monitor.limits import scratch_sizes
    from libsubst.plan import Limits
    mounts = [Mount("/", "", scratch=True), Mount("/tmp", "", scratch=True),
              Mount("/dev/shm", "", scratch=True), Mount("/data", "/srv")]
    sized = scratch_sizes(mounts, Limits(memory=48 << 20, scratch=scratch))
    assert [m.size for m in sized] == [root, each, each, None]
    assert sum(m.size for m in sized if m.scratch) <= 48 << 20


def test_scratch_size_alone_bounds_only_the_root():
    from libsubst.volumes import Mount
    from libsubst.monitor.limits import scratch_sizes
    from libsubst.plan import Limits
    mounts = [Mount("/", "", scratch=True), Mount("/tmp", "", scratch=True)]
    assert [m.size for m in scratch_sizes(mounts, Limits(scratch=8 << 20))] == [8 << 20, None]
    assert [m.size for m in scratch_sizes(mounts, Limits())] == [None, None]


def test_a_root_layer_alone_takes_its_size():
    from libsubst.volumes import Mount
    from libsubst.monitor.limits import scratch_sizes
    from libsubst.plan import Limits
    sized = scratch_sizes([Mount("/", "", scratch=True)], Limits(memory=48 << 20, scratch=8 << 20))
    assert [m.size for m in sized] == [8 << 20]
