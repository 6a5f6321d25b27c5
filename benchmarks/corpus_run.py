"""Runs the corpus (benchmarks/corpus.py): each entry natively and under
``libsubst run`` in a fresh working directory of the same path, with the
same environment, and compares stdout, stderr and exit status byte for byte
after the entry's named normalisation (NORMS).  One runner for the report
(``python -m libsubst.benchmarks.compat``) and tests/test_corpus.py."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from . import corpus_builds
from .corpus import FILES, HTTP, PROGRAMS, P

TIMEOUT = 120

# Both runs' whole environment.  HOME is the working directory (git, perl's
# tools and python write there as natively); the dates make git's commit
# hashes the same in both runs, as a fixed seed makes perl's hash order
# (random in every run, natively too: enc2xs -h prints a hash);
# XDG_CACHE_HOME is libsubst's own cache, passed to both so the guest's is
# the same as natively.
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    "LANG": "C.UTF-8", "TZ": "UTC", "PERL_HASH_SEED": "0",
    "GIT_AUTHOR_NAME": "Corpus", "GIT_AUTHOR_EMAIL": "corpus@example.org",
    "GIT_COMMITTER_NAME": "Corpus", "GIT_COMMITTER_EMAIL": "corpus@example.org",
    "GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000",
}


def _numbers(data: bytes) -> bytes:
    # with the blanks that right-align it: a counter that gains a digit moves its column
    return re.sub(rb" *\d+", b" N", data)


def _http(data: bytes) -> bytes:
    return re.sub(rb"(?m)^Date: .*$", b"Date: D", data)


def _times(data: bytes) -> bytes:
    return re.sub(rb"\d+ wallclock secs \(.*\)", b"T", data)


def _mktemp(data: bytes) -> bytes:
    return re.sub(rb"/tmp/(\w+)\.\w{10}", rb"/tmp/\1.XXXXXXXXXX", data)


# name -> (why it is needed, the function applied to stdout and stderr)
NORMS = {
    "mktemp": ("a temporary file's random name (mktemp's XXXXXXXXXX), different in every run",
               _mktemp),
    "times": ("prove reports the CPU seconds its tests took", _times),
    "numbers": ("memory, load and uptime counters change between the native and the guest run, "
                "so every number (with the blanks that align it) is replaced; the rest (labels, order) "
                "is compared", _numbers),
    "http": ("the loopback server's Date header is the second of the request", _http),
}


@dataclass
class Outcome:
    status: int
    stdout: bytes
    stderr: bytes


@dataclass
class Result:
    name: str
    native: Outcome
    guest: Outcome

    @property
    def same(self) -> bool:
        return self.native == self.guest

    def describe(self) -> str:
        """What differs, for a failure message."""
        lines = [f"{self.name}:"]
        for what in ("status", "stdout", "stderr"):
            n, g = getattr(self.native, what), getattr(self.guest, what)
            if n != g:
                if isinstance(n, bytes):
                    n, g = n[:600], g[:600]
                lines.append(f"  {what}: native {n!r}\n  {' ' * len(what)}  guest  {g!r}")
        return "\n".join(lines)


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "libsubst", "corpus")


PR_SET_PDEATHSIG = 1


def _dies_with(parent: int):
    """A preexec hook: the child is SIGKILLed when ``parent`` ends, however
    it ends (a report killed by SIGTERM or SIGKILL runs no ``__exit__``)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook():
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:      # the parent ended before the prctl
            os.kill(os.getpid(), signal.SIGKILL)
    return hook


class Corpus:
    """A context: a scratch directory, the built programs' cache and, for
    curl and wget, an HTTP server on loopback serving FILES, which ends with
    the context or with the process that made it."""

    def __init__(self, libsubst=(sys.executable, "-m", "libsubst")):
        self.libsubst = list(libsubst)

    def __enter__(self) -> "Corpus":
        self.top = tempfile.mkdtemp(prefix="libsubst-corpus-")
        self.served = os.path.join(self.top, "served")
        self._fill(self.served)
        self.server = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
            cwd=self.served, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            preexec_fn=_dies_with(os.getpid()))
        line = self.server.stdout.readline().decode()   # "Serving HTTP on 127.0.0.1 port N ..."
        found = re.search(r"port (\d+)", line)
        if not found:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the loopback HTTP server did not start: {line!r}")
        self.port = found.group(1)
        self.env = dict(ENV, HOME=os.path.join(self.top, "work"))
        for key in ("XDG_CACHE_HOME", "LIBSUBST_TEST_RUN"):
            if key in os.environ:
                self.env[key] = os.environ[key]
        return self

    def __exit__(self, *exc) -> None:
        self.server.kill()
        self.server.wait()
        self.server.stdout.close()
        shutil.rmtree(self.top, ignore_errors=True)

    @staticmethod
    def _fill(path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        for name, data in FILES.items():
            with open(os.path.join(path, name), "wb") as f:
                f.write(data)
            os.utime(os.path.join(path, name), (1700000000, 1700000000))
        os.utime(os.path.join(path, "t.tar"), (1600000000, 1600000000))

    def argv(self, p: P) -> list[str]:
        built = corpus_builds.build(p.build, cache_dir()) if p.build else ""
        return [a.replace("{port}", self.port).replace("{build}", built) for a in p.args()]

    def once(self, argv: list[str], stdin: bytes, norm) -> Outcome:
        work = self.env["HOME"]
        self._fill(work)
        try:
            r = subprocess.run(argv, cwd=work, input=stdin, capture_output=True, env=self.env,
                               timeout=TIMEOUT)
            out = Outcome(r.returncode, r.stdout, r.stderr)
            # A native death by signal N is the status 128+N, which is how
            # `libsubst run` reports its guest's (as a shell shows it).
            if r.returncode < 0:
                out.status = 128 - r.returncode
        except subprocess.TimeoutExpired as e:
            out = Outcome(-1, e.stdout or b"", b"timed out after %d s" % TIMEOUT)
        if norm:
            out = Outcome(out.status, norm(out.stdout), norm(out.stderr))
        return out

    def run(self, p: P) -> Result:
        argv = self.argv(p)
        norm = NORMS[p.norm][1] if p.norm else None
        native = self.once(argv, p.stdin, norm)
        adds = [opt for path in p.add for opt in ("--add", path)]
        guest = self.once([*self.libsubst, "run", *adds, *argv], p.stdin, norm)
        return Result(p.name, native, guest)


def run_all(programs=PROGRAMS, progress=None) -> tuple[list[Result], float]:
    """Every entry's Result, and the seconds the whole took."""
    start = time.monotonic()
    results = []
    with Corpus() as c:
        for p in programs:
            results.append(c.run(p))
            if progress:
                progress(results[-1])
    return results, time.monotonic() - start
