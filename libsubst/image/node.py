"""Where node finds modules, by its own rule (Node's module resolution,
read without running anything): the ``node_modules`` directories of the
working directory and each directory above it, the ``NODE_PATH`` entries,
and the global folders ``$HOME/.node_modules``, ``$HOME/.node_libraries``
and ``<prefix>/lib/node`` (prefix: the directory above the real
executable's); and ``<prefix>/share/nodejs``, where a distribution's node
built with shared builtins (Debian's ``--shared-builtin-*-path``) reads
the JavaScript of its externalized builtins.  Those that exist are mounted
read-only."""

from __future__ import annotations

import os
import re

NAME = re.compile(r"node(js)?")


def module_dirs(program: str, env: dict[str, str], cwd: str | None) -> list[str] | None:
    """The module directories a run of node ``program`` in ``cwd`` (None:
    none) may read, or None when it is not node (by its real file name)."""
    real = os.path.realpath(program)
    if not NAME.fullmatch(os.path.basename(real)):
        return None
    found = []
    d = os.path.abspath(cwd) if cwd else None
    while d:
        if os.path.basename(d) != "node_modules":
            found.append(os.path.join(d, "node_modules"))
        d = os.path.dirname(d) if d != "/" else None
    found += [p for p in env.get("NODE_PATH", "").split(":") if os.path.isabs(p)]
    home = env.get("HOME")
    if home:
        found += [os.path.join(home, ".node_modules"), os.path.join(home, ".node_libraries")]
    prefix = os.path.dirname(os.path.dirname(real))
    found += [os.path.join(prefix, "lib", "node"), os.path.join(prefix, "share", "nodejs")]
    return [p for p in dict.fromkeys(found) if os.path.isdir(p)]
