"""What planning looks at, recorded for the plan cache (libsubst/plancache.py):
every host path it opened, listed (audit events) or stat'd (os.stat,
os.lstat, os.access, which os.path's tests use), and every environment
variable it read; then the identity of each, as the cache entry keeps it."""

from __future__ import annotations

import os
import stat
import sys

from .monitor.bootinfo import _abi

_recording: list | None = None     # the paths planning touches, while a Recorder is active

_env_read: set | None = None      # the variables planning read, while recording

_repeatable = True                # whether the plan being recorded may be cached


def unrepeatable() -> None:
    """What planning decides now depends on more than the paths and
    variables it records (a program it ran): the plan is not to be cached."""
    global _repeatable
    _repeatable = False


class _Watched(dict):
    """An environment whose reads are noted while a Recorder is active."""

    def __getitem__(self, name):
        if _env_read is not None:
            _env_read.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        if _env_read is not None:
            _env_read.add(name)
        return super().get(name, default)

    def __contains__(self, name):
        if _env_read is not None:
            _env_read.add(name)
        return super().__contains__(name)


def watched(env: dict) -> dict:
    """``env``, its reads noted while a Recorder is active (the planner's)."""
    return _Watched(env) if _env_read is not None else env


def _audit(event: str, args) -> None:
    if _recording is None:
        return
    if event == "open" and isinstance(args[0], (str, bytes)):
        _recording.append((os.fsdecode(args[0]), 0))
    elif event in ("os.listdir", "os.scandir") and isinstance(args[0], (str, bytes)):
        _recording.append((os.fsdecode(args[0]), 1))


class Recorder:
    """While active, notes every path opened, listed (audit events) or
    stat'd (os.stat, os.lstat, os.access, which os.path's tests use)."""

    _hooked = False

    def __enter__(self):
        global _recording, _env_read
        if not Recorder._hooked:
            sys.addaudithook(_audit)     # for good: an audit hook cannot be removed
            Recorder._hooked = True
        global _repeatable
        self.paths, _recording = [], []
        self.env_names, _env_read = set(), set()
        self.repeatable = _repeatable = True
        self._saved = os.stat, os.lstat, os.access
        for name, real in zip(("stat", "lstat", "access"), self._saved):
            setattr(os, name, self._wrap(real))
        environ = type(os.environ)
        self._getitem = environ.__getitem__
        getitem = self._getitem

        def noted(env, name):
            if _env_read is not None and env is os.environ:
                _env_read.add(name)
            return getitem(env, name)
        environ.__getitem__ = noted
        return self

    @staticmethod
    def _wrap(real):
        def probe(path, *a, **kw):
            if _recording is not None and isinstance(path, (str, bytes)) and \
                    kw.get("dir_fd") is None:
                _recording.append((os.fsdecode(path), 0))
            return real(path, *a, **kw)
        return probe

    def __exit__(self, *exc):
        global _recording, _env_read
        os.stat, os.lstat, os.access = self._saved
        type(os.environ).__getitem__ = self._getitem
        self.paths, _recording = _recording, None
        self.env_names, _env_read = _env_read, None
        self.repeatable = _repeatable

    def env_deps(self) -> list[str]:
        """The caller's value of each variable planning read: "NAME=VALUE",
        or "NAME" for one it does not have."""
        return [f"{n}={os.environ[n]}" if n in os.environ else n
                for n in sorted(self.env_names)]


def _dep_record(path: str, listed: bool, same_inode: bool) -> list[tuple]:
    """(path, LS_DEP_* flags, stat) rows for one path: its lstat, and its
    stat when it is a link.  A directory only listed by its path's probes
    keeps its inode (what matters in it is recorded path by path); one
    planning listed keeps its contents too."""
    lib = _abi()[1]
    keep_inode = lib.LS_DEP_SAME_INODE
    try:
        st = os.lstat(path)
    except OSError:
        return [(path, lib.LS_DEP_ABSENT | lib.LS_DEP_NOFOLLOW, None)]
    loose = same_inode or not listed
    rows = [(path, lib.LS_DEP_NOFOLLOW | (keep_inode if stat.S_ISDIR(st.st_mode) and loose
                                          else 0), st)]
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            rows.append((path, lib.LS_DEP_ABSENT, None))
        else:
            rows.append((path, keep_inode if stat.S_ISDIR(target.st_mode) and loose else 0,
                         target))
    return rows


def dependencies(recorded, plan, kernel: str) -> list[tuple]:
    """Every (path, flags, stat) an entry must find unchanged."""
    cwd = os.getcwd()
    recorded = dict.fromkeys(recorded)    # a path probed again and again, once
    listed = {os.path.normpath(os.path.join(cwd, p)) for p, k in recorded if k}
    # Not what the plan is made from: libsubst's own caches (a memo of dpkg's
    # database, whose files are dependencies themselves; the substitutes are
    # the plan's entries, added below) and the modules Python imported meanwhile.
    from .plancache import cache_dir
    own = os.path.dirname(cache_dir())
    modules = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    paths = dict.fromkeys(
        p for p in (os.path.normpath(os.path.join(cwd, p)) for p, _ in recorded)
        if not (p.endswith(".pyc") or p in modules or p == own or p.startswith(own + "/")))
    for e in plan.entries:
        if e.kind == "file" and e.host_path:
            paths[e.host_path] = None
    if plan.image:
        paths[os.path.abspath(plan.image)] = None
    for p in (kernel, "/", "/etc/subuid", "/etc/subgid", "/var/lib/dpkg/status",
              "/var/lib/dpkg/info"):
        paths[p] = None
    sources = {m.host for m in plan.mounts if m.host and not m.scratch}
    rows = []
    for p in paths:
        if p.startswith(("/proc/", "/sys/", "/dev/")) or p in sources:
            continue                      # the host's live state, not a file planning read
        rows += _dep_record(p, p in listed or p.startswith("/var/lib/dpkg"), False)
    for p in sorted(sources):
        rows += _dep_record(p, False, True)
    return rows
