"""Lay out a guest's root file system for one program: the executable, its
``DT_NEEDED`` closure as ld.so will look it up, the stock ld.so, a minimal
``/etc``, and read-only host mounts for the run-time trees an interpreter
needs (Python's standard library found as CPython finds it: python.py;
Perl's @INC: perl.py; locales)."""

from __future__ import annotations

import fnmatch
import grp
import os
import pwd
import re
import stat

from ..errors import LibsubstError, VolumeError
from ..volumes import Mount
from . import gcc, java, node, packages, perl, python, ruby
from .tree import Tree
from .walk import files_below

# What a packed image leaves out of those trees: third-party packages (add
# them with --add; ensurepip's wheels among them) and files only a build uses
# (Python's config-3.x holds the static libpython, Makefile and headers for
# linking against it).
PACK_SKIP = ("*/dist-packages", "*/site-packages", "*/python-wheels")
PACK_EXCLUDE = ("config-3.*", "test", "__phello__.foo")
# Needed whenever the environment names a locale other than C/POSIX.
LOCALE_DIRS = ("/usr/lib/locale", "/usr/share/i18n/locales", "/usr/lib/x86_64-linux-gnu/gconv")
LOCALE_VARS = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES",
               "LC_NUMERIC", "LC_TIME", "LC_MONETARY")
# ncurses' terminal database, where Debian's libtinfo looks (its compiled-in
# list; /lib/terminfo is /usr/lib/terminfo on a merged /usr), needed by any
# program that loads libtinfo (tput, clear, infocmp, less, top).
TERMINFO_DIRS = ("/etc/terminfo", "/usr/lib/terminfo", "/usr/share/terminfo")
# The data a shared library reads by compiled-in paths, whichever program
# loads it, itself or through a module it dlopens (graphviz's pango plugin
# loads libfontconfig): by the library's name up to its version and ".so"
# (libhunspell-1.7.so.0).  Other packages' files, so no package rule brings them.
LIBRARY_DATA = {
    "libtinfo": TERMINFO_DIRS,
    # fonts.conf, its conf.d links into /usr/share/fontconfig, the fonts and
    # their cache (read-only: fontconfig then keeps its own in ~/.cache)
    "libfontconfig": ("/etc/fonts", "/usr/share/fontconfig", "/usr/share/fonts",
                      "/var/cache/fontconfig"),
    # the dictionaries, each a package of its own (hunspell-en-us...), where
    # hunspell and enchant's provider look for them
    "libhunspell": ("/usr/share/hunspell", "/usr/share/myspell"),
    # aspell's dictionaries: links in its dict-dir to the hashes that
    # dictionaries-common builds at install in /var/lib/aspell
    "libaspell": ("/usr/lib/aspell", "/usr/share/aspell", "/var/lib/aspell"),
    # Tcl's and Tk's script libraries (init.tcl, tk.tcl), found by their
    # compiled-in path: wish (tclsh gets them as its package's)
    "libtcl8.6": ("/usr/share/tcltk",),
    "libtk8.6": ("/usr/share/tcltk",),
    # alsa-lib's configuration, libasound2-data's (sox's rec and play)
    "libasound": ("/usr/share/alsa",),
    # the certificates OpenSSL trusts by default: its directory's links
    # (certs, cert.pem) into /etc/ssl/certs, whose links lead into
    # ca-certificates' tree (osslsigncode's default CA file, python's ssl);
    # not /etc/ssl/private, the host's keys
    "libcrypto": ("/usr/lib/ssl", "/etc/ssl/certs", "/usr/share/ca-certificates"),
}


LIBRARY_NAME = re.compile(r"(lib.*?)(?:-[0-9.]+)?\.so(?:\.|$)")


def library_data(libraries) -> list[str]:
    """The host's directories of LIBRARY_DATA that ``libraries`` (host
    paths of shared objects) read."""
    names = {m.group(1) for lib in libraries
             if (m := LIBRARY_NAME.match(os.path.basename(lib)))}
    return [d for name, dirs in LIBRARY_DATA.items() if name in names
            for d in dirs if os.path.isdir(d)]


