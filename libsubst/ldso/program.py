"""Find the program a user named and what the kernel must really map: the
PATH search of execvp(3) and the ``#!`` rule of execve(2)."""

from __future__ import annotations

import os
import stat

from ..elf import open_regular
from ..errors import NotAnElf, ProgramNotFound
from .search import in_root

SHEBANG_MAX = 256      # BINPRM_BUF_SIZE: Linux reads at most this much of a #! line
SCRIPT_DEPTH = 4       # Linux follows at most 4 levels of interpreters


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


def read_shebang(path: str, root: str = "") -> tuple[str, str | None] | None:
    """(interpreter, optional argument) of a ``#!`` script, or None for other files."""
    fd = open_regular(in_root(path, root))
    try:
        head = os.pread(fd, SHEBANG_MAX, 0)
    except OSError as e:
        raise ProgramNotFound(f"{path}: {e.strerror}") from None
    finally:
        os.close(fd)
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].strip(b" \t")
    if not line:
        raise NotAnElf(f"{path}: empty #! line")
    parts = line.split(None, 1)
    interp = os.fsdecode(parts[0])
    arg = os.fsdecode(parts[1].strip(b" \t")) if len(parts) > 1 else None
    return interp, arg


def resolve_script(path: str, argv: list[str], filename: str | None = None, root: str = ""
                   ) -> tuple[str, list[str], list[str]]:
    """Follow ``#!`` lines like execve(filename): returns (binary, argv, scripts
    seen).  The script's name in the new argv is ``filename`` as execve got it."""
    scripts = []
    shown = filename or path
    for _ in range(SCRIPT_DEPTH + 1):
        sb = read_shebang(path, root)
        if sb is None:
            return path, argv, scripts
        interp, arg = sb
        if not os.path.isabs(interp):
            raise ProgramNotFound(f"{path}: interpreter {interp} is not an absolute path")
        if not os.path.exists(in_root(interp, root)):
            raise ProgramNotFound(f"{path}: interpreter {interp} not found")
        scripts.append(path)
        argv = [interp] + ([arg] if arg else []) + [shown] + argv[1:]
        path = shown = interp
    raise NotAnElf(f"{scripts[0]}: too many levels of #! interpreters")
