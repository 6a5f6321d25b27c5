"""The embedding API follows subprocess: libsubst.run as subprocess.run,
libsubst.Popen as subprocess.Popen, each compared with the same call of
subprocess on the same program run natively."""

import gc
import os
import select
import signal
import subprocess
import time

import pytest

import libsubst
from conftest import WAIT_FOR_SIGNALS, children, gone

HANDLER = ("import os, signal, sys\n"
           "def on(n, _f):\n"
           "    os.write(1, b'got ' + signal.Signals(n).name.encode() + b'\\n')\n"
           "    sys.exit(3)\n"
           "signal.signal(signal.SIGUSR1, on)\n"
           "signal.signal(signal.SIGTERM, on)\n") + WAIT_FOR_SIGNALS
PYTHON = "/usr/bin/python3"


def read_line(f, timeout=60):
    """One line of a pipe, or an AssertionError after timeout s."""
    ready, _, _ = select.select([f], [], [], timeout)
    assert ready, f"no line within {timeout} s"
    return f.readline()


def first_process(handle):
    """The guest's first process: the child of the relay (handle.pid)."""
    deadline = time.monotonic() + 30
    while not (kids := children(handle.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    (first,) = kids
    return first


@pytest.mark.parametrize("kw", [dict(stdout=subprocess.PIPE), dict(capture_output=True),
                                dict(capture_output=True, text=True)])
def test_run_returns_what_the_guest_wrote_to_a_pipe(kw):
    argv = ["sh", "-c", "echo out; echo err >&2; exit 3"]
    native = subprocess.run(argv, **kw)
    done = libsubst.run(argv[0], argv[1:], **kw)
    assert (done.returncode, done.stdout, done.stderr) == \
        (native.returncode, native.stdout, native.stderr)
    assert done.args == argv


def test_run_sends_input():
    data = bytes(range(256)) * 1000
    native = subprocess.run(["cat"], input=data, capture_output=True)
    done = libsubst.run("cat", input=data, capture_output=True)
    assert done.stdout == native.stdout == data and done.returncode == native.returncode == 0
    assert libsubst.run("tr", ["a-z", "A-Z"], input="abc", capture_output=True,
                        text=True).stdout == "ABC"


def test_run_refuses_what_subprocess_refuses():
    for kw in (dict(input=b"x", stdin=subprocess.DEVNULL),
               dict(capture_output=True, stdout=subprocess.DEVNULL)):
        with pytest.raises(ValueError):
            subprocess.run(["true"], **kw)
        with pytest.raises(ValueError):
            libsubst.run("true", **kw)


def test_limits_take_the_clis_sizes_and_refuse_other_values_in_one_line():
    """memory and scratch_size as the CLI writes them ("64M"); a value of the
    wrong type is the CLI's one-line LibsubstError, not a TypeError."""
    done = libsubst.run("cat", ["/sys/fs/cgroup/memory.max"], memory="64M",
                        capture_output=True)
    assert (done.returncode, done.stdout) == (0, b"%d\n" % (64 << 20)), done
    for kw, words in ((dict(memory="abc"), "--memory 'abc': expected a size"),
                      (dict(scratch_size="1x"), "--scratch-size '1x': expected a size"),
                      (dict(cpus="1"), "--cpus '1': expected a whole number"),
                      (dict(pids=2.5), "--pids 2.5: expected a whole number"),
                      (dict(memory=True), "--memory True: expected a whole number")):
        with pytest.raises(libsubst.LibsubstError) as e:
            libsubst.run("true", **kw)
        assert str(e.value).startswith(words) and "\n" not in str(e.value), e.value


def test_check_raises_with_the_status():
    with pytest.raises(subprocess.CalledProcessError) as native:
        subprocess.run(["sh", "-c", "echo partial; exit 5"], capture_output=True, check=True)
    with pytest.raises(libsubst.GuestError) as guest:
        libsubst.run("sh", ["-c", "echo partial; exit 5"], capture_output=True, check=True)
    assert isinstance(guest.value, subprocess.CalledProcessError)
    assert isinstance(guest.value, libsubst.LibsubstError)
    assert (guest.value.returncode, guest.value.stdout) == \
        (native.value.returncode, native.value.stdout) == (5, b"partial\n")
    assert libsubst.run("true", check=True).returncode == 0


def test_timeout_kills_the_guest_and_raises():
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(["sleep", "60"], timeout=1)
    with pytest.raises(libsubst.GuestTimeout) as e:
        libsubst.run("sh", ["-c", "echo started; sleep 60"], add=["/usr/bin/sleep"],
                     stdout=subprocess.PIPE, timeout=3)
    assert isinstance(e.value, subprocess.TimeoutExpired) and e.value.timeout == 3
    assert e.value.stdout == b"started\n"
    assert time.monotonic() - start < 30
    assert children(os.getpid()) == []


def test_popen_poll_wait_and_signals_as_subprocess():
    native = subprocess.Popen([PYTHON, "-c", HANDLER], stdout=subprocess.PIPE)
    guest = libsubst.Popen(PYTHON, ["-c", HANDLER], stdout=subprocess.PIPE)
    with native, guest:
        for p in (native, guest):
            assert read_line(p.stdout) == b"ready\n"
            assert p.poll() is None and p.returncode is None
            with pytest.raises(subprocess.TimeoutExpired):
                p.wait(timeout=0.2)
            p.send_signal(signal.SIGUSR1)
        assert guest.wait(timeout=60) == native.wait(timeout=60) == 3
        assert guest.stdout.read() == native.stdout.read() == b"got SIGUSR1\n"
        assert guest.poll() == 3 and guest.completed.returncode == 3


def test_terminate_reaches_the_guest_handler():
    native = subprocess.Popen([PYTHON, "-c", HANDLER], stdout=subprocess.PIPE)
    with native, libsubst.Popen(PYTHON, ["-c", HANDLER], stdout=subprocess.PIPE) as guest:
        for p in (native, guest):
            assert read_line(p.stdout) == b"ready\n"
            p.terminate()
        out = [p.communicate(timeout=60)[0] for p in (native, guest)]
        assert out[0] == out[1] == b"got SIGTERM\n"
        assert guest.returncode == native.returncode == 3


def test_terminate_at_once_ends_the_guest():
    # Sent as the guest boots: held until the kernel's handlers are in, never
    # dropped as a pid namespace's init drops what it has no handler for.
    for _ in range(3):
        native = subprocess.Popen(["sleep", "60"])
        native.terminate()
        with libsubst.Popen("sleep", ["60"]) as guest:
            guest.terminate()
            assert guest.wait(timeout=30) == 128 - native.wait(timeout=30) == 128 + 15


def test_kill_ends_every_guest_process():
    with libsubst.Popen("sh", ["-c", "sleep 600 & echo ready; wait"], add=["/usr/bin/sleep"],
                        stdout=subprocess.PIPE) as guest:
        assert read_line(guest.stdout) == b"ready\n"
        first = first_process(guest)
        deadline = time.monotonic() + 30
        while not children(first) and time.monotonic() < deadline:
            time.sleep(0.02)
        (sleeper,) = children(first)
        guest.kill()
        assert guest.wait(timeout=60) == 128 + signal.SIGKILL
        assert gone(first) and gone(sleeper)


def test_leaving_the_block_or_dropping_the_handle_ends_the_guest():
    with libsubst.Popen("sleep", ["600"]) as guest:
        first = first_process(guest)
    assert guest.returncode == 128 + signal.SIGKILL and gone(first)
    guest = libsubst.Popen("sleep", ["600"])
    relay, first = guest.pid, first_process(guest)
    del guest
    gc.collect()
    assert gone(relay) and gone(first)


def test_only_forwarded_signals_are_sent():
    with libsubst.Popen("sleep", ["600"]) as guest:
        with pytest.raises(libsubst.LibsubstError, match="SIGALRM is not passed"):
            guest.send_signal(signal.SIGALRM)
        assert guest.poll() is None


def test_a_popen_of_an_image(tmp_path):
    image = libsubst.Image.from_program("/bin/echo", ["from", "an", "image"])
    image.write(tmp_path / "echo.lsi")
    with libsubst.Popen(tmp_path / "echo.lsi", stdout=subprocess.PIPE) as guest:
        assert guest.communicate(timeout=60) == (b"from an image\n", None)
    assert guest.returncode == 0


def test_the_package_is_typed():
    from importlib import resources
    assert (resources.files("libsubst") / "py.typed").is_file()
