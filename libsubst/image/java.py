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

import os

from . import dpkg
from .walk import files_below


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
    return files_below(os.path.join(java_home, "lib"))


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


def class_path_closure(files: list[str], below: str = "/usr/") -> list[str]:
    """The jars the ``.jar`` files among ``files`` name in their manifests'
    ``Class-Path`` (the JAR specification: space-separated URLs relative to
    the jar), transitively, that exist and are not among ``files``: the
    class path a library jar brings, as DT_NEEDED is a shared object's
    (Debian's tomcat10-jasper.jar names eclipse-jdt-core.jar, the JSP
    compiler, of another package).  A name is taken relative to the jar as
    named and to its real path, as a class loader may have canonicalised
    it (Tomcat's does); only files ``below`` /usr, where Debian installs
    its jars, and no absolute URL."""
    seen = set(files)
    todo = [f for f in files if f.endswith(".jar")]
    found = []
    while todo:
        jar = todo.pop()
        for name in _manifest_class_path(jar):
            for base in dict.fromkeys((os.path.dirname(jar),
                                       os.path.dirname(os.path.realpath(jar)))):
                path = os.path.normpath(os.path.join(base, name))
                if path not in seen and path.startswith(below) and os.path.isfile(path) \
                        and os.access(path, os.R_OK):
                    seen.add(path)
                    found.append(path)
                    todo.append(path)
    return found


def _manifest_class_path(jar: str) -> list[str]:
    """The relative file names of ``jar``'s manifest ``Class-Path`` (its
    72-byte lines continued by a leading space); [] for a jar without one
    or that does not read."""
    import zipfile
    from urllib.parse import unquote

    try:
        with zipfile.ZipFile(jar) as z:
            text = z.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError):
        return []
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n ", "")
    for line in text.split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "class-path":
            return [unquote(u) for u in value.split()
                    if ":" not in u and not u.startswith("/")]
    return []
