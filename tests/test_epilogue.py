"""What is said and cleaned up after a guest (ending.report_end, run by the
Python monitor or, after the hand-over, by monitor/epilogue.py) is never
steered by what the guest left behind: a guest that can write where the
host's own files are (a --volume) may replace them by name before it ends,
so the host writes only through the fds it opened at the start."""

import os
import subprocess

import pytest

import libsubst
from conftest import LIBSUBST
from libsubst.monitor.tracing import Trace


def _swap_trace_for_symlink(vol, victim):
    """A guest that replaces /vol/trace.txt, the host's trace file, by a
    symlink to a host file outside its volume, then ends."""
    return ["/usr/bin/python3", "-c",
            f"import os; os.unlink('/vol/trace.txt'); os.symlink('{victim}', '/vol/trace.txt')"]


@pytest.mark.parametrize("how", ["cli", "api"])
def test_the_trace_summary_never_follows_a_path_the_guest_replaced(tmp_path, how):
    """Stopped by: the host appends the summary through the fd it opened
    before the guest started, never by reopening the trace's path."""
    vol, victim = tmp_path / "vol", tmp_path / "victim"
    vol.mkdir()
    victim.write_text("precious\n")
    trace = vol / "trace.txt"
    argv = _swap_trace_for_symlink(vol, victim)
    if how == "cli":
        r = subprocess.run([*LIBSUBST, "run", "-v", f"{vol}:/vol", "--trace-file", str(trace),
                            "--trace-summary", *argv], cwd=tmp_path, capture_output=True,
                           timeout=120)
        rc, err = r.returncode, r.stderr
    else:
        r = libsubst.run(argv[0], argv[1:], volumes=[f"{vol}:/vol"], capture_output=True,
                         trace=Trace(str(trace), summary=True, lines=False), timeout=120)
        rc, err = r.returncode, r.stderr
    assert rc == 0, err
    assert os.path.islink(trace)                    # the guest did replace it
    assert victim.read_text() == "precious\n"


def test_a_fifo_in_place_of_the_trace_does_not_hold_the_run(tmp_path):
    """A guest that leaves a FIFO where the trace file was: opening it to
    append would wait for a reader forever; the run ends as the guest did."""
    vol = tmp_path / "vol"
    vol.mkdir()
    argv = ["/usr/bin/python3", "-c",
            "import os; os.unlink('/vol/trace.txt'); os.mkfifo('/vol/trace.txt')"]
    r = subprocess.run([*LIBSUBST, "run", "-v", f"{vol}:/vol", "--trace-file",
                        str(vol / "trace.txt"), "--trace-summary", *argv], cwd=tmp_path,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("swap, kept", [("os.unlink(p)", 0), ("os.unlink(p); os.mkdir(p)", 1),
                                        ("os.unlink(p); os.symlink('/etc/hostname', p)", 1)])
def test_a_core_file_the_guest_replaced_is_neither_a_traceback_nor_removed_by_name(tmp_path, swap,
                                                                                  kept):
    """--core DIR in a volume: the guest removes or replaces its (empty)
    core file before it ends.  The host removes the empty file it made only
    while the name is still that file; the run ends as the guest did, and
    what the guest put there is the guest's."""
    vol = tmp_path / "vol"
    vol.mkdir()
    code = f"import glob, os; p, = glob.glob('/vol/core.*'); {swap}; print('done')"
    argv = ["/usr/bin/python3", "-c", code]
    native = subprocess.run(["/usr/bin/python3", "-c", "print('done')"], capture_output=True)
    r = subprocess.run([*LIBSUBST, "run", "-v", f"{vol}:/vol", "--core", str(vol), *argv],
                       cwd=tmp_path, capture_output=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (native.returncode, native.stdout, b"")
    assert len(os.listdir(vol)) == kept


# The fds a process has open, by number (Python's own are closed by then).
_OPEN_FDS = ("import os\n"
             "def open_fd(f):\n"
             "    try: os.fstat(f)\n"
             "    except OSError: return False\n"
             "    return True\n"
             "print([f for f in range(256) if open_fd(f)])\n")


@pytest.mark.parametrize("opts", [["--trace-summary"], ["--trace-summary", "--trace-file", "t"],
                                  ["--trace-file", "t"], ["--core", "."]])
def test_no_fd_of_the_host_is_open_in_the_guest(tmp_path, opts):
    """What the host keeps for after the guest (the trace's file when only
    its summary is asked for, the core file) is not one of the guest's fds:
    the guest has what the native program has."""
    argv = ["/usr/bin/python3", "-c", _OPEN_FDS]
    native = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, cwd=tmp_path)
    r = subprocess.run([*LIBSUBST, "run", *opts, *argv], capture_output=True,
                       stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=120)
    assert r.returncode == native.returncode == 0, r.stderr
    assert r.stdout == native.stdout == b"[0, 1, 2]\n"
