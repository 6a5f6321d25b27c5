"""The boot-plan cache: what a run planned, kept so that a later identical
run boots without planning — served by the native front end
(c_src/frontend/) without starting Python at all, or by ``api.Popen``
without planning.

An entry (its layout: c_src/include/libsubst/plancache.h, read here through
cffi) holds the key it was made for, the boot-info block, the plan as JSON
and the identity of every host path planning looked at: the files it opened
or stat'd (present, or absent: a file that appears where a search looked
misses too), the directories it listed, the volumes' sources (their dev and
inode only: their contents are read live), the guest kernel, /etc/subuid
and /etc/subgid (a root caller's ids), dpkg's database.  The key names
libsubst's build (every source file's hash, made by the package build), the
user, the boot (a new host kernel misses), the host name, the working
directory and the command line up to the program: the program's own
arguments are not in it but patched into the entry's argv at each run, by
the front end and by ``lookup`` alike, as the caller's environment is.

Entries live in $XDG_CACHE_HOME/libsubst/plans (default ~/.cache), a
directory of the user's, mode 0700, on a path only the user or root can
change (safedirs.py: anything else refuses the run); an entry is read only if it is a regular
file the user owns that nobody else can write (neither can the directory),
written to a temporary name and renamed into place; past LS_PLAN_MAX_ENTRIES
the oldest go.  Anything wrong with an entry is a miss."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat

from . import safedirs
from .monitor.bootinfo import _abi
from .planwatch import Recorder, dependencies, watched  # noqa: F401  (the cache's inputs)

def build_id() -> str | None:
    """Hash of the installed build's sources (setup.py writes it), or None
    (a source tree that was not built: nothing is cached)."""
    try:
        from ._build_id import BUILD_ID
    except ImportError:
        return None
    return BUILD_ID


def cache_dir() -> str:
    return os.path.join(safedirs.root(), "plans")


def _boot_id() -> str:
    # Bytes: a run whose interpreter's encodings are hidden (tests/test_images.py)
    # can look no codec up; UTF-8 needs none.
    with open("/proc/sys/kernel/random/boot_id", "rb") as fh:
        return fh.read().strip().decode()


def _key(kind: str, cwd: str, items: list[str]) -> bytes | None:
    build = build_id()
    if build is None:
        return None
    parts = [kind, build, str(os.geteuid()), str(os.getegid()), _boot_id(), os.uname().nodename,
             cwd, *items]
    return b"".join(os.fsencode(p) + b"\0" for p in parts)


def run_key(argv: list[str], nargs: int) -> bytes | None:
    """The key of ``libsubst run`` with ``argv`` (from "run" on), whose
    last ``nargs`` are the program's own arguments as the CLI's parser split
    them, as the front end makes it (plancache.h); None when nothing can be
    cached."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    prefix = argv[:len(argv) - nargs]
    return _key("run", cwd, [str(len(prefix)), *prefix, "1" if nargs else "0"])


def api_key(target, args, options: dict, keyed_args: bool = False) -> bytes | None:
    """The key of an ``api.Popen`` of a program: its arguments, in their
    repr (an ``env`` given too; without one, the caller's environment is
    the guest's and only the variables planning read are the entry's), but
    of ``args`` only whether it is None (the entry's argv is patched) unless
    ``keyed_args`` (a shell's: planning reads them)."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    env = options.get("env")
    shown = repr((os.fspath(target), list(args) if keyed_args else args is None,
                  sorted((k, repr(v)) for k, v in options.items() if k != "env"),
                  None if env is None else list(dict(env).items())))
    return _key("api", cwd, [shown])


def caller_env(overrides: dict) -> list[str]:
    """The guest's environment when it is the caller's (plancache.h)."""
    env = dict(os.environ)
    env.update(overrides)
    return [f"{k}={v}" for k, v in env.items()]


def fnv1a(data: bytes) -> str:
    """The entry's file name: FNV-1a 64 of its key, in hex (plancache.h)."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


# -- entries --------------------------------------------------------------------------------

