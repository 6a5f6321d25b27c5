"""A program's root file system, laid out from the host as ld.so and the
kernel will look for it: the one layout ``run`` (libsubst.planner) and
``pack`` (pack.py) share."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import CorruptElf, LibsubstError, NotAnElf
from ..volumes import Mount
from . import packages, rootfs
from .tree import Tree
from .walk import files_below


# A program that runs "/bin/sh" comes with the shell, as on any POSIX
# system: one whose code or a library it links (libc but) imports a libc
# call that runs "/bin/sh -c COMMAND" (system(3), popen(3)) or names the
# shell itself (Ruby's and Perl's system, PHP's proc_open exec it).  libc
# names it for those calls: its own name does not count.
SHELL_CALLS = frozenset({"system", "popen"})
SHELL_PATH = b"/bin/sh\0"
# The programs a user names in the environment for another program to run:
# the shell ($SHELL: script, emacs's shell-command, tmux's windows, vim's
# and less's "!"), the editor (git's and svn's commit message, less's "v")
# and the pager (man, git).  The guest's environment is the caller's,
# so the program a variable names (a path, or a command PATH finds: its
# first word) comes with a program whose code or libraries (libc but) name
# the variable (GIT_EDITOR, SVN_EDITOR and MANPAGER end in one).
USER_PROGRAM_VARS = ("SHELL", "EDITOR", "VISUAL", "PAGER")
LIBC_SONAME = "libc.so.6"


@dataclass
class Layout:
    """A program's root file system as laid out from the host."""

    tree: Tree
    exe: str                      # what the first exec opens: the program, or its #! script
    execfn: str                   # the name it is exec'd by (AT_EXECFN, a script's argv)
    argv: list[str]               # as given: the kernel's exec inserts a #! line's words
    objects: list[str]            # host paths of the objects considered for substitution
    runtime_mounts: list[Mount] = field(default_factory=list)   # an interpreter's trees
    state_dirs: list[str] = field(default_factory=list)         # its packages' (packages.py)
    scripts: list[str] = field(default_factory=list)            # the #! scripts on the way
    mapped: bool = True           # False: the first exec fails before it maps a program


