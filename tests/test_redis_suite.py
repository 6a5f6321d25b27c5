"""Redis's own test suite against Debian's redis-server run by libsubst.

tests/redis_suite.sh fetches Debian's source of the installed redis-server
(cached under $XDG_CACHE_HOME/libsubst/redis-src), points the suite's
src/redis-server at a wrapper around `libsubst run /usr/bin/redis-server` and
runs the units.  The same units run natively first (`--native`, the same
source tree and options): the guest must pass exactly the tests the native
run passes, by name, and fail none.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("redis_suite.sh")
UNITS = ["unit/type/string", "unit/type/incr", "unit/type/list", "unit/type/hash", "unit/expire"]


def _plain(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _suite(*opts):
    """The suite's run of UNITS: (stdout, stderr) without colours, after
    checking that it passed every test and ran every unit."""
    env = dict(os.environ, LIBSUBST=f"{sys.executable} -m libsubst")
    env.pop("REDIS_SUITE_TRACE_DIR", None)
    # --full: every test of the units, those that fork (BGSAVE, AOF rewrite,
    # replication) included: the guest has processes.
    r = subprocess.run(["bash", str(SCRIPT), *opts, "--full", *UNITS, "--", "--timeout", "180",
                        "--dont-clean"],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=1200)
    out, err = _plain(r.stdout.decode(errors="replace")), _plain(r.stderr.decode(errors="replace"))
    if r.returncode == 77:
        pytest.skip("Debian's mirror is unreachable: no redis source: " + err.strip()[-300:])
    tail = (out[-6000:] + "\n--- stderr ---\n" + err[-3000:])
    assert r.returncode == 0, tail
    assert "All tests passed without errors!" in out, tail
    assert not re.search(r"^\[(err|exception|timeout)\]", out, re.M), tail
    for unit in UNITS:
        assert re.search(rf"^\[\d+/\d+ done\]: {re.escape(unit)} ", out, re.M), f"{unit} did not run\n{tail}"
    return out, err


def _passed(out):
    """The names of the passed tests, each as often as it passed (the time it took left out)."""
    return sorted(re.sub(r" \(\d+ ms\)$", "", m)
                  for m in re.findall(r"^\[ok\]: (.*?)\s*$", out, re.M))


def test_redis_suite_units_under_libsubst():
    native, _ = _suite("--native")
    out, err = _suite()
    # Exactly the tests that pass natively (485 of them with redis 7.0.15), by name.
    expected, got = _passed(native), _passed(out)
    assert expected, native[-3000:]
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert got == expected, (f"{len(got)} passed, {len(expected)} natively; not under libsubst: "
                             f"{missing[:20]}; only under libsubst: {extra[:20]}")

    # The servers ran as unikernels: each log's banner PID is the wrapper's
    # (libsubst's monitor), the pid redis reports for itself is the guest
    # kernel's process; natively the two are the same.
    root = Path(re.search(r"libsubst run of .* in (\S+) \(clients", err).group(1))
    logs = list((root / "tests" / "tmp").glob("server.*/stdout"))
    assert logs
    guest = 0
    for log in logs:
        text = log.read_text(errors="replace")
        own = re.search(r"Redis version=.*, pid=(\d+),", text)
        banner = re.search(r" PID: (\d+)", text)
        if own and banner and own.group(1) != banner.group(1):
            guest += 1
    assert guest >= len(UNITS), f"{guest} of {len(logs)} server logs come from a guest"


def test_redis_suite_needs_no_procps():
    """The wrapper gives the suite its own kill: with procps's kill and ps
    hidden (/dev/null mounted over them, in a mount namespace of the test's
    own), a unit passes and, once the script is done, no server's guest is
    left."""
    from conftest import run_guests

    env = dict(os.environ, LIBSUBST=f"{sys.executable} -m libsubst")
    env.pop("REDIS_SUITE_TRACE_DIR", None)
    hide = ('for p in /usr/bin/kill /usr/bin/ps /usr/bin/pkill; do '
            '[ ! -e "$p" ] || mount --bind /dev/null "$p"; done; '
            '! command -v kill >/dev/null || [ "$(type -t kill)" = builtin ]; exec bash "$0" "$@"')
    r = subprocess.run(["unshare", "--mount", "bash", "-c", hide, str(SCRIPT), "unit/type/incr"],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    out, err = _plain(r.stdout.decode(errors="replace")), _plain(r.stderr.decode(errors="replace"))
    if r.returncode == 77:
        pytest.skip("Debian's mirror is unreachable: no redis source: " + err.strip()[-300:])
    tail = out[-4000:] + "\n--- stderr ---\n" + err[-3000:]
    assert r.returncode == 0, tail
    assert "All tests passed without errors!" in out, tail
    # The suite ended its servers itself (the script ends whatever it left,
    # and says so: without a kill, a server's guest).
    assert "ending what the suite left running" not in err, tail
    assert run_guests() == []
