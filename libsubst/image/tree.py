"""The guest's root file system, as a flat list of entries.

The guest kernel resolves a path component by component through these
entries and follows symlinks as path_resolution(7) describes, so a host path
added here must keep every symlink on its way: ``/lib64/ld-linux-x86-64.so.2``
on Debian is ``/lib64`` (a directory) then a symlink to
``/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2``, where ``/lib`` is itself a
symlink to ``usr/lib``.
"""

import fnmatch
import os
import stat
from collections import namedtuple

from libsubst.errors import LibsubstError

# Linux gives up after 40 symlinks in one resolution (path_resolution(7)).
MAXSYMLINKS = 40


class Entry(namedtuple("Entry", "path kind mode host_path target data size mtime offset",
                       defaults=(None, None, None, 0, 0, None))):
    """One guest path.

    *kind* is ``dir``, ``file`` (contents read from *host_path*), ``data``
    (inline *data*), ``symlink`` (*target* as readlink(2) gives it) or
    ``image`` (*size* bytes at *offset* of a packed image file).
    *mode* holds permission bits only; *size* is the file's length; *mtime*
    its modification time in ns (the host file's, for ``file``).
    """

    __slots__ = ()


def _components(path):
    """Components of the absolute guest *path*; '.' and '' dropped."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise LibsubstError(f"guest path {path!r} is not absolute")
    return [c for c in path.split("/") if c not in ("", ".")]


def _join(parent, name):
    return parent.rstrip("/") + "/" + name


_KINDS = {"dir": "a directory", "file": "a host file", "symlink": "a symbolic link",
          "image": "a packed image's file",
          "data": "a file libsubst writes (the guest's own)"}


class Tree:
    """A guest root file system description, built from host paths and data."""

    def __init__(self, entries=()):
        """An empty root, or one of *entries* already checked (a packed
        image's, each parent listed)."""
        self._entries = {"/": Entry("/", "dir", 0o755)}
        self._entries.update((e.path, e) for e in entries)
        self._resolved = {}  # host symlink path -> the real path it leads to
        self._added = {}     # host path add_host_path added -> the real path it leads to
        self._journal = None  # what the current add_host_path added, to undo

    # -- adding -------------------------------------------------------------

    def _put(self, entry):
        old = self._entries.get(entry.path)
        if old is None:
            self._entries[entry.path] = entry
            if self._journal is not None:
                self._journal.append(entry.path)
        elif old.kind != entry.kind:
            raise LibsubstError(f"{entry.path} is already in the image as {_KINDS[old.kind]}, "
                                f"not {_KINDS[entry.kind]}")
        elif entry.kind != "dir" and old[3:6] != entry[3:6]:
            raise LibsubstError(f"{entry.path} is already in the image with different contents")

    def _parents(self, path):
        """Add missing parent directories of guest *path*; return its clean form."""
        comps = _components(path)
        if ".." in comps:
            raise LibsubstError(f"guest path {path} contains '..'")
        cur = "/"
        for name in comps[:-1]:
            cur = _join(cur, name)
            self._put(Entry(cur, "dir", 0o755))
        return _join(cur, comps[-1]) if comps else "/"

    def add_dir(self, path, mode=0o755):
        self._put(Entry(self._parents(path), "dir", mode))

    def add_data(self, path, data, mode=0o644):
        """A file with inline contents, e.g. a generated ``/etc/passwd``."""
        data = bytes(data)
        self._put(Entry(self._parents(path), "data", mode, data=data, size=len(data)))

    def add_symlink(self, path, target):
        self._put(Entry(self._parents(path), "symlink", 0o777, target=target))

    def add_host_path(self, path):
        """Make host *path* visible at the same guest path, as the host shows it.

        Directories on the way become ``dir`` entries, symlinks ``symlink``
        entries whose targets are added too, and the final regular file a
        ``file`` entry.  Returns the real host path *path* leads to.
        """
        path = os.fspath(path)
        if path in self._added:
            # Added before (a library many added programs load): its
            # entries stay, as nothing but a failed add removes any.
            return self._added[path]
        self._journal = []
        try:
            real = self._walk(path, [0])
            self._added[path] = real
            return real
        except BaseException:
            # Leave the tree as it was: no half-added path.
            for added in self._journal:
                del self._entries[added]
                self._resolved.pop(added, None)
            raise
        finally:
            self._journal = None

    def _walk(self, path, links):
        comps = _components(path)
        cur = "/"  # the real (symlink-free) directory reached so far
        for i, name in enumerate(comps):
            last = i == len(comps) - 1
            if name == "..":
                cur = os.path.dirname(cur)
                continue
            here = _join(cur, name)
            try:
                st = os.lstat(here)
            except OSError as e:
                raise LibsubstError(f"cannot add {path} to the image: {here}: {e.strerror}") from None
            if stat.S_ISLNK(st.st_mode):
                cur = self._follow(here, path, links)
            elif stat.S_ISDIR(st.st_mode):
                self._put(Entry(here, "dir", stat.S_IMODE(st.st_mode)))
                cur = here
            elif stat.S_ISREG(st.st_mode) and last:
                self._put(Entry(here, "file", stat.S_IMODE(st.st_mode), host_path=here, size=st.st_size,
                                mtime=st.st_mtime_ns))
                cur = here
            elif stat.S_ISREG(st.st_mode):
                raise LibsubstError(f"cannot add {path} to the image: {here} is not a directory")
            else:
                raise LibsubstError(f"cannot add {path} to the image: {here} is not a regular file, "
                                    "directory or symlink")
        return cur

    def _follow(self, link, path, links):
        """Add symlink *link* and what it points to; return where it leads."""
        if link in self._resolved:
            return self._resolved[link]
        links[0] += 1
        if links[0] > MAXSYMLINKS:
            raise LibsubstError(f"cannot add {path} to the image: too many levels of symbolic links")
        try:
            target = os.readlink(link)
        except OSError as e:
            raise LibsubstError(f"cannot add {path} to the image: {link}: {e.strerror}") from None
        self._put(Entry(link, "symlink", 0o777, target=target))
        # A relative target is relative to the directory holding the link.
        real = self._walk(target if target.startswith("/") else _join(os.path.dirname(link), target), links)
        self._resolved[link] = real
        return real

    def add_host_tree(self, host, guest=None, *, exclude=()):
        """Put host file or directory *host* at guest path *guest* (default:
        the same path), with everything below it, as the host shows it.

        Directories and regular files are copied as entries; a symlink is
        kept as a symlink, and when the tree lands at its own path its
        target is added too (as ``add_host_path`` does), so it resolves in
        the guest.  Other file types (devices, sockets, fifos) are skipped,
        and so is every path below *host* that matches a glob in *exclude*
        (matched against the path relative to *host*).
        """
        host = os.path.abspath(os.fspath(host))
        if guest is None:
            # At its own path: the directories on the way as the host has
            # them (Debian's /bin is a symlink to usr/bin), the tree at the
            # real place they lead to.
            parent = os.path.dirname(host)
            real_parent = self.add_host_path(parent) if parent != "/" else "/"
            host = _join(real_parent, os.path.basename(host)) if host != "/" else host
            guest = host
        same = guest == host
        try:
            st = os.lstat(host)
        except OSError as e:
            raise LibsubstError(f"cannot add {host} to the image: {e.strerror}") from None
        if stat.S_ISLNK(st.st_mode) and same:
            self.add_host_path(host)
            return
        if not stat.S_ISDIR(st.st_mode):
            self._add_one(host, self._parents(guest), st, same)
            return
        self._put(Entry(self._parents(guest), "dir", stat.S_IMODE(st.st_mode)))
        for root, dirs, files in os.walk(host, onerror=self._walk_error):
            rel_root = os.path.relpath(root, host)
            keep = []
            for name in sorted(dirs) + sorted(files):
                rel = os.path.normpath(os.path.join(rel_root, name))
                if any(fnmatch.fnmatch(rel, pat) for pat in exclude):
                    continue
                hp = os.path.join(root, name)
                try:
                    st = os.lstat(hp)
                except OSError as e:
                    raise LibsubstError(f"cannot add {hp} to the image: {e.strerror}") from None
                self._add_one(hp, _join(guest, rel), st, same)
                if stat.S_ISDIR(st.st_mode):
                    keep.append(name)
            dirs[:] = [d for d in dirs if d in keep]

    @staticmethod
    def _walk_error(e):
        raise LibsubstError(f"cannot add {e.filename} to the image: {e.strerror}")

    def _add_one(self, host, guest, st, same):
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            self._put(Entry(guest, "dir", mode))
        elif stat.S_ISREG(st.st_mode):
            self._put(Entry(guest, "file", mode, host_path=host, size=st.st_size,
                            mtime=st.st_mtime_ns))
        elif stat.S_ISLNK(st.st_mode):
            if same:
                try:
                    self.add_host_path(host)
                except LibsubstError:
                    # A dangling link (Debian's sitecustomize.py -> /etc/...):
                    # kept dangling, as the host shows it.
                    self._put(Entry(guest, "symlink", 0o777, target=os.readlink(host)))
            else:
                self._put(Entry(guest, "symlink", 0o777, target=os.readlink(host)))

    def add_host_file(self, path, host_path, mode=0o644):
        """A file at guest *path* read from host file *host_path* (a
        container's substituted libc, a file bound into it)."""
        st = os.stat(host_path)
        self._put(Entry(self._parents(path), "file", mode, host_path=os.fspath(host_path),
                        size=st.st_size, mtime=st.st_mtime_ns))

    def set_entry(self, entry):
        """Put *entry* at its path in place of what is there (the running
        host's /etc/resolv.conf for a packed image's)."""
        self._entries[entry.path] = entry

    def replace_host_file(self, path, host_path):
        """Serve the file entry at guest *path* from another host file (the
        substitute of a library), keeping its place in the tree."""
        old = self._entries.get(path)
        if old is None or old.kind != "file":
            raise LibsubstError(f"{path} is not a file of the image")
        self._entries[path] = old._replace(host_path=os.fspath(host_path),
                                           size=os.stat(host_path).st_size)

    # -- reading ------------------------------------------------------------

    def get(self, path):
        """The entry at guest *path* (no symlinks followed), or None."""
        comps = _components(path)
        return self._entries.get("/" + "/".join(comps))

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        """Every entry, in no particular order (entries() sorts them)."""
        return iter(self._entries.values())

    def entries(self):
        """Every entry, sorted by guest path as bytes; parents come first."""
        return sorted(self._entries.values(), key=lambda e: os.fsencode(e.path))
