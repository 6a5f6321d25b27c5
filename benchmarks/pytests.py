"""CPython's own regression tests (Debian's libpython3.11-testsuite), run by
Debian's python3 natively and under ``libsubst run``: which test cases pass
in each, read from regrtest's JUnit XML (``--junit-xml``).  One runner for
the report (``python -m libsubst.benchmarks.compat``) and
tests/test_corpus.py.

Every test case that passes natively must pass in the guest, except those in
KNOWN, each with its reason (at most 2 % of those passing natively)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

PYTHON = "/usr/bin/python3"

# The modules issue 14 names; regrtest runs each in a worker process of its own.
MODULES = ["test_os", "test_posix", "test_subprocess", "test_signal", "test_socket",
           "test_select", "test_selectors", "test_threading", "test_mmap", "test_fcntl",
           "test_time", "test_tempfile", "test_shutil", "test_io", "test_pty",
           "test_asyncio.test_events", "test_asyncio.test_subprocess",
           "test_asyncio.test_unix_events", "test_asyncio.test_sock_lowlevel"]

# The default test run's (and ``compat --fast``'s) subset: quick, and
# exercising file locks and select on pipes and sockets.
FAST = ["test_fcntl", "test_select"]

# The programs the tests exec besides python3 (the guest gets those the host
# has with --add; natively, a test whose program is missing skips).
ADD = ["/usr/bin/sh", "/usr/bin/bash", "/usr/bin/true", "/usr/bin/false", "/usr/bin/cat",
       "/usr/bin/echo", "/usr/bin/ls", "/usr/bin/env", "/usr/bin/sleep", "/usr/bin/pwd",
       "/usr/bin/tar", "/usr/bin/zip", "/usr/bin/unzip", "/usr/bin/id"]

# Test cases (as parse() names them) that pass natively and not in the
# guest, with the reason (README: the compatibility report's latest figures).
_XATTR = ("skipped: regrtest's check for extended attributes sets a trusted.* one, and the "
          "guest sets user.* ones only, a sandbox choice (README, Known limits)")
_SETGID = "no set-user/group-ID bits in a volume or the scratch /tmp, a sandbox choice"
_IDS = ("chown to an id outside the guest's user namespace is EINVAL; natively root may give "
        "a file to any id")
_E = "None.test."
KNOWN: dict[str, str] = {
    **dict.fromkeys([_E + "test_shutil.TestCopy." + t for t in (
        "test_copy2_xattr", "test_copyxattr", "test_copyxattr_symlinks")], _XATTR),
    _E + "test_os.MakedirTests.test_exist_ok_s_isgid_directory": _SETGID,
    **dict.fromkeys([_E + "test_posix.PosixTester." + t for t in (
        "test_chown", "test_fchown", "test_lchown")], _IDS),
    **dict.fromkeys([_E + "test_socket.BasicVSOCKTest." + t for t in (
        "testCreateSocket", "testCrucialConstants", "testSocketBufferSize",
        "testVSOCKConstants")], "skipped ('VSOCK sockets required'): the guest has no "
                                "/dev/vsock"),
    _E + "test_time.TimeTestCase.test_monotonic_settime":
        "skipped in the guest: natively root moves the host's clock back an hour and back; "
        "the guest has no CAP_SYS_TIME over the host's clock (clock_settime is EPERM, as in "
        "a container)",
}

TIMEOUT = 3600


@dataclass
class Outcome:
    """The test cases of one run, by outcome, and the seconds it took."""
    passed: set[str]
    failed: set[str]
    skipped: set[str]
    seconds: float
    status: int


def parse(xml: bytes) -> tuple[set[str], set[str], set[str]]:
    passed, failed, skipped = set(), set(), set()
    for case in ET.fromstring(xml).iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed.add(name)
        elif "skipped" in kinds:
            skipped.add(name)
        else:
            passed.add(name)
    return passed, failed, skipped


def run(modules=MODULES, guest: bool = False, jobs: int = 2,
        libsubst=(sys.executable, "-m", "libsubst")) -> Outcome:
    """regrtest over modules, natively or in the guest, in a fresh directory
    (the guest's working directory, where the XML is written)."""
    with tempfile.TemporaryDirectory(prefix="libsubst-pytests-") as work:
        xml = os.path.join(work, "results.xml")
        # Both runs leave out the threaded VSOCK stream test: on a host with
        # /dev/vsock but no loopback transport its native accept never
        # returns (vsock_accept, until regrtest's 900 s); the guest has no
        # /dev/vsock and skips it.
        argv = [PYTHON, "-m", "test", f"-j{jobs}", "--timeout", "900", "--junit-xml", xml,
                "-i", "*ThreadedVSOCKSocketStreamTest*", *modules]
        if guest:
            adds = [o for p in ADD if os.path.exists(p) for o in ("--add", p)]
            argv = [*libsubst, "run", *adds, *argv]
        return run_junit(argv, xml, "regrtest", TIMEOUT)


def run_junit(argv, xml: str, what: str, timeout: float) -> Outcome:
    """argv, a test runner writing JUnit XML to xml, run in xml's directory
    for at most timeout seconds: its test cases by outcome.  what names the
    runner in the error raised when it wrote no readable XML (psutil_suite
    runs pytest through it too)."""
    start = time.monotonic()
    r = subprocess.run(argv, cwd=os.path.dirname(xml), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    seconds = time.monotonic() - start
    try:
        with open(xml, "rb") as f:
            passed, failed, skipped = parse(f.read())
    except (OSError, ET.ParseError) as e:
        raise RuntimeError(f"{what} wrote no results ({e}); exit {r.returncode}:\n"
                           + r.stdout.decode(errors="replace")[-3000:]
                           + r.stderr.decode(errors="replace")[-3000:]) from None
    return Outcome(passed, failed, skipped, seconds, r.returncode)


def lost(native: Outcome, guest: Outcome) -> set[str]:
    """Test cases passing natively that do not pass in the guest."""
    return native.passed - guest.passed
