"""The benchmarks time only work that succeeded, and compare like with like:
a loop whose exec fails, or a system call that fails, stops the benchmark
instead of giving a figure; configurations alternate round by round."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import LIBSUBST, build_c, free_port
from libsubst.benchmarks import (child_exit, density, kernel_own, name_lookups, processes, servers, startup,
                                  syscalls, trace_cost)
from libsubst.benchmarks.rounds import BenchmarkError, alternate, spread
from libsubst.errors import LibsubstError

# what syscall_bench.c times
OPS = {"getppid", "clock_gettime", "read_1_dev_zero", "write_1_dev_null", "pipe_write_read",
       "open_close_image", "open_close_volume", "open_close_volume_deep",
       "open_nonblock_close_volume_deep", "pread_1_volume",
       "pwrite_1_volume", "stat_image", "stat_volume", "stat_volume_deep", "fstat_volume",
       "epoll_wait_ready",
       "sendfile_4k_volume", "connect_accept4_close", "open_close_etc", "open_close_proc",
       "open_read_close_proc", "pread_proc_stat",
       "ioctl_fionread_pipe", "stat_missing_volume", "stat_missing_usr_bin",
       "nginx_file_volume", "writev_2_pipe", "send_recv_loopback", "socket_close"}


def test_rounds_alternate_the_configurations():
    calls = []
    got = alternate(3, {"native": lambda: calls.append("n") or 1.0,
                        "guest": lambda: calls.append("g") or 2.0})
    assert calls == ["n", "g"] * 3
    assert got == {"native": [1.0] * 3, "guest": [2.0] * 3}
    assert spread([8.0, 10.0, 12.0]) == (0.8, 1.2)


def test_exec_benchmark_execs_a_program_of_the_guest(tmp_path):
    """Every exec of the loop succeeds in the guest; a loop that execs a
    program the guest does not have (every exec exits 127) is refused
    instead of timed.  (/bin/true is no such program: /bin is usr/bin in
    the guest as on the host.)"""
    loop = processes.LOOPS_ARGV["sh: fork+execve /usr/bin/true+wait (µs)"]
    assert processes._one([*processes.GUEST, *loop], str(tmp_path)) > 0
    assert processes._one(loop, str(tmp_path)) > 0
    missing = [loop[0], loop[1], loop[2].replace("/usr/bin/true", "/usr/bin/not-in-the-guest")]
    with pytest.raises(BenchmarkError, match="exec failed: 127"):
        processes._one([*processes.GUEST, *missing], str(tmp_path))


def test_child_exit_benchmark_times_each_way(tmp_path):
    """Each way the parent notices a child's end gives a time, natively and
    in the guest; a run the program refuses (no children) gives none."""
    for argv in ([child_exit.PROGRAM, "20"], [*child_exit.GUEST, child_exit.PROGRAM, "20"]):
        got = child_exit._one(argv, str(tmp_path))
        assert set(got) == {"sigwaitinfo", "handler", "waitpid"} and min(got.values()) > 0
    with pytest.raises(BenchmarkError, match="usage: child-exit N"):
        child_exit._one([child_exit.PROGRAM, "0"], str(tmp_path))


def test_syscall_benchmark_checks_every_call(tmp_path):
    exe = syscalls.bench_binary()
    args = [exe, "100", "1", "/nonexistent/file", str(tmp_path)]
    with pytest.raises(BenchmarkError, match="calls of open_close_image failed"):
        syscalls._native(args)
    with pytest.raises(BenchmarkError, match="calls of open_close_image failed"):
        syscalls._guest(args, "fast", str(tmp_path))
    res = syscalls.measure(iterations=200, repeats=1, rounds=1)
    assert res.pop(syscalls.TRAP_FLOOR)["native"][0] > 0
    assert set(res) == OPS
    for op, paths in res.items():
        assert set(paths) == set(syscalls.PATHS)
        assert all(len(v) == 1 and v[0] > 0 for v in paths.values()), (op, paths)


def test_syscall_benchmark_times_the_rows_named_alone():
    """--only: the rows named, on every path, and the table without the others."""
    res = syscalls.measure(iterations=100, repeats=1, rounds=1,
                           only="stat_volume_deep,open_close_volume")
    assert set(res) == {"stat_volume_deep", "open_close_volume", syscalls.TRAP_FLOOR}
    table = syscalls.table(res).splitlines()
    assert len(table) == 2 + 2 + 2
    # container+Landlock, the floor of an open in a volume, beside container
    head = [c.strip() for c in table[0].split("|")]
    assert head[3:6] == ["container ns", "container+Landlock ns", "fastcall ns"], head
    with pytest.raises(LibsubstError, match="no row no_such_row") as bad:
        syscalls.measure(iterations=100, repeats=1, rounds=1, only="stat_volume,no_such_row")
    assert not isinstance(bad.value, BenchmarkError)      # bad input, not a failed run


def test_syscall_benchmark_gives_each_rounds_fastest_loop_if_asked():
    """--fastest: a round's figure is the fastest of its timed loops, the
    second column syscall-bench prints after a row's name."""
    assert syscalls._parse("getppid 12.5 10.0\n", syscalls.FASTEST) == {"getppid": 10.0}
    assert syscalls._parse("getppid 12.5 10.0\n") == {"getppid": 12.5}
    res = syscalls.measure(iterations=100, repeats=3, rounds=1, only="ioctl_fionread_pipe",
                           fastest=True)
    assert set(res) == {"ioctl_fionread_pipe", syscalls.TRAP_FLOOR}
    assert all(v[0] > 0 for v in res["ioctl_fionread_pipe"].values())