def layout_program(program: str, args: Sequence[str], env: Mapping[str, str], *,
                   lookup: str | None, hostname: str, add: Sequence[str] = (),
                   subst: bool = True, packed: bool = False) -> Layout:
    """Find ``program`` on ``lookup`` (a PATH), follow its ``#!`` lines to
    the program they end at (ldso.program), resolve its closure with ld.so's rules and ``env``, and
    lay out the root: the objects (each with syscall sites replaced by its
    substitute unless not ``subst``), an interpreter's run-time files, what
    ``add`` names, the minimal /etc for ``hostname`` and the packages'
    run-time files.  ``packed``: the run-time trees a packed image takes."""
    # ELF reading is imported here: running a packed image never needs it.
    from ..elf import ElfFile
    from ..ldso.program import find_program, interpreters, mapped_program
    from ..ldso import shims
    from ..ldso.search import resolve, resolve_preload

    path = find_program(program, lookup)
    real = shims.follow(path, env) if "/" not in program else path
    if real != path:
        program = path = real           # as the manager's exec names it
    chain = interpreters(path)
    binary = mapped_program(chain)
    scripts = chain[:-1] if binary else chain

    tree = Tree()
    rootfs.add_layout(tree)
    try:
        if binary is not None:
            with ElfFile.open(binary) as elf:
                interp = elf.interp()
    except (NotAnElf, CorruptElf):
        # A file Linux's execve refuses (ENOEXEC), or whose load fails past
        # its point of no return (SIGSEGV): the kernel's first exec does as
        # Linux's, with its interpreter there to open.  A well-formed ELF
        # libsubst does not run (32-bit, another machine, a .o) keeps the
        # reader's words; pack refuses what it cannot run.
        if packed:
            raise
        interp = _interp_unchecked(binary)
        if interp:
            tree.add_host_path(interp)
        binary = None
    if binary is None:
        # The first exec fails, as Linux's would, and the kernel says why.
        rootfs.add_etc(tree, hostname, host_names=not packed)
        return Layout(tree, exe=os.path.realpath(path),
                      execfn=program if "/" in program else path, argv=[program, *args],
                      objects=[], scripts=scripts, mapped=False)
    closure = resolve(binary, env)
    objects = [tree.add_host_path(binary)]
    if interp:
        # The kernel opens PT_INTERP as written; a relative one (rare) as resolved.
        objects.append(tree.add_host_path(interp if os.path.isabs(interp) else closure.interp))
    libraries = [lib for _soname, lib in closure.libraries]
    shell = _runs_shell([binary, *(lib for soname, lib in closure.libraries
                                   if soname != LIBC_SONAME)])
    objects += [tree.add_host_path(lib) for lib in libraries]
    runtime_mounts, modules, runtime_files = rootfs.runtime_trees(
        binary, env, packed=packed, libraries=libraries)
    at_own_path = [os.path.abspath(a) for a in add if ":" not in a]
    added_scripts = [a for a in at_own_path if _is_script(a)]
    # The programs a shell script names (or a shell's -c string), and those
    # of its packages the program runs by name (_path_programs), come as
    # ones added at their own path do (shell_commands.py).
    named = [p for p in dict.fromkeys([
        *_shell_programs(program, binary, args, scripts, added_scripts, env),
        *_path_programs(binary, [binary, *(lib for soname, lib in closure.libraries
                                           if soname != LIBC_SONAME)])])
             if p not in at_own_path]
    at_own_path += named
    added_scripts += [p for p in named if _is_script(p)]
    # A script run through env(1) (#!/usr/bin/env ruby) runs the program
    # PATH finds: it comes as one added at its own path does.
    via_env = [p for s in [*scripts, *added_scripts] for p in _env_program(s, env)
               if p not in at_own_path]
    add = [*add, *via_env]
    at_own_path += via_env
    added_scripts += [p for p in via_env if _is_script(p)]
    # The program and each one added at its own path, in its package's own
    # directory off PATH, come with that package's programs and trees there,
    # and with the module directories of their packages.
    # (A file that is no program, a package's data added at its own path, brings none.)
    private = [binary, *(a for a in at_own_path if os.path.isfile(a) and os.access(a, os.X_OK)
                         and a not in added_scripts)]
    # A #! script's package counts as the program's (py3versions: python3-minimal's data;
    # erlang's erl in /usr/lib/erlang/bin, with the runtime beside it).
    runs = [binary, *scripts, *filter(os.path.isfile, at_own_path)]
    private += scripts
    found = packages.contents(runs)
    for d in dict.fromkeys(d for p in private
                           for d in (*packages.private_trees(p), *packages.module_trees(p))):
        if not any(m.guest == d for m in runtime_mounts):
            runtime_mounts.append(Mount(guest=d, host=d, readonly=True))
            modules += _loadable_below(d)
    # The packages' own trees below /usr/lib (packages.py), but one that
    # holds a program of the run (its package's own directory: private_trees
    # above) or a tree mounted already or inside one (gcc.py's
    # /usr/lib/gcc/<triplet>/<version>, a Java home).
    reals = [os.path.realpath(p) for p in runs]
    for d in found.trees:
        if any(r.startswith(d + "/") for r in reals) or \
                any(_nested(d, m.guest) for m in runtime_mounts):
            continue
        runtime_mounts.append(Mount(guest=d, host=d, readonly=True))
        modules += _loadable_below(d)
    for f in runtime_files:
        tree.add_host_path(f)
    objects += _modules_closure(tree, closure, modules, env, runtime_mounts)
    # What the caller's LD_PRELOAD names, which ld.so loads into every
    # program of the guest (libfaketime, libstdbuf); a packed image takes
    # nothing of the packing host's environment.
    if not packed:
        objects += [tree.add_host_path(lib) for lib in resolve_preload(closure, env)]
    # A #! script comes with the programs of its package (packages.programs),
    # and an added one, or a private program that is one (erlang's erl, which
    # erlc runs), with the interpreters its lines name, as the program's do:
    # each added as --add adds it.
    beside = [s for p in private for s in packages.private_programs(p)]
    names: dict[str, frozenset[str]] = {}    # object -> USER_PROGRAM_VARS it names
    siblings = packages.programs([*scripts, *added_scripts]) + \
        _named_programs([binary, *libraries]) + \
        [i for a in [*added_scripts, *filter(_is_script, beside)] for i in _interpreters(a)] + \
        beside + (["/bin/sh"] if shell else []) + \
        ([] if packed else _user_programs([binary, *(lib for soname, lib in closure.libraries
                                                    if soname != LIBC_SONAME)], env, names))
    pending = [*add, *named, *(p for p in dict.fromkeys(siblings) if p not in at_own_path)]
    taken = {*pending, *at_own_path}
    while pending:
        spec = pending.pop(0)
        try:
            rootfs.add_host(tree, spec)
        except LibsubstError:
            if spec in add:
                raise
            continue            # a sibling in the way of what the run has: left out
        try:
            added, added_mounts = _added_program(tree, spec, env, packed)
        except LibsubstError:
            if spec not in named:
                raise
            continue            # a script's command that cannot run: fails there as natively
        objects += added
        runtime_mounts += [m for m in added_mounts
                           if not any(m.guest == o.guest for o in runtime_mounts)]
        # what an added program or its libraries name of USER_PROGRAM_VARS
        # (svn's editor, named in libsvn_subr), each taken once
        if not packed:
            more = [p for p in _user_programs(
                [o for o in added if os.path.basename(o) != LIBC_SONAME], env, names)
                if p not in taken]
            pending += more
            taken.update(more)
    # Debugging files of what it loads, and of what its trees hold that a
    # loader of its own maps without ld.so (valgrind's vgpreload objects);
    # the trees are walked only on a host that has such files.
    if not packed and os.path.isdir(DEBUG_BUILD_IDS):
        below = [o for d in dict.fromkeys(m.host for m in runtime_mounts if m.readonly)
                 if os.path.isdir(d) for o in _loadable_below(d)]
        for debug in _debug_files(objects + below):
            tree.add_host_path(debug)
    if subst:
        from ..uklibc.cache import substitute

        for real in dict.fromkeys(objects):
            sub = substitute(real)
            if sub != real:
                tree.replace_host_file(real, sub)
    # A run resolves names as its host does (/etc/hosts); a packed image by its own.
    rootfs.add_etc(tree, hostname, host_names=not packed)
    state_dirs = rootfs.add_packages(tree, found)
    # The guest kernel expands #! at this first exec as at any execve.
    return Layout(tree, exe=os.path.realpath(path), execfn=program if "/" in program else path,
                  argv=[program, *args], objects=objects if subst else [],
                  runtime_mounts=runtime_mounts, state_dirs=state_dirs, scripts=scripts)


