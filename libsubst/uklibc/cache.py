"""The substitute of an object, made once and cached by its GNU build-id.

Layout, under ``$XDG_CACHE_HOME/libsubst/uklibc/`` (default ``~/.cache``; every
directory of the path one only the user or root can change, ``safedirs.py``)::

    <key>/<basename>              the substitute object
    <key>/<basename>.json         its sidecar: the substitute's size, sha256 and
                                  file identity (device, inode, size, mtime, ctime)
    <key>/<basename>.report.json  the rewrite report (read only by :func:`report`)

where ``<key>`` is ``<build-id hex>-v<REWRITER_VERSION>`` (or
``sha256-<file digest>-v<...>`` for an object without a build-id).  An object
with nothing to rewrite gets a sidecar saying so (``"unchanged": true``) and
no copy: :func:`substitute` returns the original path for it.

A hit costs reading the object's program headers and notes, the small
sidecar, and a stat of the substitute: the very file the sidecar was written
with is not hashed again; any other is (about 1 ms for libc.so.6).  It
imports none of capstone, lief or pyelftools.  A missing or unreadable
sidecar, or a substitute whose size or digest differs from the sidecar's,
is a damaged entry and is rebuilt.  Every file is written to a temporary name and renamed,
the sidecar last, so a reader never sees a half-written entry and two
processes making the same entry at once both end with a correct one; the
second keeps the first's substitute when it has the same bytes (a guest
laid out with it mounts that file, which a rename over it would unlink).

An object the rewriter cannot handle (its unwind tables do not parse, the
result fails verification, ...) is not an error here: the original is used,
all its calls take the trap path, and the sidecar records why
(``"error"``).  Only input errors — a missing file, not an ELF object, a
32-bit one — are raised.
"""

from __future__ import annotations

import json
import os

from .. import safedirs
from ..elf import ElfFile
from ..errors import CorruptElf, LibsubstError, UnsupportedElf
from .stub import REWRITER_VERSION

SIDECAR_FORMAT = 2


class CacheError(LibsubstError):
    """The cache directory cannot be written."""


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/libsubst/uklibc``, ``~/.cache/libsubst/uklibc`` without it."""
    return os.path.join(safedirs.root(), "uklibc")


def key(path: str) -> str:
    """The cache key of the object at ``path``: its build-id, or its sha256, and the rewriter version."""
    with ElfFile.open(path, file_error=UnsupportedElf) as elf:
        bid = elf.build_id()
    if bid:
        return f"{bid.hex()}-v{REWRITER_VERSION}"
    return f"sha256-{_sha256_file(path)}-v{REWRITER_VERSION}"


def _sha256_file(path: str) -> str:
    import hashlib              # only on a miss or a damaged entry: 2 ms to import

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _entry(path: str, make: bool = False) -> tuple[str, str]:
    """The substitute's and the sidecar's paths, their directory checked
    (made with ``make``): only the user or root can change it (safedirs.py)."""
    d = safedirs.check(os.path.join("uklibc", key(path)), make)
    name = os.path.basename(path) or "object"
    return os.path.join(d, name), os.path.join(d, name + ".json")


def _report_path(sidecar: str) -> str:
    return sidecar[:-len(".json")] + ".report.json"


def _read_sidecar(sidecar: str) -> dict | None:
    try:
        with open(sidecar, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT \
            or meta.get("version") != REWRITER_VERSION:
        return None
    return meta


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _valid(obj: str, meta: dict) -> bool:
    """Whether the entry ``obj`` is what its sidecar ``meta`` says it is: the
    very file written with it (no need to hash megabytes on every run), or
    else one with the same contents."""
    if meta.get("unchanged"):
        return True
    try:
        st = os.stat(obj)
        if st.st_size != meta.get("size"):
            return False
        return meta.get("file") == _identity(st) or _sha256_file(obj) == meta.get("sha256")
    except OSError:
        return False


def lookup(path: str) -> str | None:
    """The cached substitute for ``path`` (or ``path`` itself if it needs none), or None on a miss."""
    obj, sidecar = _entry(path)
    meta = _read_sidecar(sidecar)
    if meta is None or not _valid(obj, meta):
        return None
    return path if meta.get("unchanged") else obj


def substitute(path: str) -> str:
    """The host path of the substitute for the ELF object at ``path``.

    Made on first use and cached; ``path`` itself when the object has no
    syscall site that can be rewritten (or cannot be rewritten at all)."""
    found = lookup(path)
    if found is not None:
        return found
    return _build(path)[0]


def report(path: str) -> dict:
    """The rewrite report for ``path`` (making the substitute if it is not cached)."""
    obj, sidecar = _entry(path)
    meta = _read_sidecar(sidecar)
    if meta is not None and _valid(obj, meta):
        try:
            with open(_report_path(sidecar), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass                      # lost or damaged: make the entry again
    return _build(path)[1]["report"]


def _build(path: str) -> tuple[str, dict]:
    # The heavy imports live here, on the miss path only.
    import hashlib

    from . import rewrite
    from .sites import AnalysisError, analyse

    obj, sidecar = _entry(path, make=True)
    meta: dict = {"format": SIDECAR_FORMAT, "version": REWRITER_VERSION,
                  "key": os.path.basename(os.path.dirname(obj)), "source": os.path.abspath(path)}
    data = None
    try:
        analysis = analyse(path)
        if not analysis.rewritable:
            meta.update(unchanged=True, report=analysis.to_dict())
        else:
            data, stub_bytes = rewrite.produce(analysis)
            rep = rewrite.Report(analysis, obj, analysis.layout, stub_bytes,
                                 hashlib.sha256(data).hexdigest(), analysis.seconds)
            meta.update(unchanged=False, size=len(data), sha256=rep.sha256, report=rep.to_dict())
    except (CorruptElf, AnalysisError, rewrite.RewriteError) as e:
        # The rewriter's limits, not the caller's mistake: run this object on the trap path.
        meta.update(unchanged=True, error=str(e), report={"path": path, "error": str(e)})
    try:
        if data is not None:
            rewrite.write_atomic(obj, data, mode=0o755, keep_same=True)
            meta["file"] = _identity(os.lstat(obj))   # the file kept or written, not a link
        rewrite.write_atomic(_report_path(sidecar), json.dumps(meta["report"]).encode(), mode=0o644)
        small = {k: v for k, v in meta.items() if k != "report"}
        rewrite.write_atomic(sidecar, json.dumps(small, separators=(",", ":")).encode(), mode=0o644)
    except OSError as e:
        raise CacheError(f"cannot write the substitute-libc cache in {os.path.dirname(obj)}: "
                         f"{e.strerror or e} (set XDG_CACHE_HOME to a writable directory)") from None
    return (path if meta["unchanged"] else obj), meta
