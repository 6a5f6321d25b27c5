"""Where a JVM finds its run-time image, by its launcher's own rule (read
without running anything): OpenJDK's launcher (``java``, ``javac``,
``jar``, ``keytool``... all the same small program) takes the directory
above its real executable's ``bin`` as the Java home when that home has
``lib/libjava.so`` (java_md.c's GetJREPath), reads ``lib/jvm.cfg`` there
and dlopens ``lib/<vm>/libjvm.so``, whose class library is ``lib/modules``
and whose configuration is ``conf`` — on Debian links into
``/etc/java-N-openjdk``, which come with the package (packages.py), and
``lib/security/cacerts``, a link to ``/etc/ssl/certs/java/cacerts``.  The
home is mounted read-only; the shared objects below its ``lib`` are what
the launcher and the VM dlopen."""

from __future__ import annotations

import glob
import os

from . import dpkg


def home(program: str) -> str | None:
    """The Java home of the launcher at ``program`` (a path as invoked), or
    None when it is not one."""
    bindir = os.path.dirname(os.path.realpath(program))
    if os.path.basename(bindir) != "bin":
        return None
    top = os.path.dirname(bindir)
    if all(os.path.isfile(os.path.join(top, "lib", f)) for f in ("libjava.so", "jvm.cfg")):
        return top
    return None


def modules(java_home: str) -> list[str]:
    """The shared objects the launcher and the VM may dlopen."""
    return sorted(glob.glob(os.path.join(java_home, "lib", "**", "*.so"), recursive=True))


def outside_files(java_home: str) -> list[str]:
    """The files below /etc that links in the home lead to (Debian's
    ``cacerts``; the package's own ``/etc`` comes with it too): only links
    the home's packages ship (dpkg's file lists of the package of
    ``lib/libjava.so`` and those built from its source), so a home that is
    no package's (a JDK unpacked from a tarball) brings no host file from
    /etc by a link of its own (lib/x -> /etc/shadow)."""
    pkg = dpkg.owner(os.path.join(java_home, "lib", "libjava.so"))
    if pkg is None:
        return []
    shipped = {p for name in dpkg.same_source(pkg, dpkg.Status())
               for p in dpkg.list_files(name)}
    found = []
    for root, _dirs, files in os.walk(java_home):
        for name in files:
            path = os.path.join(root, name)
            if path in shipped and os.path.islink(path):
                real = os.path.realpath(path)
                if real.startswith("/etc/") and os.path.isfile(real):
                    found.append(real)
    return sorted(set(found))