def _runs_shell(objects: Sequence[str]) -> bool:
    """Whether one of *objects* runs /bin/sh (SHELL_CALLS, SHELL_PATH)."""
    from ..elf import ElfFile

    for path in objects:
        try:
            with ElfFile.open(path) as elf:
                if SHELL_CALLS.intersection(elf.imports()) or elf.rodata_contains(SHELL_PATH):
                    return True
        except LibsubstError:
            continue            # resolve read it already: what it cannot read runs nothing
    return False


def _user_programs(objects: Sequence[str], env: Mapping[str, str],
                   names: dict[str, frozenset[str]]) -> list[str]:
    """The programs the USER_PROGRAM_VARS that one of *objects* names
    point at in ``env``, which the host has.  A variable is read only then:
    a cached plan is keyed by it for such programs only.  ``names``: what
    each object names, read once per layout (an LLVM tool's package brings
    150 programs, each with libLLVM's 110 MB)."""
    import shutil

    from ..elf import ElfFile

    named: set[str] = set()
    for path in objects:
        if path not in names:
            try:
                with ElfFile.open(path) as elf:
                    names[path] = frozenset(v for v in USER_PROGRAM_VARS
                                            if elf.rodata_contains(v.encode() + b"\0"))
            except LibsubstError:
                names[path] = frozenset()   # not an ELF file (a script, data): names nothing
        named |= names[path]
    found = []
    for var in USER_PROGRAM_VARS:
        words = (env.get(var) or "").split() if var in named else []
        if not words:
            continue
        prog = words[0] if "/" in words[0] else shutil.which(words[0], path=env.get("PATH"))
        if prog and os.path.isabs(prog) and os.path.isfile(prog) and \
                os.access(prog, os.R_OK | os.X_OK):
            found.append(prog)
    return found


