"""Package-aware contents: the run-time files of the Debian packages a
program comes from, read from dpkg's database (never by running dpkg).

The rule:
- *which packages*: the package whose file list (``/var/lib/dpkg/info/
  <pkg>.list``) names the file the program runs — looked up only for
  programs below ``/usr`` (Debian installs nothing else), under its real
  path and its merged-/usr twin — and, when the program is invoked through
  a link a package ships, that link's package too (``tclsh`` -> ``tcl``,
  the file run ``tclsh8.6`` -> ``tcl8.6``); and, transitively, the packages
  each depends on that are built from the same source package (``nginx`` →
  ``nginx-common``, ``tcl8.6`` → ``libtcl8.6``); shared libraries and
  other sources stay out.
- *which paths*: of those packages' files, the configuration below
  ``/etc``, the data below ``/usr/share`` (``/usr/share/nginx``, and also
  where the data's directory is not named after the package: git's
  ``/usr/share/git-core/templates``, libmagic's ``/usr/share/misc/magic.mgc``,
  python3-minimal's ``/usr/share/python3``; a symlink comes with its
  target), the symlinks below ``/usr/lib`` that lead there or into ``/etc``
  (a program's compiled-in path to its configuration: openssl's
  ``/usr/lib/ssl/openssl.cnf`` -> ``/etc/ssl/openssl.cnf``), and the state directories they ship below ``/var/lib``,
  ``/var/log``, ``/var/cache`` and ``/var/spool`` (``/var/lib/nginx``),
  and the directories one level below ``/run`` that their tmpfiles.d files,
  or those of the packages they depend on, make at boot (``/run/postgresql``
  of postgresql-common), which the guest gets empty and writable
  (``rootfs.scratch_mounts``).
- *programs*: for a ``#!`` script (the program's, or one added with
  ``--add`` at its own path), the programs its own package ships in
  ``/usr/bin``, ``/usr/sbin`` (and merged ``/bin``, ``/sbin``), which it
  execs as installed beside it (``gunzip`` runs ``gzip``): ``programs()``;
  for a program in a directory of its package's own off PATH, the other
  programs the package ships there (``private_programs()``: PostgreSQL's
  ``initdb`` runs the ``postgres`` beside it), and the directories beside
  that one it ships files in, mounted read-only as an interpreter's trees
  are, their shared objects taken as modules it may dlopen
  (``private_trees()``: PostgreSQL's ``lib``); and the directories of
  those packages one level below ``/usr/lib`` or its multiarch directory,
  named after one of them, that hold shared objects: a library's modules
  (``module_trees()``: libMagickCore's coders), mounted the same way.
- *size*: documentation, manuals, translations, completions, editors'
  syntax files (but an editor's or shell's own: vim's ``/usr/share/vim``,
  ``OWN_DATA``) and desktop integration (``NOT_DATA`` below ``/usr/share``)
  and everything else is left out, and files are stored as they are, so an image stays the size of
  its contents.
"""

from __future__ import annotations

import glob
import json
import os
import re

DPKG = "/var/lib/dpkg"
STATE_ROOTS = ("/var/lib/", "/var/log/", "/var/cache/", "/var/spool/", "/run/")
BIN_DIRS = ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/")
# What below /usr/share is not the program's run-time data: documentation,
# manuals, translations, packaging metadata and crash-report hooks, shell
# completions, editors' syntax files, desktop integration.
NOT_DATA = tuple(f"/usr/share/{d}/" for d in (
    "doc", "doc-base", "man", "info", "gtk-doc", "help", "locale", "lintian", "bug", "apport",
    "bash-completion", "zsh", "fish", "vim", "emacs", "nano", "menu", "applications", "icons",
    "pixmaps", "metainfo"))
# Among those, the editors' and shells' directories are their own packages'
# run-time data (vim's syntax files and defaults.vim in /usr/share/vim, from
# vim-runtime, built from vim's source): kept for a package named so or
# built from a source named so.
OWN_DATA = tuple(f"/usr/share/{d}/" for d in ("vim", "emacs", "nano", "zsh", "fish"))


