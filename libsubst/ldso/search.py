"""Which files ld.so(8) will load for a program: the ``DT_NEEDED`` closure.

Follows glibc 2.36 ``elf/dl-load.c`` (``_dl_map_object``) and
``elf/dl-deps.c`` (``_dl_map_object_deps``) on x86-64 Debian:

- objects are loaded breadth first: the program's ``DT_NEEDED`` in order,
  then those of each newly loaded object in load order;
- a needed name matches an object already loaded under that name, with that
  ``DT_SONAME``, or (after the search) with the same file (device, inode);
- a name containing '/' is a path, relative to the current directory;
- otherwise the directories searched are, in order: ``DT_RPATH`` of the
  needing object, then of its loader and up to the program (skipped if the
  needing object has ``DT_RUNPATH``; an object with ``DT_RUNPATH`` has no
  ``DT_RPATH``), ``LD_LIBRARY_PATH`` (split on ':' and ';'), the needing
  object's ``DT_RUNPATH``, ``/etc/ld.so.cache``, the default directories —
  the last two not with ``DF_1_NODEFLIB``; an empty element is the current
  directory; in each directory the ``glibc-hwcaps`` and legacy hwcap
  subdirectories this CPU supports come first (hwcaps.py);
- ``$ORIGIN`` is the directory of the object as found (for the program,
  of its real path: ld.so reads ``/proc/self/exe``), ``$LIB`` is
  ``lib/x86_64-linux-gnu``, ``$PLATFORM`` the platform ld.so computes;
- a candidate of another ELF class or machine is skipped; any other bad
  candidate (not ELF, too short, an executable) ends the load with an error.
"""

import errno
import os
import re
from collections import namedtuple

from libsubst.elf import ElfFile, open_regular
from libsubst.elf.abi import DF_1_NODEFLIB, DF_1_PIE, ET_EXEC
from libsubst.errors import (ForeignElf, LibsubstError, LibraryNotFound, NotAnElf, ProgramNotFound,
                             UnsupportedElf)
from libsubst.ldso import cache
from libsubst.ldso.hwcaps import hwcaps_levels, platform, subdirs

DEFAULT_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib")
DST_LIB = "lib/x86_64-linux-gnu"
_DST = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")
# Subdirectories whose presence makes the hwcaps search worth computing.
_HWCAP_TOPS = ("glibc-hwcaps", "tls", "x86_64", "haswell", "xeon_phi", "avx512_1")


class LoadPlan(namedtuple("LoadPlan", "program interp libraries")):
    """What the guest's ld.so will load, as host paths.

    *program* is absolute; *interp* is the ``PT_INTERP`` file (None for a
    static program); *libraries* lists ``(needed name, path as ld.so finds
    it)`` in load order.  The interpreter satisfies a ``DT_NEEDED`` on its
    soname and is not repeated in *libraries*.
    """

    __slots__ = ()

    def host_paths(self):
        """Program, interpreter and libraries, in that order."""
        return [self.program] + ([self.interp] if self.interp else []) + [p for _, p in self.libraries]


class _Object:
    """The parts of ld.so's ``struct link_map`` the search needs.

    *path* is l_name (the path as found), *names* l_libname (the names it
    was loaded under); *rpath* is None when ``DT_RUNPATH`` is present,
    because ld.so then ignores ``DT_RPATH``.
    """

    __slots__ = ("path", "names", "soname", "origin", "loader", "needed", "rpath", "runpath", "flags_1")

    def __init__(self, **fields):
        for key, value in fields.items():
            setattr(self, key, value)


def _absolute(path):
    """*path* made absolute against the cwd without resolving '..' lexically.

    '..' after a symlink means the symlink target's parent to the kernel,
    so only '.' and repeated slashes are dropped.
    """
    if not path.startswith("/"):
        path = os.getcwd() + "/" + path
    return "/" + "/".join(c for c in path.split("/") if c not in ("", "."))


def _origin(path):
    """Directory of *path* as ld.so computes l_origin (elf/dl-object.c)."""
    head = path[:path.rindex("/")]
    return head or "/"