def _private_dir(path: str, create: bool) -> int | None:
    """An fd of the cache directory if it is the user's and nobody else can
    write it (made 0700 when ``create``), else None; UnsafeDir if a
    directory of its path is not safe (safedirs.py)."""
    safedirs.check("plans", create, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        os.close(fd)
        return None
    return fd


def store(key: bytes, plan, block: bytes, deps: list[tuple], kernel: str, *,
          supervisor: str, epilogue: list[str], env_deps: list[str] = (),
          overrides: dict | None = None, image: str = "", stop_timeout: float = 10,
          argv_keep: int = 1, preserve_fds: int = 0) -> None:
    """Writes the entry for ``key``, whose plan's argv is its first
    ``argv_keep`` strings and the run's arguments; a cache that cannot be
    written is skipped."""
    f, lib = _abi()
    plan_json = json.dumps(plan.to_json(), sort_keys=True, separators=(",", ":")).encode()
    head_size, dep_size = f.sizeof("struct ls_plan_head"), f.sizeof("struct ls_plan_dep")
    strings = bytearray()
    str_base = head_size + dep_size * len(deps)

    def s(text: str) -> int:
        off = str_base + len(strings)
        strings.extend(os.fsencode(text) + b"\0")
        return off

    arr = f.new("struct ls_plan_dep[]", max(1, len(deps)))
    for i, (path, flags, st) in enumerate(deps):
        arr[i].path = s(path)
        arr[i].flags = flags
        if st is not None:
            arr[i].dev, arr[i].ino, arr[i].size = st.st_dev, st.st_ino, st.st_size
            arr[i].mtime_ns, arr[i].ctime_ns, arr[i].mode = st.st_mtime_ns, st.st_ctime_ns, \
                st.st_mode
    head = f.new("struct ls_plan_head *")
    head.magic, head.version = lib.LS_PLAN_MAGIC, lib.LS_PLAN_VERSION
    head.flags = lib.LS_PLAN_IMAGE if image else 0
    head.kernel = s(kernel)
    head.image = s(os.path.abspath(image)) if image else 0
    head.stop_timeout_ms = int(stop_timeout * 1000)
    head.argv_keep = argv_keep
    head.preserve_fds = preserve_fds
    from .monitor.signals import stop_message
    head.stop_text = s(stop_message(stop_timeout))
    head.supervisor = s(supervisor)
    if overrides is not None:
        head.flags |= lib.LS_PLAN_CALLER_ENV
    lists = []
    for texts in (env_deps, [f"{k}={v}" for k, v in (overrides or {}).items()], epilogue):
        lists.append([s(t) for t in texts])
    strings.extend(b"\0" * (-len(strings) % 4))
    offs = []
    for offsets in lists:
        offs.append(str_base + len(strings))
        strings.extend(b"".join(o.to_bytes(4, "little") for o in offsets))
    head.env_deps_off, head.n_env_deps = offs[0], len(env_deps)
    head.overrides_off, head.n_overrides = offs[1], len(lists[1])
    head.epilogue_off, head.n_epilogue = offs[2], len(epilogue)
    head.deps_off, head.ndeps = head_size, len(deps)
    head.key_off, head.key_size = str_base + len(strings), len(key)
    strings.extend(key)
    strings.extend(b"\0" * (-len(strings) % 8))
    head.boot_off, head.boot_size = str_base + len(strings), len(block)
    head.plan_off, head.plan_size = head.boot_off + len(block), len(plan_json)
    head.size = head.plan_off + len(plan_json)
    if head.size > lib.LS_PLAN_MAX_BYTES:
        return
    data = b"".join((bytes(f.buffer(head)), bytes(f.buffer(arr))[:dep_size * len(deps)],
                     bytes(strings), block, plan_json))
    folder = cache_dir()
    dfd = _private_dir(folder, True)
    if dfd is None:
        return
    name = fnv1a(key)
    tmp = f".{name}.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dfd)
        with open(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        _trim(dfd, lib.LS_PLAN_MAX_ENTRIES)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
    finally:
        os.close(dfd)


@contextlib.contextmanager
def planning(key: bytes | None):
    """Held while this process plans ``key`` (None: nothing to hold): the
    others that miss the same key at the same moment (a burst of identical
    starts) wait for its entry instead of each planning it again.  The lock
    file goes when the entry is stored; one made anew meanwhile costs at
    most a second plan, never a wrong one (the entry is looked up again)."""
    dfd = None if key is None else _private_dir(cache_dir(), True)
    if dfd is None:
        yield
        return
    name = f".{fnv1a(key)}.lock"
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dfd)
    except OSError:
        os.close(dfd)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dfd)
        os.close(fd)
        os.close(dfd)


def _trim(dfd: int, keep: int) -> None:
    """Removes the oldest entries past ``keep``."""
    names = [n for n in os.listdir(dfd) if not n.startswith(".")]
    if len(names) <= keep:
        return
    aged = sorted(names, key=lambda n: os.stat(n, dir_fd=dfd, follow_symlinks=False).st_mtime_ns)
    for n in aged[:len(names) - keep]:
        with contextlib.suppress(OSError):
            os.unlink(n, dir_fd=dfd)