def _named_programs(objects: Sequence[str]) -> list[str]:
    """The programs of each object's own package (``packages.programs``)
    that the object names by absolute path in its read-only data: a server
    runs its package's helpers so (dovecot and its libdovecot run
    ``/usr/bin/doveconf``).  What it names of other packages (dovecot's
    ``/usr/sbin/sendmail``) is still given with ``--add``."""
    from ..elf import ElfFile

    found = []
    for path in objects:
        mine = packages.programs([path])
        if not mine:
            continue
        try:
            with ElfFile.open(path) as elf:
                found += [p for p in mine if elf.rodata_contains(p.encode() + b"\0")]
        except LibsubstError:
            continue            # resolve read it already: what it cannot read names nothing
    return found


def _path_programs(binary: str, objects: Sequence[str]) -> list[str]:
    """The programs of the packages ``binary``'s package depends on
    (``packages.dependency_programs``) whose name one of *objects* holds
    as it would run it by name, as PATH finds it (libfuse3's
    ``fusermount3`` for fuse-overlayfs): see ``_holds_name``."""
    from ..elf import ElfFile

    wanted = {}
    for path in packages.dependency_programs(binary):
        wanted.setdefault(os.path.basename(path).encode(), path)
    found = []
    for obj in objects if wanted else ():
        try:
            with ElfFile.open(obj) as elf:
                found += [p for name, p in wanted.items()
                          if p not in found and _holds_name(elf, name, obj == binary)]
        except LibsubstError:
            continue            # resolve read it already: what it cannot read names nothing
    return found


# The calls that run a program by name, as PATH finds it.  A program that
# imports none runs nothing by a bare name (slapd's "true" and "users" are
# configuration words), though it may by a path; a library's bare words are
# its interface's (libperl's "chmod", Kerberos' "yes") even where it execs.
PATH_EXECS = frozenset({"execvp", "execvpe", "execlp", "posix_spawnp"})
# Shorter names are held for other reasons all the time ("ip" ends "gzip"):
# they count only where code takes their address ("ar"); one letter never
# counts (procps' "w" is fopen's mode too).
MIN_NAME = 3


def _holds_name(elf, name: bytes, program: bool) -> bool:
    """Whether *elf*'s read-only data holds the program name *name* as
    something it runs: the name in one of the ``packages.BIN_DIRS`` as a
    whole string (libfuse3's "/usr/bin/fusermount3"; "/etc/passwd" names
    no program), or, in a *program* that imports one of PATH_EXECS, a whole
    string of MIN_NAME bytes or more, or a tail of a longer string whose
    own address the code takes (the linker merges gcc-ar's "ar" into
    "gcc-ar").  A tail the code does not use is another word's end (git's
    "approve" is no perl "prove": a script brought so brings its
    interpreter's whole tree)."""
    ends = elf.rodata_ends(name)
    if not ends:
        return False
    if any(before in (None, 0) for d in packages.BIN_DIRS
           for _, before in elf.rodata_ends(d.encode() + name)):
        return True
    if not program or len(name) < 2 or not PATH_EXECS.intersection(elf.imports()):
        return False
    if len(name) >= MIN_NAME and any(before in (None, 0) for _, before in ends):
        return True
    return bool(elf.referenced([a for a, before in ends if before != ord("/")]))