class Contents:
    """What the packages of some programs add to the guest's root."""

    def __init__(self):
        self.packages: list[str] = []
        self.files: list[str] = []          # host paths of /etc and /usr/share files and links
        self.dirs: list[str] = []           # directories among them (may be empty)
        self.state_dirs: list[str] = []     # writable state directories, outermost only


def _list(pkg: str) -> list[str]:
    for name in (f"{pkg}.list", f"{pkg}:amd64.list"):
        try:
            with open(os.path.join(DPKG, "info", name), "rb") as f:
                return [os.fsdecode(p) for p in f.read().splitlines() if p]
        except OSError:
            continue
    return []


def _cache_file() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "libsubst", "dpkg-owners.json")


# Part of the cache's stamp: answers found by an older rule are not reused.
_RULE = 2


def owner(path: str, follow: bool = True) -> str | None:
    """The package whose file list names the file ``path`` leads to (its
    real path), or with ``follow`` false ``path`` itself (a link a package
    ships), or None.  Answers are cached (a search of every list costs
    about 0.2 s) for as long as dpkg's database is unchanged (the mtimes of
    its info directory and status)."""
    real = os.path.realpath(path) if follow else \
        os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))),
                     os.path.basename(path))
    if not real.startswith("/usr/"):
        return None
    try:
        stamp = [_RULE] + [os.stat(os.path.join(DPKG, n)).st_mtime_ns
                           for n in ("info", "status")]
    except OSError:
        return None
    cache = _cache_file()
    try:
        with open(cache, encoding="utf-8") as f:
            known = json.load(f)
        if known.get("stamp") != stamp:
            known = {}
    except (OSError, ValueError):
        known = {}
    answers = known.get("owners", {})
    if real not in answers:
        answers[real] = _search(real)
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            tmp = f"{cache}.{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"stamp": stamp, "owners": answers}, f)
            os.replace(tmp, cache)
        except OSError:
            pass                       # no cache: the next run searches again
    return answers[real]


def _search(real: str) -> str | None:
    """Searches the file lists named like the program first, then all, for
    real or its merged-/usr twin (/bin/gzip)."""
    names = {real, real[len("/usr"):]}
    wanted = [os.fsencode(n) + b"\n" for n in names]
    base = os.path.basename(real).split(".")[0]
    lists = glob.glob(os.path.join(DPKG, "info", "*.list"))
    likely = [p for p in lists if os.path.basename(p).startswith(base)]
    for p in likely + [p for p in lists if p not in likely]:
        try:
            with open(p, "rb") as f:
                data = b"\n" + f.read()
        except OSError:
            continue
        if any(b"\n" + w in data for w in wanted):
            return os.path.basename(p)[:-len(".list")].split(":")[0]
    return None


class _Status:
    """dpkg's status file; a package's fields parsed when asked for."""

    def __init__(self):
        try:
            with open(os.path.join(DPKG, "status"), encoding="utf-8", errors="replace") as f:
                self._text = "\n" + f.read()
        except OSError:
            self._text = ""
        self._seen: dict[str, dict[str, str] | None] = {}

    def get(self, pkg: str) -> dict[str, str] | None:
        """The fields of installed package pkg, or None."""
        if pkg not in self._seen:
            fields = None
            at = self._text.find(f"\nPackage: {pkg}\n")
            if at >= 0:
                end = self._text.find("\n\n", at + 1)
                block = self._text[at + 1:end if end >= 0 else None]
                fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*(?:\n .*)*)", block, re.M))
                if "installed" not in fields.get("Status", "").split():
                    fields = None
            self._seen[pkg] = fields
        return self._seen[pkg]


def _source(status: _Status, pkg: str) -> str:
    return (status.get(pkg) or {}).get("Source", pkg).split()[0]