def _expand(text, origin):
    """Expand ld.so's dynamic string tokens; None if $ORIGIN is unknown."""
    missing = False

    def repl(m):
        nonlocal missing
        token = m.group(1) or m.group(2)
        if token == "ORIGIN":
            missing |= origin is None
            return origin or ""
        return DST_LIB if token == "LIB" else platform()

    out = _DST.sub(repl, text)
    return None if missing else out


def _dirs(elements, origin):
    """Search directories from path *elements*, with a trailing '/' ('' = cwd)."""
    result = []
    for element in elements:
        d = _expand(element, origin) if element else ""
        if d is None or (element and not d):
            continue
        d = d.rstrip("/") + "/" if d.strip("/") else ("/" if d else "")
        if d not in result:
            result.append(d)
    return result


# musl: the libraries its loader answers itself (ldso/dynlink.c's reserved
# names), and where it searches the rest when no path file says otherwise.
MUSL_RESERVED = frozenset(f"lib{n}.so" for n in ("c", "pthread", "rt", "m", "dl", "util", "xnet"))
MUSL_DEFAULT_PATH = ("/lib", "/usr/local/lib", "/usr/lib")


def _is_musl(interp_path):
    return os.path.basename(interp_path).startswith("ld-musl-")


def _musl_dirs(root=""):
    """/etc/ld-musl-x86_64.path (one directory per line or ':'-separated)."""
    try:
        with open(root + "/etc/ld-musl-x86_64.path", encoding="utf-8", errors="replace") as fh:
            dirs = [d for d in re.split(r"[:\n]", fh.read()) if d.strip()]
    except OSError:
        dirs = list(MUSL_DEFAULT_PATH)
    return [d.strip().rstrip("/") + "/" for d in dirs]