def _interp_unchecked(binary: str) -> str | None:
    """The absolute PT_INTERP of an ELF whose PT_LOADs the reader refuses
    (its program headers whole), if that file exists; else None."""
    from ..elf import ElfFile

    try:
        with ElfFile.open(binary, check_loads=False) as elf:
            interp = elf.interp()
    except LibsubstError:
        return None
    return interp if interp and os.path.isabs(interp) and os.path.isfile(interp) else None


# Where the host keeps detached debugging information by build-id (Debian's
# -dbg and -dbgsym packages), read by gdb and valgrind (whose memcheck must
# find ld.so's strlen in libc6-dbg's symbols to start).
DEBUG_BUILD_IDS = "/usr/lib/debug/.build-id"


def _debug_files(objects: list[str]) -> list[str]:
    """The host's detached debugging files of ``objects``, named by their
    build-id: a substitute keeps its original's (uklibc/rewrite.py checks)
    and its addresses, so they describe it too.  Not in a packed image,
    which carries what runs."""
    from ..elf import ElfFile

    if not os.path.isdir(DEBUG_BUILD_IDS):
        return []
    found = []
    for obj in dict.fromkeys(objects):
        try:
            with ElfFile.open(obj) as elf:
                bid = elf.build_id()
        except (OSError, LibsubstError):
            continue
        if bid and len(bid) > 1:
            debug = f"{DEBUG_BUILD_IDS}/{bid[:1].hex()}/{bid[1:].hex()}.debug"
            if os.path.isfile(debug) and os.access(debug, os.R_OK):
                found.append(debug)
    return found


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _loadable_below(top: str) -> list[str]:
    """What a guest may load from a tree: its shared objects (dlopen'd
    modules, also those named with a version as a library is: graphviz's
    ``libgvplugin_pango.so.6``, libfaketime's ``libfaketime.so.1``) and its
    programs (erlang's erlexec and beam.smp, git's helpers), whose libraries
    the root then holds."""
    found = {}                      # one path per object: a version's links lead to one file
    for path in files_below(top, ("*.so", "*.so.*")):
        found.setdefault(os.path.realpath(path), path)
    return sorted(found.values()) + _programs_below(top)


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def _env_program(script: str, env: Mapping[str, str]) -> list[str]:
    """The program a ``#!/usr/bin/env NAME`` line (or ``env -S NAME ...``)
    has env(1) run, as the guest's PATH (the caller's) finds it; [] for
    other lines, or when env would find none (it then fails in the guest
    as natively)."""
    from ..ldso.program import env_command

    try:
        target = env_command(script, env.get("PATH"))
    except (LibsubstError, OSError):
        return []
    return [target] if target and os.path.isfile(target) else []


def _shell_programs(program: str, binary: str, args: Sequence[str], scripts: list[str],
                    added_scripts: list[str], env: Mapping[str, str]) -> list[str]:
    """What the shell scripts of the run name: the program's own (a script
    whose #! line ends at a shell, or the file or -c string a shell is
    given) and those added at their own path.  A shell's arguments are read
    only when the name run is a shell's: a cached plan is keyed by them
    then (api._args_keyed)."""
    from . import shell_commands as sc

    files, texts = [], []
    if sc.is_shell(binary):
        if scripts:
            files.append(scripts[0])
        elif not sc.is_shell(program):
            pass
        elif (string := sc.command_string(list(args))) is not None:
            texts.append(string)
        elif (operand := sc.script_operand(list(args))) is not None and os.path.isfile(operand):
            files.append(os.path.abspath(operand))
    files += [a for a in added_scripts if (i := _interpreters(a)) and sc.is_shell(i[-1])]
    if not files and not texts:
        return []
    try:
        return sc.programs(files, texts, env)
    except RecursionError:
        return []               # a text past what the reading can take: nothing brought


