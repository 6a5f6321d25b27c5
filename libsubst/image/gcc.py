"""What a GCC driver runs and reads, by its own rule (read without running
anything): ``gcc``, ``g++``, ``cpp`` (``cc``, ``c++`` through Debian's
alternatives) are drivers that exec the compiler proper, the assembler and
the linker, which read headers, start files and libraries:

- the driver's real file is ``<triplet>-<name>-<version>`` (Debian's
  ``x86_64-linux-gnu-gcc-12``); its own directory for programs and
  libraries is ``/usr/lib/gcc/<triplet>/<version>`` (``cc1``, ``cc1plus``,
  ``collect2``, ``lto-wrapper``, ``crtbegin.o``, ``libgcc.a``, the C++
  library's links), mounted read-only, its programs' libraries in the root;
- ``as`` and ``ld`` as found on ``PATH`` (binutils), with their libraries,
  and the other binutils and the driver's LTO wrappers (``gcc-ar-12``...)
  that build systems look for beside it (cmake's ``CMAKE_NM``,
  ``CMAKE_C_COMPILER_AR``..., libtool's ``nm``), which, missing, they
  record as not found;
- the headers below ``/usr/local/include`` and ``/usr/include``, the
  driver's own search path, mounted read-only (a directory it does not find
  changes what it prints and a build system records: cmake's implicit
  include directories);
- the C library's development files below ``/usr/lib`` (start files
  ``crt1.o``, ``libc.so``'s link script, ``libc_nonshared.a``, ``libm.so``...):
  the files dpkg lists for ``libc6-dev`` and the packages it depends on;
- the libraries the links and link scripts there lead to (``libstdc++.so``
  -> ``libstdc++.so.6``, ``libgcc_s.so``'s ``libgcc_s.so.1``), which the
  linker reads.
"""

from __future__ import annotations

import os
import re
import shutil

from . import dpkg

DRIVER = re.compile(r"(?P<triplet>[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_]+)-"
                    r"(?:gcc|g\+\+|cpp|c\+\+|gfortran)-(?P<version>\d+)")
LIBC_DEV = "libc6-dev"
HEADERS = ("/usr/local/include", "/usr/include")
# Looked for on PATH: the assembler and linker the driver execs, then the
# binutils and the driver's own wrappers (meson's gcc-ar, cmake's gcc-ar-12) a build
# system finds beside it.
TOOLS = ("as", "ld", "ar", "ranlib", "nm", "objcopy", "objdump", "readelf", "strip", "addr2line")
WRAPPERS = ("gcc-ar", "gcc-nm", "gcc-ranlib")
SCRIPT_NAME = re.compile(rb"[\s(]([^\s()]+\.so(?:\.\d+)*)\b")


class Toolchain:
    def __init__(self):
        self.trees: list[str] = []      # mounted read-only
        self.programs: list[str] = []   # whose libraries the root needs
        self.files: list[str] = []      # single host files (links followed)


def find(program: str, env: dict[str, str]) -> Toolchain | None:
    """The toolchain of the GCC driver at ``program``, or None when it is not one."""
    m = DRIVER.fullmatch(os.path.basename(os.path.realpath(program)))
    if not m:
        return None
    own = os.path.join("/usr/lib/gcc", m.group("triplet"), m.group("version"))
    if not os.path.isdir(own):
        return None
    t = Toolchain()
    t.trees = [d for d in (own, *HEADERS) if os.path.isdir(d)]
    t.programs = _executables(own)
    version = m.group("version")
    for tool in (*TOOLS, *WRAPPERS, *(f"{w}-{version}" for w in WRAPPERS)):
        found = shutil.which(tool, path=env.get("PATH", os.defpath))
        if found:
            t.files.append(found)
            t.programs.append(os.path.realpath(found))
    dev = [p for p in _dev_files() if not p.startswith(tuple(h + "/" for h in HEADERS))]
    t.files += dev
    t.files += _led_to(own, dev, os.path.join("/usr/lib", m.group("triplet")))
    return t


def _executables(top: str) -> list[str]:
    return sorted(os.path.join(root, f) for root, _dirs, files in os.walk(top) for f in files
                  if not os.path.islink(os.path.join(root, f))
                  and os.access(os.path.join(root, f), os.X_OK) and not f.endswith(".so"))


def _dev_files() -> list[str]:
    """The regular files and links below /usr/lib of libc6-dev and the
    development packages it depends on (libcrypt-dev's libcrypt.so...)."""
    status = dpkg.Status()
    names = [LIBC_DEV]
    for alt in (status.get(LIBC_DEV) or {}).get("Depends", "").split(","):
        name = alt.split("|")[0].split("(")[0].strip().split(":")[0]
        if name.endswith("-dev") and status.get(name):
            names.append(name)
    return [p for n in names for p in dpkg.list_files(n)
            if p.startswith("/usr/lib/") and (os.path.islink(p) or os.path.isfile(p))]


def _led_to(own: str, dev: list[str], libdir: str) -> list[str]:
    """The libraries the links in the driver's directory and the link
    scripts there and among the development files lead to (a name alone:
    in libdir, the multiarch library directory), where they exist."""
    out = []
    for root, _dirs, files in os.walk(own):
        for f in files:
            path = os.path.join(root, f)
            real = os.path.realpath(path)
            if os.path.islink(path) and not real.startswith(own + "/") and os.path.isfile(real):
                out.append(os.path.normpath(os.path.join(root, os.readlink(path))))
            elif f.endswith(".so") and not os.path.islink(path):
                out += _script_libraries(path, libdir)
    for path in dev:
        if path.endswith(".so") and not os.path.islink(path):
            out += _script_libraries(path, libdir)
    return sorted(set(out))


def _script_libraries(path: str, libdir: str) -> list[str]:
    """The shared libraries a linker script names (GROUP ( libgcc_s.so.1 )):
    absolute, or in libdir."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return []
    if b"\0" in head or b"GROUP" not in head and b"INPUT" not in head:
        return []
    out = []
    for name in SCRIPT_NAME.findall(head):
        lib = os.fsdecode(name)
        lib = lib if os.path.isabs(lib) else os.path.join(libdir, lib)
        if os.path.isfile(lib):
            out.append(lib)
    return out
