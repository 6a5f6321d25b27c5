"""Processes inside the unikernel: fork, vfork/posix_spawn, execve, wait —
shells, pipelines, python3's subprocess, find -exec and xargs, compared with
native runs; redis's BGSAVE survives a restart."""

import pytest

import os
import subprocess
import time

from conftest import (assert_same, build_c, free_port, redis_cli, run_guest, run_native,
                      wait_for_guest)
from test_servers import server

ADD = ["--add", "/usr/bin/tr", "--add", "/usr/bin/wc", "--add", "/usr/bin/cat",
       "--add", "/usr/bin/echo", "--add", "/usr/bin/sort", "--add", "/usr/bin/seq"]

SCRIPTS = [
    "echo a b c | tr a-z A-Z | wc -c",
    "for i in 1 2 3; do echo $i; done > out; cat out",
    'x=$(echo hello | tr a-z A-Z); echo "got $x"',
    "true && echo and-ok; false || echo or-ok; false && echo never; exit 3",
    "(echo bg1 > f1) & (echo bg2 > f2) & wait; cat f1 f2 | sort",
    "seq 1 5 | while read n; do echo $((n * n)); done | sort -n | tail -n 1; exit $?",
    "sh -c 'exit 42'; echo status $?",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_shell(script, tmp_path):
    assert_same(run_native(["sh", "-c", script], tmp_path),
                run_guest([*ADD, "--add", "/usr/bin/tail", "sh", "-c", script], tmp_path))


def test_system_and_popen_find_the_shell(tmp_path):
    """A program that imports system or popen gets /bin/sh in its root
    (nothing else named it), on both paths."""
    exe = build_c("shell_calls", str(tmp_path))
    native = run_native([exe], tmp_path)
    assert native.stdout.count(b"\n") == 7 and native.returncode == 0, native
    for opts in ([], ["--no-subst"]):
        assert_same(native, run_guest([exe], tmp_path, opts=opts))


# Programs that exec /bin/sh themselves (Ruby's system and backquotes,
# Perl's, PHP's proc_open, make's recipes, git's "!" aliases) or through a
# library's popen: each gets the shell without --add, as the libc callers
# above do.  Only the shell's builtins run, so nothing else must be there.
SHELL_RUNNERS = {
    "ruby": ["ruby", "-e", 'p system("echo hi && echo ho"); puts `echo $((6*7))`'],
    "perl": ["perl", "-e", "system('echo hi && echo ho'); print qx'echo $((6*7))'"],
    "php": ["php", "-r", "echo shell_exec('echo $((6*7))'); "
            '$p = proc_open("echo a && echo b", [1 => ["pipe", "w"]], $io); '
            'echo stream_get_contents($io[1]); echo proc_close($p), "\\n";'],
    "make": ["make", "-s"],
    "git": ["git", "-c", "alias.x=!echo aliased && echo $((6*7))", "x"],
    "luajit": ["luajit", "-e", 'io.write(io.popen("echo hi && echo $((6*7))"):read("*a"))'],
}


@pytest.mark.parametrize("name", SHELL_RUNNERS)
def test_programs_that_run_the_shell_get_it(tmp_path, name):
    (tmp_path / "Makefile").write_text("all:\n\techo made && echo $$((6*7))\n")
    argv = SHELL_RUNNERS[name]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and b"42\n" in native.stdout, native
    assert_same(native, run_guest(argv, tmp_path))


def test_a_program_that_runs_no_shell_gets_none():
    """The rule looks at what a program and its libraries name, not libc's
    own /bin/sh: ls, grep and curl's roots stay without it."""
    from libsubst.image.layout import layout_program

    for prog in ("ls", "grep", "curl"):
        lay = layout_program(prog, [], dict(os.environ), lookup="/usr/bin:/bin",
                             hostname="h", subst=False)
        assert lay.tree.get("/usr/bin/dash") is None, prog
    lay = layout_program("perl", [], dict(os.environ), lookup="/usr/bin:/bin",
                         hostname="h", subst=False)
    assert lay.tree.get("/usr/bin/dash") is not None


def test_shell_script_file(tmp_path):
    (tmp_path / "job.sh").write_text(
        "#!/bin/sh\nset -e\ncount=0\nfor w in $(echo one two three); do count=$((count+1)); done\n"
        "echo \"$count words\" | tr a-z A-Z\n[ -n \"$1\" ] && echo \"arg: $1\"\nexit 5\n")
    (tmp_path / "job.sh").chmod(0o755)
    assert_same(run_native(["./job.sh", "x"], tmp_path), run_guest([*ADD, "./job.sh", "x"], tmp_path))


def test_python_subprocess_and_fork(tmp_path):
    code = ("import os, subprocess\n"
            "print(subprocess.run(['echo', 'hi'], capture_output=True).stdout)\n"
            "print(subprocess.run(['sh', '-c', 'exit 9']).returncode)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n    os._exit(7)\n"
            "print('child exit', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
            "try:\n    subprocess.run(['no-such-program'])\nexcept FileNotFoundError as e:\n"
            "    print('missing:', e.strerror)\n")
    argv = ["/usr/bin/python3", "-c", code]
    assert_same(run_native(argv, tmp_path),
                run_guest(["--add", "/usr/bin/echo", "--add", "/usr/bin/sh", *argv], tmp_path))


def test_python_multiprocessing(tmp_path):
    # Its locks are POSIX semaphores in /dev/shm: the guest has one of its
    # own, not the host's.
    code = ("import multiprocessing as mp, os\n"
            "def put(q): q.put(os.getpid() > 1)\n"
            "if __name__ == '__main__':\n"
            "    print(mp.Pool(2).map(abs, [-1, -2, -3]))\n"
            "    q = mp.Queue(); p = mp.Process(target=put, args=(q,)); p.start()\n"
            "    print(q.get()); p.join(); print(p.exitcode)\n"
            "    open('/dev/shm/guest-only', 'w').close(); print(os.listdir('/dev/shm'))\n")
    argv = ["/usr/bin/python3", "-c", code]
    r = run_guest(argv, tmp_path)
    assert r.stdout == b"[1, 2, 3]\nTrue\n0\n['guest-only']\n", r.stderr
    assert not os.path.exists("/dev/shm/guest-only")


GIT_ENV = {"GIT_AUTHOR_NAME": "A U Thor", "GIT_AUTHOR_EMAIL": "a@example.org",
           "GIT_COMMITTER_NAME": "A U Thor", "GIT_COMMITTER_EMAIL": "a@example.org",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}
GIT_SCRIPT = ("set -e; git init -q -b main .; echo one > a.txt; git add a.txt; git commit -qm first; "
              "echo two >> a.txt; git commit -qam second; git log --format='%H %s'; "
              "git diff HEAD~1 --stat; git status --short; git cat-file -p HEAD:a.txt")


def test_git_in_a_volume(tmp_path):
    # git forks and execs its helpers, and refuses a repository that is not
    # its user's ("dubious ownership"): the guest root's files in the volume
    # must be its own, as natively.  Fixed dates make the commits identical.
    results = []
    for kind, run in (("native", run_native), ("guest", run_guest)):
        d = tmp_path / kind
        d.mkdir()
        argv = ["sh", "-c", GIT_SCRIPT]
        if kind == "guest":
            argv = ["--add", "/usr/bin/git", "--add", "/usr/lib/git-core",
                    "--add", "/usr/share/git-core/templates", *argv]
        results.append(run(argv, d, env=GIT_ENV))
    native, guest = results
    assert native.returncode == 0, native.stderr
    assert_same(native, guest)
    assert os.stat(tmp_path / "guest" / ".git" / "HEAD").st_uid == os.getuid()


def test_stopped_and_continued_while_sleeping(tmp_path):
    # The host resumes the interrupted sleep with restart_syscall, from
    # kernel text: it must be in the sandbox's allow-list.
    import signal

    from conftest import LIBSUBST

    proc = subprocess.Popen([*LIBSUBST, "run", "/bin/sleep", "2"], cwd=tmp_path,
                            stderr=subprocess.PIPE)
    try:
        guest = wait_for_guest(proc)
        # Stopped inside its sleep (the host call clock_nanosleep, 230, as
        # /proc/PID/syscall shows it), continued once stopped.
        assert _poll(lambda: open(f"/proc/{guest}/syscall").read().split()[0] == "230")
        os.kill(guest, signal.SIGSTOP)
        assert _poll(lambda: open(f"/proc/{guest}/stat").read().rsplit(")", 1)[1].split()[0] == "T")
        os.kill(guest, signal.SIGCONT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def _poll(check, timeout=30):
    """Whether check() came true within timeout seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_system_v_and_posix_ipc(tmp_path):
    # Shared memory and a semaphore across fork, message queues of both
    # kinds, sendmmsg/recvmmsg: the guest's own IPC namespace serves them.
    exe = build_c("ipc", tmp_path)
    native = run_native([exe], tmp_path)
    assert native.returncode == 0 and b"hello posix" in native.stdout, native
    for opts in ((), ("--no-subst",)):
        assert_same(native, run_guest([*opts, exe], tmp_path))


def test_find_exec_and_xargs(tmp_path):
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text("line\n" * (i + 1))
    (tmp_path / "skip.log").write_text("x\n")
    for argv in (["find", ".", "-name", "*.txt", "-exec", "wc", "-l", "{}", "+"],
                 ["sh", "-c", "find . -name '*.txt' | sort | xargs cat | wc -l"]):
        native = run_native(argv, tmp_path)
        guest = run_guest(["--add", "/usr/bin/wc", "--add", "/usr/bin/find", "--add", "/usr/bin/xargs",
                           "--add", "/usr/bin/sort", "--add", "/usr/bin/cat", *argv], tmp_path)
        if argv[0] == "find":   # find lists in directory order: compare as sets
            assert sorted(guest.stdout.splitlines()) == sorted(native.stdout.splitlines())
            assert guest.returncode == native.returncode == 0
        else:
            assert_same(native, guest)


def test_redis_bgsave_survives_a_restart(tmp_path):
    data = tmp_path / "data"
    data.mkdir()

    def argv(port):
        return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", "/data",
                "--appendonly", "no", "--daemonize", "no", "--save", ""]

    port = free_port()
    with server(argv(port), port, tmp_path, opts=["--volume", f"{data}:/data"]):
        for i in range(50):
            redis_cli(port, "set", f"key{i}", f"value{i}")
        assert redis_cli(port, "bgsave") == "Background saving started\n"
        for _ in range(200):
            if "rdb_bgsave_in_progress:0" in redis_cli(port, "info", "persistence") and \
                    (data / "dump.rdb").exists():
                break
            import time
            time.sleep(0.05)
        assert "rdb_last_bgsave_status:ok" in redis_cli(port, "info", "persistence")
    assert (data / "dump.rdb").stat().st_size > 0
    port = free_port()
    with server(argv(port), port, tmp_path, opts=["--volume", f"{data}:/data"]):
        assert redis_cli(port, "get", "key42") == "value42\n"
        assert redis_cli(port, "dbsize") == "50\n"


def test_pids_are_the_guests_own(tmp_path):
    """The guest is pid 1 of a pid namespace of its own: its pids are virtual,
    host processes are not there to see or signal."""
    # Flushed before fork: a line still in stdio's buffer would be printed
    # again by the child (stdout is a pipe, so Python buffers it).
    code = ("import os, subprocess\n"
            "print(os.getpid(), os.getppid(), flush=True)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n    print('child', os.getpid(), os.getppid(), flush=True); os._exit(0)\n"
            "os.waitpid(pid, 0)\n"
            "print('sh', subprocess.run(['sh', '-c', 'echo $$ $PPID'], capture_output=True, text=True).stdout.strip())\n"
            f"try:\n    os.kill({os.getpid()}, 0)\nexcept ProcessLookupError:\n    print('host pid: no such process')\n"
            "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n")
    r = run_guest(["--add", "/usr/bin/sh", "/usr/bin/python3", "-c", code], tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "1 0"
    assert lines[1] == "child 2 1"
    assert lines[2] == "sh 3 1"
    assert lines[3] == "host pid: no such process"
    assert lines[4] == "[1]"


@pytest.mark.parametrize("path", [(), ("--no-subst",)], ids=["fast", "trap"])
@pytest.mark.parametrize("how", ["pid", "group", "pgrp", "tgkill", "pidfd", "procdir"])
def test_a_sigkill_from_a_child_ends_the_program(tmp_path, how, path):
    """The program is pid 1 of the guest's pid namespace, whose init Linux
    spares a SIGKILL sent from inside it; natively the program dies by it,
    and under libsubst it ends as a process killed by it (status 137, as a
    shell reports it; c_src/kernel/signal/signal.c: ls_kill_pid1)."""
    exe = build_c("kill_parent", str(tmp_path))
    native = subprocess.run([exe, how], cwd=tmp_path, capture_output=True, timeout=60,
                            start_new_session=True)         # its group is its own
    assert (native.returncode, native.stdout, native.stderr) == \
        (-9, b"sending\n", b""), native
    guest = run_guest([*path, exe, how], tmp_path)
    assert (guest.returncode, guest.stdout, guest.stderr) == (137, b"sending\n", b""), guest
