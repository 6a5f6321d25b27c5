"""dpkg's database, read: the files a package installed (its list), the
package a file belongs to (cached), and the status file's fields (Source,
Depends).  What of a package a guest gets is the rule of ``packages.py``."""

from __future__ import annotations

import glob
import json
import os
import re

from .. import safedirs

DPKG = "/var/lib/dpkg"


def list_files(pkg: str) -> list[str]:
    for name in (f"{pkg}.list", f"{pkg}:amd64.list"):
        try:
            with open(os.path.join(DPKG, "info", name), "rb") as f:
                return [os.fsdecode(p) for p in f.read().splitlines() if p]
        except OSError:
            continue
    return []


def maintainer_script(pkg: str, name: str) -> str:
    """The text of a package's maintainer script (``postinst``...), "" if none."""
    for base in (pkg, f"{pkg}:amd64"):
        try:
            with open(os.path.join(DPKG, "info", f"{base}.{name}"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            continue
    return ""


def _cache_file() -> str:
    """The memo's file, in libsubst's cache, its path checked (safedirs.py)."""
    return os.path.join(safedirs.check(), "dpkg-owners.json")


# Part of the cache's stamp: answers found by an older rule are not reused.
_RULE = 2


def owner(path: str, follow: bool = True) -> str | None:
    """The package whose file list names the file ``path`` leads to (its
    real path), or with ``follow`` false ``path`` itself (a link a package
    ships), or None.  Answers are cached (a search of every list costs
    about 0.2 s) for as long as dpkg's database is unchanged (the mtimes of
    its info directory and status)."""
    real = os.path.realpath(path) if follow else \
        os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))),
                     os.path.basename(path))
    if not real.startswith(("/usr/", "/etc/")):     # programs, and configuration
        return None
    try:
        stamp = [_RULE] + [os.stat(os.path.join(DPKG, n)).st_mtime_ns
                           for n in ("info", "status")]
    except OSError:
        return None
    cache = _cache_file()
    try:
        with open(cache, encoding="utf-8") as f:
            known = json.load(f)
        if known.get("stamp") != stamp:
            known = {}
    except (OSError, ValueError):
        known = {}
    answers = known.get("owners", {})
    if real not in answers:
        answers[real] = _search(real)
        try:
            safedirs.check(make=True)
            tmp = f"{cache}.{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"stamp": stamp, "owners": answers}, f)
            os.replace(tmp, cache)
        except OSError:
            pass                       # no cache: the next run searches again
    return answers[real]


def _search(real: str) -> str | None:
    """Searches the file lists named like the program first, then all, for
    real or its merged-/usr twin (/bin/gzip)."""
    names = {real, real[len("/usr"):]}
    wanted = [os.fsencode(n) + b"\n" for n in names]
    base = os.path.basename(real).split(".")[0]
    lists = glob.glob(os.path.join(DPKG, "info", "*.list"))
    likely = [p for p in lists if os.path.basename(p).startswith(base)]
    for p in likely + [p for p in lists if p not in likely]:
        try:
            with open(p, "rb") as f:
                data = b"\n" + f.read()
        except OSError:
            continue
        if any(b"\n" + w in data for w in wanted):
            return os.path.basename(p)[:-len(".list")].split(":")[0]
    return None


class Status:
    """dpkg's status file; a package's fields parsed when asked for."""

    def __init__(self):
        try:
            with open(os.path.join(DPKG, "status"), encoding="utf-8", errors="replace") as f:
                self._text = "\n" + f.read()
        except OSError:
            self._text = ""
        self._seen: dict[str, dict[str, str] | None] = {}

    def get(self, pkg: str) -> dict[str, str] | None:
        """The fields of installed package pkg, or None."""
        if pkg not in self._seen:
            fields = None
            at = self._text.find(f"\nPackage: {pkg}\n")
            if at >= 0:
                end = self._text.find("\n\n", at + 1)
                block = self._text[at + 1:end if end >= 0 else None]
                fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*(?:\n .*)*)", block, re.M))
                if "installed" not in fields.get("Status", "").split():
                    fields = None
            self._seen[pkg] = fields
        return self._seen[pkg]


def source(status: Status, pkg: str) -> str:
    return (status.get(pkg) or {}).get("Source", pkg).split()[0]


def same_source(pkg: str, status: Status) -> list[str]:
    """pkg and, transitively, its dependencies built from the same source."""
    if status.get(pkg) is None:
        return [pkg]
    src = source(status, pkg)
    done, todo = [], [pkg]
    while todo:
        p = todo.pop()
        if p in done:
            continue
        done.append(p)
        for alt in (status.get(p) or {}).get("Depends", "").split(","):
            for dep in alt.split("|"):
                name = dep.split("(")[0].strip().split(":")[0]
                if status.get(name) and source(status, name) == src and name not in done:
                    todo.append(name)
    return done


def depends(pkg: str, status: Status) -> list[str]:
    """The installed packages pkg names in Depends (each alternative's first installed)."""
    out = []
    for alt in (status.get(pkg) or {}).get("Depends", "").split(","):
        for dep in alt.split("|"):
            name = dep.split("(")[0].strip().split(":")[0]
            if name and status.get(name):
                out.append(name)
                break
    return out