def _same_source(pkg: str, status: _Status) -> list[str]:
    """pkg and, transitively, its dependencies built from the same source."""
    if status.get(pkg) is None:
        return [pkg]
    src = _source(status, pkg)
    done, todo = [], [pkg]
    while todo:
        p = todo.pop()
        if p in done:
            continue
        done.append(p)
        for alt in (status.get(p) or {}).get("Depends", "").split(","):
            for dep in alt.split("|"):
                name = dep.split("(")[0].strip().split(":")[0]
                if status.get(name) and _source(status, name) == src and name not in done:
                    todo.append(name)
    return done


def programs(scripts: list[str]) -> list[str]:
    """The programs the packages of ``scripts`` (``#!`` scripts, host paths)
    ship below the ``BIN_DIRS``: a package's script execs its siblings as
    installed beside it (gzip's ``gunzip`` runs ``gzip -d``), so they come
    with it.  Only the package that ships the script's file: what it execs of
    other packages (``zgrep``'s ``grep``) is still given with ``--add``."""
    out = []
    for pkg in dict.fromkeys(p for p in map(owner, scripts) if p):
        out += [path for path in _list(pkg) if path.startswith(BIN_DIRS)
                and os.path.isfile(path) and os.access(path, os.X_OK)]
    return out


def private_programs(program: str) -> list[str]:
    """The other programs a package ships in ``program``'s own directory
    when that is a directory of the package's own off PATH (not one of
    ``BIN_DIRS``: PostgreSQL's ``/usr/lib/postgresql/15/bin``), where its
    programs find each other beside themselves (``initdb`` and ``pg_ctl``
    run the ``postgres`` next to them)."""
    real = os.path.realpath(program)
    where = os.path.dirname(real) + "/"
    if where.startswith(BIN_DIRS) or not where.startswith(("/usr/lib/", "/usr/libexec/")):
        return []
    pkg = owner(real)
    if not pkg:
        return []
    return [path for path in _list(pkg) if os.path.dirname(path) + "/" == where
            and path != real and os.path.isfile(path) and os.access(path, os.X_OK)]


def private_trees(program: str) -> list[str]:
    """The directories beside ``program``'s own that its package ships
    files in, when the program is in a directory of the package's own off
    PATH at least two levels below ``/usr/lib`` or ``/usr/libexec``
    (PostgreSQL's ``/usr/lib/postgresql/15/bin``: its ``../lib`` holds the
    modules the server dlopens by ``$libdir``)."""
    real = os.path.realpath(program)
    own = os.path.dirname(real)
    parent = os.path.dirname(own)
    if parent.count("/") < 3 or not parent.startswith(("/usr/lib/", "/usr/libexec/")) or \
            (own + "/").startswith(BIN_DIRS):
        return []
    pkg = owner(real)
    if not pkg:
        return []
    found = {path.split("/")[parent.count("/") + 1] for path in _list(pkg)
             if path.startswith(parent + "/") and path.count("/") > parent.count("/") + 1}
    return sorted(d for name in found if os.path.join(parent, name) != own
                  and os.path.isdir(d := os.path.join(parent, name)) and not os.path.islink(d))


# Where a library's package keeps the modules it dlopens, in a directory of
# its own named after it (ImageMagick's coders in
# /usr/lib/x86_64-linux-gnu/ImageMagick-6.9.11/modules-Q16).
MODULE_ROOTS = ("/usr/lib/x86_64-linux-gnu/", "/usr/lib/")


