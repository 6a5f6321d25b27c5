"""The boot-plan cache and the native front end (libsubst/plancache.py,
c_src/frontend/): a warm `libsubst run` boots from its cached plan without
starting Python, with the output, status and environment of the Python
path and of a native run; whatever decides a plan (a file, a search, a
variable, libsubst itself) changes, the cache misses; a broken or hostile
entry is a miss, never a crash."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import LIBSUBST, build_c

FRONTEND = os.path.join(os.path.dirname(sys.executable), "libsubst")

pytestmark = pytest.mark.skipif(not os.access(FRONTEND, os.X_OK),
                                reason="the front end is installed by pip beside the Python")


def run(argv, env, cwd, front=True, stdin=b"", opts=()):
    cmd = [FRONTEND, "run", *opts, *argv] if front else [*LIBSUBST, "run", *opts, *argv]
    return subprocess.run(cmd, env=env, cwd=cwd, input=stdin, capture_output=True, timeout=120)


def entries(plans):
    """{name: inode} of the plan entries: a miss rewrites its entry (a new inode)."""
    if not plans.exists():
        return {}
    return {p.name: p.stat().st_ino for p in plans.iterdir() if not p.name.startswith("kernel-")}


def served_natively(argv, env, cwd, tmp_path, opts=()):
    """Whether `libsubst run` served argv without exec'ing the Python CLI
    (strace sees every execve of the front end and its children)."""
    log = tmp_path / "execve.log"
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(log),
                           FRONTEND, "run", *opts, *argv], env=env, cwd=cwd,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return "libsubst-py" not in log.read_text()


def status(done):
    """As a shell shows it: 128+N for a process killed by signal N."""
    return 128 - done.returncode if done.returncode < 0 else done.returncode


def same(a, b):
    assert (status(a), a.stdout, a.stderr) == (status(b), b.stdout, b.stderr)


CASES = [
    (["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], b""),
    (["/usr/bin/env"], b""),
    (["/bin/cat"], b"from stdin\n" * 1000),
    (["/usr/bin/python3", "-c", "import sys, os; print(sys.argv, os.getcwd()); sys.exit(4)"],
     b""),
    (["/bin/sh", "-c", "kill -TERM $$"], b""),
]


@pytest.mark.parametrize("argv,stdin", CASES, ids=["sh", "env", "cat", "python3", "killed"])
def test_hit_is_identical_to_python_and_native(cache, tmp_path, argv, stdin):
    env, plans = cache
    native = subprocess.run(argv, env=env, cwd=tmp_path, input=stdin, capture_output=True)
    python = run(argv, env, tmp_path, front=False, stdin=stdin)   # plans, stores the entry
    before = entries(plans)
    assert len(before) == 1
    hit = run(argv, env, tmp_path, stdin=stdin)
    assert entries(plans) == before                  # served, not planned again
    same(native, python)
    same(python, hit)


def test_a_shells_arguments_are_its_key(cache, tmp_path):
    """A shell's -c string names the programs its root gets
    (image/shell_commands.py): each string is an entry of its own, served
    by the front end and the Python CLI alike from its second run on, and
    another string is planned, never served an entry that lacks its
    programs."""
    env, plans = cache
    scripts = ["echo a | tr a b", "echo a | rev", "printf 'x\\n' | tac"]
    for n, script in enumerate(scripts, 1):
        argv = ["/bin/sh", "-c", script]
        native = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True)
        assert native.returncode == 0 and native.stdout, native.stderr
        same(native, run(argv, env, tmp_path))          # planned: an entry of its own
        assert len(entries(plans)) == n
        assert served_natively(argv, env, tmp_path, tmp_path)
        same(native, run(argv, env, tmp_path, front=False))
        same(native, run(argv, env, tmp_path))
    assert len(entries(plans)) == len(scripts)


def test_hit_starts_no_python(cache, tmp_path):
    env, plans = cache
    assert not served_natively(["/bin/echo", "hi"], env, tmp_path, tmp_path)   # the first plans
    assert served_natively(["/bin/echo", "hi"], env, tmp_path, tmp_path)


def test_other_arguments_hit_and_run_with_their_own(cache, tmp_path):
    """The program's own arguments are not in the key: another argv is
    served from the same entry, by the front end and by the Python CLI
    alike, and runs with its own argv, as natively (even one that reads
    like an option of libsubst's)."""
    env, plans = cache
    py = ["/usr/bin/python3", "-c", "import sys; print(sys.argv[1:])"]
    run([*py, "first"], env, tmp_path)
    made = entries(plans)
    assert len(made) == 1
    for args in (["a", "b c"], ["--no-cwd", "-e", "A=1"], ["--", "x" * 5000], ["-"]):
        native = subprocess.run([*py, *args], env=env, cwd=tmp_path, capture_output=True)
        assert native.returncode == 0 and native.stdout
        assert served_natively([*py, *args], env, tmp_path, tmp_path)
        same(native, run([*py, *args], env, tmp_path))
        same(native, run([*py, *args], env, tmp_path, front=False))
    assert entries(plans) == made                    # every one a hit


def test_what_decides_the_plan_still_misses(cache, tmp_path):
    """The command line up to the program stays in the key: another path to
    the same program, an option of libsubst's, and no arguments at all (an
    image keeps its recorded ones then) each plan again."""
    env, plans = cache
    run(["/bin/echo", "a"], env, tmp_path)
    for opts, argv in (([], ["/usr/bin/echo", "a"]), (["--no-cwd"], ["/bin/echo", "a"]),
                       (["-e", "A=1"], ["/bin/echo", "a"]), ([], ["/bin/echo"])):
        before = entries(plans)
        assert not served_natively(argv, env, tmp_path, tmp_path, opts=opts)
        assert len(entries(plans)) == len(before) + 1
        native = subprocess.run(argv, capture_output=True)
        same(native, run(argv, env, tmp_path, opts=opts))


def test_a_burst_of_identical_starts_plans_once(cache, tmp_path):
    """Starts that all miss the same key at once wait for the one that plans
    it (plancache.planning) and boot its entry: one entry is stored (strace
    sees each store's rename into place), and every run is right."""
    env, plans = cache
    argv = ["/usr/bin/python3", "-c", "import sys; print(sys.argv[1])"]
    logs = [tmp_path / f"rename.{i}" for i in range(4)]
    procs = [subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=rename,renameat,renameat2",
                               "-o", str(log), *LIBSUBST, "run", *argv, str(i)], env=env,
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, log in enumerate(logs)]
    try:
        done = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [(p.returncode, *out) for p, out in zip(procs, done)] == \
        [(0, f"{i}\n".encode(), b"") for i in range(4)]
    stores = [line for log in logs for line in log.read_text().splitlines()
              if re.search(r'rename\w*\(.*"[0-9a-f]{16}"', line)]
    assert len(stores) == 1, stores
    assert len(entries(plans)) == 1