def test_name_lookups_time_only_lookups_that_answered():
    """name_lookups: µs per getaddrinfo and getpwnam, natively and in a
    guest; a loop that fails is refused, not timed."""
    res = name_lookups.measure(iterations=20, rounds=1)
    assert set(res) == set(name_lookups.KINDS)
    assert all(set(r) == {"native", "guest"} and r["guest"][0] > 0 for r in res.values())
    with pytest.raises(BenchmarkError, match="the loop exited"):
        name_lookups._run([], 0)            # no lookup to time: the loop fails


def test_syscall_benchmark_times_another_build_in_the_same_rounds():
    """--baseline-python: another installation's fastcall path (here this
    one's, by its CLI) joins every round and the table."""
    res = syscalls.measure(iterations=200, repeats=1, rounds=1, baseline=sys.executable)
    assert all(len(paths[syscalls.BASELINE]) == 1 and paths[syscalls.BASELINE][0] > 0
               for op, paths in res.items() if op != syscalls.TRAP_FLOOR)
    lines = syscalls.table(res).splitlines()
    assert lines[0].endswith("| baseline fastcall ns | baseline / native |")
    assert all(row.count("|") == lines[0].count("|") for row in lines[2:2 + len(OPS)])


def test_syscall_benchmark_times_a_packed_image_of_each_build():
    """--image: the benchmark packed (with its volume) by this build and by
    the baseline's joins every round and the table; the image's runs check
    every call's work as the others do."""
    res = syscalls.measure(iterations=200, repeats=1, rounds=1, baseline=sys.executable,
                           image=True)
    for op, paths in res.items():
        if op != syscalls.TRAP_FLOOR:
            assert all(len(paths[p]) == 1 and paths[p][0] > 0
                       for p in (syscalls.IMAGE, syscalls.BASELINE_IMAGE)), (op, paths)
    lines = syscalls.table(res).splitlines()
    assert lines[0].endswith("| image fastcall ns | baseline image fastcall ns |")
    assert all(row.count("|") == lines[0].count("|") for row in lines[2:2 + len(OPS)])


def test_the_container_baseline_runs_natively_under_the_guests_filter(tmp_path):
    """The baseline's filter has the guest filter's instructions, none of
    them a kill; the benchmark installs it (a filter that refuses every call
    fails the run) and every timed call succeeds under it."""
    import struct
    from libsubst.kernel import seccomp
    bpf = seccomp.container_baseline()
    assert len(bpf) == 8 * len(seccomp.compile_filter()[0])
    assert struct.pack("<HBBI", seccomp.RET, 0, 0, seccomp.RET_KILL_PROCESS) not in bpf
    (tmp_path / "baseline.bpf").write_bytes(bpf)
    (tmp_path / "eperm.bpf").write_bytes(struct.pack("<HBBI", seccomp.RET, 0, 0,
                                                     seccomp.RET_ERRNO | seccomp.EPERM))
    args = [syscalls.bench_binary(), "50", "1", "/bin/true", str(tmp_path)]
    out = syscalls._native([*args, str(tmp_path / "baseline.bpf")])
    assert set(out) == OPS and min(out.values()) > 0
    with pytest.raises(BenchmarkError, match="natively exited"):
        syscalls._native([*args, str(tmp_path / "eperm.bpf")])