SCRATCH_ROOT = "/.libsubst-scratch"    # where the kernel mounts them, in the guest's mount namespace
# The writable root's layer (c_src/kernel/fs/upper.c): a scratch tmpfs at the
# guest's "/" over the read-only image; --read-only leaves it out.
ROOT_LAYER = Mount(guest="/", host="/.libsubst-root", scratch=True)


def _run_dir_owner(guest: str, homes) -> tuple[int | None, int | None]:
    """The mode and group in the guest of a directory below /run, or of a
    system user's home (one of ``homes``): one root owns on the host keeps
    its mode, and its group when that is a system group (the guest's
    /etc/group has those), where root owns it too: a server running as root
    checks it (sshd refuses a privilege separation directory /run/sshd that
    is group- or world-writable; vsftpd an anonymous root, its ftp user's
    /srv/ftp, that user can write), and a service's group writes in it
    (bind9's /run/named, root's and group bind's, where named makes its
    session key).  Another user's stays world-writable: the guest's copy is
    root's, and that user must still write in it (PostgreSQL's socket in
    /run/postgresql).  (None, None): /tmp's mode, root's group."""
    if not guest.startswith("/run/") and guest not in homes:
        return None, None
    try:
        st = os.stat(guest)
    except OSError:
        return None, None
    if st.st_uid != 0:
        return None, None
    return stat.S_IMODE(st.st_mode), st.st_gid if 0 < st.st_gid < SYSTEM_IDS else None


def scratch_mounts(mounts: list[Mount], image_files: list[str], state_dirs: list[str] = (),
                   private: bool = True) -> tuple[list[Mount], list[str]]:
    """Writable directories of the guest's own, gone after the run: /tmp
    (unless a volume or the image's own files are there), /dev/shm (POSIX
    shared memory and semaphores: Python's multiprocessing) and the
    packages' state directories (``packages.Contents.state_dirs``), empty.
    ``private``: each a tmpfs the guest kernel makes in its mount namespace,
    world-writable and sticky as /tmp is natively, of half the guest's
    --memory (run_spec; ENOSPC past it; its pages are the guest's memory, in
    the run's cgroup); and with them the writable root's layer
    (``ROOT_LAYER``).  Otherwise (a run without namespaces: only the
    benchmarks) a host directory inside one only the caller can enter, with
    the host's mode, and a read-only root.  Returns (mounts, host dirs to
    remove)."""
    added, dirs = [], []
    homes = set(packages.system_homes().values()) if state_dirs else set()
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
    for guest, under, taken, mode in (
            ("/tmp", None, any(p.startswith("/tmp/") for p in image_files), 0o1777),
            ("/dev/shm", shm, False, 0o1777),
            *((d, None, False, stat.S_IMODE(os.stat(d).st_mode)) for d in state_dirs)):
        if taken or any(m.guest == guest or guest.startswith(m.guest.rstrip("/") + "/")
                        for m in mounts + added):
            continue
        if private:
            mode, gid = _run_dir_owner(guest, homes)
            added.append(Mount(guest=guest, host=SCRATCH_ROOT + guest, scratch=True,
                               mode=mode, gid=gid))
            continue
        import tempfile     # here: most runs make no such directory

        outer = tempfile.mkdtemp(prefix=f"libsubst-{os.path.basename(guest)}-", dir=under)
        inner = os.path.join(outer, "d")
        os.mkdir(inner)
        os.chmod(inner, mode)
        # A volume below it (the working directory under /tmp) needs its
        # mount point there, as on Linux: the directories leading to it.
        for m in mounts:
            if m.guest.startswith(guest + "/"):
                os.makedirs(os.path.join(inner, m.guest[len(guest) + 1:]), exist_ok=True)
        dirs.append(outer)
        added.append(Mount(guest=guest, host=inner))
    if private:
        added.append(ROOT_LAYER)
    return added, dirs