def test_planning_another_program_keeps_an_entry(cache, tmp_path):
    """What planning writes itself (libsubst's caches) or imports is not a
    dependency: one program's plan survives another's."""
    env, plans = cache
    run(["/bin/echo", "a"], env, tmp_path)
    run(["/usr/bin/redis-server", "--version"], env, tmp_path)
    run(["/usr/bin/python3", "-c", "pass"], env, tmp_path)
    assert served_natively(["/bin/echo", "a"], env, tmp_path, tmp_path)


def test_packed_image_is_served_natively(cache, tmp_path):
    env, plans = cache
    image = tmp_path / "echo.lsi"
    subprocess.run([*LIBSUBST, "pack", "/bin/echo", "packed", "-o", str(image)], env=env,
                   check=True, capture_output=True, timeout=300)
    first = run([str(image), "a", "b"], env, tmp_path)          # plans
    assert served_natively([str(image), "a", "b"], env, tmp_path, tmp_path)
    hit = run([str(image), "a", "b"], env, tmp_path)
    same(first, hit)
    assert hit.stdout == subprocess.run(["/bin/echo", "a", "b"], capture_output=True).stdout
    assert served_natively([str(image), "c"], env, tmp_path, tmp_path)   # its own argv
    assert run([str(image), "c"], env, tmp_path).stdout == b"c\n"
    # The image rewritten (same path, new bytes): a miss, and the new image runs.
    subprocess.run([*LIBSUBST, "pack", "/bin/echo", "repacked", "-o", str(image)], env=env,
                   check=True, capture_output=True, timeout=300)
    before = entries(plans)
    assert run([str(image)], env, tmp_path).stdout == b"repacked\n"
    assert run([str(image), "a", "b"], env, tmp_path).stdout == b"a b\n"
    assert entries(plans)[_name(before)] != before[_name(before)]


