"""A standard fd (stdin, stdout, stderr) closed when `libsubst run` starts
is closed in the guest, as natively: `cat <&-` fails to read, `echo hi
>&-` fails to write, a program with `2>&-` says nothing.  Each compared
with the native run, on both paths, with and without --init, through the
Python CLI, the native front end (planning, then serving the plan it made)
and a packed image."""

import os
import subprocess
import sys

import pytest

from conftest import LIBSUBST, assert_same

FRONTEND = [os.path.join(os.path.dirname(sys.executable), "libsubst")]
# fd closed, the program: each fails natively, with its own words.
CASES = {"stdin": (0, ["cat"]), "stdout": (1, ["echo", "hi"]),
         "stderr": (2, ["ls", "/no-such-file"])}


def closed_run(fd, argv, cwd):
    """argv run with fd closed, from a shell that closes it; with a plan
    cache of cwd's own, so that the front end's first run plans (through
    the Python CLI it execs) and its second serves that plan."""
    env = {**os.environ, "XDG_CACHE_HOME": os.path.join(cwd, ".cache")}
    return subprocess.run(["sh", "-c", f'exec {fd}<&-; exec "$@"', "sh", *argv], cwd=cwd,
                          capture_output=True, timeout=120, env=env)


@pytest.mark.parametrize("opts", [[], ["--no-subst"], ["--init"], ["--no-subst", "--init"]],
                         ids=["fast", "trap", "init", "trap-init"])
@pytest.mark.parametrize("case", CASES)
def test_a_closed_standard_fd_stays_closed(tmp_path, case, opts):
    fd, argv = CASES[case]
    native = closed_run(fd, argv, tmp_path)
    assert native.returncode != 0 and native.stdout == b"", native
    assert (native.stderr == b"") == (fd == 2), native
    # The front end, planning, then serving the plan it made; the Python CLI.
    for cli in (FRONTEND, FRONTEND, LIBSUBST):
        assert_same(native, closed_run(fd, [*cli, "run", *opts, *argv], tmp_path))


@pytest.mark.parametrize("case", CASES)
def test_a_closed_standard_fd_stays_closed_for_a_packed_image(tmp_path, case):
    fd, argv = CASES[case]
    image = tmp_path / "prog.lsi"
    subprocess.run([*LIBSUBST, "pack", "-o", str(image), argv[0]], check=True,
                   capture_output=True, timeout=300)
    native = closed_run(fd, argv, tmp_path)
    for cli in (FRONTEND, FRONTEND, LIBSUBST):
        assert_same(native, closed_run(fd, [*cli, "run", str(image), *argv[1:]], tmp_path))


def test_the_other_standard_fds_stay_open(tmp_path):
    """With stdin closed, stdout and stderr are still the caller's: the
    guest writes to both (no fd of libsubst's took a closed number)."""
    argv = ["sh", "-c", "echo out; echo err >&2; cat"]
    native = closed_run(0, argv, tmp_path)
    assert native.stdout == b"out\n" and native.stderr.startswith(b"err\n"), native
    for cli in (FRONTEND, FRONTEND, LIBSUBST):
        assert_same(native, closed_run(0, [*cli, "run", "--add", "/bin/cat", *argv], tmp_path))


def test_the_api_with_a_closed_stdin(tmp_path):
    """libsubst.run from a program whose stdin is closed: the guest's is
    closed too, as subprocess.run's child's is; a pipe the program then
    puts at fd 0 is the next guest's stdin."""
    code = ("import os, subprocess, sys\n"
            "import libsubst\n"
            "def run(argv, **kw):\n"
            "    if sys.argv[1] == 'native':\n"
            "        return subprocess.run(argv, **kw)\n"
            "    return libsubst.run(argv[0], argv[1:], **kw)\n"
            "r = run(['cat'], capture_output=True)\n"
            "print(r.returncode, r.stdout, r.stderr)\n"
            "rd, wr = os.pipe(); os.write(wr, b'piped'); os.close(wr)\n"
            "if rd != 0: os.dup2(rd, 0)\n"
            "os.set_inheritable(0, True)\n"
            "r = run(['cat'], capture_output=True)\n"
            "print(r.returncode, r.stdout, r.stderr)\n")
    native, guest = (closed_run(0, [sys.executable, "-c", code, how], tmp_path)
                     for how in ("native", "guest"))
    assert native.stdout.startswith(b"1 b'' b'cat: -: Bad file descriptor"), native
    assert native.stdout.endswith(b"0 b'piped' b''\n"), native
    assert_same(native, guest)


@pytest.mark.parametrize("value", ["1", "7:1", "1:x"])
def test_a_held_stdio_variable_the_caller_sets_closes_nothing(tmp_path, value):
    """LIBSUBST_HELD_STDIO is the front end's word to the Python CLI it
    execs (its pid with it): set by the caller, over a stdin that is
    /dev/null, the guest's stdin is still /dev/null, as natively."""
    env = {**os.environ, "LIBSUBST_HELD_STDIO": value,
           "XDG_CACHE_HOME": str(tmp_path / ".cache")}     # the front end's first run plans
    py = [os.path.join(os.path.dirname(sys.executable), "libsubst-py")]
    native = subprocess.run(["cat"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert native.returncode == 0, native
    for cli in (FRONTEND, LIBSUBST, py):
        assert_same(native, subprocess.run([*cli, "run", "cat"], stdin=subprocess.DEVNULL,
                                           capture_output=True, env=env, cwd=tmp_path,
                                           timeout=120))
