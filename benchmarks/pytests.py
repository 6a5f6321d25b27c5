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
       "/usr/bin/tar", "/usr/bin/zip", "/usr/bin/unzip"]

# Test cases (regrtest's "classname.name") that pass natively and fail in
# the guest, with the reason.
KNOWN: dict[str, str] = {}

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
        argv = [PYTHON, "-m", "test", f"-j{jobs}", "--timeout", "900", "--junit-xml", xml,
                *modules]
        if guest:
            adds = [o for p in ADD if os.path.exists(p) for o in ("--add", p)]
            argv = [*libsubst, "run", *adds, *argv]
        start = time.monotonic()
        r = subprocess.run(argv, cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
        seconds = time.monotonic() - start
        try:
            with open(xml, "rb") as f:
                passed, failed, skipped = parse(f.read())
        except (OSError, ET.ParseError) as e:
            raise RuntimeError(f"regrtest wrote no results ({e}); exit {r.returncode}:\n"
                               + r.stdout.decode(errors="replace")[-3000:]
                               + r.stderr.decode(errors="replace")[-3000:]) from None
    return Outcome(passed, failed, skipped, seconds, r.returncode)


def lost(native: Outcome, guest: Outcome) -> set[str]:
    """Test cases passing natively that do not pass in the guest."""
    return native.passed - guest.passed