def _name(found):
    (name,) = [n for n in found]
    return name


def test_the_callers_environment_is_the_guests(cache, tmp_path):
    """A variable planning did not read is not part of the key: the entry
    serves, and the guest sees the caller's value, as natively; --env still
    overrides it."""
    env, plans = cache
    run(["/usr/bin/env"], dict(env, FOO="one"), tmp_path, opts=["-e", "BAR=x"])
    before = entries(plans)
    hit = run(["/usr/bin/env"], dict(env, FOO="two", NEW="3"), tmp_path, opts=["-e", "BAR=x"])
    assert entries(plans) == before
    native = subprocess.run(["/usr/bin/env"], env=dict(env, FOO="two", NEW="3", BAR="x"),
                            capture_output=True)
    assert sorted(hit.stdout.splitlines()) == sorted(native.stdout.splitlines())


def test_a_trust_store_variable_is_part_of_the_key(cache, tmp_path):
    """A trust-store variable that names a host file now (which planning brings into the
    root: planner.env_files) is a miss: the guest reads the file as natively, then the new
    entry serves."""
    env, plans = cache
    argv = ["/bin/sh", "-c", 'read -r line < "$SSL_CERT_FILE"; echo "$line"']
    named = dict(env, SSL_CERT_FILE="/etc/issue")  # not in the guest's minimal /etc
    want = subprocess.run(argv, env=named, capture_output=True, timeout=60)
    assert want.returncode == 0 and want.stdout.startswith(b"Debian"), want
    run(argv, dict(env, SSL_CERT_FILE="/nowhere"), tmp_path)
    before = entries(plans)
    got = run(argv, named, tmp_path)
    assert (status(got), got.stdout) == (0, want.stdout), got.stderr
    assert entries(plans) != before                 # planned again
    assert served_natively(argv, named, tmp_path, tmp_path)
    assert run(argv, named, tmp_path).stdout == want.stdout


def _tool(folder, text):
    folder.mkdir(exist_ok=True)
    path = folder / "tool"
    path.write_text(f"#!/bin/sh\necho {text}\n")
    path.chmod(0o755)


def test_a_variable_planning_read_misses(cache, tmp_path):
    """PATH decides which program runs: another PATH is another plan."""
    env, plans = cache
    _tool(tmp_path / "one", "one")
    _tool(tmp_path / "two", "two")
    a = dict(env, PATH=f"{tmp_path / 'one'}:/usr/bin:/bin")
    b = dict(env, PATH=f"{tmp_path / 'two'}:/usr/bin:/bin")
    assert run(["tool"], a, tmp_path).stdout == b"one\n"
    assert run(["tool"], a, tmp_path).stdout == b"one\n"
    assert run(["tool"], b, tmp_path).stdout == b"two\n"
    assert run(["tool"], a, tmp_path).stdout == b"one\n"


def test_a_program_that_appears_earlier_on_path_misses(cache, tmp_path):
    env, plans = cache
    _tool(tmp_path / "late", "late")
    (tmp_path / "early").mkdir()
    e = dict(env, PATH=f"{tmp_path / 'early'}:{tmp_path / 'late'}:/usr/bin:/bin")
    assert run(["tool"], e, tmp_path).stdout == b"late\n"
    assert run(["tool"], e, tmp_path).stdout == b"late\n"
    _tool(tmp_path / "early", "early")
    assert run(["tool"], e, tmp_path).stdout == b"early\n"