def _interpreters(script: str) -> list[str]:
    """The files a #! script's lines name, as far as an exec would find them."""
    from ..ldso.program import interpreters

    try:
        return [i for i in interpreters(script)[1:] if os.path.isfile(i)]
    except LibsubstError:
        return []               # the guest's exec says why, as Linux's would


def _added_program(tree: Tree, spec: str, env, packed: bool) -> tuple[list[str], list[Mount]]:
    """A program given with --add at its own path comes with what it loads:
    its interpreter and libraries join the image, and all of them are
    substituted like the main program's (the guest may execve it); an
    interpreter comes with its run-time trees as the main program does
    (perl's @INC, Python's standard library, and the extension modules
    there).  A directory added at its own path brings the same for each
    program in it (gcc's /usr/lib/gcc/x86_64-linux-gnu/12: cc1, collect2,
    lto-wrapper).  Returns (objects to substitute, mounts of run-time
    trees)."""
    host, _sep, guest = spec.partition(":")
    if guest:
        return [], []
    host = os.path.abspath(host)
    if os.path.isdir(host):
        objects, mounts = [], []
        for prog in _programs_below(host):
            more, more_mounts = _added_file(tree, prog, env, packed)
            objects += more
            mounts += [m for m in more_mounts if m not in mounts]
        return objects, mounts
    if not os.path.isfile(host):
        return [], []
    return _added_file(tree, host, env, packed)


def _programs_below(top: str) -> list[str]:
    """The dynamically linked ELF programs below directory ``top`` (regular
    files with an execute bit and a PT_INTERP), as os.walk finds them
    (symlinks to directories not followed)."""
    from ..elf import ElfFile

    found = []
    for root, _dirs, files in os.walk(top):
        for name in sorted(files):
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.access(path, os.X_OK):
                continue
            try:
                with open(path, "rb") as f:
                    if f.read(4) != b"\x7fELF":
                        continue
                with ElfFile.open(path) as elf:
                    if elf.interp():
                        found.append(path)
            except (OSError, LibsubstError):
                continue                    # not a program the guest can run
    return found


def _added_file(tree: Tree, host: str, env, packed: bool) -> tuple[list[str], list[Mount]]:
    """An added program's loaded objects and run-time trees (_added_program)."""
    from ..ldso.search import resolve

    try:
        closure = resolve(host, env)
    except LibsubstError:
        return [], []                             # not an ELF program: a plain file
    objects = [os.path.realpath(host)]
    if closure.interp:
        objects.append(tree.add_host_path(closure.interp))
    libraries = [lib for _soname, lib in closure.libraries]
    objects += [tree.add_host_path(lib) for lib in libraries]
    mounts, modules, files = rootfs.runtime_trees(host, env, packed=packed,
                                                  libraries=libraries)
    for f in files:
        tree.add_host_path(f)
    objects += _modules_closure(tree, closure, modules, env, mounts)
    return objects, mounts


def _modules_closure(tree: Tree, closure, modules: list[str], env,
                     mounts: list[Mount]) -> list[str]:
    """Puts the libraries the ``modules`` a program may dlopen need into
    ``tree``, and mounts in ``mounts`` the data those libraries read
    (rootfs.LIBRARY_DATA: a plugin's libfontconfig wants the fonts);
    returns their host paths."""
    from ..ldso.search import resolve_dlopen_closure

    libs = resolve_dlopen_closure(closure, modules, env)
    for d in dict.fromkeys(os.path.realpath(d) for d in rootfs.library_data(libs)):
        if not any(_nested(d, m.guest) for m in mounts):
            mounts.append(Mount(guest=d, host=d, readonly=True))
    return [tree.add_host_path(lib) for lib in libs]