def test_the_trap_is_off_only_in_a_benchmark_boot_without_the_sandbox(tmp_path):
    """bench syscalls' "no trap" path: without Syscall User Dispatch the
    program's calls (none substituted here) reach the host untraced, and
    /proc/self/exe is the host's; with the sandbox on, no trap is refused."""
    from libsubst import api
    from libsubst.errors import BuildError
    from libsubst.monitor.guest import run_spec

    def readlink(**kw):
        spec = api.prepare("/usr/bin/readlink", ["/proc/self/exe"], subst=False, mount_cwd=False,
                           **kw)
        spec.trap = False
        trace, out = tmp_path / "trace", tmp_path / "out"
        with open(out, "wb") as f:
            done = run_spec(spec, stdout=f, trace=str(trace))
        return done.returncode, out.read_text(), trace.read_text()

    status, exe, trace = readlink(policy=False)
    assert (status, trace) == (0, "")
    assert exe.strip().endswith("/_bin/libsubst-kernel"), exe
    with pytest.raises(BuildError, match="only without the sandbox"):
        readlink()


def test_the_kernel_leaves_the_trap_on_under_a_seccomp_filter(tmp_path, monkeypatch):
    """Boot info that asks for no trap, given to a kernel under a seccomp
    filter (as a guest that execs the kernel itself is): refused at boot."""
    from libsubst import api
    from libsubst.monitor.executables import kernel_path
    from libsubst.monitor.guest import run_spec

    helper = build_c("seccomp_exec", str(tmp_path))
    monkeypatch.setenv("SECCOMP_EXEC", kernel_path())
    for trap in (True, False):
        spec = api.prepare("/usr/bin/true", [], mount_cwd=False, policy=False)
        spec.trap = trap
        with open(tmp_path / "err", "w+b") as err:
            done = run_spec(spec, kernel=helper, stderr=err)
            err.seek(0)
            text = err.read().decode()
        if trap:
            assert (done.returncode, text) == (0, ""), text    # the helper runs the kernel
        else:
            assert done.returncode != 0
            assert "the trap can be left off only without the sandbox" in text, text


def test_trace_cost_times_every_mode_in_rounds():
    res = trace_cost.measure(iterations=100, repeats=1, rounds=2)
    assert set(res) == OPS
    for op, modes in res.items():
        assert set(modes) == set(trace_cost.MODES)
        assert all(len(v) == 2 and min(v) > 0 for v in modes.values()), (op, modes)


def test_startup_benchmark_times_whole_runs_and_idle_guests():
    """One round of start-up (native, warm, planned, cold), 2 idle guests for the
    density figures, and the breakdown: every figure from a run that did its
    work; a guest is three processes (supervisor, relay, guest) where natively
    the server is one, and none is left afterwards (density checks it)."""
    res = startup.measure(rounds=1, n_density=2, breakdown=True,
                          targets=("true", "true.lsi (packed)"))
    assert set(res["start_ms"]) == {"true", "true.lsi (packed)"}
    for figures in res["start_ms"].values():
        assert all(figures[k] > 0 for k in ("native", "warm", "planned", "cold")), figures
    d = res["density"]
    assert d["native"]["processes_per_instance"] == 1
    assert d["guest"]["processes_per_instance"] == 3       # supervisor, relay, guest
    assert d["guest"]["pss_kib_per_instance"] > d["guest"]["pss_kib_top_process"] > 0
    assert d["guest"]["cpu_ms_per_start"]["mean"] > 10     # these two plan: Python
    b = res["breakdown"]
    assert set(b["phases_ms"]) == set(startup.timeline.PHASES)
    assert b["phases_ms"]["kernel boot to the program's first instruction"] > 0
    assert any(name == "libsubst.cli" for name, _ in b["costliest_imports_ms"])
    f = res["breakdown_frontend"]          # a served run: no Python, so no imports
    assert set(f["phases_ms"]) == set(startup.timeline.FRONTEND_PHASES)
    assert f["phases_ms"]["kernel boot to the program's first instruction"] > 0
    assert "density: 2 idle instances of echo-server" in startup.report(res)


def test_startup_benchmark_refuses_runs_that_failed(tmp_path):
    """A run whose status or output is not native's, a redis that never
    answers, a "server" guest that exits: each stops the benchmark."""
    env, cwd, cli = dict(os.environ), str(tmp_path), startup.cli()
    with pytest.raises(BenchmarkError, match="natively"):
        startup._command([*cli, "run", "/bin/false"], env, cwd, (0, b"", b""), "false")
    with pytest.raises(BenchmarkError, match="natively"):
        startup._command(["/bin/echo", "x"], env, cwd, (0, b"", b""), "echo")
    with pytest.raises(BenchmarkError, match="exited 1 before answering"):
        startup._redis([*cli, "run", "/bin/false"], env, cwd, "false", free_port())
    with pytest.raises(BenchmarkError, match="exited 0 before answering"):
        density._one(lambda port: [*cli, "run", "/bin/true"], 2, "true", cwd, 60)


