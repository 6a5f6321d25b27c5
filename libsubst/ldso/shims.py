"""Version managers' shims: the PATH entry pyenv, rbenv, nodenv, goenv or
asdf puts first is a script that runs the manager, which picks a build (by
an environment variable, a ``.python-version``-like file of the working
directory or its parents, the user's global choice) and execs it.  A guest
run through the shim would need the whole manager; libsubst asks the
manager which program the shim runs, as the shim itself would, and runs
that program instead."""

from __future__ import annotations

import os
import re
import subprocess

from ..elf import open_regular
from ..errors import ProgramNotFound

# The shim's last word: rbenv's family writes
#   exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"
# and asdf
#   exec /home/u/.asdf/bin/asdf exec "python3" "$@"
_EXEC_MANAGER = re.compile(
    rb'^exec\s+"?(/[^"\s]+)"?\s+exec\s+"?(?:\$program|[\w.+-]+)"?\s+"\$@"', re.M)
_SHIM_MAX = 4096        # a shim is a few lines; a bigger script is a program
# The managers, and where each keeps itself below its root, whose shims/
# holds the shims: a script that only looks like a shim runs nothing at
# planning (planning runs the manager outside any sandbox).
_MANAGERS = {name: ("libexec", name) for name in
             ("pyenv", "rbenv", "nodenv", "goenv", "plenv", "jenv", "phpenv")}
_MANAGERS["asdf"] = ("bin", "asdf")


def manager(path: str) -> str | None:
    """The manager the shim at ``path`` runs, or None if it is no shim."""
    try:
        fd = open_regular(path)         # a FIFO is not waited on; what is no file, exec says
    except ProgramNotFound:
        return None
    with os.fdopen(fd, "rb") as f:
        text = f.read(_SHIM_MAX + 1)
    if not text.startswith(b"#!") or len(text) > _SHIM_MAX:
        return None
    found = _EXEC_MANAGER.search(text)
    if found is None:
        return None
    runs = os.fsdecode(found.group(1))
    where = _MANAGERS.get(os.path.basename(runs))
    if where is None:
        return None
    root = os.path.dirname(os.path.dirname(os.path.realpath(path)))
    if os.path.basename(os.path.dirname(os.path.realpath(path))) != "shims" or \
            os.path.realpath(runs) != os.path.realpath(os.path.join(root, *where)):
        return None
    return runs if os.path.isfile(runs) and os.access(runs, os.X_OK) else None


def follow(path: str, env: dict) -> str:
    """``path``, or the program it runs if it is a manager's shim (the
    shim in its manager's ``shims/``, the manager at its place in the same
    root): what ``MANAGER which NAME`` answers in the caller's environment
    and working directory.  Only for a program PATH found: the caller's
    shell would run that same shim, and the manager, for the name.  The
    answer depends on files planning does not see (the manager's), so a
    plan that followed a shim is not cached (planwatch.unrepeatable)."""
    runs = manager(path)
    if runs is None:
        return path
    from .. import planwatch
    planwatch.unrepeatable()
    name, tool = os.path.basename(path), os.path.basename(runs)
    try:
        asked = subprocess.run([runs, "which", name], env=dict(env), stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ProgramNotFound(f"{name}: {path} is {tool}'s shim, and `{tool} which {name}` "
                              f"failed: {e}") from None
    answer = os.fsdecode(asked.stdout).strip().splitlines()
    said = os.fsdecode(asked.stderr).strip().splitlines()
    if asked.returncode != 0 or len(answer) != 1:
        why = said[-1] if said else f"exit status {asked.returncode}"
        raise ProgramNotFound(f"{name}: {path} is {tool}'s shim, and `{tool} which {name}` "
                              f"said: {why}")
    real = answer[0]
    if not os.path.isabs(real) or not os.path.isfile(real) or not os.access(real, os.X_OK):
        raise ProgramNotFound(f"{name}: {path} is {tool}'s shim, and `{tool} which {name}` "
                              f"named no program: {real!r}")
    return real
