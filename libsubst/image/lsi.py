"""Packed unikernel images (``.lsi``): the file format.  One file holds a
program, its libraries (glibc replaced by its substitute), ld.so, a minimal
``/etc``, the guest kernel and a manifest that says how to boot them.

docs/image-format.md is the format's specification; this module is its
reference writer and reader (the manifest's fields: manifest.py; making an
image from a program: pack.py; running one: libsubst.planner).  In short::

    header   256 bytes: magic, format version, and the offset, size and
             sha256 of the three parts below
    manifest canonical JSON (argv, env, cwd, net, volumes, files, ...)
    kernel   the guest kernel binary, page-aligned
    data     every distinct file content once (content-addressed by
             sha256); ELF objects and large files page-aligned, so the
             guest kernel maps them straight from the image

Writing is deterministic: the same inputs give the same bytes (no
timestamps, every list sorted).  Reading never parses ELF: ``Image.open``
checks the header and the manifest and kernel digests; ``Image.verify``
checks every file's digest (``libsubst run`` does both before the guest
starts).  Imports nothing above ``errors`` (and the format's own modules).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
from collections.abc import Sequence

from ..errors import ImageError
from .magic import MAGIC
from .manifest import FORMAT_VERSION, FileRecord, Manifest

HEADER_SIZE = 256
PAGE = 4096
# Files the guest may map start on a page of the image; the rest are packed
# tight (16-byte aligned) so an image of many small files (Python's standard
# library) stays within a few percent of the files' size.
SMALL_ALIGN = 16
MAP_THRESHOLD = 64 * 1024
ELF_MAGIC = b"\x7fELF"

# magic, version, header_size, image_size, then (offset, size, sha256) of the
# manifest, the kernel and the data area; the rest of the 256 bytes is zero.
_HEADER = struct.Struct("<8sIIQ" + "QQ32s" * 3)
_COPY = 1 << 20


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class Image:
    """A packed image.

    Made from a program with ``Image.from_program`` (pack.py; then
    :meth:`write` it), or read from a file with :meth:`open` (then
    :meth:`verify` it, or run it with ``libsubst.run``).  :attr:`meta` is the
    typed manifest (manifest.py), :attr:`manifest` its JSON form as a dict
    (docs/image-format.md lists its fields).
    """

    def __init__(self, meta: Manifest, *, kernel: bytes | None = None,
                 sources: dict[str, str | bytes] | None = None, path: str | None = None,
                 fd: int = -1, header: dict | None = None, raw: dict | None = None):
        self.meta = meta
        self.path = path            # the file it was opened from, if any
        self.header = header        # offsets, sizes and digests of an opened image
        self._json = raw            # the manifest as read (an opened image)
        self._kernel = kernel       # the kernel's bytes (built: from the installation)
        self._sources = sources     # sha256 -> host path or bytes (built images only)
        self._fd = fd               # an opened image's file (O_RDONLY), -1 otherwise
        self._map: mmap.mmap | None = None

    @property
    def manifest(self) -> dict:
        """The manifest as JSON data (read-only by convention)."""
        if self._json is None:
            self._json = self.meta.to_json()
        return self._json

    # -- writing --------------------------------------------------------------

    def write(self, path: str | os.PathLike) -> None:
        """Write the image to ``path`` (atomically: a temporary file in the
        same directory, renamed).  Only an image made by from_program can be
        written; a source file that changed since it was read is an error."""
        if self._sources is None or self._kernel is None:
            raise ImageError("only an image made with Image.from_program can be written")
        path = os.fspath(path)
        out_dir = os.path.dirname(os.path.abspath(path))
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                       dir=out_dir)
        except OSError as e:
            raise ImageError(f"cannot write {path}: {e.strerror or e}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                self._write_to(out)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as e:
            _unlink(tmp)
            raise ImageError(f"cannot write {path}: {e.strerror or e}") from None
        except BaseException:
            _unlink(tmp)
            raise

    def _write_to(self, out) -> None:
        manifest = self.meta.encode()
        kernel = self._kernel
        m_off = HEADER_SIZE
        k_off = align(m_off + len(manifest), PAGE)
        d_off = align(k_off + len(kernel), PAGE)
        blobs = _blob_layout(self.meta.files)
        d_size = align(max((o + s for o, s, _ in blobs), default=0), PAGE)

        out.write(b"\0" * HEADER_SIZE)
        out.write(manifest)
        out.write(b"\0" * (k_off - m_off - len(manifest)))
        out.write(kernel)
        out.write(b"\0" * (d_off - k_off - len(kernel)))
        data_hash = hashlib.sha256()
        at = 0
        for off, size, digest in blobs:
            pad = b"\0" * (off - at)
            out.write(pad)
            data_hash.update(pad)
            h = hashlib.sha256()
            for chunk in chunks(self._sources[digest]):
                h.update(chunk)
                data_hash.update(chunk)
                out.write(chunk)
            if h.hexdigest() != digest:
                raise ImageError(f"a file changed while it was packed (sha256 {digest[:12]}...): pack again")
            at = off + size
        pad = b"\0" * (d_size - at)
        out.write(pad)
        data_hash.update(pad)
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, HEADER_SIZE, d_off + d_size,
                              m_off, len(manifest), hashlib.sha256(manifest).digest(),
                              k_off, len(kernel), hashlib.sha256(kernel).digest(),
                              d_off, d_size, data_hash.digest())
        out.seek(0)
        out.write(header)

    # -- reading --------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Image":
        """Open the image at ``path``: check its header, its manifest's and
        its kernel's digests (not yet the files': see :meth:`verify`).
        Raises ImageError with one line naming what is wrong."""
        path = os.fspath(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise ImageError(f"cannot open {path}: {e.strerror or e}") from None
        try:
            img = cls._from_fd(path, fd)
        except BaseException:
            os.close(fd)
            raise
        return img

    @classmethod
    def _from_fd(cls, path: str, fd: int) -> "Image":
        size = os.fstat(fd).st_size
        head = os.pread(fd, HEADER_SIZE, 0)
        if len(head) < len(MAGIC) or head[:len(MAGIC)] != MAGIC:
            raise ImageError(f"{path}: not a libsubst image (wrong magic)")
        if len(head) < _HEADER.size:
            raise ImageError(f"{path}: truncated ({size} bytes, shorter than the header)")
        (_magic, version, hsize, isize, m_off, m_size, m_sha, k_off, k_size, k_sha,
         d_off, d_size, d_sha) = _HEADER.unpack_from(head)
        if version > FORMAT_VERSION:
            raise ImageError(f"{path}: made by a newer libsubst (image format {version}; this "
                             f"libsubst reads format {FORMAT_VERSION} and older): upgrade libsubst")
        if version < 1 or hsize != HEADER_SIZE:
            raise ImageError(f"{path}: unsupported image format {version} (header of {hsize} bytes)")
        if size < isize:
            raise ImageError(f"{path}: truncated ({size} of {isize} bytes)")
        if size > isize:
            raise ImageError(f"{path}: {size - isize} bytes of trailing garbage after the image")
        if not (HEADER_SIZE <= m_off and m_off + m_size <= k_off and k_off % PAGE == 0
                and k_off + k_size <= d_off and d_off % PAGE == 0 and d_off + d_size == isize):
            raise ImageError(f"{path}: corrupt: the header's offsets are inconsistent")
        if any(head[_HEADER.size:HEADER_SIZE]):
            raise ImageError(f"{path}: corrupt: the header's reserved bytes are not zero")
        mm = mmap.mmap(fd, isize, mmap.MAP_PRIVATE, mmap.PROT_READ)
        manifest_bytes = mm[m_off:m_off + m_size]
        if hashlib.sha256(manifest_bytes).digest() != m_sha:
            raise ImageError(f"{path}: corrupt: the manifest does not match its sha256")
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as e:
            raise ImageError(f"{path}: corrupt: the manifest is not JSON ({e})") from None
        meta = Manifest.from_json(manifest, path, d_size)
        kernel = mm[k_off:k_off + k_size]
        if hashlib.sha256(kernel).digest() != k_sha or \
                meta.kernel["sha256"] != k_sha.hex():
            raise ImageError(f"{path}: corrupt: the guest kernel does not match its sha256")
        for a, b in ((m_off + m_size, k_off), (k_off + k_size, d_off)):
            if mm[a:b] != bytes(b - a):
                raise ImageError(f"{path}: corrupt: padding between the parts is not zero")
        header = {"format": version, "size": isize,
                  "manifest": {"offset": m_off, "size": m_size, "sha256": m_sha.hex()},
                  "kernel": {"offset": k_off, "size": k_size, "sha256": k_sha.hex()},
                  "data": {"offset": d_off, "size": d_size, "sha256": d_sha.hex()}}
        img = cls(meta, kernel=kernel, path=path, fd=fd, header=header, raw=manifest)
        img._map = mm
        return img

    def verify(self) -> None:
        """Check every file's bytes against its sha256, and that the data
        area holds nothing else (its gaps are zero).  Together with open's
        checks this is equivalent to checking the data area's digest, but
        names the file that is wrong."""
        if self._map is None or self.header is None:
            if self.header is not None and self.header["data"]["size"] == 0:
                return
            raise ImageError("only an opened image can be verified")
        mm, d_off = self._map, self.header["data"]["offset"]
        view = memoryview(mm)
        blobs = _blob_layout(self.meta.files, names=True)
        at = 0
        for off, size, _digest, path in blobs:
            if off < at:
                raise ImageError(f"{self.path}: corrupt: {path} overlaps another file's data")
            if view[d_off + at:d_off + off] != bytes(off - at):
                raise ImageError(f"{self.path}: corrupt: bytes before {path} are not zero")
            at = off + size
        end = self.header["data"]["size"]
        if view[d_off + at:d_off + end] != bytes(end - at):
            raise ImageError(f"{self.path}: corrupt: the end of the data area is not zero")
        bad = _hash_all(view, d_off, blobs)
        view.release()
        if bad is not None:
            raise ImageError(f"{self.path}: corrupt: {bad} does not match its sha256")

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def fd(self) -> int:
        """The opened image's file (O_RDONLY), which "image" entries are read from; -1."""
        return self._fd

    @property
    def kernel(self) -> bytes | None:
        """The guest kernel's bytes."""
        return self._kernel

    @property
    def argv(self) -> list[str]:
        return list(self.meta.argv)

    @property
    def files(self) -> list[dict]:
        """The manifest's file entries, sorted by path."""
        return list(self.manifest["files"])

    @property
    def kernel_build_id(self) -> str | None:
        return self.meta.kernel["build_id"]

    @property
    def size(self) -> int:
        """Bytes of the image file (an unwritten image: what write would write)."""
        if self.header is not None:
            return self.header["size"]
        m = len(self.meta.encode())
        blobs = _blob_layout(self.meta.files)
        data = align(max((o + s for o, s, _ in blobs), default=0), PAGE)
        return align(align(HEADER_SIZE + m, PAGE) + len(self._kernel or b""), PAGE) + data

    def content_size(self) -> int:
        """Bytes of the distinct files it holds, the kernel included (what the
        image's size is measured against)."""
        return sum(s for _o, s, _d in _blob_layout(self.meta.files)) + self.meta.kernel["size"]