def test_server_benchmark_times_each_server_in_alternating_rounds():
    res = servers.measure(rounds=1, seconds=1, requests=500)
    assert len(res) == 9 and {"nginx", "redis", "memcached"} == {row.split()[0] for row in res}
    for row, kinds in res.items():
        assert set(kinds) == {*servers.KINDS, servers.AGAIN}
        assert all(len(v) == 1 and v[0] > 0 for v in kinds.values()), (row, kinds)
    assert len(servers.table(res).splitlines()) == 2 + 9
    # The CPU rows count the serving tree's time over the requests: a request costs
    # more than a microsecond and less than a millisecond of a server's CPU.
    cpu = {row: kinds for row, kinds in res.items() if row.endswith("CPU µs per request")}
    assert {row.split()[0] for row in cpu} == {"nginx", "redis", "memcached"}
    assert all(1 < v[0] < 1000 for kinds in cpu.values() for v in kinds.values()), cpu


def test_server_benchmark_runs_the_servers_named_alone():
    """--only: nginx's rows alone, in the same rounds; a name that is no server is refused
    before anything starts."""
    res = servers.measure(rounds=1, seconds=1, only="nginx")
    assert {row.split()[0] for row in res} == {"nginx"} and len(res) == 2
    assert all(v[0] > 0 for kinds in res.values() for v in kinds.values())
    with pytest.raises(BenchmarkError, match="no server apache"):
        servers.measure(rounds=1, seconds=1, only="nginx,apache")
    r = subprocess.run([sys.executable, "-m", "libsubst.benchmarks.servers", "--only", "apache"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and r.stderr.startswith("libsubst: no server apache")
    assert "Traceback" not in r.stderr


def test_contained_runs_a_native_program_under_the_sandboxs_layers(tmp_path):
    """The servers' floor (contained.c): the guest's filter installed, and with volumes
    Landlock as the tender's: a read-write volume writable, a read-only one readable and
    not writable, the devices a guest gets writable (/dev/null: bench syscalls' write
    row), nothing else writable; a step that fails is one line and 127."""
    from importlib import resources
    from libsubst.kernel import seccomp
    exe = str(resources.files("libsubst") / "_bin" / "contained")
    bpf, rw, ro = tmp_path / "f.bpf", tmp_path / "rw", tmp_path / "ro"
    bpf.write_bytes(seccomp.container_baseline(refusals_allowed=True))
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("kept\n")
    script = (f"grep '^Seccomp:' /proc/self/status; cat {ro}/f; echo a > {rw}/a && echo rw;"
              f" echo b > {ro}/b || echo not-ro; echo c > {tmp_path}/c || echo not-outside;"
              " echo d > /dev/null && echo dev-null")
    native = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert native.stdout.split() == ["Seccomp:", "0", "kept", "rw", "dev-null"]
    (ro / "b").unlink()
    (tmp_path / "c").unlink()
    r = subprocess.run([exe, str(bpf), "sh", "-c", script], capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.split() == ["Seccomp:", "2", "kept", "rw", "dev-null"], r.stderr
    (ro / "b").unlink()
    (tmp_path / "c").unlink()
    r = subprocess.run([exe, "--rw", str(rw), "--ro", str(ro), str(bpf), "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["Seccomp:", "2", "kept", "rw", "not-ro", "not-outside",
                                "dev-null"], r.stderr
    assert not (ro / "b").exists() and not (tmp_path / "c").exists()
    r = subprocess.run([exe, str(tmp_path / "missing.bpf"), "true"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 127 and r.stderr.count("\n") == 1 and "seccomp filter" in r.stderr


def test_server_benchmark_refuses_a_round_whose_work_failed(tmp_path):
    """nginx that answers 404 for the file is no round: the load is not timed."""
    argv, load, opts = servers.nginx(str(tmp_path), 1)
    (tmp_path / "www" / "4k.bin").unlink()
    port = servers.free_port()
    with pytest.raises(BenchmarkError, match="did not serve the file"):
        servers.one_round("native", argv(port), port, str(tmp_path), load, opts)


def test_postgres_benchmark_times_both_loads_in_alternating_rounds():
    from libsubst.benchmarks import postgres_bench

    res = postgres_bench.measure(rounds=1, seconds=1, clients=2, scale=1)
    assert set(res) == set(postgres_bench.LOADS)
    for load, r in res.items():
        assert set(r["tps"]) == set(postgres_bench.KINDS)
        assert all(v > 0 for v in r["tps"].values()), (load, r)
        assert r["libsubst/native"] > 0 and r["native again/native"] > 0


def test_postgres_benchmark_refuses_a_server_that_did_not_start(tmp_path):
    """A cluster that is not there: no round, one error that says so."""
    from libsubst.benchmarks import postgres_bench

    os.chmod(tmp_path, 0o755)
    (tmp_path / "native").mkdir()
    with pytest.raises(BenchmarkError, match="native postgres did not start"):
        with postgres_bench.server(str(tmp_path), "native", postgres_bench.pg_bin()):
            pass


def test_server_profile_finds_the_process_that_serves():
    """The profile's process is the deepest of the tree: a guest's own process, not its
    supervisor or relay."""
    from libsubst.benchmarks import server_profile
    proc = subprocess.Popen(["sh", "-c", "sh -c 'sleep 30; :' & wait"])
    pid = proc.pid
    try:
        for _ in range(500):   # until the inner shell has started sleep
            pid = server_profile.leaf(proc.pid)
            if open(f"/proc/{pid}/comm").read().strip() == "sleep":
                break
            time.sleep(0.01)
        assert open(f"/proc/{pid}/comm").read().strip() == "sleep"
    finally:
        if pid != proc.pid:
            os.kill(pid, 9)     # the sleep: its shells then end
        proc.kill()
        proc.wait()


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_server_profile_attributes_the_guests_time():
    """The guest's samples hold its kernel, native nginx's none: each round profiled
    the process that served (a guest's supervisor or relay runs no guest kernel code
    while nginx serves)."""
    from libsubst.benchmarks import server_profile
    res = server_profile.measure("nginx", rounds=1, seconds=1)
    assert set(res) == {"requests", "CPU in all", *server_profile.PARTS, "host call returns",
                        "minor faults", "major faults"}
    assert res["requests"]["native"][0] > 0 and res["requests"]["libsubst"][0] > 0
    assert res["CPU in all"]["native"][0] > 0
    assert res["guest kernel"]["native"] == [0]
    assert res["guest kernel"]["libsubst"][0] > 0
    # Both sides' returns from the host are found: natively in libc, in a
    # guest in its kernel (whose entry makes the host calls), a part of it.
    assert 0 < res["host call returns"]["native"][0] < res["CPU in all"]["native"][0]
    assert 0 < res["host call returns"]["libsubst"][0] < res["guest kernel"]["libsubst"][0]
    # Landlock's check of nginx's open runs only in a guest, under its domain
    # (natively its hooks only allocate and free a file's blob).
    assert res["Landlock"]["libsubst"][0] > res["Landlock"]["native"][0]
    # The floor, native nginx under the sandbox's layers (test_contained_... checks
    # they hold), runs no guest kernel.
    assert res["guest kernel"][servers.FLOOR] == [0] and res["requests"][servers.FLOOR][0] > 0


def test_server_profile_table_has_a_column_per_build():
    """--baseline-python: the baseline's medians, its difference from native and its
    own spread, beside the guest's, from the same rounds."""
    from libsubst.benchmarks import server_profile
    res = {"requests": {"native": [10, 12], "libsubst": [9, 9], "baseline": [8, 8]},
           "guest kernel": {"native": [0, 0], "libsubst": [0.5, 0.7], "baseline": [0.9, 0.9]}}
    head, _, reqs, kern = server_profile.table(res).splitlines()
    assert head.split(" | ")[1:6] == ["native", "libsubst", "baseline", "libsubst − native",
                                      "baseline − native"]
    assert kern.split(" | ")[1:6] == ["0.00", "0.60", "0.90", "0.60", "0.90"]
    assert reqs.split(" | ")[4:6] == ["-2", "-3"]


def test_server_profile_finds_the_instructions_after_each_syscall():
    """Each (function, offset) it names follows a `syscall` (0f 05) in the
    object: the guest kernel's fastcall entry, which makes the host calls,
    and libc's wrappers (by the debug file's names too, as perf gives them)."""
    from libsubst.benchmarks import server_profile
    from libsubst.elf import ElfFile
    from libsubst.monitor.executables import kernel_path
    libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    for path, func in ((kernel_path(), "ls_fastcall_entry"), (libc, "pread64")):
        got = server_profile.after_syscalls(path)
        assert any(name == func for name, _ in got), (path, func)
        with ElfFile.open(path) as elf:
            where: dict[str, list[int]] = {}     # a name may be two versions' (libc)
            for v, _, _, name in server_profile.symbols(elf):
                where.setdefault(name, []).append(v)
            for name, off in got:
                assert any(elf.data[elf.vaddr_to_offset(v + off - 2, 2):][:2] == b"\x0f\x05"
                           for v in where[name]), (path, name, off)
    assert server_profile.after_syscalls("/etc/hostname") == frozenset()


def test_kernel_own_splits_the_guest_kernels_samples_per_build():
    """kernel_own: a loop of fstat in a guest has samples of the kernel's own code (its
    handler among them) and of host calls' returns, per build and round; a row
    syscall-bench does not have is refused before any round."""
    res = kernel_own.measure(rows=("fstat_volume",), rounds=2, iterations=50000,
                             baseline=sys.executable)
    assert set(res) == {"fstat_volume"} and set(res["fstat_volume"]) == {"libsubst", "baseline"}
    for rounds in res["fstat_volume"].values():
        assert len(rounds) == 2
        assert all(r[kernel_own.OWN] > 0 and r[kernel_own.RETURNS] > 0 for r in rounds), rounds
        # the functions' ns add up to the own figure
        assert all(abs(sum(v for k, v in r.items() if k not in (kernel_own.OWN, kernel_own.RETURNS))
                       - r[kernel_own.OWN]) < 1e-6 for r in rounds)
    assert any("sys_newfstatat" in r or "ls_fastcall_entry" in r
               for rounds in res["fstat_volume"].values() for r in rounds)
    assert kernel_own.table(res).splitlines()[0] == "fstat_volume, ns per iteration:"
    with pytest.raises(LibsubstError, match="no row no_such_row") as bad:
        kernel_own.measure(rows=("no_such_row",), rounds=1, iterations=10)
    assert not isinstance(bad.value, BenchmarkError)      # bad input, not a failed run


def test_seccomp_cache_benchmark_runs_each_layer(tmp_path):
    """Every configuration runs and times each call; the instruction-pointer
    check it times is a real one (moved below every address, it traps the
    program's first call), and each configuration turns SUD on and installs
    a filter exactly where it says (strace sees the calls succeed); the
    trap floor by seccomp traps by a filter, not by SUD."""
    from libsubst.benchmarks import seccomp_cache
    res = seccomp_cache.measure(iterations=50, repeats=1, rounds=1)
    assert set(res) == {*seccomp_cache.OPS, seccomp_cache.TRAP}
    traps = res.pop(seccomp_cache.TRAP)
    assert set(traps) == set(seccomp_cache.TRAPS) and all(v[0] > 0 for v in traps.values())
    for op, kinds in res.items():
        assert set(kinds) == set(seccomp_cache.CONFIGS)
        assert all(len(v) == 1 and v[0] > 0 for v in kinds.values()), (op, kinds)
    table = seccomp_cache.table({**res, seccomp_cache.TRAP: traps}).splitlines()[:-2]
    assert all(row.count("|") == table[0].count("|") for row in table)
    exe = syscalls.bench_binary()
    trapping = tmp_path / "trap.bpf"
    trapping.write_bytes(seccomp_cache.ip_check(top_hi=0) + seccomp_cache.ALLOW)
    r = subprocess.run([exe, "--only=getppid", "10", "1", exe, str(tmp_path), str(trapping)])
    assert r.returncode == -signal.SIGSYS
    for name, (bpf, sud) in seccomp_cache.CONFIGS.items():
        argv = seccomp_cache.command(name, str(tmp_path), 10, 1)
        r = subprocess.run(["strace", "-e", "trace=prctl,seccomp", *argv],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        on = re.search(r"prctl\(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON.* = 0", r.stderr)
        assert bool(on) == sud, (name, r.stderr)
        assert ("SECCOMP_SET_MODE_FILTER" in r.stderr) == bool(bpf), (name, r.stderr)
    r = subprocess.run(["strace", "-e", "trace=prctl,seccomp,getppid", exe, "--seccomp",
                        "--trap-floor", "10", "1"], capture_output=True, text=True)
    assert r.returncode == 0 and "SECCOMP_SET_MODE_FILTER" in r.stderr, r.stderr
    assert "PR_SET_SYSCALL_USER_DISPATCH" not in r.stderr and "getppid()" in r.stderr, r.stderr


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_the_guests_unpinned_calls_skip_the_filters_bpf():
    """In a real guest, with the filter the tender installs: a loop of reads
    or of epoll_waits spends (next to) no CPU time in the filter's BPF, at
    most a stray sample of start-up; a loop of opens (openat2, a pinned
    call) does, so the measure sees the BPF when it runs."""
    from libsubst.benchmarks import seccomp_cache
    one_sample = seccomp_cache.SAMPLE_NS / 100000
    res = seccomp_cache.in_guest(100000, ("read_1_dev_zero", "epoll_wait_ready",
                                          "open_close_volume"))
    assert res["read_1_dev_zero"]["BPF"] <= one_sample, res
    assert res["epoll_wait_ready"]["BPF"] <= one_sample, res
    assert res["open_close_volume"]["BPF"] > 5 * one_sample, res
    assert all(r["__seccomp_filter"] > 0 for r in res.values()), res


def test_host_floors_benchmark_times_each_floor_in_each_configuration():
    """Every floor is timed natively, under the filter and under the sandbox
    (SUD, filter and the volume's Landlock rule: each of its calls is allowed
    there, or the run would fail), and each call did its work."""
    from libsubst.benchmarks import host_floors
    res = host_floors.measure(iterations=50, repeats=1, rounds=1)
    assert "floor_statx_mnt_id" in res and "floor_dir_fstatat_close" in res
    for op, r in res.items():
        assert set(r) == set(host_floors.CONFIGS) and all(v[0] > 0 for v in r.values()), op
    assert len(host_floors.table(res).splitlines()) == 2 + len(res)
    fastest = host_floors.measure(iterations=50, repeats=2, rounds=1, fastest=True)
    assert fastest.keys() == res.keys()
    assert all(v[0] > 0 for r in fastest.values() for v in r.values())


def test_landlock_walk_benchmark_times_each_rule_and_depth(tmp_path):
    """Each rule and depth is timed; the rule is the tender's for a volume:
    a file below the volume's root opens, the benchmark binary outside it
    does not (read-only and read-write alike)."""
    from libsubst.benchmarks import landlock_walk
    res = landlock_walk.measure(iterations=50, repeats=1, rounds=1)
    assert set(res) == set(landlock_walk.RULES)
    for rule, depths in res.items():
        assert len(depths) == 2 and all(len(v) == 1 and v[0] > 0 for v in depths.values()), rule
    assert len(landlock_walk.table(res).splitlines()) == 2 + len(landlock_walk.RULES)
    exe = syscalls.bench_binary()
    for rule in ("ro", "ro-no-truncate", *landlock_walk.CANDIDATES[1:]):
        with pytest.raises(BenchmarkError, match="calls of open_close_image failed"):
            syscalls._native([exe, f"--landlock={rule}", "--only=open_close_image", "10", "1", exe,
                              str(tmp_path)])
        assert syscalls._native([exe, f"--landlock={rule}", "--only=open_close_volume_deep",
                                 "10", "1", exe, str(tmp_path)])["open_close_volume_deep"] > 0
        if rule.startswith("rw"):                         # what it made is removed, rw-rules' too
            assert os.listdir(tmp_path) == [], rule


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_landlock_walk_in_guest_finds_landlock_on_both_sides():
    """--in-guest: both loops open under a Landlock domain (natively the tender's rule),
    and only the guest's run guest kernel code; the parts add up to the whole."""
    from libsubst.benchmarks import landlock_walk
    res = landlock_walk.in_guest(iterations=20000)
    funcs = res.pop("guest kernel's functions")
    assert 0 < len(funcs) <= landlock_walk.GUEST_FUNCTIONS
    assert sum(funcs.values()) <= res["guest"]["guest kernel"] * 1.0001
    assert set(res) == {"native", "guest"}
    for kind, r in res.items():
        assert r["all"] > 0 and r["Landlock"] > 0, kind
        assert sum(v for k, v in r.items() if k != "all") == pytest.approx(r["all"]), kind
    assert res["native"]["guest kernel"] == 0 and res["guest"]["guest kernel"] > 0
    assert res["guest"]["seccomp"] > 0 and res["native"]["seccomp"] == 0
    res["guest kernel's functions"] = funcs
    lines = landlock_walk.guest_table(res).splitlines()
    assert len(lines) == 2 + len(res["native"]) + 3 + len(funcs)


def test_landlock_walk_candidates_time_each_ruleset_shape():
    """--candidates times no Landlock and each variant of the tender's
    read-write rule in every round (each variant confines as rw does: the
    test above)."""
    from libsubst.benchmarks import landlock_walk
    res = landlock_walk.measure_candidates(iterations=50, repeats=1, rounds=2)
    assert set(res) == set(landlock_walk.CANDIDATES)
    assert all(len(v) == 2 and all(x > 0 for x in v) for v in res.values())
    lines = landlock_walk.candidates_table(res).splitlines()
    assert len(lines) == 2 + len(landlock_walk.CANDIDATES)


def test_trap_share_counts_each_programs_paths(tmp_path):
    """Every program's calls are counted from its own summary; clone, which
    the rewriter leaves to the trap path by design, is counted there; a run
    that failed gives no count."""
    from libsubst.benchmarks import trap_share
    res = trap_share.measure(seconds=1, requests=500)
    assert set(res) == {"python3", "sqlite3", "nginx", "redis", "static Go"}
    for prog, calls in res.items():
        assert sum(c["fast"] + c["trap"] for c in calls.values()) > 0, prog
    assert res["static Go"]["clone"]["trap"] > 0
    with pytest.raises(BenchmarkError, match="exited 1"):
        trap_share.run_once(str(tmp_path), "false", ["/bin/false"])


def test_every_benchmark_command_answers_help_without_running():
    """`python -m libsubst.benchmarks.NAME --help` prints its usage and
    exits 0 at once; an unknown option is refused (status 2): none starts
    its work (a registry, servers, minutes of runs) when asked for help."""
    import pathlib
    import libsubst.benchmarks as pkg
    mains = sorted(p.stem for p in pathlib.Path(pkg.__file__).parent.glob("*.py")
                   if "__main__" in p.read_text())
    assert {"analysis", "distribute", "host_floors", "profile_redis", "servers",
            "syscalls"} <= set(mains)
    for name in mains:
        for arg, status in (("--help", 0), ("--no-such-option", 2)):
            done = subprocess.run([sys.executable, "-m", f"libsubst.benchmarks.{name}", arg],
                                  capture_output=True, timeout=60, cwd="/")
            assert done.returncode == status, (name, arg, done)
            assert b"usage:" in (done.stdout if status == 0 else done.stderr).lower() or \
                (status == 2 and done.stderr.startswith(b"libsubst: ")), (name, done)


def test_a_baseline_python_that_is_no_program_is_refused_at_start():
    """--baseline-python names a file to run: a missing one is one line and
    status 2 before any round, not a traceback after the first."""
    for argv in ([*LIBSUBST, "bench", "syscalls"],
                 [sys.executable, "-m", "libsubst.benchmarks.servers"]):
        done = subprocess.run([*argv, "--baseline-python", "/nonexistent/python",
                               "--rounds", "1"], capture_output=True, timeout=60, cwd="/")
        err = done.stderr.decode()
        assert done.returncode == 2 and "/nonexistent/python" in err, (argv, err)
        # (argparse's usage lines come first; the error is its last line)
        assert "Traceback" not in err and "/nonexistent/python" in err.strip().splitlines()[-1], \
            (argv, err)


def test_bad_input_met_by_a_benchmark_is_one_line():
    """A LibsubstError a benchmark meets (here writable_root's --add of a
    missing file, found by the planner) is one `libsubst:` line and status
    2, as from the CLI, not a traceback."""
    done = subprocess.run([sys.executable, "-m", "libsubst.benchmarks.writable_root", "--add",
                           "/nonexistent/file", "--runs", "1"], capture_output=True,
                          timeout=120, cwd="/")
    assert done.returncode == 2, done
    assert done.stderr.decode().splitlines() == \
        ["libsubst: --add '/nonexistent/file': /nonexistent/file does not exist"], done


def test_cold_plan_benchmark_times_a_first_run_checked_against_native():
    """cold_plan times `libsubst run PROG --version` with every cache
    emptied and with the substitutes kept, each checked against the native
    run; another build's run that differs stops it in one line."""
    r = subprocess.run([sys.executable, "-m", "libsubst.benchmarks.cold_plan", "--rounds", "1",
                        "/usr/bin/sort"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert re.search(r"this cold +median +[\d.]+ s", r.stdout), r.stdout
    assert re.search(r"this planned +median +[\d.]+ s", r.stdout), r.stdout
    r = subprocess.run([sys.executable, "-m", "libsubst.benchmarks.cold_plan", "--rounds", "1",
                        "--baseline", "/bin/echo", "/usr/bin/sort"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and r.stderr.startswith("libsubst: /bin/echo run /usr/bin/sort "
                                                     "--version differs from the native run")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
