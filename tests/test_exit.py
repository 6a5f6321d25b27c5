"""exit_group ends every thread of the guest at once, whatever each is doing;
a static Go program (many Ms, SIGURG preemption, signal handlers on the
alternate stack) runs to completion.  Each is run many times: the hang this
guards against came 5 runs in 6."""

import os
import shutil
import subprocess

import pytest

from conftest import LIBSUBST, assert_same, build_c, run_native

RUNS = 12


def run_bounded(argv, cwd, opts=()):
    """A guest run that must end by itself; the timeout only turns a hang
    into a failure (subprocess.run kills the monitor, and the guest dies
    with it: PR_SET_PDEATHSIG)."""
    return subprocess.run([*LIBSUBST, "run", *opts, *argv], cwd=cwd, capture_output=True,
                          timeout=60)


@pytest.fixture(scope="module")
def exit_threads(tmp_path_factory):
    return build_c("exit_threads", str(tmp_path_factory.mktemp("c")), "-pthread")


@pytest.fixture(scope="module")
def go_program(tmp_path_factory):
    go = shutil.which("go")
    assert go, "tests/run.sh installs golang-go"
    out = tmp_path_factory.mktemp("go")
    exe = str(out / "goroutines")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go", "goroutines.go")
    env = dict(os.environ, CGO_ENABLED="0", GOCACHE=str(out / "cache"), GOPATH=str(out / "path"))
    subprocess.run([go, "build", "-o", exe, src], check=True, env=env, cwd=out, timeout=300)
    return exe


@pytest.mark.parametrize("who", ["main", "worker"])
def test_exit_ends_threads_in_every_state(exit_threads, who, tmp_path):
    """Threads spinning, in nanosleep (libc's and a raw syscall's), waiting
    on a futex and blocked in read, while main or a worker calls exit(3)."""
    native = run_native([exit_threads, who], tmp_path)
    assert native.returncode == 3
    for _ in range(RUNS):
        assert_same(native, run_bounded([exit_threads, who], tmp_path))


def test_go_program_runs_to_completion(go_program, tmp_path):
    native = run_native([go_program], tmp_path)
    assert native.returncode == 2 and native.stdout.startswith(b"total ")
    for _ in range(RUNS):
        assert_same(native, run_bounded([go_program], tmp_path))
