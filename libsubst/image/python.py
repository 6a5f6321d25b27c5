"""Where a CPython finds its library, found the way CPython's own getpath
does it, by reading files and never running anything on the host:

1. A virtual environment: ``pyvenv.cfg`` next to the executable as invoked
   (not its real path) or one directory up; its ``home`` is the directory
   of the interpreter it was made from, ``include-system-site-packages``
   whether that one's site directories count too.
2. The prefix: from that directory (or the real executable's), upwards, the
   first directory holding the landmark ``lib/pythonX.Y/os.py``; ``X.Y``
   from the executable's name (``python3.11``; CPython 2 alike, ``python2.7``)
   or, for a bare ``python3``, the landmark found.
3. What the guest gets, read-only: ``<prefix>/lib/pythonX.Y`` (standard
   library, ``lib-dynload``, the prefix's own ``site-packages``), the site
   directories Debian's ``site.py`` adds below that prefix
   (``<prefix>/lib/python3/dist-packages``,
   ``<prefix>/local/lib/pythonX.Y``) where they exist, the wheels
   ``ensurepip`` installs into a new venv (sysconfig's ``WHEEL_PKG_DIR``,
   Debian's ``/usr/share/python-wheels``), and a venv's
   ``lib/pythonX.Y/site-packages`` with its ``pyvenv.cfg``.
4. Extension modules whose libraries go into the image: ``lib-dynload``'s,
   a venv's, and Debian's ``dist-packages``'; not those of a base
   interpreter's own ``site-packages`` (a pyenv build's holds hundreds of
   packages: scanning it took 0.77 s).

A program that embeds CPython (``libpythonX.Y.so`` among its libraries:
gdb, vim) finds its prefix from its program name, which such a program
sets to its build's (Debian's gdb: ``/usr/bin/python``); the landmark is
looked for from the library's directory upwards, which finds that prefix
for the interpreters a distribution builds (``find_embedded``).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

NAME = re.compile(r"python([23])(\.\d+)?")
LIBRARY = re.compile(r"libpython([23]\.\d+)\.so(\.[\d.]+)?")


@dataclass
class Layout:
    prefix: str
    version: str                                        # "3.11"
    venv: str | None = None
    trees: list[str] = field(default_factory=list)      # directories to mount read-only
    files: list[str] = field(default_factory=list)      # single files (pyvenv.cfg)
    scanned: list[str] = field(default_factory=list)    # where extension modules are looked for


def _venv_cfg(program: str) -> str | None:
    here = os.path.dirname(os.path.abspath(program))
    for d in (here, os.path.dirname(here)):
        cfg = os.path.join(d, "pyvenv.cfg")
        if os.path.isfile(cfg):
            return cfg
    return None


def _read_cfg(cfg: str) -> dict[str, str]:
    values = {}
    with open(cfg, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip().lower()] = value.strip()
    return values


def _prefix(start: str, version: str) -> tuple[str, str] | None:
    """(prefix, X.Y): the first directory from start upwards with the landmark
    (version: "3.11", or a major version alone, "3")."""
    d = os.path.abspath(start)
    while True:
        pattern = os.path.join(d, "lib", f"python{version if '.' in version else version + '.*'}",
                               "os.py")
        found = sorted(glob.glob(pattern))
        if found:
            return d, os.path.basename(os.path.dirname(found[-1]))[len("python"):]
        if d == "/":
            return None
        d = os.path.dirname(d)


def find(program: str) -> Layout | None:
    """The layout of the CPython at ``program`` (a path as invoked), or None
    when it is not a CPython (by its real file name) or has no landmark."""
    real = os.path.realpath(program)
    m = NAME.fullmatch(os.path.basename(real))
    if not m:
        return None
    version = m.group(1) + (m.group(2) or "")
    cfg = _venv_cfg(program)
    values = _read_cfg(cfg) if cfg else {}
    home = values.get("home")
    found = _prefix(home if home else os.path.dirname(real), version)
    if found is None and home:
        found = _prefix(os.path.dirname(real), version)
    if found is None:
        return None
    layout = _layout(*found)
    if cfg:
        layout.venv = os.path.dirname(cfg)
        layout.files.append(cfg)
        site = os.path.join(layout.venv, "lib", f"python{layout.version}", "site-packages")
        if os.path.isdir(site):
            layout.trees.append(site)
            layout.scanned.append(site)
    return layout


def find_embedded(libraries) -> Layout | None:
    """The layout of the CPython a program embeds: the first libpythonX.Y
    among ``libraries`` (host paths) whose landmark is found from its
    directory upwards, or None."""
    for lib in libraries:
        m = LIBRARY.fullmatch(os.path.basename(lib))
        found = m and _prefix(os.path.dirname(os.path.realpath(lib)), m.group(1))
        if found:
            return _layout(*found)
    return None


def _layout(prefix: str, version: str) -> Layout:
    """A base interpreter's trees (no venv): its library and Debian's site directories."""
    stdlib = os.path.join(prefix, "lib", f"python{version}")
    layout = Layout(prefix=prefix, version=version, trees=[stdlib],
                    scanned=[os.path.join(stdlib, "lib-dynload")])
    dist = os.path.join(prefix, "lib", "python3", "dist-packages")
    local = os.path.join(prefix, "local", "lib", f"python{version}")
    for d in (dist, local):
        if os.path.isdir(d):
            layout.trees.append(d)
    if os.path.isdir(dist):
        layout.scanned.append(dist)
    wheels = _wheel_dir(stdlib)
    if wheels:
        layout.trees.append(wheels)
    return layout


WHEEL_PKG_DIR = re.compile(r"""['"]WHEEL_PKG_DIR['"]:\s*['"]([^'"]+)['"]""")


def _wheel_dir(stdlib: str) -> str | None:
    """Where ensurepip (``python3 -m venv``) takes its wheels from when the
    build names one: sysconfig's WHEEL_PKG_DIR, read from the standard
    library's ``_sysconfigdata_*.py`` (Debian's: /usr/share/python-wheels,
    python3-pip-whl's; its ensurepip bundles none)."""
    for data in sorted(glob.glob(os.path.join(stdlib, "_sysconfigdata_*.py"))):
        try:
            with open(data, encoding="utf-8", errors="replace") as f:
                found = WHEEL_PKG_DIR.search(f.read())
        except OSError:
            continue
        if found and os.path.isabs(found.group(1)) and os.path.isdir(found.group(1)):
            return os.path.normpath(found.group(1))
    return None