def test_a_changed_program_or_library_misses(cache, tmp_path):
    env, plans = cache
    libs = tmp_path / "libs"
    libs.mkdir()
    e = dict(env, LD_LIBRARY_PATH=str(libs))
    prog = tmp_path / "echo"
    shutil.copy("/bin/echo", prog)
    run([str(prog), "x"], e, tmp_path)
    before = entries(plans)
    assert run([str(prog), "x"], e, tmp_path).stdout == b"x\n"
    assert entries(plans) == before
    # A library placed where the search looked first: a miss.
    shutil.copy("/lib/x86_64-linux-gnu/libc.so.6", libs / "libc.so.6")
    assert run([str(prog), "x"], e, tmp_path).stdout == b"x\n"
    assert entries(plans) != before
    # That library changed (its times, as any write changes them): a miss.
    before = entries(plans)
    os.utime(libs / "libc.so.6", ns=(0, 0))
    assert run([str(prog), "x"], e, tmp_path).stdout == b"x\n"
    assert entries(plans) != before
    # The program replaced: a miss, and the new one runs.
    before = entries(plans)
    prog.unlink()
    shutil.copy("/bin/true", prog)
    done = run([str(prog), "x"], e, tmp_path)
    assert (done.returncode, done.stdout) == (0, b"")
    assert entries(plans) != before


def test_an_option_is_part_of_the_key(cache, tmp_path):
    env, plans = cache
    for value in ("1", "2", "1"):
        done = run(["/bin/sh", "-c", "echo $A"], env, tmp_path, opts=["-e", f"A={value}"])
        assert done.stdout == value.encode() + b"\n"
    assert len(entries(plans)) == 2
    done = run(["/bin/ls", "/"], env, tmp_path, opts=["--no-cwd", "-w", "/"])
    assert done.returncode == 0


def _entry(plans):
    (name,) = entries(plans)
    return plans / name


def test_libsubst_itself_misses(cache, tmp_path):
    """The entry names the build (in its key) and the guest kernel (a
    dependency): an entry of another build or kernel is a miss."""
    from libsubst import plancache
    from libsubst.monitor.bootinfo import _abi

    env, plans = cache
    run(["/bin/echo", "x"], env, tmp_path)
    path = _entry(plans)
    data = path.read_bytes()
    build = plancache.build_id().encode()
    assert build in data
    other = data.replace(build, b"0" * len(build))
    f, lib = _abi()
    path.write_bytes(other)
    ino = path.stat().st_ino
    assert run(["/bin/echo", "x"], env, tmp_path).stdout == b"x\n"
    assert path.stat().st_ino != ino                 # a miss: planned and stored again
    # The kernel's recorded identity changed: a miss too.
    data = path.read_bytes()
    head = f.from_buffer("struct ls_plan_head *", bytearray(data[:f.sizeof("struct ls_plan_head")]))
    kernel = plancache._string(data, head.kernel).encode()
    deps = f.from_buffer("struct ls_plan_dep[]", bytearray(
        data[head.deps_off:head.deps_off + head.ndeps * f.sizeof("struct ls_plan_dep")]))
    (i,) = [i for i in range(head.ndeps) if data[deps[i].path:].split(b"\0")[0] == kernel
            and deps[i].flags & lib.LS_DEP_NOFOLLOW]
    deps[i].mtime_ns += 1
    patched = bytearray(data)
    at = head.deps_off + i * f.sizeof("struct ls_plan_dep")
    patched[at:at + f.sizeof("struct ls_plan_dep")] = bytes(f.buffer(deps))[
        i * f.sizeof("struct ls_plan_dep"):(i + 1) * f.sizeof("struct ls_plan_dep")]
    path.write_bytes(bytes(patched))
    ino = path.stat().st_ino
    assert run(["/bin/echo", "x"], env, tmp_path).stdout == b"x\n"
    assert path.stat().st_ino != ino


@pytest.mark.parametrize("damage", ["truncated", "garbage", "offsets", "symlink", "other_owner",
                                    "group_writable"])
def test_a_broken_or_hostile_entry_is_a_miss(cache, tmp_path, damage):
    env, plans = cache
    argv = ["/bin/sh", "-c", "echo ok; exit 6"]
    first = run(argv, env, tmp_path)
    path = _entry(plans)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "offsets":                      # every offset of the head past the end
        path.write_bytes(data[:16] + b"\xff" * 120 + data[136:])
    elif damage == "symlink":                      # a link to a valid entry is not read
        real = tmp_path / "elsewhere"
        path.rename(real)
        path.symlink_to(real)
    elif damage == "other_owner":
        os.chown(path, 65534, 65534)
    elif damage == "group_writable":
        path.chmod(0o620)
    log = tmp_path / "execve.log"
    again = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(log),
                            FRONTEND, "run", *argv], env=env, cwd=tmp_path,
                           capture_output=True, timeout=120)
    same(first, again)
    assert "libsubst-py" in log.read_text()       # planned by Python, not served


