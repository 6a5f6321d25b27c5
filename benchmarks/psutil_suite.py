"""psutil's own test suite (its source distribution from PyPI), run by a
venv of Debian's python3 natively and under ``libsubst run`` (the venv's
python3 in the guest): which test cases pass in each, from pytest's JUnit
XML.  psutil reads /proc the way monitoring tools do (issue 21's Measure).
One runner for the report (``python -m libsubst.benchmarks.compat``) and
tests/test_corpus.py.

``prepare`` makes, once, in the cache: a venv of /usr/bin/python3 (PEP 668:
pip only inside a venv), psutil's sdist (``pip download --no-binary :all:``)
built into it with pytest (gcc and python3-dev: tests/run.sh installs them),
and a copy of its tests.  Every test case that passes natively must pass in
the guest, except those in KNOWN, each with its reason (at most 2 %)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from .pytests import Outcome, run_junit

VERSION = "7.2.2"
PYTHON = "/usr/bin/python3"
TIMEOUT = 3600

# Left out of both runs, with the reason.
IGNORE = {
    "tests/test_memleaks.py": "needs psleak, a separate PyPI package",
}
DESELECT = {
    "tests/test_linux.py::TestProcess::test_open_files_mode":
        "loops for ever when open_files() is empty (its give-up check is inside the for)",
}

# The host programs psutil's tests run and compare with (subprocess), given
# to the guest with --add as a user of libsubst gives them; by family of the
# tests that run them.  A key is a glob pattern: only what the host has is
# given.
ADD = {
    # network: test_linux's TestSystemNetIfStats, TestSystemNetIOCounters
    "/usr/sbin/ifconfig": "interfaces' flags, MTU and counters (net-tools)",
    # processes: /proc/<pid> details and pids (tests/test_posix.py)
    "/usr/bin/ps": "name, cmdline, exe, ppid, ids, nice, memory, create_time and pids "
                   "against ps",
    # processes: test_weird_environ compiles a program (create_c_exe) that execs cat
    "/usr/bin/cat": "the program test_weird_environ's compiled one execs",
    "/usr/bin/gcc": "create_c_exe",
    "/usr/lib/gcc/*/*/cc1": "gcc's compiler proper (a program: its libraries come along)",
    "/usr/lib/gcc/*/*/collect2": "gcc's link step",
    "/usr/lib/gcc/*/*/lto-wrapper": "likewise",
    "/usr/lib/gcc": "gcc's own start files, libgcc and headers",
    "/usr/bin/as": "gcc's assembler", "/usr/bin/ld": "gcc's linker",
    "/usr/include": "the C library's headers",
    "/usr/lib/x86_64-linux-gnu/*crt[1in].o": "the C library's start files",
    "/usr/lib/x86_64-linux-gnu/libc.so": "the C library as linked against (a linker script)",
    "/usr/lib/x86_64-linux-gnu/libc_nonshared.a": "named by that script",
    "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1": "linked as gcc links every program",
    # system: memory, swap, disks, CPUs (test_linux.py, test_posix.py)
    "/usr/bin/free": "virtual_memory and swap_memory against free -b",
    "/usr/bin/vmstat": "virtual_memory, cpu_stats and boot_time against vmstat -s",
    "/usr/bin/df": "disk_usage and disk_partitions against df",
    "/usr/bin/findmnt": "the root file system's device against findmnt",
    "/usr/bin/lscpu": "cpu_count against lscpu -p",
    "/usr/bin/nproc": "cpu_count against nproc --all",
}

# The default test run's subset: every Process method on every process
# (psutil.process_iter), read from /proc as monitoring tools do; by family.
FAST = [
    "tests/test_process_all.py",
    # network: connections (/proc/net/*, matched with /proc/PID/fd), interfaces
    "tests/test_connections.py", "tests/test_system.py::TestNetAPIs",
    "tests/test_linux.py::TestSystemNetIfAddrs", "tests/test_linux.py::TestSystemNetIfStats",
    "tests/test_linux.py::TestSystemNetIOCounters",
    # processes: a process's details compared with ps's
    "tests/test_posix.py::TestProcess",
]

# Test cases (as pytests.parse names them) that pass natively and not in the
# guest, with the reason, grouped by family (8 of 412: within the 2 % that
# tests/test_corpus.py's test_psutil allows).
_L, _S = "tests.test_linux.", "tests.test_sudo.TestUpdatedSystemTime."
_ROOTFS = ("the guest's / is its own tmpfs (the writable layer over its image), on no block "
           "device: psutil's RootFsDeviceFinder finds no disk for it, findmnt names it libsubst")
_CLOCK = ("sets the machine's clock (clock_settime, natively as root): the guest, with no "
          "CAP_SYS_TIME over the host's clock, gets EPERM as a container does, and psutil skips "
          "it (needs root): a sandbox choice")
KNOWN: dict[str, str] = {
    # processes: the guest's pid namespace holds only its init (--init) and
    # the test's processes.
    "tests.test_process.TestProcess.test_children_duplicates":
        "the pid with most children is 0, the parent of the guest's init (a tie with the "
        "init, the test's parent, goes to the first), for which the test skips, as it does "
        "natively in a fresh pid namespace under an init (unshare --pid --fork, a shell that "
        "waits)",
    # system: memory, swap, disks, CPUs, sensors, boot time
    **dict.fromkeys([_L + "TestRootFsDeviceFinder." + t for t in (
        "test_comparisons", "test_disk_partitions_mocked", "test_against_findmnt")], _ROOTFS),
    **dict.fromkeys([_S + t for t in (
        "test_boot_time", "test_linux_monotonic_proc_time", "test_proc_create_time",
        "test_proc_ident")], _CLOCK),
}


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "libsubst", f"psutil-{VERSION}")


def prepare() -> str:
    """The cache directory holding venv/ (psutil and pytest) and tests/."""
    where = cache_dir()
    if os.path.exists(os.path.join(where, "ready")):
        return where
    shutil.rmtree(where, ignore_errors=True)
    os.makedirs(where)
    venv_py = os.path.join(where, "venv", "bin", "python")
    subprocess.run([PYTHON, "-m", "venv", os.path.join(where, "venv")], check=True)
    pip = [venv_py, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "download", "--no-binary", ":all:", "--no-deps", "-d", where,
                    f"psutil=={VERSION}"], check=True)
    sdist = os.path.join(where, f"psutil-{VERSION}.tar.gz")
    subprocess.run([*pip, "install", sdist, "pytest"], check=True)
    shutil.unpack_archive(sdist, where)
    shutil.copytree(os.path.join(where, f"psutil-{VERSION}", "tests"),
                    os.path.join(where, "tests"))
    open(os.path.join(where, "ready"), "w").close()
    return where


def run(files=None, guest: bool = False,
        libsubst=(sys.executable, "-m", "libsubst"), prefix=(), timeout=TIMEOUT) -> Outcome:
    """pytest over psutil's tests (all, or files), natively or in the guest,
    in a fresh directory (the guest's working directory) holding a copy of
    them (the tests write their temporary files beside them); prefix: a
    command both runs start under (``unshare ...``); timeout: seconds
    the whole run may take."""
    where = prepare()
    with tempfile.TemporaryDirectory(prefix="libsubst-psutil-") as work:
        shutil.copytree(os.path.join(where, "tests"), os.path.join(work, "tests"))
        xml = os.path.join(work, "results.xml")
        argv = [os.path.join(where, "venv", "bin", "python"), "-m", "pytest", "-q",
                "-p", "no:cacheprovider", f"--junitxml={xml}",
                *(f"--ignore={p}" for p in IGNORE), *(f"--deselect={t}" for t in DESELECT),
                *(files or ["tests"])]
        if guest:
            adds = [opt for pat in ADD for path in sorted(glob.glob(pat))
                    for opt in ("--add", path)]
            # --init: pytest is a test harness, not a system's init; natively
            # its parent is a shell and orphans go to the host's init.
            argv = [*libsubst, "run", "--init", *adds, *argv]
        return run_junit([*prefix, *argv], xml, "pytest", timeout)
