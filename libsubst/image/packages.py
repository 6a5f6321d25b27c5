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
  ``/etc`` (also what their maintainer scripts made there: the files ucf
  installed for them, ``/var/lib/ucf/registry``, and the links in their
  ``/etc`` directories to their configuration: PHP's ``php.ini`` and the
  ``conf.d`` links that enable its extensions; and the paths below
  ``/etc`` that configuration names, of any package, with the
  world-readable files of a named directory: ``my.cnf``'s ``!includedir
  /etc/mysql/conf.d/``), and the trees of the packages that ship those
  (a plugin ``mariadb.conf.d/provider_bzip2.cnf`` loads), the data below ``/usr/share`` (``/usr/share/nginx``, and also
  where the data's directory is not named after the package: git's
  ``/usr/share/git-core/templates``, libmagic's ``/usr/share/misc/magic.mgc``,
  python3-minimal's ``/usr/share/python3``; a symlink comes with its
  target; and the jars their jars' manifests name, ``Class-Path``, of any
  package: tomcat10's JSP compiler, ``java.class_path_closure``), the symlinks below ``/usr/lib`` that lead there or into ``/etc``
  (a program's compiled-in path to its configuration: openssl's
  ``/usr/lib/ssl/openssl.cnf`` -> ``/etc/ssl/openssl.cnf``), and the state directories they ship below ``/var/lib``,
  ``/var/log``, ``/var/cache`` and ``/var/spool`` (``/var/lib/nginx``),
  and the directories one level below ``/run`` that their tmpfiles.d files,
  or those of the packages they depend on, make at boot (``/run/postgresql``
  of postgresql-common), or their systemd services as they start
  (``RuntimeDirectory=``: openssh-server's ``/run/sshd``), and the home
  directories of the system users their ``postinst`` makes with ``adduser``
  or ``useradd`` (vsftpd's ``ftp`` user's ``/srv/ftp``, which its server
  enters before its anonymous root; nsd's ``/var/lib/nsd``), which the
  guest gets empty and writable (``rootfs.scratch_mounts``); but the
  directories they ship below ``/var/games`` come with the host's files
  in them, as the root's (bsdgames' score files, made by its ``postinst``,
  which ``atc`` opens for writing without creating them: the writable root
  takes its writes, ``--read-only`` refuses them as a read-only mount does).
- *programs*: for a ``#!`` script (the program's, or one added with
  ``--add`` at its own path), the programs its own package ships in
  ``/usr/bin``, ``/usr/sbin`` (and merged ``/bin``, ``/sbin``), which it
  execs as installed beside it (``gunzip`` runs ``gzip``): ``programs()``;
  for an ELF program, the programs of the packages its package depends on
  (of another source) that it or a library it loads names as something it
  runs (by name or path: ``gcc-ar`` runs binutils' ``ar``, fuse-overlayfs's
  libfuse3 fuse3's ``fusermount3``; ``layout.py``'s ``_holds_name``);
  for a program in a directory of its package's own off PATH, the other
  programs the package ships there (``private_programs()``: PostgreSQL's
  ``initdb`` runs the ``postgres`` beside it), and the directories beside
  that one it ships files in, mounted read-only as an interpreter's trees
  are, their shared objects taken as modules it may dlopen
  (``private_trees()``: PostgreSQL's ``lib``).
- *trees*: the directories one level below ``/usr/lib`` (or its multiarch
  ``x86_64-linux-gnu``) that those packages ship files in — a runtime's or
  toolchain's own tree, found where its program looks by a path compiled
  into it or computed from its own (Ruby's ``/usr/lib/ruby``, PHP's
  extension directory ``/usr/lib/php``, Rust's sysroot ``/usr/lib/rustlib``,
  git's helpers ``/usr/lib/git-core``), or one level below ``/usr/libexec``,
  where a package keeps what its programs run or load by a compiled-in
  path (valgrind's tools and the preloaded objects it injects in
  ``/usr/libexec/valgrind``, coreutils' ``libstdbuf.so`` that ``stdbuf``
  preloads, man-db's ``manconv`` and ``zsoelim``) — which the guest gets mounted
  read-only as an interpreter's trees are, with the libraries of the
  modules and programs in them (``layout.py``); not the directories many
  packages share for drop-in files, the system's own or debugging symbols
  (``SHARED_LIB_DIRS``, ``*.d``); and, for packages that depend on
  ``tzdata``, its zone database (PHP names its default zone by
  ``/etc/localtime``'s link and reads the zone's rules there); and the directories
  one level below ``/usr/lib`` (or its multiarch directory) in which the
  program's packages, and those built from the same source it depends on,
  ship shared objects, the modules a server dlopens by its configuration,
  mounted and taken so too (``module_trees()``: Apache's ``/usr/lib/apache2``
  with ``modules/mod_*.so``, lighttpd's modules in packages of their own).
- *size*: documentation, manuals, translations, completions, editors'
  syntax files (but an editor's or shell's own: vim's ``/usr/share/vim``,
  ``OWN_DATA``) and desktop integration (``NOT_DATA`` below ``/usr/share``)
  and everything else is left out, and files are stored as they are, so an image stays the size of
  its contents.
"""

from __future__ import annotations

import os
import re
import stat

from . import java
from .dpkg import Status, depends, list_files, maintainer_script, owner, same_source, source

UCF_REGISTRY = "/var/lib/ucf/registry"
STATE_ROOTS = ("/var/lib/", "/var/log/", "/var/cache/", "/var/spool/", "/run/")
# Games' scores and logs (FHS 5.7), files their postinst makes that the game
# opens without creating them: the host's, in the root as its files are.
GAME_STATE = "/var/games/"
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
# A package's own tree: a directory one level below /usr/lib, its
# multiarch directory or /usr/libexec (``packages.py``'s *trees*).
LIB_TREE = re.compile(r"/usr/(?:lib/(?:x86_64-linux-gnu/)?|libexec/)(?P<name>[^/]+)")
# Directories there that many packages share (the system's drop-ins, build
# metadata, debugging symbols, locales, the multiarch directory itself): no
# one package's tree, and nothing a runtime reads of its own.
# tzdata's zone database: what a named time zone (TZ=Europe/Paris) is read from.
TZDATA, ZONEINFO = "tzdata", "/usr/share/zoneinfo"
SHARED_LIB_DIRS = frozenset({
    "x86_64-linux-gnu", "systemd", "udev", "mime", "debug", "pkgconfig", "cmake", "locale",
    "firmware", "modules", "kernel", "apt", "dpkg", "os-release", "sasl2", "gconv"})


class Contents:
    """What the packages of some programs add to the guest's root."""

    def __init__(self):
        self.packages: list[str] = []
        self.files: list[str] = []          # host paths of /etc and /usr/share files and links
        self.dirs: list[str] = []           # directories among them (may be empty)
        self.state_dirs: list[str] = []     # writable state directories, outermost only
        self.trees: list[str] = []          # their own trees below /usr/lib, mounted read-only


def programs(scripts: list[str]) -> list[str]:
    """The programs the packages of ``scripts`` (``#!`` scripts, host paths)
    ship below the ``BIN_DIRS``: a package's script execs its siblings as
    installed beside it (gzip's ``gunzip`` runs ``gzip -d``), so they come
    with it.  Only the package that ships the script's file: what it execs of
    other packages (``zgrep``'s ``grep``) is still given with ``--add``."""
    return programs_of([p for p in map(owner, scripts) if p])


def dependency_programs(program: str) -> list[str]:
    """The programs that the packages ``program``'s package depends on
    (``Depends``, each alternative's first installed; not those built from
    its source) ship below the ``BIN_DIRS``: what it may exec by name, as
    PATH finds it, from another package (gcc-12's ``gcc-ar`` runs binutils'
    ``ar``).  Its own package's are left out: a program names its own
    other names (gzip's ``zcat``) to tell how it was called, not to run them."""
    pkg = owner(os.path.realpath(program))
    if not pkg:
        return []
    status = Status()
    mine = set(same_source(pkg, status))
    return programs_of([d for d in depends(pkg, status) if d not in mine])


def programs_of(pkgs: list[str]) -> list[str]:
    """The executable files the packages ``pkgs`` ship below the ``BIN_DIRS``."""
    return [path for pkg in dict.fromkeys(pkgs) for path in list_files(pkg)
            if path.startswith(BIN_DIRS) and os.path.isfile(path) and os.access(path, os.X_OK)]


def private_programs(program: str) -> list[str]:
    """The other programs a package ships in ``program``'s own directory
    when that is a directory of the package's own off PATH (not one of
    ``BIN_DIRS``: PostgreSQL's ``/usr/lib/postgresql/15/bin``), where its
    programs find each other beside themselves (``initdb`` and ``pg_ctl``
    run the ``postgres`` next to them), the files they read there
    (erlang's ``erl`` boots the runtime with ``start.boot`` beside it), and
    the links the package ships on PATH to its programs there, by which they
    run each other (erlang's ``erlc`` runs ``erl`` as PATH finds it:
    ``/usr/bin/erl`` -> ``../lib/erlang/bin/erl``)."""
    real = os.path.realpath(program)
    where = os.path.dirname(real) + "/"
    if where.startswith(BIN_DIRS) or not where.startswith(("/usr/lib/", "/usr/libexec/")):
        return []
    pkg = owner(real)
    if not pkg:
        return []
    return [path for path in list_files(pkg) if path != real and os.path.isfile(path)
            and os.access(path, os.R_OK)
            and (os.path.dirname(path) + "/" == where or path.startswith(BIN_DIRS)
                 and os.path.islink(path) and os.path.dirname(os.path.realpath(path)) + "/" == where)]


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
    found = {path.split("/")[parent.count("/") + 1] for path in list_files(pkg)
             if path.startswith(parent + "/") and path.count("/") > parent.count("/") + 1}
    return sorted(d for name in found if os.path.join(parent, name) != own
                  and os.path.isdir(d := os.path.join(parent, name)) and not os.path.islink(d))


# Where Debian installs shared libraries: a module directory is one below them.
LIB_DIRS = ("/usr/lib/", "/usr/lib/x86_64-linux-gnu/")


def module_trees(program: str) -> list[str]:
    """The module directories of ``program``'s packages (the package that
    ships it and those built from the same source it depends on): each
    directory one level below ``LIB_DIRS`` in which they ship shared
    objects, which the program dlopens by its configuration (Apache's
    ``/usr/lib/apache2`` with ``modules/mod_*.so``, lighttpd's
    ``/usr/lib/lighttpd``).  A program's own package directory off PATH is
    ``private_trees``'s."""
    pkg = owner(os.path.realpath(program))
    if not pkg:
        return []
    found = []
    for name in same_source(pkg, Status()):
        for path in list_files(name):
            if not (path.endswith(".so") or ".so." in os.path.basename(path)):
                continue
            base = max((d for d in LIB_DIRS if path.startswith(d)), key=len, default=None)
            if base is None or "/" not in path[len(base):]:
                continue        # a library in a search directory itself
            tree = base + path[len(base):].split("/")[0]
            if tree + "/" not in LIB_DIRS and tree not in found:
                found.append(tree)
    own = os.path.dirname(os.path.realpath(program))
    return [d for d in found if os.path.isdir(d) and not os.path.islink(d)
            and not (own + "/").startswith(d + "/")]


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


def _own_tree(path: str) -> bool:
    m = LIB_TREE.fullmatch(path)
    return bool(m) and m.group("name") not in SHARED_LIB_DIRS and \
        not m.group("name").endswith(".d") and os.path.isdir(path) and not os.path.islink(path)


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
        status = Status() if status is None else status
        group = [p for p in same_source(pkg, status) if p not in out.packages]
        out.packages += group
        for pkg_name in group:
            names = (pkg_name, source(status, pkg_name))
            for path in list_files(pkg_name):
                if path.startswith(GAME_STATE):
                    _game_state(out, path)
                elif path.startswith(STATE_ROOTS):
                    if os.path.isdir(path) and not os.path.islink(path) and \
                            not any(path.startswith(d + "/") for d in out.state_dirs):
                        out.state_dirs.append(path)
                elif _own_tree(path):
                    if path not in out.trees:
                        out.trees.append(path)
                elif _wanted(path, names) or (path.startswith("/usr/lib/") and os.path.islink(path)
                                              and _wanted(os.path.realpath(path), names)):
                    if os.path.isdir(path) and not os.path.islink(path):
                        out.dirs.append(path)
                    elif os.path.lexists(path) and os.access(path, os.R_OK):
                        out.files.append(path)
    _maintainer_config(out)
    _named_config(out)
    out.files += java.class_path_closure(out.files)
    deps = [d for pkg in out.packages for d in depends(pkg, status)] if status else []
    if TZDATA in deps and os.path.isdir(ZONEINFO):
        out.trees.append(ZONEINFO)
    for d in _run_dirs([*out.packages, *deps]) + _user_homes(out.packages):
        if not any((d + "/").startswith(s + "/") for s in out.state_dirs):
            out.state_dirs.append(d)
    return out


def _game_state(out: Contents, path: str) -> None:
    """A directory of the package's below ``GAME_STATE`` and the files in
    it, which its ``postinst`` made (bsdgames' empty score files)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return
    out.dirs.append(path)
    for name in sorted(os.listdir(path)):
        f = os.path.join(path, name)
        if os.path.isfile(f) and not os.path.islink(f) and os.access(f, os.R_OK):
            out.files.append(f)


# Homes that are no daemon's own: shared, a person's, or none.
NOT_HOMES = ("/", "/root", "/home", "/nonexistent", "/bin", "/usr/sbin", "/var", "/var/lib",
             "/run", "/tmp", "/dev", "/proc", "/etc", "/usr")
PASSWD = "/etc/passwd"


def _user_homes(pkgs: list[str]) -> list[str]:
    """The home directories (``/etc/passwd``'s) of the system users (uid
    1-999) that the packages' ``postinst`` makes (``adduser``, ``useradd``,
    the user named in it as a word, or its home), which the host has: a
    server enters its user's home before what its configuration names
    (vsftpd's ``/srv/ftp``), or keeps its state there."""
    scripts = [t for t in (maintainer_script(p, "postinst") for p in dict.fromkeys(pkgs))
               if re.search(r"\b(adduser|useradd)\b", t)]
    out = []
    for name, home in system_homes().items() if scripts else ():
        word = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])|{re.escape(home)}(?![\w.-])")
        if home not in out and any(word.search(t) for t in scripts):
            out.append(home)
    return out


def system_homes() -> dict[str, str]:
    """The system users' (uid 1-999) own home directories the host has, by
    user name: not a shared or absent one (``NOT_HOMES``), a person's, or a
    link."""
    try:
        with open(PASSWD, encoding="utf-8", errors="replace") as f:
            users = [line.split(":") for line in f.read().splitlines()]
    except OSError:
        return {}
    out = {}
    for u in users:
        if len(u) < 7 or not u[2].isdigit() or not 0 < int(u[2]) < 1000 or \
                not u[5].startswith("/"):
            continue
        home = os.path.normpath(u[5])
        if home not in NOT_HOMES and not home.startswith(("/home/", "/proc/", "/dev/")) and \
                os.path.isdir(home) and not os.path.islink(home):
            out[u[0]] = home
    return out


def _maintainer_config(out: Contents) -> None:
    """Adds to ``out`` the configuration its packages' maintainer scripts
    made, which no file list names: the files ucf installed for them, and
    the links in their /etc directories that lead to their configuration
    (phpenmod's ``conf.d/20-sockets.ini`` -> ``mods-available/sockets.ini``)."""
    try:
        with open(UCF_REGISTRY, encoding="utf-8", errors="replace") as f:
            registry = [line.split() for line in f]
    except OSError:
        registry = []
    for words in registry:
        if len(words) == 2 and words[0] in out.packages and words[1].startswith("/etc/") and \
                words[1] not in out.files and os.path.isfile(words[1]) and \
                os.access(words[1], os.R_OK):
            out.files.append(words[1])
    config = {os.path.realpath(f) for f in out.files if f.startswith("/etc/")}
    for d in [d for d in out.dirs if d.startswith("/etc/")]:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            if path not in out.files and os.path.islink(path) and os.path.realpath(path) in config:
                out.files.append(path)


# An absolute path below /etc in a configuration file's text: what it
# includes, in whatever syntax (my.cnf's ``!includedir /etc/mysql/conf.d/``).
ETC_PATH = re.compile(rb"(?<![\w./-])/etc(?:/[\w.+@-]+)+")
CONFIG_MAX = 1 << 20


def _named_config(out: Contents) -> None:
    """Adds to ``out`` the paths below /etc that its configuration files name
    (transitively), which another package may ship: mariadb-common's
    ``my.cnf`` includes mysql-common's ``/etc/mysql/conf.d``.  A directory
    comes with the files in it; only world-readable files (never
    ``debian.cnf``'s password, mode 0600)."""
    have = set(out.files) | set(out.dirs)
    named = len(out.files)
    listed: set[str] = set()
    todo = [f for f in out.files if f.startswith("/etc/")]
    while todo:
        try:
            with open(todo.pop(), "rb") as f:
                data = f.read(CONFIG_MAX)
        except OSError:
            continue
        if b"\0" in data:
            continue
        for raw in ETC_PATH.findall(data):
            path = os.path.normpath(os.fsdecode(raw))
            # below /etc after normalising: `/etc/../home/x` and `/etc/.`
            # name nothing here
            if path in listed or not path.startswith("/etc/") or \
                    any(part in (b".", b"..") for part in raw.split(b"/")):
                continue
            listed.add(path)
            if os.path.isdir(path) and not os.path.islink(path):
                # the files in it (what an include directory holds), also
                # where its packages ship the directory but not them
                if path not in have:
                    have.add(path)
                    out.dirs.append(path)
                try:
                    names = sorted(os.listdir(path))
                except OSError:
                    names = []
                for child in (os.path.join(path, n) for n in names):
                    if child not in have and _public_file(child):
                        have.add(child)
                        out.files.append(child)
                        todo.append(child)
            elif path not in have and _public_file(path):
                have.add(path)
                out.files.append(path)
                todo.append(path)
    # what the named configuration enables (provider_bzip2.cnf's
    # plugin_load_add) is its own package's: that package's trees come too
    for pkg in dict.fromkeys(owner(p) for p in out.files[named:]):
        if pkg and pkg not in out.packages:
            out.trees += [p for p in list_files(pkg) if _own_tree(p) and p not in out.trees]


def _public_file(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & stat.S_IROTH)


UNIT_DIRS = ("/lib/systemd/system/", "/usr/lib/systemd/system/")


def _run_dirs(pkgs: list[str]) -> list[str]:
    """The directories one level below /run that the packages' tmpfiles.d
    files create at boot (``d`` and ``D`` lines: PostgreSQL's /run/postgresql,
    where its server makes its socket by default), or their services'
    systemd units as they start (``RuntimeDirectory=``: sshd's privilege
    separation directory /run/sshd), and the host has."""
    out = []
    for pkg in dict.fromkeys(pkgs):
        for conf in list_files(pkg):
            if conf.startswith(UNIT_DIRS) and conf.endswith(".service"):
                out += [d for d in _runtime_directories(conf) if d not in out]
                continue
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


def _runtime_directories(unit: str) -> list[str]:
    """The directories one level below /run a systemd unit's
    ``RuntimeDirectory=`` names (systemd.exec(5)) that the host has."""
    try:
        with open(unit, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    names = [n for line in lines if line.startswith("RuntimeDirectory=")
             for n in line.split("=", 1)[1].split()]
    return [p for n in names if "/" not in n and n not in (".", "..")
            and os.path.isdir(p := "/run/" + n) and not os.path.islink(p)]
