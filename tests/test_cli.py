"""The command line: bad input gets one clear line, never a traceback; the
trace and crash reports; static executables and #! scripts."""

import errno
import os
import re
import subprocess
import sys
import sysconfig

import pytest

from conftest import LIBSUBST, assert_same, build_c, run_guest, run_native


def assert_clean_error(r, *words):
    err = r.stderr.decode()
    assert r.returncode != 0
    assert "Traceback" not in err
    assert err.startswith("libsubst: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


def test_missing_program(tmp_path):
    assert_clean_error(run_guest(["no-such-program-xyz"], tmp_path), "no-such-program-xyz")
    assert_clean_error(run_guest(["./missing"], tmp_path), "missing")


def test_directory(tmp_path):
    assert_clean_error(run_guest([str(tmp_path)], tmp_path), "directory")


def assert_refused_as_natively(f, tmp_path):
    """f, which Linux's execve refuses (ENOEXEC), gets the guest kernel's
    one line and a shell's status 126."""
    with pytest.raises(OSError) as native:
        subprocess.run([str(f)], timeout=60)
    assert native.value.errno == errno.ENOEXEC
    r = run_guest([str(f)], tmp_path)
    assert_clean_error(r, f"{f}: cannot execute: ENOEXEC")
    assert r.returncode == 126


def test_non_elf(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(b"just some text\n")
    f.chmod(0o755)
    assert_refused_as_natively(f, tmp_path)


def test_32bit_and_foreign_elf(tmp_path):
    true = open("/bin/true", "rb").read()
    for name, patch in (("elf32", {4: 1}), ("aarch64", {18: 0xB7, 19: 0})):
        data = bytearray(true)
        for off, val in patch.items():
            data[off] = val
        f = tmp_path / name
        f.write_bytes(bytes(data))
        f.chmod(0o755)
        assert_clean_error(run_guest([str(f)], tmp_path))


def test_truncated_elf(tmp_path):
    f = tmp_path / "truncated"
    f.write_bytes(open("/bin/true", "rb").read()[:300])
    f.chmod(0o755)
    assert_refused_as_natively(f, tmp_path)


def test_unresolvable_library(tmp_path):
    (tmp_path / "lib.c").write_text("int answer(void) { return 42; }\n")
    (tmp_path / "main.c").write_text("int answer(void);\nint main(void) { return answer(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", tmp_path / "libanswer.so", tmp_path / "lib.c"], check=True)
    subprocess.run(["gcc", "-o", tmp_path / "prog", tmp_path / "main.c", "-L", tmp_path, "-lanswer"], check=True)
    assert_clean_error(run_guest([str(tmp_path / "prog")], tmp_path), "libanswer.so")


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert_clean_error(run_guest([str(tmp_path / "fifo")], tmp_path), "not a regular file")
    assert_clean_error(run_guest(["--trace-file", str(tmp_path / "fifo"), "true"], tmp_path),
                       "--trace-file")
    r = subprocess.run([*LIBSUBST, "inspect", str(tmp_path / "fifo")], capture_output=True,
                       timeout=120)
    assert_clean_error(r, "not a regular file")


@pytest.mark.parametrize("opts, word", [
    (["--memory", "inf"], "--memory"), (["--memory", "1e30"], "128T"),
    (["--memory", "nan"], "--memory"), (["--memory", "1K"], "16M"),
    (["--trace-file", "/no-such-dir/trace"], "--trace-file"),
    (["-w", "relative"], "absolute"), (["-w", "/no-such-dir"], "not a directory"),
    (["-w", "/etc/passwd"], "not a directory"),
    (["--cpus", "99999999999999999999"], "--cpus"),
    (["--cpus", str(len(os.sched_getaffinity(0)) + 1)], "--cpus"),
    (["--cpus", "x"], "--cpus"),
    (["--pids", "99999999999999999999"], "--pids"),
    (["--env", "=x"], "--env"), (["--env", "x"], "--env"),
    (["--net", "moon"], "--net"),
    (["--stop-timeout", "-1"], "--stop-timeout"),
    (["--add", "/no-such-file"], "--add"), (["--add", "/etc/passwd:relative"], "absolute"),
    (["--volume", "/tmp:relative"], "absolute"),
    (["--bogus"], "--bogus"),
    (["--user", "no-such-user"], "--user no-such-user: no user"),
    (["--user", "nobody:no-such-group"], "no group 'no-such-group'"),
    (["--user", "70000"], "outside the guest's user namespace"), (["--user", ":0"], "USER[:GROUP]"),
    (["--workdir", "a\nb"], "--workdir a\\nb"), (["--add", "/no\x1b[2J"], "/no\\x1b[2J"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_options_get_one_line(tmp_path, opts, word):
    assert_clean_error(run_guest([*opts, "true"], tmp_path), word)


@pytest.mark.parametrize("argv, word", [
    (["run"], "PROGRAM"), (["no-such-command"], "no-such-command"),
    (["pack", "true"], "-o"), (["pack", "-o", "/no-such-dir/x.lsi", "true"], "/no-such-dir"),
    (["pack", "-o", "x.lsi", "-w", "relative", "true"], "absolute"),
    (["pack", "-o", "x.lsi", "--keep-args", "-1", "true"], "--keep-args"),
    (["inspect", "/no-such.lsi"], "/no-such.lsi"), (["inspect", "/etc/passwd"], "image"),
    (["uklibc", "inspect", "/etc/passwd"], "ELF"),
    (["uklibc", "make", "/etc/passwd", "-o", "x.so"], "ELF"),
    (["bench", "syscalls", "--iterations", "0"], "--iterations"),
    (["bench", "syscalls", "--only", "no_such_row"], "no_such_row"),
    ([], "expected a command: analyze, attach, bench"), (["uklibc"], "expected a command"),
    (["bench"], "expected a command: syscalls"),
    (["run", "/etc/passwd"], "/etc/passwd is already in the image as a file libsubst writes"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_input_to_every_command_gets_one_line(tmp_path, argv, word):
    """Bad input is status 2 (1: the work itself failed)."""
    r = subprocess.run([*LIBSUBST, *argv], cwd=tmp_path, capture_output=True, timeout=120)
    assert_clean_error(r, word)
    assert r.returncode == 2


@pytest.mark.parametrize("user, native", [
    ("nobody", ["--reuid=nobody", "--regid=nogroup"]),
    ("postgres:daemon", ["--reuid=postgres", "--regid=daemon"]),
    ("4321:99", ["--reuid=4321", "--regid=99"]),
])
def test_user_runs_the_program_as_that_user(tmp_path, user, native):
    """--user names the guest's user and group (its /etc/passwd and
    /etc/group: the host's system accounts) or numbers, as setpriv does
    natively; no supplementary group, no capability."""
    if user.startswith("postgres"):
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user on this host (tests/run.sh installs postgresql)")
    argv = ["/usr/bin/python3", "-c", "import os; print(os.getresuid(), os.getresgid(), "
            "os.getgroups(), [l for l in open('/proc/self/status') if l.startswith('CapEff')])"]
    os.chmod(tmp_path, 0o755)
    guest = run_guest(["--user", user, *argv], tmp_path)
    expected = run_native(["setpriv", *native, "--clear-groups", *argv], tmp_path)
    assert expected.returncode == 0, expected.stderr
    assert_same(expected, guest)


def test_user_of_an_unprivileged_caller_is_refused(as_nobody):
    """An unprivileged caller's guest has the caller's ids only: another
    user cannot be made, so it is an error at start."""
    r = as_nobody("--user", "root", "/bin/true")
    assert r.returncode != 0 and r.stderr.count(b"\n") == 1, r.stderr
    assert r.stderr.startswith(b"libsubst: --user root: only a root caller's guest has other users")
    assert as_nobody("--user", "nobody", "/bin/true").returncode == 0


def test_a_deleted_working_directory_gets_one_line(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    r = subprocess.run(["sh", "-c", f"cd {gone} && rmdir {gone} && exec \"$@\"", "sh", *LIBSUBST,
                        "run", "true"], capture_output=True, timeout=120)
    assert_clean_error(r, "current directory")


def test_missing_volume(tmp_path):
    assert_clean_error(run_guest(["--volume", f"{tmp_path}/nope:/data", "true"], tmp_path), "nope")
    assert_clean_error(run_guest(["--volume", "bad-spec", "true"], tmp_path), "HOST:GUEST")
    assert_clean_error(run_guest(["--volume", "/:/host", "true"], tmp_path), "host's root")


def test_one_directory_as_two_volumes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    r = run_guest(["--no-cwd", "--volume", f"{data}:/ro:ro", "--volume", f"{data}:/rw", "sh", "-c",
                   "echo w > /rw/f && read l < /ro/f && echo $l && ! echo x 2>/dev/null > /ro/g"], "/")
    assert r.returncode == 0 and r.stdout == b"w\n", r.stderr
    assert sorted(os.listdir(data)) == ["f"]


def test_volume_mounts_a_directory(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("from a volume\n")
    r = run_guest(["--no-cwd", "--volume", f"{data}:/srv/data:ro", "cat", "/srv/data/x.txt"], "/")
    assert r.stdout == b"from a volume\n" and r.returncode == 0
    r = run_guest(["--no-cwd", "--volume", f"{data}:/srv/data:ro", "touch", "/srv/data/new"], "/")
    assert r.returncode != 0 and not (data / "new").exists()
    assert b"Read-only file system" in r.stderr


def test_no_cwd_hides_the_working_directory(tmp_path):
    (tmp_path / "secret.txt").write_text("s\n")
    r = run_guest(["--no-cwd", "cat", str(tmp_path / "secret.txt")], tmp_path)
    assert r.returncode == 1 and b"No such file or directory" in r.stderr


def test_env_and_workdir(tmp_path):
    (tmp_path / "sub").mkdir()
    r = run_guest(["--env", "GREETING=hi there", "--workdir", str(tmp_path / "sub"),
                   "/usr/bin/python3", "-c", "import os; print(os.environ['GREETING'], os.getcwd())"],
                  tmp_path)
    assert r.stdout.decode() == f"hi there {tmp_path / 'sub'}\n", r.stderr


@pytest.mark.parametrize("opts,path", [(["--no-subst"], "trap"), ([], "fast")])
def test_trace_to_stderr_shows_the_path(tmp_path, opts, path):
    r = run_guest([*opts, "--trace", "/bin/echo", "hi"], tmp_path)
    assert r.returncode == 0 and r.stdout == b"hi\n"
    err = r.stderr.decode()
    assert f'{path} write(1, "hi\\n", 3) = 3' in err
    assert f"{path} exit_group(0) = ?" in err
    assert 'openat(AT_FDCWD, "/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC) = 3' in err


def test_unimplemented_syscall_is_enosys_and_reported(tmp_path):
    # syslog (103) is not implemented: the guest gets ENOSYS and is not killed.
    r = run_guest(["--trace", "/usr/bin/python3", "-c",
                   "import ctypes, os; l = ctypes.CDLL(None, use_errno=True); "
                   "print(l.syscall(103, 0, 0), ctypes.get_errno())"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"-1 38\n"
    assert "syslog (103) x1" in r.stderr.decode()


def _version_manager(tmp_path):
    """A manager laid out as rbenv is (ROOT/shims, ROOT/libexec/rbenv): a
    shim on PATH that execs the manager, which picks the program (here by
    FAKEENV_PROG, a variable planning does not read) for `which` and runs
    it for `exec`."""
    root = tmp_path / ".rbenv"
    (root / "shims").mkdir(parents=True)
    (root / "libexec").mkdir()
    manager = root / "libexec" / "rbenv"
    manager.write_text('#!/bin/sh\n'
                       'case "$1" in\n'
                       'which) [ -n "$FAKEENV_PROG" ] || { echo "rbenv: $2: command not found" >&2;'
                       ' exit 127; }; echo "$FAKEENV_PROG";;\n'
                       'exec) shift 2; exec "$FAKEENV_PROG" "$@";;\n'
                       'esac\n')
    shim = root / "shims" / "tool"
    shim.write_text('#!/bin/sh\nset -e\nprogram="${0##*/}"\n'
                    f'exec "{manager}" exec "$program" "$@"\n')
    for f in (manager, shim):
        f.chmod(0o755)
    return dict(os.environ, PATH=f"{root / 'shims'}:{os.environ['PATH']}")


def test_a_version_managers_shim_runs_the_program_it_picks(tmp_path):
    # The guest runs what the shim would exec (the manager is not in its
    # root: through the shim it would end 127); the answer depends on the
    # manager's state, which planning does not see, so it is asked at every
    # run, never served from the plan cache.
    env = _version_manager(tmp_path)
    for prog, args in (("/bin/echo", ["a", "b"]), ("/usr/bin/basename", ["/x/y"]),
                       ("/bin/echo", ["c"])):
        env["FAKEENV_PROG"] = prog
        native = run_native(["tool", *args], tmp_path, env=env)
        assert native.returncode == 0, native.stderr
        assert_same(native, run_guest(["tool", *args], tmp_path, env=env))
    env.pop("FAKEENV_PROG")
    assert_clean_error(run_guest(["tool"], tmp_path, env=env),
                       "tool: ", "is rbenv's shim, and `rbenv which tool` said: "
                       "rbenv: tool: command not found")


@pytest.mark.parametrize("how", ["by path", "look-alike on PATH"])
def test_a_script_that_looks_like_a_shim_runs_nothing_at_planning(tmp_path, how):
    # Planning runs a manager outside the sandbox: only a shim PATH finds,
    # in its manager's shims/, with the manager where its layout puts it.
    # This one would have planning run the directory's own `which`; it is
    # an ordinary script, run in the guest as natively.
    (tmp_path / "which").write_text(f"#!/bin/sh\ntouch {tmp_path}/ran-on-host\necho /bin/true\n")
    (tmp_path / "which").chmod(0o755)
    (tmp_path / "shims").mkdir()
    prog = tmp_path / "shims" / "app"
    prog.write_text('#!/bin/sh\nexec /bin/sh exec app "$@"\n')
    prog.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path / 'shims'}:{os.environ['PATH']}")
    argv = [str(prog)] if how == "by path" else ["app"]
    native = run_native(argv, tmp_path, env=env)
    guest = run_guest(argv, tmp_path, env=env)
    assert not (tmp_path / "ran-on-host").exists()
    assert native.returncode == guest.returncode != 0, (native, guest)


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_a_program_the_guest_looks_for_and_lacks_is_named_for_add(tmp_path, shell):
    # The shells look (stat) before they exec: a run that ends "not found"
    # (127) names the program its root lacks, once, by its first PATH name
    # (/bin is /usr/bin's link on Debian), with --add; one that goes on
    # without it names nothing, as programs look for optional helpers.
    # (A command the script's text names comes with it, shell_commands.py:
    # these make theirs at run time.)
    script = "h=head; $h -1 /etc/passwd"
    native = run_native([shell, "-c", script], tmp_path)
    r = run_guest([shell, "-c", script], tmp_path)
    assert (native.returncode, r.returncode, r.stdout) == (0, 127, b"")
    hint = r.stderr.decode().splitlines()[-1]
    assert hint == ("libsubst: the guest looked for a program that its root does not have "
                    "and the host has: --add /usr/bin/head puts it there"), r.stderr
    added = run_guest(["--add", "/usr/bin/head", shell, "-c", script], tmp_path)
    assert_same(native, added)
    went_on = run_guest([shell, "-c", script + "; no-such-program-xyz; true"], tmp_path)
    assert went_on.returncode == 0
    assert "libsubst" not in went_on.stderr.decode()


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
@pytest.mark.parametrize("script", [
    "t=tr h=head; command -v $t; $h -1 /etc/passwd",            # a look it went on from
    "l=ls t=tr h=head; command -v $l >/dev/null; $t a b </dev/null || true; "
    "$h -1 /etc/passwd; exit $?",
    "t=tr h=head; command -v $t; ($h -1 /etc/passwd)",          # a subshell ends the shell
    "l=ls h=head; $l >/dev/null; $h -1 /etc/passwd",            # bash: ls missed in a child
])
def test_only_the_program_that_ended_the_run_is_named(tmp_path, shell, script):
    # Natively each runs; in the guest the shell looked for helpers it went
    # on without before the command it ended on: only that one is named.
    native = run_native([shell, "-c", script], tmp_path)
    assert native.returncode == 0, native.stderr
    r = run_guest([shell, "-c", script], tmp_path)
    assert r.returncode == 127, r.stderr
    assert r.stderr.decode().splitlines()[-1] == (
        "libsubst: the guest looked for a program that its root does not have "
        "and the host has: --add /usr/bin/head puts it there"), r.stderr


def test_a_failure_after_going_on_without_a_program_names_it(tmp_path):
    # Natively the script runs; in the guest it goes on without the program
    # its text does not name and fails later: the hint says so.
    script = "c=cut; x=$($c -d: -f1 /etc/passwd) || exit 2; echo $x"
    assert run_native(["/bin/sh", "-c", script], tmp_path).returncode == 0
    r = run_guest(["/bin/sh", "-c", script], tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.decode().splitlines()[-1] == (
        "libsubst: the guest ended with status 2 after going on without a program that its "
        "root does not have and the host has: --add /usr/bin/cut puts it there"), r.stderr


@pytest.mark.parametrize("argv,helpers", [
    (["/usr/bin/groff", "--version"], ["/usr/bin/troff", "/usr/bin/grops"]),
    (["/usr/bin/git", "upload-pack", "--help"], ["/usr/bin/man"]),
])
def test_a_helper_a_forked_child_could_not_exec_is_named(tmp_path, argv, helpers):
    # A program forks a child that execs its helper by PATH and fails with a
    # status of its own when that finds nothing (groff's 255, git's): the
    # run's failure names the helper it missed last; groff's, added, run as
    # natively.
    native = run_native(argv, tmp_path)
    assert native.returncode == 0, native.stderr
    r = run_guest(argv, tmp_path)
    assert r.returncode != 0, r.stderr
    hint = r.stderr.decode().splitlines()[-1]
    assert hint.startswith(f"libsubst: the guest ended with status {r.returncode} after going "
                           "on without "), r.stderr
    # the latest search's program: one of groff's two, which it starts at
    # once in a pipeline, so either may miss last
    named = re.findall(r"--add (\S+)", hint)
    assert len(named) == 1 and named[0] in helpers, hint
    if argv[0].endswith("groff"):
        # troff and grops print their versions at once, in either order
        # natively too (1 in 20 troff first here): compared as sets of lines
        guest = run_guest([o for h in helpers for o in ("--add", h)] + argv, tmp_path)
        assert (guest.returncode, guest.stderr) == (native.returncode, native.stderr)
        assert sorted(guest.stdout.splitlines()) == sorted(native.stdout.splitlines())


SCRIPT_NAMING_PROGRAMS = r"""
set -e
n=$(printf 'b\na\n' | sort | head -1)
echo "$n" | tr a-z A-Z
if ! grep -q root /etc/passwd; then exit 3; fi
case "$n" in a) head -1 /etc/passwd | cut -d: -f1 | wc -c ;; esac
INNER
show() { echo "show $1"; }
show `uname -s`
cat <<END
here $(basename /x/y)
END
"""


@pytest.mark.parametrize("how", ["script", "-c"])
def test_the_programs_a_shell_script_names_come_with_it(tmp_path, how):
    # Pipelines, $(...), backquotes, if, case, a here-document's
    # substitution, and a script the script names by path, whose own
    # commands come too (shell_commands.py): the same output as natively.
    inner = tmp_path / "inner.sh"
    inner.write_text("#!/bin/bash\nseq 3 | paste -sd, -\n")
    inner.chmod(0o755)
    text = SCRIPT_NAMING_PROGRAMS.replace("INNER", str(inner))
    if how == "script":
        outer = tmp_path / "outer.sh"
        outer.write_text("#!/bin/sh" + text)
        outer.chmod(0o755)
        argv = [str(outer)]
    else:
        argv = ["/bin/sh", "-c", text]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and b"1,2,3" in native.stdout, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def test_a_program_env_execs_and_the_root_lacks_is_named(tmp_path):
    r = run_guest(["/usr/bin/env", "tr", "a", "b"], tmp_path)
    assert r.returncode == 127, r.stderr
    assert r.stderr.decode().endswith(
        "libsubst: the guest looked for a program that its root does not have and the host "
        "has: --add /usr/bin/tr puts it there\n"), r.stderr


def test_exit_status_of_a_signal(tmp_path):
    r = run_guest(["/usr/bin/python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], tmp_path)
    assert r.returncode == 128 + 15


CRASH_C = r"""
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
__attribute__((noinline)) void crash_here(int *p) { *p = 42; }
__attribute__((noinline)) void caller(int *p) { crash_here(p); puts("unreachable"); }
int main(int argc, char **argv) {
    if (argc == 1) { caller((int *)16); return 0; }
    /* "fork": a forked child crashes; "exec": a child that executed this program again */
    pid_t pid = fork();
    if (pid == 0 && strcmp(argv[1], "exec") == 0)
        execl("/proc/self/exe", argv[0], (char *)0);
    if (pid == 0) { caller((int *)16); return 0; }
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}
"""


@pytest.mark.parametrize("who", ["first", "fork", "exec"])
def test_crash_report(tmp_path, who):
    # A child's report has its stack frames as the first process's has: its
    # own memory is read through its own /proc/self/mem (signal/crash.c).
    (tmp_path / "crash.c").write_text(CRASH_C)
    subprocess.run(["gcc", "-O0", "-fno-omit-frame-pointer", "-o", tmp_path / "crash", tmp_path / "crash.c"], check=True)
    r = run_guest([str(tmp_path / "crash"), *([] if who == "first" else [who])], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 128 + 11
    assert "SIGSEGV" in err and "0x10" in err
    assert "rip" in err and "backtrace:" in err
    assert "crash_here+0x" in err and "caller+0x" in err and "main+0x" in err
    assert "Traceback" not in err


STALE_C = r"""
#include <stdio.h>
/* Bytes a stack scan could take for the end of `call *%rax` (ff d0) and of a
 * `call rel32` (e8 ...), in writable data: pointers just past them are no
 * return addresses, and ASLR makes such bytes in data anything. */
unsigned char looks_like_calls[16] = {0xff, 0xd0, 0, 0, 0xe8, 1, 2, 3, 4, 0};
__attribute__((noinline)) void crash_here(int *p) { *p = 42; }
__attribute__((noinline)) void caller(int *p, volatile unsigned long *keep) {
    crash_here(p); keep[0]++;
}
int main(void) {
    volatile unsigned long keep[2] = {(unsigned long)&looks_like_calls[2],
                                      (unsigned long)&looks_like_calls[9]};
    caller((int *)16, keep);
    return 0;
}
"""


def test_a_crash_backtrace_holds_return_addresses_only(tmp_path):
    # Without frame pointers the kernel scans the stack (signal/crash.c): a
    # word counts only if it points into executable pages just past a call.
    (tmp_path / "stale.c").write_text(STALE_C)
    exe = tmp_path / "stale"
    subprocess.run(["gcc", "-O1", "-fomit-frame-pointer", "-o", exe, tmp_path / "stale.c"], check=True)
    r = run_guest([str(exe)], tmp_path)
    assert r.returncode == 128 + 11
    frames = r.stderr.decode().split("backtrace:\n")[1].splitlines()
    names = [re.sub(r"\+0x[0-9a-f]+.*| \(.*", "", f.split(" in ", 1)[1]) for f in frames]
    libc = [n for n in names if "libc.so" in n]
    assert [n for n in names if "libc.so" not in n] == \
        ["crash_here", "caller", "main", "__libc_start_main", "_start"], frames
    assert len(libc) == 1, frames                 # __libc_start_call_main has no symbol


HELLO_C = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    printf("hello from %s with %d args\n", strrchr(argv[0], '/') + 1, argc);
    FILE *f = fopen("static-out.txt", "w"); fputs("ok\n", f); fclose(f);
    return 3;
}
"""


@pytest.mark.parametrize("flags", [["-static"], ["-static-pie"]])
def test_static_executables(tmp_path, flags):
    (tmp_path / "hello.c").write_text(HELLO_C)
    exe = tmp_path / "hello"
    subprocess.run(["gcc", *flags, "-O2", "-o", exe, tmp_path / "hello.c"], check=True)
    native = run_native([str(exe), "a", "b"], tmp_path)
    (tmp_path / "static-out.txt").unlink()
    guest = run_guest([str(exe), "a", "b"], tmp_path)
    assert_same(native, guest)
    assert (tmp_path / "static-out.txt").read_text() == "ok\n"


def test_shebang_script(tmp_path):
    script = tmp_path / "greet.py"
    script.write_text("#!/usr/bin/python3 -S\nimport sys\nprint('args', sys.argv)\n")
    script.chmod(0o755)
    assert_same(run_native(["./greet.py", "x"], tmp_path), run_guest(["./greet.py", "x"], tmp_path))


def test_console_script_is_installed(tmp_path):
    exe = os.path.join(sysconfig.get_path("scripts"), "libsubst")
    r = subprocess.run([exe, "run", "/bin/echo", "ok"], capture_output=True, cwd=tmp_path)
    assert r.stdout == b"ok\n"


PROC_PROBE = r"""
import os, sys
print(os.readlink('/proc/self/exe'))
print(open('/proc/self/cmdline', 'rb').read().split(b'\0')[3:5])
print(sorted(os.listdir('/proc/self/fd'))[:3])
print(os.readlink('/proc/self/fd/3') if os.path.exists('/proc/self/fd/3') else 'no fd 3')
print(open('/proc/self/stat').read().split()[0] == str(os.getpid()))
print('VmRSS' in open('/proc/self/status').read())
print(any(l.startswith('MemTotal:') for l in open('/proc/meminfo')))
print(sum(1 for l in open('/proc/cpuinfo') if l.startswith('processor')) == os.cpu_count())
print(open('/proc/stat').read().startswith('cpu '))
print(float(open('/proc/uptime').read().split()[0]) > 0)
print(open('/sys/devices/system/cpu/online').read().strip(), open('/sys/devices/system/cpu/possible').read().strip())
print(any('/usr/bin/python3' in l or 'python3.11' in l for l in open('/proc/self/maps')))
open('/dev/null', 'w').write('x'); print(len(open('/dev/urandom', 'rb').read(16)), open('/dev/zero', 'rb').read(4))
"""


def test_synthetic_proc_sys_dev(tmp_path):
    argv = ["/usr/bin/python3", "-c", PROC_PROBE, "a", "b"]
    r = run_guest(argv, tmp_path)
    assert r.returncode == 0, r.stderr
    online = open("/sys/devices/system/cpu/online").read().strip()
    possible = open("/sys/devices/system/cpu/possible").read().strip()
    lines = r.stdout.decode().splitlines()
    assert lines[0] == os.path.realpath("/usr/bin/python3")
    assert lines[1] == "[b'a', b'b']"
    assert lines[2:] == [
        "['0', '1', '2']", "no fd 3", "True", "True", "True", "True", "True", "True",
        f"{online} {possible}", "True", "16 b'\\x00\\x00\\x00\\x00'"]
    # nproc reads /sys/devices/system/cpu/online through sched_getaffinity/sysconf
    assert_same(run_native(["nproc"], tmp_path), run_guest(["nproc"], tmp_path))


MAPS_PROBE = """
import ctypes.util, os
ctypes.CDLL(ctypes.util.find_library("z"))
pid = os.fork()                                  # a child reads its own /proc/self too
if pid:
    os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
names = {l.split(None, 5)[5].strip() for l in open('/proc/self/maps') if len(l.split()) == 6}
files = sorted(n for n in names if n.startswith('/'))
print(all(os.path.exists(n) for n in files), *files, sep='\\n')
"""


def test_proc_self_maps_names_guest_paths(tmp_path):
    # The guest's files by the paths the guest knows them by: not the host
    # paths of substituted libraries, nor the kernel's own memory.
    r = run_guest(["/usr/bin/python3", "-c", MAPS_PROBE], tmp_path)
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "True", r.stdout
    assert os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6") in lines
    assert not [n for n in lines[1:] if ".cache/libsubst" in n or "memfd" in n or "libsubst" in n]


def test_inotify_in_a_volume(tmp_path):
    exe = build_c("inotify", tmp_path)
    native = run_native([exe], tmp_path)
    assert native.returncode == 0 and b"dir DELETE made.txt" in native.stdout, native
    for opts in ((), ("--no-subst",)):
        (tmp_path / "watched.txt").unlink()
        assert_same(native, run_guest([*opts, exe], tmp_path))


def test_a_volume_keeps_the_mounts_below_it(tmp_path):
    vol = tmp_path / "vol"
    (vol / "sub").mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(vol / "sub")]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (vol / "sub" / "x").write_text("on the submount\n")
        r = run_guest(["--no-cwd", "-v", f"{vol}:/v:ro", "/usr/bin/python3", "-c",
                       "print(open('/v/sub/x').read(), end='')\n"
                       "try:\n    open('/v/sub/y', 'w')\nexcept OSError as e:\n    print(e.strerror)"],
                      "/")
        assert r.stdout == b"on the submount\nRead-only file system\n", r.stderr
    finally:
        subprocess.run(["umount", str(vol / "sub")])


def test_the_guest_inherits_only_its_stdio(tmp_path):
    # No fd of the sandbox's making (the relay's user namespace, its
    # sockets) reaches the program: its fd table is a native run's.
    argv = ["/usr/bin/python3", "-c", "import os; print(sorted(os.listdir('/proc/self/fd')))"]
    assert_same(run_native(argv, tmp_path), run_guest(argv, tmp_path))


def test_scratch_directories_go_even_when_made_read_only(tmp_path):
    """A run's /tmp, /dev/shm and its root's writable layer are tmpfs mounts
    of the guest's own (they go with its mount namespace); without
    namespaces (the benchmarks' policy=False) /tmp and /dev/shm are host
    directories, removed after the run even where the guest made parts of
    them read-only, and the root is read-only."""
    from libsubst import api
    from libsubst.monitor import ending

    spec = api.prepare("/bin/true", mount_cwd=False)
    assert spec.scratch == [] and sorted(m.guest for m in spec.mounts if m.scratch) == \
        ["/", "/dev/shm", "/tmp"]
    spec = api.prepare("/bin/true", mount_cwd=False, policy=False)
    assert len(spec.scratch) == 2 and not any(m.scratch for m in spec.mounts)
    for host in (m.host for m in spec.mounts if m.guest in ("/tmp", "/dev/shm")):
        os.makedirs(os.path.join(host, "a", "b"))
        open(os.path.join(host, "a", "b", "f"), "w").close()
        os.chmod(os.path.join(host, "a", "b"), 0o555)
        os.chmod(os.path.join(host, "a"), 0o555)
    ending.remove_scratch(spec.scratch)
    assert not any(os.path.exists(d) for d in spec.scratch)
    r = run_guest(["/usr/bin/python3", "-c",
                   "import os\nfor d in ('/tmp', '/dev/shm'):\n"
                   "    os.makedirs(d + '/a/b'); open(d + '/a/b/f', 'w').close()\n"
                   "    os.chmod(d + '/a/b', 0o555); os.chmod(d + '/a', 0o555)"], tmp_path)
    assert r.returncode == 0, r.stderr
    bad = run_guest(["-v", f"{tmp_path}:/", "true"], tmp_path)
    assert bad.returncode == 2 and bad.stderr == \
        b"libsubst: a volume cannot be mounted at / (the guest's root is its image)\n"


SYMLINK_PROBE = """
import os
os.makedirs('d/e', exist_ok=True)
open('d/real.txt', 'w').write('real\\n')
for name, target in (('rel', 'd/real.txt'), ('dangling', 'd/new.txt'), ('loop', 'loop'),
                     ('up', 'd/e/../real.txt'), ('dirlink', 'd')):
    if not os.path.lexists(name):
        os.symlink(target, name)
print(open('rel').read(), end='')
open('dangling', 'w').write('made through a link\\n')
print(open('d/new.txt').read(), end='')
print(open('up').read(), end='')
print(sorted(os.listdir('dirlink/')))
for bad in ('loop', 'd/real.txt/x'):
    try:
        open(bad)
    except OSError as e:
        print(bad, e.strerror)
"""


def test_symlinks_inside_a_volume_resolve_as_natively(tmp_path):
    # The kernel follows a volume's symlinks itself, one component at a
    # time (the host's openat2 is not allowed): relative ones as Linux does.
    native_dir, guest_dir = tmp_path / "n", tmp_path / "g"
    native_dir.mkdir()
    guest_dir.mkdir()
    argv = ["/usr/bin/python3", "-c", SYMLINK_PROBE]
    native = run_native(argv, native_dir)
    assert native.returncode == 0, native.stderr
    assert_same(native, run_guest(argv, guest_dir))