def runtime_trees(program: str, env: dict[str, str], packed: bool = False,
                  libraries: list[str] = ()) -> tuple[list[Mount], list[str], list[str]]:
    """Read-only mounts of the run-time trees ``program`` reads, found by
    its own rules (python.py, perl.py, ruby.py, node.py, java.py; a GCC driver's toolchain:
    gcc.py), the extension modules in them it may
    dlopen, and single host files it reads at start (a venv's pyvenv.cfg).
    ``libraries``: the host paths of the libraries it loads (libperl, libpython).
    ``packed``: only the trees a packed image takes (not PACK_SKIP)."""
    dirs: list[str] = []
    modules: list[str] = []
    files: list[str] = []
    layout = python.find(program) or python.find_embedded(libraries)
    if layout is not None:
        dirs += layout.trees
        files += layout.files
        for d in layout.scanned:
            modules += files_below(d)
    # A packed image records nothing of the packing host's cwd or environment.
    node_dirs = node.module_dirs(program, {}, None) if packed else \
        node.module_dirs(program, env, os.getcwd())
    if node_dirs is not None:
        dirs += node_dirs
    inc = perl.inc_dirs(program, libraries)
    if inc is not None:
        dirs += inc
        modules += perl.extension_modules(inc)
    gems = ruby.gem_dirs(libraries)
    if gems is not None:
        dirs += gems
        modules += ruby.extension_modules(gems)
    java_home = java.home(program)
    if java_home is not None:
        dirs.append(java_home)
        modules += java.modules(java_home)
        files += java.outside_files(java_home)
    toolchain = gcc.find(program, env)
    if toolchain is not None:
        dirs += toolchain.trees
        modules += toolchain.programs
        files += toolchain.files
    if any(env.get(v, "C") not in ("", "C", "POSIX") for v in LOCALE_VARS):
        dirs += [d for d in LOCALE_DIRS if os.path.isdir(d)]
    # A named time zone (TZ=Europe/Paris, :Europe/Paris) or a POSIX rule
    # (whose missing transitions glibc takes from the database's posixrules).
    if env.get("TZ") and os.path.isdir(packages.ZONEINFO):
        dirs.append(packages.ZONEINFO)
    dirs += library_data(libraries)
    if packed:
        skipped = [d for d in dirs if any(fnmatch.fnmatch(d, p) for p in PACK_SKIP)]
        dirs = [d for d in dirs if d not in skipped]
        modules = [m for m in modules if not any(m.startswith(d + "/") for d in skipped)]
    # A tree reached through a symlink (perl's /usr/share/perl/5.36 ->
    # 5.36.0) is mounted at its real path, and the link is in the root as
    # on the host, so both names lead there and a package's files below
    # either are not in the way.
    mounts = [Mount(guest=real, host=real, readonly=True)
              for real in dict.fromkeys(os.path.realpath(d) for d in dirs if os.path.isdir(d))]
    files += [d for d in dict.fromkeys(dirs) if os.path.isdir(d) and os.path.realpath(d) != d]
    return mounts, modules, files


def pack_tree(tree: Tree, mount: Mount) -> None:
    """Put a run-time tree into the guest's root instead of mounting it."""
    tree.add_host_tree(mount.host, mount.guest, exclude=PACK_EXCLUDE)


def add_host(tree: Tree, spec: str) -> None:
    """``--add HOST[:GUEST]``: a host file or directory (with everything
    below it) into the guest's root, at GUEST or at its own path."""
    host, sep, guest = spec.partition(":")
    if not host or (sep and not guest):
        raise VolumeError(f"--add {spec!r}: expected HOST[:GUEST]")
    if not os.path.lexists(host):
        raise VolumeError(f"--add {spec!r}: {host} does not exist")
    if guest and not os.path.isabs(guest):
        raise VolumeError(f"--add {spec!r}: the guest path must be absolute")
    host = os.path.abspath(host)
    tree.add_host_tree(host, os.path.normpath(guest) if guest else None)