# -- helpers ------------------------------------------------------------------------

def chunks(source: str | bytes):
    if isinstance(source, bytes):
        yield source
        return
    try:
        with open(source, "rb") as f:
            while chunk := f.read(_COPY):
                yield chunk
    except OSError as e:
        raise ImageError(f"cannot read {source}: {e.strerror or e}") from None


def _blob_layout(files: Sequence[FileRecord], names: bool = False) -> list[tuple]:
    """(offset, size, sha256[, first path]) of each distinct non-empty content, by offset."""
    seen: dict[tuple[int, int, str], str] = {}
    for f in files:
        if f.kind == "file" and f.size:
            seen.setdefault((f.offset, f.size, f.sha256), f.path)
    out = sorted(seen.items())
    return [(*k, p) if names else k for k, p in out]


def _hash_all(view: memoryview, base: int, blobs: list[tuple]) -> str | None:
    """The first path (in offset order) whose content does not match its
    sha256, or None.  Large images are hashed on two threads (hashlib
    releases the GIL): this is most of the time `run` spends on one."""
    def check(part, out):
        for off, size, digest, path in part:
            if hashlib.sha256(view[base + off:base + off + size]).hexdigest() != digest:
                out.append((off, path))
                return

    total = sum(b[1] for b in blobs)
    bad: list[tuple[int, str]] = []
    if total < 8 << 20 or (os.cpu_count() or 1) < 2:
        check(blobs, bad)
    else:
        import threading

        # Two halves by bytes; each thread stops at its first mismatch.
        acc, cut = 0, len(blobs)
        for i, b in enumerate(blobs):
            acc += b[1]
            if acc >= total // 2:
                cut = i + 1
                break
        other: list[tuple[int, str]] = []
        th = threading.Thread(target=check, args=(blobs[cut:], other))
        th.start()
        check(blobs[:cut], bad)
        th.join()
        bad += other
    return min(bad)[1] if bad else None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