def _served_run(argv, env, cwd, plans):
    """Starts argv from the front end, its plan made first by a run whose
    stdin is empty (argv reads stdin to its end); (the process, the entries
    it must leave as they are: a miss would store its plan again, which
    only its end shows)."""
    assert run(argv, env, cwd).returncode == 0
    made = entries(plans)
    proc = subprocess.Popen([FRONTEND, "run", *argv], env=env, cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, made


def test_signals_reach_the_guest_from_the_front_end(cache, tmp_path):
    env, plans = cache
    # The shell waits in `wait`, which takes a signal that came before it
    # (dash checks for one before it sleeps): a `read` loop would miss a
    # signal handled just before its read, natively too (3 in 8000 runs
    # under load), and wait for ever.
    argv = ["/bin/sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo ready; "
            "exec 3<&0; cat <&3 >/dev/null 2>&1 & wait"]
    proc, made = _served_run(argv, env, tmp_path, plans)
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)              # stdin stays open: only the signal ends it
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out, err) == (9, b"got TERM\n", b"")
    assert entries(plans) == made                   # served


def test_stop_timeout_from_the_front_end(cache, tmp_path):
    env, plans = cache
    argv = ["--stop-timeout", "0.5", "/bin/sh", "-c",
            "trap '' TERM; echo ready; while read x; do :; done"]
    proc, made = _served_run(argv, env, tmp_path, plans)
    try:
        assert proc.stdout.readline() == b"ready\n"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)              # stdin stays open: the guest would read on
        took = time.monotonic() - start
        err = proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert took >= 0.5
    assert (proc.returncode, err) == \
        (137, b"libsubst: the guest did not end within 0.5 s of SIGTERM: killed\n")
    assert entries(plans) == made                   # served


def test_a_crash_reads_as_the_monitors(cache, tmp_path):
    """The front end hands a crash to the Python CLI's epilogue, which
    symbolises it from the plan as the monitor does."""
    env, plans = cache
    argv = [build_c("crash_deep", str(tmp_path))]   # a fault: a SIGSEGV sent by kill is none
    python = run(argv, env, tmp_path, front=False)
    hit = run(argv, env, tmp_path)

    def masked(text):                 # addresses differ from run to run (ASLR)
        import re
        return re.sub(rb"[0-9a-f]{16}|0x[0-9a-f]+", b"X", text)
    assert python.returncode == hit.returncode == 139
    assert b"the guest crashed: SIGSEGV" in hit.stderr
    assert masked(python.stderr) == masked(hit.stderr)


def test_the_api_skips_planning_on_a_hit(cache, tmp_path, monkeypatch):
    import libsubst
    from libsubst import planner

    env, plans = cache
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    monkeypatch.chdir(tmp_path)
    first = libsubst.run("/bin/echo", ["api"], capture_output=True)

    def refuse(*a, **kw):
        raise AssertionError("planned again")
    monkeypatch.setattr(planner, "plan_program", refuse)
    again = libsubst.run("/bin/echo", ["api"], capture_output=True)
    assert (first.returncode, first.stdout) == (again.returncode, again.stdout) == (0, b"api\n")
    other = libsubst.run("/bin/echo", ["other", "args"], capture_output=True)   # a hit too
    assert (other.returncode, other.stdout) == (0, b"other args\n")
    with pytest.raises(AssertionError, match="planned again"):
        libsubst.run("/bin/echo", ["api"], capture_output=True, read_only=True)


def test_other_commands_reach_the_python_cli(tmp_path):
    for argv in (["--version"], ["run", "--help"], ["run"], ["run", "--bogus", "/bin/true"]):
        front = subprocess.run([FRONTEND, *argv], capture_output=True, timeout=60)
        py = subprocess.run([*LIBSUBST, *argv], capture_output=True, timeout=60)
        assert (front.returncode, front.stdout, front.stderr) == \
            (py.returncode, py.stdout, py.stderr)