# The directories programs expect at the top of a Linux root (the FHS's,
# and the state directories Debian's packages use), made in the guest when
# the host has them, empty unless something is added below them.
USUAL_DIRS = ("/etc", "/home", "/media", "/mnt", "/opt", "/root", "/run", "/run/lock", "/srv", "/tmp",
              "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec",
              "/usr/local/bin", "/usr/local/lib", "/usr/share", "/var/cache", "/var/lib",
              "/var/log", "/var/spool", "/var/tmp", "/var/run", "/var/lock")


# Which container manager runs the guest, where systemd's container
# interface has a manager say so (docs/CONTAINER_INTERFACE.md): read first by
# systemd-detect-virt --container in any process, pid 1 too (a name it does
# not know is "container-other").  Its other half, $container in pid 1's
# environment, is left out: the program's environment is the caller's.
CONTAINER_MANAGER = ("/run/host/container-manager", b"libsubst\n")


def add_layout(tree: Tree) -> None:
    """The root's shape as the host has it: every top-level symlink (merged
    /usr: /bin -> usr/bin, /lib, /lib64, /sbin), and the usual directories
    (or symlinks: Debian's /var/run -> /run) with the host's modes; the
    container manager's name (CONTAINER_MANAGER)."""
    for name in sorted(os.listdir("/")):
        if os.path.islink("/" + name):
            _add_link(tree, "/" + name, os.readlink("/" + name))
    for guest in USUAL_DIRS:
        try:
            st = os.lstat(guest)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            _add_link(tree, guest, os.readlink(guest))
        elif stat.S_ISDIR(st.st_mode) and not _under_link(tree, guest):
            tree.add_dir(guest, stat.S_IMODE(st.st_mode))
    tree.add_data(*CONTAINER_MANAGER)


def _under_link(tree: Tree, guest: str) -> bool:
    """Whether a directory on the way to *guest* is a symlink in the tree."""
    parts = guest.strip("/").split("/")
    for i in range(1, len(parts)):
        e = tree.get("/" + "/".join(parts[:i]))
        if e is not None and e.kind == "symlink":
            return True
    return False


def _add_link(tree: Tree, guest: str, target: str) -> None:
    if _under_link(tree, guest):
        return
    tree.add_symlink(guest, target)
    # Where a relative link leads (usr/bin), so that it is not dangling.
    if not target.startswith("/") and ".." not in target.split("/"):
        where = os.path.join(os.path.dirname(guest), target)
        if os.path.isdir(where) and not _under_link(tree, where):
            tree.add_dir(where, stat.S_IMODE(os.stat(where).st_mode))


def image_state_dirs(entries: dict) -> list[str]:
    """The state directories of a packed image: what add_packages put there
    is an empty directory one level below /var/lib, /var/log, /var/cache or
    /var/spool, which its run makes writable as ``run`` does."""
    parents = {os.path.dirname(p) for p in entries if p != "/"}
    return [p for p, e in entries.items()
            if e.kind == "dir" and p not in parents and
            os.path.dirname(p) + "/" in packages.STATE_ROOTS]


def add_packages(tree: Tree, found: packages.Contents) -> list[str]:
    """The run-time files of the Debian packages a program comes from
    (``found``: packages.contents, which states the rule); returns their
    state directories, which the caller makes writable or, in an image,
    empty directories.  A path the image already has (the generated /etc
    files) keeps its entry."""
    for path in found.dirs + found.files:
        if tree.get(path) is None:
            try:
                tree.add_host_path(path)
            except LibsubstError:
                continue            # unreadable or in the way of the image's own
    return found.state_dirs


SYSTEM_IDS = 1000                 # Debian's FIRST_UID, FIRST_GID (adduser.conf)


