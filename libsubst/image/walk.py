"""The files below a host directory whose names match, without looping.

What ``glob.glob(top + "/**/" + pattern, recursive=True)`` finds — symlinks
to directories followed, names starting with a dot skipped — but, as
``find -L`` does, a link back to a directory on its own way down is not
followed: ``glob`` follows ``/usr/lib/llvm-14/build/Release -> ..`` and
``Debug+Asserts -> ..`` until the path is too long, some 2^35 directories
(``libsubst run FileCheck-14`` never started).  A tree without such a loop
gives what ``glob`` gives.
"""

from __future__ import annotations

import fnmatch
import os


def files_below(top: str, patterns: tuple[str, ...] = ("*.so",)) -> list[str]:
    """Sorted paths below ``top`` (``top`` itself included) of the
    non-directories whose names match one of ``patterns``."""
    found: list[str] = []
    try:
        st = os.stat(top)
    except OSError:
        return found
    # (directory, (device, inode) of it and of each directory above it)
    stack = [(top, frozenset({(st.st_dev, st.st_ino)}))]
    while stack:
        d, above = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir():
                    st = e.stat()
                    if (st.st_dev, st.st_ino) not in above:
                        stack.append((e.path, above | {(st.st_dev, st.st_ino)}))
                    continue
            except OSError:
                continue
            if any(fnmatch.fnmatchcase(e.name, p) for p in patterns):
                found.append(e.path)
    return sorted(found)
