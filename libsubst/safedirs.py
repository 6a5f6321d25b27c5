"""Directories whose contents decide what a guest runs: libsubst's cache,
$XDG_CACHE_HOME/libsubst (default ~/.cache/libsubst: boot plans
(plancache.py), substitutes (uklibc/cache.py), analyses and dpkg's owners
memo), and the image store (oci/store.py: a ref names the image `run REF`
boots).  Before either is used every directory on its path must be one only
the caller or root can change, as ssh and gpg check theirs: owned by the
caller or root and writable by neither group nor others (but the owner's
private group: see _private_group), symlinks followed to where they lead
(each checked there, and owned by the caller or root).  Above libsubst's
own directory a sticky directory (/tmp) may be writable by all: nobody else
can rename or remove what is the caller's in it.  Anything else is refused
with one line naming the directory and the fix (UnsafeDir), as is a path
with a `..` component (check_path); c_src/frontend/entry.c checks the
cache's the same before it serves a plan, and misses otherwise, so that
this module refuses the run."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from typing import NamedTuple

from .errors import LibsubstError

# Symlinks one walk follows at most, as Linux's path walk (ELOOP past it).
_MAX_LINKS = 40


class UnsafeDir(LibsubstError):
    """A directory of the cache's or the store's path that someone else could change."""


class Place(NamedTuple):
    """What a checked path is, for its refusal."""
    noun: str           # "the cache directory"
    harm: str           # what a planted file would do
    env: str            # the variable that moves it


CACHE = Place("the cache directory", "a plan or substitute planted there would be booted",
              "XDG_CACHE_HOME")
STORE = Place("the image store", "an image or ref planted there would be run", "LIBSUBST_STORE")


def root() -> str:
    """$XDG_CACHE_HOME/libsubst, or ~/.cache/libsubst (the path only, unchecked)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "libsubst")


_safe: set[tuple] = set()      # (euid, real directory, own) found safe in this process


def _refuse(place: Place, path: str, why: str, fix: str) -> UnsafeDir:
    return UnsafeDir(f"{place.noun} {path} {why}: {place.harm}; run {fix}, or set "
                     f"{place.env} to a directory of your own")


def _private_group(st: os.stat_result) -> bool:
    """Whether st's group is its owner's private one, which only the owner
    is in: the owner's primary group, named as the owner, no other member
    (listed, or by primary group).  Debian's USERGROUPS_ENAB makes such
    groups and a umask of 002, so a tool's ~/.cache is 0775; Debian's
    OpenSSH accepts a group-writable ~/.ssh on the same terms."""
    try:
        pw, gr = pwd.getpwuid(st.st_uid), grp.getgrgid(st.st_gid)
    except KeyError:
        return False
    return (pw.pw_gid == st.st_gid and gr.gr_name == pw.pw_name and
            all(m == pw.pw_name for m in gr.gr_mem) and
            not any(p.pw_gid == st.st_gid and p.pw_uid != st.st_uid for p in pwd.getpwall()))


def _check_dir(place: Place, path: str, st: os.stat_result, own: bool) -> None:
    uid = os.geteuid()
    if st.st_uid not in (uid, 0):
        raise _refuse(place, path, f"is owned by uid {st.st_uid}, not by you (uid {uid}) or root",
                      f"`chown {uid} {path}`")
    open_to = st.st_mode & 0o022
    if open_to & 0o020 and _private_group(st):
        open_to &= ~0o020
    if open_to and (own or not st.st_mode & stat.S_ISVTX):
        who = "group and others" if open_to == 0o022 else "group" if open_to & 0o020 else "others"
        raise _refuse(place, path, f"is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})",
                      f"`chmod go-w {path}`")


def check(sub: str = "", make: bool = False, mode: int = 0o755) -> str:
    """root()/sub after checking every directory of its path that exists
    (with ``make``, the missing ones made: 0755, the last ``mode``);
    raises UnsafeDir."""
    return check_path(CACHE, root(), sub, make, mode)


def check_path(place: Place, raw: str, sub: str = "", make: bool = False,
               mode: int = 0o755) -> str:
    """raw/sub, every directory of its path checked (check); raw and sub
    are libsubst's own directories."""
    # abspath folds `..` before the symlinks ahead of it are followed, the
    # kernel after: the directory checked would not be the one the caches
    # open (by root()), so such a path is refused, as the front end misses.
    if ".." in raw.split("/"):
        raise UnsafeDir(f"{place.noun} {raw} has a `..` component: the directory checked "
                        f"could differ from the one used; set {place.env} (or HOME) to a "
                        f"path without one")
    top = os.path.abspath(raw)
    target = os.path.join(top, sub) if sub else top
    parts = [p for p in target.split("/") if p]
    # libsubst's own directories: the last ``mine`` of the walk, wherever
    # a symlink leads (its target stands for the directory it replaces).
    mine = 1 + len([p for p in sub.split("/") if p])
    cur, links, i = "/", 0, 0
    _check_dir(place, cur, os.lstat(cur), False)
    while i < len(parts):
        name = parts[i]
        i += 1
        own = len(parts) - i < mine
        if name in (".", ""):
            continue
        if name == "..":
            cur = os.path.dirname(cur)
            continue
        nxt = os.path.join(cur, name)
        try:
            try:
                st = os.lstat(nxt)
            except FileNotFoundError:
                if not make:
                    return target
                with contextlib.suppress(FileExistsError):
                    os.mkdir(nxt, mode if i == len(parts) else 0o755)
                st = os.lstat(nxt)
        except OSError:
            return target               # unreachable: the caller's own access fails and says so
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if st.st_uid not in (os.geteuid(), 0) or links > _MAX_LINKS:
                raise _refuse(place, nxt, f"is a symlink of uid {st.st_uid}" if links <= _MAX_LINKS
                              else "is a symlink loop", f"`rm {nxt}`")
            to = os.readlink(nxt)
            if to.startswith("/"):
                cur = "/"
            parts[i:i] = [p for p in to.split("/") if p]
            continue
        if not stat.S_ISDIR(st.st_mode):
            return target               # not a directory: the caller's open fails
        if (os.geteuid(), nxt, own) not in _safe:
            _check_dir(place, nxt, st, own)
            _safe.add((os.geteuid(), nxt, own))
        cur = nxt
    return target