def module_trees(programs: list[str]) -> list[str]:
    """The directories one level below a ``MODULE_ROOTS`` directory, named
    after a package of ``programs``' source groups (its name or its
    source's, as a prefix, case aside) or its source, that it ships shared
    objects in: a library's modules (ImageMagick's coders, which
    ``convert`` loads through libMagickCore, of the same source).  Mounted
    read-only, their shared objects taken as modules the program may
    dlopen."""
    status, out, seen = None, [], []
    for pkg in dict.fromkeys(p for p in map(owner, programs) if p):
        if pkg in seen:
            continue
        status = _Status() if status is None else status
        for member in _same_source(pkg, status):
            if member in seen:
                continue
            seen.append(member)
            names = tuple({member.lower(), _source(status, member).lower()})
            for path in _list(member):
                if not path.endswith(".so") and ".so." not in os.path.basename(path):
                    continue
                for root in MODULE_ROOTS:
                    rest = path[len(root):].split("/") if path.startswith(root) else []
                    if len(rest) > 1 and rest[0].lower().startswith(names):
                        d = root + rest[0]
                        if d not in out and os.path.isdir(d) and not os.path.islink(d):
                            out.append(d)
                        break
    return out


def _wanted(path: str, names: tuple[str, ...] = ()) -> bool:
    """Configuration or run-time data, by the module's rule, of a package
    with ``names`` (its own and its source's)."""
    if path.startswith("/etc/"):
        return True
    if not path.startswith("/usr/share/"):
        return False
    if (path + "/").startswith(OWN_DATA) and path.split("/")[3] in names:
        return True
    return not (path + "/").startswith(NOT_DATA)


def contents(programs: list[str]) -> Contents:
    """The run-time files of the packages ``programs`` come from (see the
    module's rule)."""
    out = Contents()
    status = None
    found = [owner(prog, follow) for prog in programs
             for follow in ((True, False) if os.path.islink(prog) else (True,))]
    for pkg in dict.fromkeys(p for p in found if p):
        if pkg in out.packages:
            continue
        status = _Status() if status is None else status
        group = [p for p in _same_source(pkg, status) if p not in out.packages]
        out.packages += group
        for pkg_name in group:
            names = (pkg_name, _source(status, pkg_name))
            for path in _list(pkg_name):
                if path.startswith(STATE_ROOTS):
                    if os.path.isdir(path) and not os.path.islink(path) and \
                            not any(path.startswith(d + "/") for d in out.state_dirs):
                        out.state_dirs.append(path)
                elif _wanted(path, names) or (path.startswith("/usr/lib/") and os.path.islink(path)
                                              and _wanted(os.path.realpath(path), names)):
                    if os.path.isdir(path) and not os.path.islink(path):
                        out.dirs.append(path)
                    elif os.path.lexists(path) and os.access(path, os.R_OK):
                        out.files.append(path)
    deps = [d for pkg in out.packages for d in _depends(pkg, status)] if status else []
    for d in _run_dirs([*out.packages, *deps]):
        if d not in out.state_dirs:
            out.state_dirs.append(d)
    return out


def _depends(pkg: str, status: _Status) -> list[str]:
    """The installed packages pkg names in Depends (each alternative's first installed)."""
    out = []
    for alt in (status.get(pkg) or {}).get("Depends", "").split(","):
        for dep in alt.split("|"):
            name = dep.split("(")[0].strip().split(":")[0]
            if name and status.get(name):
                out.append(name)
                break
    return out


def _run_dirs(pkgs: list[str]) -> list[str]:
    """The directories one level below /run that the packages' tmpfiles.d
    files create at boot (``d`` and ``D`` lines: PostgreSQL's /run/postgresql,
    where its server makes its socket by default) and the host has."""
    out = []
    for pkg in dict.fromkeys(pkgs):
        for conf in _list(pkg):
            if not (conf.startswith("/usr/lib/tmpfiles.d/") and conf.endswith(".conf")):
                continue
            try:
                with open(conf, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            for line in lines:
                words = line.split()
                if len(words) < 2 or words[0].rstrip("!-") not in ("d", "D"):
                    continue
                path = os.path.normpath(re.sub(r"^/var/run(?=/)", "/run", words[1]))
                if os.path.dirname(path) == "/run" and os.path.isdir(path) and \
                        not os.path.islink(path) and path not in out:
                    out.append(path)
    return out