def read_entry(key: bytes) -> tuple | None:
    """(head, file bytes) of the valid entry for ``key``, or None: a miss."""
    f, lib = _abi()
    dfd = _private_dir(cache_dir(), False)
    if dfd is None:
        return None
    try:
        fd = os.open(fnv1a(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dfd)
    except OSError:
        return None
    finally:
        os.close(dfd)
    with open(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022 \
                or st.st_size > lib.LS_PLAN_MAX_BYTES:
            return None
        data = fh.read()
    return parse(data, key)


def parse(data: bytes, key: bytes) -> tuple | None:
    """The entry's head if ``data`` is a whole entry for ``key`` whose
    dependencies are unchanged, else None."""
    f, lib = _abi()
    head_size, dep_size = f.sizeof("struct ls_plan_head"), f.sizeof("struct ls_plan_dep")
    if len(data) < head_size:
        return None
    head = f.from_buffer("struct ls_plan_head *", bytearray(data[:head_size]))
    n = len(data)
    if head.magic != lib.LS_PLAN_MAGIC or head.version != lib.LS_PLAN_VERSION or \
            head.size != n or head.deps_off + dep_size * head.ndeps > n or \
            head.key_off + head.key_size > n or head.boot_off + head.boot_size > n or \
            head.plan_off + head.plan_size > n or head.kernel >= n or head.image >= n:
        return None
    if data[head.key_off:head.key_off + head.key_size] != key or \
            head.env_deps_off + 4 * head.n_env_deps > n or \
            head.overrides_off + 4 * head.n_overrides > n:
        return None
    for off in _offsets(data, head.env_deps_off, head.n_env_deps):
        name, eq, value = _string(data, off).partition("=")
        if os.environ.get(name) != (value if eq else None):
            return None
    deps = f.from_buffer("struct ls_plan_dep[]",
                         bytearray(data[head.deps_off:head.deps_off + dep_size * head.ndeps]))
    root = os.path.abspath(safedirs.root()) + "/"
    for i in range(head.ndeps):
        path = _string(data, deps[i].path)
        if not _dep_holds(deps[i], path, lib):
            return None
        if path.startswith(root):       # a substitute: its directory as uklibc/cache.py checks it
            safedirs.check(os.path.dirname(path)[len(root):])
    return head, data


def _offsets(data: bytes, at: int, n: int) -> list[int]:
    return [int.from_bytes(data[at + 4 * i:at + 4 * i + 4], "little") for i in range(n)]


def _string(data: bytes, off: int) -> str:
    end = data.find(b"\0", off)
    return os.fsdecode(data[off:end if end >= 0 else len(data)])


def _dep_holds(d, path: str, lib) -> bool:
    try:
        st = os.lstat(path) if d.flags & lib.LS_DEP_NOFOLLOW else os.stat(path)
    except OSError:
        return bool(d.flags & lib.LS_DEP_ABSENT)
    if d.flags & lib.LS_DEP_ABSENT or (st.st_dev, st.st_ino) != (d.dev, d.ino) or \
            stat.S_IFMT(st.st_mode) != stat.S_IFMT(d.mode):
        return False
    if d.flags & lib.LS_DEP_SAME_INODE:
        return True
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode) == \
        (d.size, d.mtime_ns, d.ctime_ns, d.mode)


def lookup(key: bytes | None, args=()):
    """(plan, kernel to exec) of the valid entry for ``key``, its argv
    made with the program's arguments ``args`` (plancache.h), or None."""
    if key is None:
        return None
    found = read_entry(key)
    if found is None:
        return None
    head, data = found
    from .plan import GuestPlan
    try:
        plan = GuestPlan.from_json(json.loads(data[head.plan_off:head.plan_off + head.plan_size]))
    except Exception:   # a corrupt entry is a miss, whatever it holds
        return None
    if head.argv_keep > len(plan.argv):
        return None
    plan.argv = plan.argv[:head.argv_keep] + list(args)
    if head.flags & _abi()[1].LS_PLAN_CALLER_ENV:
        plan.env = caller_env(dict(_string(data, o).split("=", 1) for o in
                                   _offsets(data, head.overrides_off, head.n_overrides)))
    return plan, _string(data, head.kernel)


def image_kernel(kernel: bytes) -> str | None:
    """A packed image's own kernel as a file of the cache the front end can
    exec (content-addressed: kernel-SHA256), or None."""
    import hashlib

    dfd = _private_dir(cache_dir(), True)
    if dfd is None:
        return None
    name = "kernel-" + hashlib.sha256(kernel).hexdigest()
    try:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and \
                    not st.st_mode & 0o022 and st.st_size == len(kernel):
                return os.path.join(cache_dir(), name)
        except FileNotFoundError:
            pass
        tmp = f".{name}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o700, dir_fd=dfd)
        with open(fd, "wb") as out:
            out.write(kernel)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        return os.path.join(cache_dir(), name)
    except OSError:
        return None
    finally:
        os.close(dfd)