def _passwd_line(pw) -> str:
    return f"{pw.pw_name}:x:{pw.pw_uid}:{pw.pw_gid}:{pw.pw_gecos}:{pw.pw_dir}:{pw.pw_shell}\n"


def _group_line(gr) -> str:
    return f"{gr.gr_name}:x:{gr.gr_gid}:\n"


def add_etc(tree: Tree, hostname: str, host_names: bool = False) -> None:
    """The minimal /etc: users and groups the guest can see (the host's
    system accounts and the caller), host name resolution through files, the
    time zone and paper size, ld.so.cache and its sources, the services and
    protocols databases, the system's name and release, the login shells.
    ``host_names``: the guest has the host's name,
    so it resolves names as the host does, with the host's /etc/hosts
    (gethostid(3) is the address the host name resolves to); otherwise (an
    image) its own names."""
    # The system accounts (Debian's are below 1000: root, the service users
    # servers change to, such as www-data), nobody, and the caller; not the
    # host's other people.
    uids = {pw.pw_uid for pw in pwd.getpwall() if pw.pw_uid < SYSTEM_IDS} | {0, os.getuid(), 65534}
    gids = {gr.gr_gid for gr in grp.getgrall() if gr.gr_gid < SYSTEM_IDS} | {0, os.getgid(), 65534}
    lines = []
    for uid in sorted(uids):
        try:
            lines.append(_passwd_line(pwd.getpwuid(uid)))
        except KeyError:
            lines.append(f"user{uid}:x:{uid}:{uid}::/:/bin/sh\n")
    tree.add_data("/etc/passwd", "".join(lines).encode())
    glines = []
    for gid in sorted(gids):
        try:
            glines.append(_group_line(grp.getgrgid(gid)))
        except KeyError:
            glines.append(f"group{gid}:x:{gid}:\n")
    tree.add_data("/etc/group", "".join(glines).encode())
    tree.add_data("/etc/nsswitch.conf",
                  b"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
                  b"networks: files\nprotocols: files\nservices: files\n")
    if host_names and os.access("/etc/hosts", os.R_OK):
        tree.add_host_path("/etc/hosts")
    else:
        tree.add_data("/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n"
                                    f"::1\tlocalhost ip6-localhost ip6-loopback\n".encode())
    tree.add_data("/etc/hostname", f"{hostname}\n".encode())
    # services and protocols: getservbyname, getaddrinfo with a service name
    # ("http"), getprotobyname, which nsswitch.conf sends to files.  papersize:
    # the host's paper, as its time zone (libpaper's, which ghostscript reads;
    # libpaper1's postinst writes it, so no package's file list names it).
    # host.conf and gai.conf: the resolver's options ("multi on": every
    # address a name has in /etc/hosts, localhost's ::1 too) and the order
    # getaddrinfo gives them in.  os-release and debian_version: which system
    # this is (Python's platform, lsb_release, dovecot's doveconf, cmake's
    # CMAKE_INSTALL_SO_NO_EXE), as a
    # container image of the distribution has them (/etc's os-release is a
    # link to /usr/lib's); shells: getusershell(3), which daemons check a
    # user's login shell against (ftp, chsh).
    for path in ("/etc/localtime", "/etc/ld.so.cache", "/etc/resolv.conf", "/etc/services",
                 "/etc/protocols", "/etc/papersize", "/etc/host.conf", "/etc/gai.conf",
                 "/etc/os-release", "/usr/lib/os-release", "/etc/debian_version",
                 "/etc/shells"):
        if os.path.exists(path):
            tree.add_host_path(path)
    # ld.so.cache's sources, which programs read as the library search path
    # (libtool's configure: sys_lib_dlsearch_path_spec in the libtool it
    # writes; ldconfig -p's cache is the file above).
    if os.path.isfile("/etc/ld.so.conf"):
        tree.add_host_path("/etc/ld.so.conf")
    if os.path.isdir("/etc/ld.so.conf.d"):
        tree.add_host_tree("/etc/ld.so.conf.d")
