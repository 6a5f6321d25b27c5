"""Find the program a user named and the files an exec of it reads: the
PATH search of execvp(3) and the interpreters of execve(2)'s ``#!`` rule
(the rule itself is the guest kernel's, proc/exec_check.c)."""

from __future__ import annotations

import os
import re
import stat

from ..elf import open_regular
from ..errors import NotAnElf, ProgramNotFound
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
        if stat.S_ISDIR(st.st_mode):
            if "/" in name:
                raise ProgramNotFound(f"{name} is a directory")
            continue
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
    as Linux reads the line), or None for other files.  How the line splits
    into interpreter and argument, and whether it is well-formed, is the
    guest kernel's to decide (proc/exec_check.c) at the exec."""
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
    if not name:
        raise NotAnElf(f"{path}: empty #! line")
    return os.fsdecode(name)


def interpreters(path: str, root: str = "", cwd: str | None = None) -> list[str]:
    """The files an execve of ``path`` reads, as the guest's root must hold
    them: ``path``, then each ``#!`` line's interpreter (a relative one is
    the working directory's, ``cwd``), ending at the program the kernel
    maps.  Past exec.h's depth the exec fails (ELOOP), and so does this."""
    _buf_size, depth = _limits()
    chain = [path]
    for _ in range(depth + 1):
        interp = read_interpreter(chain[-1], root)
        if interp is None:
            return chain
        if not os.path.isabs(interp):
            interp = os.path.normpath(os.path.join(cwd or (os.getcwd() if not root else "/"),
                                                   interp))
        if not os.path.exists(in_root(interp, root)):
            raise ProgramNotFound(f"{chain[-1]}: interpreter {interp} not found")
        chain.append(interp)
    raise NotAnElf(f"{path}: too many levels of #! interpreters (Linux follows {depth})")