class _Resolver:
    """Paths here are the guest's; ``root`` (a directory holding another root
    file system, a container image's: see oci.layers) is put in front of
    them only to open files."""

    musl = False

    def __init__(self, env, root=""):
        self.env = env
        self.root = root
        self.loaded = []
        self.by_id = {}
        self.subdirs = {}

    def subdirs_of(self, d):
        """ld.so's hwcaps subdirectories, limited to those that can exist."""
        if d not in self.subdirs:
            present = {t for t in _HWCAP_TOPS if os.path.isdir(in_root(d + t, self.root))}
            self.subdirs[d] = tuple(s + "/" for s in subdirs() if s and s.split("/")[0] in present) + ("",)
        return self.subdirs[d]

    def probe(self, path, name, loader, skipped):
        """Open one candidate like ``open_verify``: an ElfFile, None, or 'stop'."""
        try:
            fd = os.open(in_root(path, self.root), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as e:
            # open_path goes on after ENOENT/EACCES only.
            return None if e.errno in (errno.ENOENT, errno.EACCES) else "stop"
        except ValueError:
            return None
        try:
            elf = ElfFile.from_fd(fd, path, file_error=NotAnElf)
        except ForeignElf as e:
            skipped.append(str(e))
            return None
        except LibsubstError as e:
            raise type(e)(f"{e} (found for {name} needed by {loader.path})") from None
        if elf.e_type == ET_EXEC or elf.flags_1() & DF_1_PIE:
            elf.close()
            raise UnsupportedElf(f"{path} is an executable, not a shared library "
                                 f"(found for {name} needed by {loader.path})")
        return elf

    def search(self, name, dirs, loader, skipped):
        for d in dirs:
            for sub in self.subdirs_of(d):
                found = self.probe(_absolute(d + sub + name), name, loader, skipped)
                if found == "stop":
                    return None
                if found is not None:
                    return found
        return None

    def cached(self, name, loader, skipped):
        """The best ld.so.cache entry: a supported glibc-hwcaps one first."""
        paths = cache.get_cache(self.root).get(name, ())
        rank = {lv: i for i, lv in enumerate(hwcaps_levels())}
        best, best_rank = None, len(rank)
        for path in paths:
            m = re.search(r"/glibc-hwcaps/([^/]+)/[^/]+$", path)
            r = rank.get(m.group(1), -1) if m else len(rank)
            if r >= 0 and (best is None or r < best_rank):
                best, best_rank = path, r
        if best is None:
            return None
        if loader.flags_1 & DF_1_NODEFLIB and any(best.startswith(d + "/") for d in DEFAULT_DIRS):
            return None
        found = self.probe(best, name, loader, skipped)
        return None if found == "stop" else found

    def find(self, name, loader):
        """Open the file for needed *name* of *loader*, as ``_dl_map_object``."""
        skipped = []
        if "/" in name:
            found = self.probe(_absolute(name), name, loader, skipped)
            found = None if found == "stop" else found
        else:
            found = None
            if loader.runpath is None:
                chain = loader
                while found is None and chain is not None:
                    if chain.rpath is not None:
                        found = self.search(name, chain.rpath, loader, skipped)
                    chain = chain.loader
            llp = self.env.get("LD_LIBRARY_PATH")
            if found is None and llp:
                elements = re.split("[:;]", llp)
                found = self.search(name, _dirs(elements, self.loaded[0].origin), loader, skipped)
            if found is None and loader.runpath is not None:
                found = self.search(name, loader.runpath, loader, skipped)
            if found is None and self.musl:
                found = self.search(name, _musl_dirs(self.root), loader, skipped)
            if found is None and not self.musl:
                found = self.cached(name, loader, skipped)
            if found is None and not self.musl and not loader.flags_1 & DF_1_NODEFLIB:
                found = self.search(name, [d + "/" for d in DEFAULT_DIRS], loader, skipped)
        if found is None:
            why = f" (skipped {'; '.join(skipped)})" if skipped else ""
            raise LibraryNotFound(f"library {name} needed by {loader.path} not found{why}")
        return found

    def add(self, elf, name, loader, origin=None):
        """Record the opened object *elf*, unless its file is already loaded."""
        file_id = elf.file_id
        if file_id in self.by_id:
            obj = self.by_id[file_id]
            obj.names.add(name)
            return obj, False
        rpath, runpath = elf.rpath(), elf.runpath()
        origin = origin if origin is not None else _origin(elf.path)
        obj = _Object(
            path=elf.path, names={name} if name else set(), soname=elf.soname(),
            origin=origin, loader=loader, needed=elf.needed(),
            rpath=None if rpath is None or runpath is not None else _dirs(rpath, origin),
            runpath=None if runpath is None else _dirs(runpath, origin),
            flags_1=elf.flags_1())
        self.loaded.append(obj)
        self.by_id[file_id] = obj
        return obj, True

    def lookup(self, name):
        """An object already loaded under *name* or with soname *name*."""
        for obj in self.loaded:
            if name in obj.names or name == obj.path:
                return obj
        for obj in self.loaded:
            if name == obj.soname:
                obj.names.add(name)
                return obj
        return None


def realpath(path, root=""):
    """os.path.realpath of a guest path, inside the root file system at
    ``root``, as a chroot into it would resolve it: an absolute symlink
    starts again at ``root`` and ".." never leaves it (an OCI engine's root
    keeps the image's absolute links: bullseye's /lib64/ld-linux-x86-64.so.2).
    Components that do not exist are kept as they are, as realpath's."""
    if not root:
        return os.path.realpath(path)
    pending = [c for c in reversed(path.split("/")) if c]
    out: list[str] = []
    links = 0
    while pending:
        c = pending.pop()
        if c == ".":
            continue
        if c == "..":
            if out:
                out.pop()
            continue
        try:
            target = os.readlink(root + "/" + "/".join(out + [c]))
        except OSError:                  # not a symlink, or absent
            out.append(c)
            continue
        links += 1
        if links > 40:                   # a loop: left unresolved, as realpath does
            return "/" + "/".join(out + [c] + pending[::-1])
        if target.startswith("/"):
            out = []
        pending.extend(t for t in reversed(target.split("/")) if t)
    return "/" + "/".join(out)


def in_root(path, root=""):
    """The host path of guest ``path`` (the root file system at ``root``)."""
    return root + realpath(path, root) if root else path


def _open(path, root, file_error=ProgramNotFound):
    """An ElfFile of a guest path, named by that path."""
    if not root:
        return ElfFile.open(path, file_error=file_error)
    return ElfFile.from_fd(open_regular(in_root(path, root), file_error), path, file_error=file_error)


def resolve(program_path, env=None, root=""):
    """The :class:`LoadPlan` of *program_path* in a guest environment *env*.

    *env* is the guest's environment (only ``LD_LIBRARY_PATH`` matters);
    the host's ``os.environ`` is not consulted.  With *root*, every path is
    one of the root file system in that directory (a container image's).
    """
    program = _absolute(os.fspath(program_path))
    r = _Resolver(env or {}, root)
    with _open(program, root) as exe:
        interp = exe.interp()
        if interp is None:
            return LoadPlan(program, None, [])
        main, _ = r.add(exe, None, None, origin=_origin(realpath(program, root)))
    interp_path = _absolute(interp)
    try:
        rtld = _open(interp_path, root)
    except ProgramNotFound as e:
        raise LibraryNotFound(f"program interpreter {interp} of {program} not found ({e})") from None
    except LibsubstError as e:
        raise type(e)(f"program interpreter of {program}: {e}") from None
    with rtld:
        rtld_obj, _ = r.add(rtld, interp, None)
    if _is_musl(interp_path):
        # musl's dynamic linker is its libc too: these names are itself.
        rtld_obj.names |= MUSL_RESERVED
        r.musl = True
    libraries = []
    queue = [main]
    for obj in queue:
        for raw in obj.needed:
            name = _expand(raw, obj.origin)
            if not name:
                raise LibraryNotFound(f"library {raw} needed by {obj.path} not found (cannot expand it)")
            if r.lookup(name) is not None:
                continue
            with r.find(name, obj) as elf:
                dep, new = r.add(elf, name, obj)
            if new:
                queue.append(dep)
                libraries.append((name, dep.path))
    return LoadPlan(program, interp_path, libraries)


# What glibc itself dlopens, by soname, from any program: libgcc_s to unwind
# a thread's stack (pthread_exit, pthread_cancel) and for backtrace(3).
# Without it such a program aborts ("libgcc_s.so.1 must be installed for
# pthread_exit to work": stunnel4 ending a connection's thread).
GLIBC_DLOPENS = ("libgcc_s.so.1",)


def resolve_dlopen_closure(plan, objects, env=None, root=""):
    """Paths of the libraries that shared objects a program may dlopen
    (``objects``: its extension modules) need beyond ``plan``, found as
    dlopen(3) would from the loaded program, and of those glibc dlopens
    itself (``GLIBC_DLOPENS``) when the program is linked with it.  An
    object or a library that cannot be found is skipped: dlopen fails on it
    natively too."""
    r = _loaded(plan, env, root)
    queue = []
    for path in objects:
        try:
            with _open(path, root) as elf:
                obj, new = r.add(elf, path, r.loaded[0])
        except LibsubstError:
            continue
        if new:
            queue.append(obj)
    first_extra = len(r.loaded)
    glibc = any(name == "libc.so.6" for name, _p in plan.libraries)
    _dlopen(r, [n for n in GLIBC_DLOPENS if glibc and r.lookup(n) is None], queue)
    _close(r, queue)
    _named_dlopens(r, plan.interp)
    return [o.path for o in r.loaded[first_extra:]]


# A library an object dlopens by a name it holds, without DT_NEEDED: NSS's
# libnss3 opens libsoftokn3.so, which opens libfreeblpriv3.so (as chktest
# does itself), ncurses' libgpm.so.2, libselinux's libsepol.so.2, libmount's
# libcryptsetup.so.12, elfutils' libdebuginfod.so.1.  The name is a string of
# its own in the object's read-only data; a dlopen of it is by a path made
# from the object's own directory (NSS's) or by the library search.  Not
# libc's or ld.so's names: glibc's are GLIBC_DLOPENS.
DLOPEN_NAME = re.compile(rb"lib[A-Za-z0-9_+.-]*?\.so(?:\.[0-9]+)*")
NOT_DLOPENING = ("libc.so.6",)


def _named_dlopens(r, interp):
    """Adds to ``r`` the libraries its objects name for dlopen
    (``DLOPEN_NAME``) found in the naming object's directory or as the
    program's dlopen finds them, with the libraries they need; one that
    cannot be found is skipped: dlopen fails on it natively too.  A static
    program (no ``interp``) has no dlopen to serve."""
    for obj in r.loaded if interp else ():        # grows as libraries are added
        if obj.path == interp or obj.soname in NOT_DLOPENING:
            continue
        try:
            with _open(obj.path, r.root) as elf:
                names = _dlopen_names(elf)
        except LibsubstError:
            continue
        for name in names:
            if r.lookup(name) is not None:
                continue
            queue = []
            _dlopen(r, [obj.origin.rstrip("/") + "/" + name], queue)
            if r.lookup(name) is None:
                _dlopen(r, [name], queue)
            _close(r, queue)


# An object's stamp (ElfFile.stamp) -> the names it holds for dlopen: a
# program beside 150 others in its package's directory (LLVM's) has each
# planned with the same libraries, and libLLVM's 30 MB searched once.
_DLOPEN_NAMES: dict[tuple, list[str]] = {}


def _dlopen_names(elf):
    """The names ``elf``'s read-only data holds for dlopen (``DLOPEN_NAME``)."""
    names = _DLOPEN_NAMES.get(elf.stamp) if elf.stamp else None
    if names is None:
        names = [n.decode() for n in dict.fromkeys(elf.rodata_strings(b".so"))
                 if DLOPEN_NAME.fullmatch(n)]
        if elf.stamp:
            _DLOPEN_NAMES[elf.stamp] = names
    return names


def resolve_preload(plan, env=None, root=""):
    """Paths of the objects ``LD_PRELOAD`` names in the guest environment
    ``env`` (ld.so(8): separated by spaces or colons; a name without a
    slash searched as a library the program needs) and of the libraries
    they need beyond ``plan``.  One that cannot be found is skipped: ld.so
    ignores it, with a warning, natively too."""
    names = [n for n in re.split("[ :]", (env or {}).get("LD_PRELOAD") or "") if n]
    if not names or plan.interp is None:
        return []
    r = _loaded(plan, env, root)
    first = len(r.loaded)
    queue = []
    _dlopen(r, names, queue)
    _close(r, queue)
    return [o.path for o in r.loaded[first:]]


def _dlopen(r, names, queue):
    """Adds to ``r`` (and to ``queue``) the objects ``names`` finds as the
    program's dlopen would; one that cannot be found is skipped."""
    for name in names:
        try:
            with r.find(name, r.loaded[0]) as elf:
                obj, new = r.add(elf, name, r.loaded[0])
        except LibsubstError:
            continue
        if new:
            queue.append(obj)


def _loaded(plan, env, root):
    """A resolver holding what ``plan`` loads, as the running program has it."""
    r = _Resolver(env or {}, root)
    with _open(plan.program, root) as exe:
        r.add(exe, None, None, origin=_origin(realpath(plan.program, root)))
    for path in ([plan.interp] if plan.interp else []) + [p for _n, p in plan.libraries]:
        with _open(path, root) as elf:
            r.add(elf, path, None)
    return r


def _close(r, queue):
    """Adds to ``r`` the libraries the objects in ``queue`` need, and
    theirs; one that cannot be found is skipped."""
    for obj in queue:
        for raw in obj.needed:
            name = _expand(raw, obj.origin)
            if not name or r.lookup(name) is not None:
                continue
            try:
                with r.find(name, obj) as elf:
                    dep, new = r.add(elf, name, obj)
            except LibsubstError:
                continue
            if new:
                queue.append(dep)
