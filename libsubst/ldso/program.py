"""Find the program a user named and the files an exec of it reads: the
PATH search of execvp(3) and the interpreters of execve(2)'s ``#!`` rule
(the rule itself is the guest kernel's, proc/exec_check.c)."""

from __future__ import annotations

import os
import re
import stat

from ..elf import open_regular
from ..elf.abi import ELFMAG
from ..errors import LibsubstError, ProgramNotFound
from .search import in_root


def find_program(name: str, path_env: str | None, root: str = "") -> str:
    """Absolute path of ``name``: as given when it contains '/', else the first
    executable regular file of that name in ``path_env`` (as execvp does).
    With ``root``, the search is in the root file system at that directory
    and the path returned is that file system's."""
    if not name:
        raise ProgramNotFound("no program given")
    if "/" in name:
        candidates = [name]
    else:
        dirs = (path_env if path_env is not None else "/usr/local/bin:/usr/bin:/bin").split(":")
        candidates = [os.path.join(d or ".", name) for d in dirs]
    for cand in candidates:
        if root and not cand.startswith("/"):
            continue                    # a container's PATH is absolute
        try:
            st = os.stat(in_root(cand, root))
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and "/" not in name:
            continue                    # execvp skips it; a path to one the exec refuses
        if "/" in name or os.access(in_root(cand, root), os.X_OK):
            return os.path.normpath(cand) if root else os.path.abspath(cand)
    raise ProgramNotFound(f"{name}: no such program" + ("" if "/" in name else " on PATH"))


def _limits():
    """exec.h's limits of the #! rule (the guest kernel applies them; here
    they only bound the reading)."""
    from .._abi import ffi
    lib = ffi.dlopen(None)
    return lib.LS_BINPRM_BUF_SIZE, lib.LS_EXEC_MAX_DEPTH


def read_interpreter(path: str, root: str = "") -> str | None:
    """The interpreter a ``#!`` script names (its line's first word, as far
    as Linux reads the line), "" for a line naming none, or None for other
    files.  How the line splits into interpreter and argument, and whether
    it is well-formed, is the guest kernel's to decide (proc/exec_check.c)
    at the exec."""
    buf_size, _depth = _limits()
    fd = open_regular(in_root(path, root))
    try:
        head = os.pread(fd, buf_size, 0)
    except OSError as e:
        raise ProgramNotFound(f"{path}: {e.strerror}") from None
    finally:
        os.close(fd)
    if not head.startswith(b"#!"):
        return None
    # The name ends at a blank, a NUL or the line's end, as binfmt_script reads it.
    name = re.split(rb"[ \t\0\n]", head[2:].lstrip(b" \t"), maxsplit=1)[0]
    return os.fsdecode(name)


# env(1)'s options that take the next word as their value (-u NAME, -C DIR).
_ENV_VALUED = {"-u", "--unset", "-C", "--chdir"}


def env_command(script: str, path_env: str | None, root: str = "") -> str | None:
    """The program a ``#!/usr/bin/env NAME`` script's env runs: NAME (after
    ``-S``'s options and assignments, as env splits them) found on
    ``path_env`` as env's execvp finds it; None when the line names no
    program or none is found (env then fails in the guest as natively)."""
    buf_size, _depth = _limits()
    fd = open_regular(in_root(script, root))
    try:
        head = os.pread(fd, buf_size, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not head.startswith(b"#!"):
        return None
    # Linux passes the line's rest, blanks at both ends stripped, as one argument.
    line = head[2:].split(b"\n", 1)[0].split(b"\0", 1)[0].strip(b" \t")
    parts = re.split(rb"[ \t]+", line, maxsplit=1)
    if len(parts) < 2:
        return None
    arg = os.fsdecode(parts[1].strip(b" \t"))
    words = arg[2:].split() if arg.startswith("-S") else [arg]
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in _ENV_VALUED:
            skip = True
        elif not word.startswith("-") and "=" not in word:
            try:
                return find_program(word, path_env if path_env is not None else "/bin:/usr/bin",
                                    root)
            except LibsubstError:
                return None
    return None


def interpreters(path: str, root: str = "", cwd: str | None = None) -> list[str]:
    """The files an execve of ``path`` reads, as the guest's root must hold
    them: ``path``, then each ``#!`` line's interpreter (a relative one is
    the working directory's, ``cwd``), as far as they are regular files
    (or the directory one names).  Where the exec would fail (a line naming
    no interpreter, one missing or not a regular file, more than exec.h's
    depth of them) the walk only stops: the guest kernel's exec reports that
    error at the first exec, as Linux's does, so the list may end at a
    script, a directory or a file that is no ELF."""
    _buf_size, depth = _limits()
    chain = [path]
    if os.path.isdir(in_root(path, root)):
        return chain                    # the exec opens it and refuses it: EACCES
    interp = read_interpreter(path, root)       # the program's own errors are raised
    for _ in range(depth + 1):
        if not interp:
            return chain
        if not os.path.isabs(interp):
            interp = os.path.normpath(os.path.join(cwd or (os.getcwd() if not root else "/"),
                                                   interp))
        if os.path.isdir(in_root(interp, root)):
            return chain + [interp]     # the exec opens it and refuses it: EACCES
        if not os.path.isfile(in_root(interp, root)):
            return chain
        chain.append(interp)
        try:
            interp = read_interpreter(interp, root)
        except LibsubstError:
            return chain                # unreadable: the kernel's exec decides
    return chain


def mapped_program(chain: list[str], root: str = "") -> str | None:
    """The ELF program an :func:`interpreters` chain ends at, the one the
    kernel maps; None when the exec will fail before it maps one: a ``#!``
    script's, or a program that is a directory (EACCES) or neither an ELF
    file nor a script (ENOEXEC, or EACCES without the execute bit).  A file
    that starts as an ELF file is returned, for the ELF reader to say what
    is wrong with it."""
    try:
        fd = open_regular(in_root(chain[-1], root))
    except LibsubstError:
        return None
    try:
        return chain[-1] if os.pread(fd, len(ELFMAG), 0) == ELFMAG else None
    except OSError:
        return None
    finally:
        os.close(fd)
