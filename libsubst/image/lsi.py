"""Packed unikernel images (``.lsi``): one file holding a program, its
libraries (glibc replaced by its substitute), ld.so, a minimal ``/etc``, the
guest kernel and a manifest that says how to boot them.

docs/image-format.md is the format's specification; this module is its
reference writer and reader.  In short::

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
starts).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import struct
import tempfile
from collections.abc import Mapping, Sequence

from ..errors import ImageError, VolumeError
from .magic import MAGIC
from .tree import Entry

FORMAT_VERSION = 1
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

# The environment an image gets when packing names none: images never take
# the packing host's environment.
DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
HOSTNAME = "libsubst"

_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_COPY = 1 << 20


def _up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _canonical(obj) -> bytes:
    """The manifest's canonical encoding: sorted keys, no spaces, ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _pathkey(path: str) -> bytes:
    return os.fsencode(path)


def parse_declared_volume(spec: str) -> tuple[str, bool]:
    """``[HOST:]GUEST[:ro|:rw]`` as ``pack --volume`` takes it -> (guest, readonly).

    A HOST part is accepted (so the same --volume works for run and pack)
    and ignored: a packed image only records where it expects a volume."""
    parts = spec.split(":")
    ro = False
    if len(parts) > 1 and parts[-1] in ("ro", "rw"):
        ro = parts.pop() == "ro"
    if len(parts) > 2 or not parts[-1]:
        raise VolumeError(f"--volume {spec!r}: expected [HOST:]GUEST[:ro]")
    guest = parts[-1]
    if not guest.startswith("/"):
        raise VolumeError(f"--volume {spec!r}: the guest path must be absolute")
    guest = os.path.normpath(guest)
    if guest == "/":
        raise VolumeError("a volume cannot be mounted at / (the guest's root is its image)")
    return guest, ro


class Image:
    """A packed image.

    Made from a program with :meth:`from_program` (then :meth:`write` it),
    or read from a file with :meth:`open` (then :meth:`verify` it, or run it
    with ``libsubst.run``).  :attr:`manifest` is the manifest as a dict (see
    docs/image-format.md for its fields).
    """

    def __init__(self, manifest: dict, *, kernel: bytes | None = None,
                 sources: dict[str, str | bytes] | None = None, path: str | None = None,
                 fd: int = -1, header: dict | None = None):
        self.manifest = manifest
        self.path = path            # the file it was opened from, if any
        self.header = header        # offsets, sizes and digests of an opened image
        self._kernel = kernel       # the kernel's bytes (built: from the installation)
        self._sources = sources     # sha256 -> host path or bytes (built images only)
        self._fd = fd               # an opened image's file (O_RDONLY), -1 otherwise
        self._map: mmap.mmap | None = None

    # -- making ---------------------------------------------------------------

    @classmethod
    def from_program(cls, program: str, args: Sequence[str] = (), *,
                     env: Mapping[str, str] | None = None, volumes: Sequence[str] = (),
                     workdir: str | None = None, net: str = "host", subst: bool = True,
                     add: Sequence[str] = (), keep_args: int = 0,
                     specialize: bool = False, keep_calls: Sequence[str] = ()) -> "Image":
        """Lay out ``program`` and ``args`` the way ``libsubst run`` would and
        take every file's contents into a new image.

        ``env`` is added to :data:`DEFAULT_ENV` (the packing environment is
        never recorded); ``volumes`` declare mount points (``[HOST:]GUEST[:ro]``)
        that ``run`` must bind; ``add`` puts more host files or trees into the
        image (``HOST[:GUEST]``).  The working directory is ``/`` unless
        ``workdir`` says otherwise; it is neither packed nor mounted.
        Arguments given at run time replace the recorded ones after the first
        ``keep_args`` of ``args`` (0: all of them, as docker's CMD; 1 for
        ``python3 script.py`` makes run's arguments the script's).
        ``specialize``: the image's kernel serves only the calls ``libsubst
        analyze`` finds for the program and the programs added
        (``kernel.specialize``), and those named in ``keep_calls``."""
        from .. import api

        image_env = dict(DEFAULT_ENV)
        image_env.update(env or {})
        if not 0 <= keep_args <= len(args):
            raise ImageError(f"--keep-args {keep_args}: there are {len(args)} arguments to keep")
        spec = api.prepare(program, args, env=image_env, volumes=volumes, workdir=workdir,
                           subst=subst, net=net, add=add, for_image=True)
        served = None
        if specialize:
            from .specialized import analysed_calls
            served = analysed_calls(program, args, add, keep_calls)
        return cls._from_spec(spec, len(args), keep_args, subst, served=served)

    @classmethod
    def from_container(cls, source: str, program: str, args: Sequence[str] = (), *,
                       env: Mapping[str, str] | None = None, volumes: Sequence[str] = (),
                       workdir: str | None = None, net: str = "host", subst: bool = True,
                       keep_args: int = 0, insecure: bool = False) -> "Image":
        """Pack ``program`` from a container image — an OCI image layout
        directory, a ``docker save``/``podman save`` archive, or a registry
        reference — with that image's root file system and its own libraries
        (glibc substituted), its config's environment and working directory.
        The other arguments are ``from_program``'s."""
        import tempfile

        from ..oci import layers
        from . import container

        if not 0 <= keep_args <= len(args):
            raise ImageError(f"--keep-args {keep_args}: there are {len(args)} arguments to keep")
        work = tempfile.TemporaryDirectory(prefix="libsubst-oci-")
        try:
            source_image = layers.open_any(source, os.path.join(work.name, "src"),
                                           insecure=insecure)
            root = os.path.join(work.name, "root")
            layers.unpack(source_image, root)
            spec = container.prepare(root, source_image.config, program, args, env=env,
                                     volumes=volumes, workdir=workdir, net=net, subst=subst)
            image = cls._from_spec(spec, len(args), keep_args, subst, root=root)
        except BaseException:
            work.cleanup()
            raise
        image._work = work         # the files stay until the image is written or dropped
        return image

    @classmethod
    def _from_spec(cls, spec, nargs: int, keep_args: int, subst: bool,
                   root: str = "", served: dict | None = None) -> "Image":
        """An image of a prepared boot spec, with the installed kernel, or
        one linked for the calls of ``served`` (``_analysed_calls``)."""
        from ..elf import ElfFile
        from ..monitor.guest import kernel_path

        kpath = kernel_path()
        specialized, allowed = None, None
        if served is None:
            with open(kpath, "rb") as f:
                kernel = f.read()
        else:
            from .specialized import kernel_for
            kernel, specialized, allowed = kernel_for(served)
        build_id = ElfFile(kernel, kpath).build_id()

        files, sources = _pack_files(spec.entries)
        manifest = {
            "format": FORMAT_VERSION,
            "libsubst": {"version": _libsubst_version()},
            "kernel": {"build_id": build_id.hex() if build_id else None,
                       "sha256": hashlib.sha256(kernel).hexdigest(), "size": len(kernel),
                       "seccomp": _seccomp_summary(allowed), "namespaces": _namespaces()},
            "exe": spec.exe,
            "execfn": spec.execfn,
            "argv": list(spec.argv),
            # argv[0] and the first keep_args arguments stay when run gets ARGS;
            # a #! script adds its interpreter's words in front (resolve_script).
            "keep_argc": 1 + keep_args + (len(spec.argv) - 1 - nargs),
            "env": list(spec.env),
            "cwd": spec.cwd,
            "hostname": spec.hostname,
            "net": spec.net,
            "volumes": sorted(({"path": m.guest, "readonly": m.readonly} for m in spec.mounts),
                              key=lambda v: _pathkey(v["path"])),
            "files": files,
            "substitution": _substitution(spec.objects, subst, root),
        }
        if specialized:
            manifest["kernel"]["specialized"] = specialized
        return cls(manifest, kernel=kernel, sources=sources)

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
        manifest = _canonical(self.manifest)
        kernel = self._kernel
        m_off = HEADER_SIZE
        k_off = _up(m_off + len(manifest), PAGE)
        d_off = _up(k_off + len(kernel), PAGE)
        blobs = _blob_layout(self.manifest["files"])
        d_size = _up(max((o + s for o, s, _ in blobs), default=0), PAGE)

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
            for chunk in _chunks(self._sources[digest]):
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
        _check_manifest(path, manifest, d_size)
        kernel = mm[k_off:k_off + k_size]
        if hashlib.sha256(kernel).digest() != k_sha or \
                manifest["kernel"]["sha256"] != k_sha.hex():
            raise ImageError(f"{path}: corrupt: the guest kernel does not match its sha256")
        for a, b in ((m_off + m_size, k_off), (k_off + k_size, d_off)):
            if mm[a:b] != bytes(b - a):
                raise ImageError(f"{path}: corrupt: padding between the parts is not zero")
        header = {"format": version, "size": isize,
                  "manifest": {"offset": m_off, "size": m_size, "sha256": m_sha.hex()},
                  "kernel": {"offset": k_off, "size": k_size, "sha256": k_sha.hex()},
                  "data": {"offset": d_off, "size": d_size, "sha256": d_sha.hex()}}
        img = cls(manifest, kernel=kernel, path=path, fd=fd, header=header)
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
        blobs = _blob_layout(self.manifest["files"], names=True)
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

    # -- what it holds --------------------------------------------------------

    @property
    def argv(self) -> list[str]:
        return list(self.manifest["argv"])

    @property
    def files(self) -> list[dict]:
        """The manifest's file entries, sorted by path."""
        return list(self.manifest["files"])

    @property
    def kernel_build_id(self) -> str | None:
        return self.manifest["kernel"]["build_id"]

    @property
    def size(self) -> int:
        """Bytes of the image file (an unwritten image: what write would write)."""
        if self.header is not None:
            return self.header["size"]
        m = len(_canonical(self.manifest))
        blobs = _blob_layout(self.manifest["files"])
        data = _up(max((o + s for o, s, _ in blobs), default=0), PAGE)
        return _up(_up(HEADER_SIZE + m, PAGE) + len(self._kernel or b""), PAGE) + data

    def content_size(self) -> int:
        """Bytes of the distinct files it holds, the kernel included (what the
        image's size is measured against)."""
        return sum(s for _o, s, _d in _blob_layout(self.manifest["files"])) + \
            self.manifest["kernel"]["size"]

    # -- running --------------------------------------------------------------

    def boot_spec(self, args: Sequence[str] | None = None, *, volumes: Sequence[str] = (),
                  env: Mapping[str, str] | None = None, workdir: str | None = None,
                  net: str | None = None):
        """The boot spec for running this (opened) image; see ``libsubst.run``."""
        from ..monitor.bootinfo import BootSpec, Mount
        from . import rootfs
        from .rootfs import parse_volume

        if self._fd < 0 or self.header is None:
            raise ImageError("write the image and open it to run it")
        m = self.manifest
        argv = list(m["argv"])
        if args is not None:
            argv = argv[:m["keep_argc"]] + list(args)
        envl = list(m["env"])
        for k, v in (env or {}).items():
            envl = [e for e in envl if e.split("=", 1)[0] != k] + [f"{k}={v}"]
        net = net or m["net"]
        if net not in ("host", "none"):
            raise ImageError(f"--net {net}: expected host or none")

        bound = [v if isinstance(v, Mount) else parse_volume(v) for v in volumes]
        mounts = []
        for decl in m["volumes"]:
            match = [b for b in bound if b.guest == decl["path"]]
            if not match:
                raise VolumeError(f"the image expects a volume at {decl['path']}: bind one with "
                                  f"--volume HOST:{decl['path']}")
            b = match[-1]
            mounts.append(Mount(guest=b.guest, host=b.host, readonly=b.readonly or decl["readonly"]))
        declared = {d["path"] for d in m["volumes"]}
        mounts += [b for b in bound if b.guest not in declared]
        for b in mounts:
            if b.guest == "/":
                raise VolumeError("a volume cannot be mounted at / (the guest's root is its image)")

        d_off = self.header["data"]["offset"]
        entries: dict[str, Entry] = {}      # in the manifest's (sorted) order
        for f in m["files"]:
            p, kind = f["path"], f["kind"]
            if kind == "dir":
                entries[p] = Entry(p, "dir", f["mode"])
            elif kind == "symlink":
                entries[p] = Entry(p, "symlink", 0o777, target=f["target"])
            else:
                entries[p] = Entry(p, "image", f["mode"], size=f["size"], mtime=f["mtime_ns"],
                                   offset=d_off + f["offset"])
        if net == "host" and "/etc/resolv.conf" in entries and os.path.isfile("/etc/resolv.conf"):
            # The name servers of the host it runs on, not of the one it was packed on.
            try:
                with open("/etc/resolv.conf", "rb") as fh:
                    data = fh.read()
                entries["/etc/resolv.conf"] = Entry("/etc/resolv.conf", "data", 0o644, data=data,
                                                    size=len(data))
            except OSError:
                pass
        added, scratch = rootfs.scratch_mounts(
            mounts, [p for p, e in entries.items() if e.kind != "dir"],
            rootfs.image_state_dirs(entries))
        mounts += added
        n = len(entries)
        for b in mounts:
            _add_dirs(entries, b.guest)
        ents = list(entries.values())
        if len(entries) != n:
            ents.sort(key=lambda e: _pathkey(e.path))
        return BootSpec(exe=m["exe"], execfn=m["execfn"], argv=argv, env=envl,
                        cwd=workdir or m["cwd"], entries=ents,
                        mounts=mounts, hostname=m["hostname"], uid=os.getuid(), gid=os.getgid(),
                        net=net, scratch=scratch, image_fd=self._fd)

    def kernel_executable(self) -> tuple[str, int, str | None]:
        """An executable copy of the image's own kernel: (path to exec, fd
        the child must inherit or -1, temporary file to remove or None).
        A sealed memfd normally; a private temporary file where the host
        forbids executing memfds (vm.memfd_noexec = 2)."""
        import fcntl

        kernel = self._kernel
        try:
            try:
                fd = os.memfd_create("libsubst-kernel", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | 0x10)
            except OSError:           # MFD_EXEC (Linux 6.3) unknown: exec is allowed anyway
                fd = os.memfd_create("libsubst-kernel", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            _write_all(fd, kernel)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK |
                        fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
            return f"/proc/self/fd/{fd}", fd, None
        except OSError:
            pass
        fd, tmp = tempfile.mkstemp(prefix="libsubst-kernel-")
        try:
            _write_all(fd, kernel)
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
        return tmp, -1, tmp


# -- helpers ------------------------------------------------------------------------

def _namespaces() -> list[str]:
    """What the tender makes for every guest (net: with --net none)."""
    from ..kernel import hostcalls

    return list(hostcalls.NAMESPACES)


def _seccomp_summary(allowed=None) -> dict:
    """The host-call allow-list compiled into the kernel being packed (a
    specialised kernel's: ``allowed``, whose names it lists too)."""
    from ..kernel import hostcalls

    out = {}
    if allowed is not None:
        out["calls"] = [h.name for h in allowed]
    else:
        allowed = hostcalls.allowed()
    out.update({"allowed": len(allowed), "pinned": sum(1 for h in allowed if h.pins)})
    return out


def _libsubst_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("libsubst")
    except metadata.PackageNotFoundError:
        return "unknown"


def _chunks(source: str | bytes):
    if isinstance(source, bytes):
        yield source
        return
    try:
        with open(source, "rb") as f:
            while chunk := f.read(_COPY):
                yield chunk
    except OSError as e:
        raise ImageError(f"cannot read {source}: {e.strerror or e}") from None


def _pack_files(entries: Sequence[Entry]) -> tuple[list[dict], dict[str, str | bytes]]:
    """Manifest file entries with data offsets, and sha256 -> source."""
    files: list[dict] = []
    sources: dict[str, str | bytes] = {}
    sizes: dict[str, int] = {}
    mappable: dict[str, bool] = {}
    for e in sorted(entries, key=lambda e: _pathkey(e.path)):
        if e.kind == "dir":
            files.append({"path": e.path, "kind": "dir", "mode": e.mode})
        elif e.kind == "symlink":
            files.append({"path": e.path, "kind": "symlink", "target": e.target})
        elif e.kind in ("file", "data"):
            src = e.host_path if e.kind == "file" else e.data
            digest, size, head = _digest(src)
            sources.setdefault(digest, src)
            sizes[digest] = size
            mappable[digest] = head == ELF_MAGIC or size >= MAP_THRESHOLD
            files.append({"path": e.path, "kind": "file", "mode": e.mode,
                          "mtime_ns": e.mtime or 0, "size": size, "sha256": digest})
        else:
            raise ImageError(f"{e.path}: a {e.kind} entry cannot be packed")
    # Place each distinct content once, in the order of its first path.
    offsets: dict[str, int] = {}
    at = 0
    for f in files:
        d = f.get("sha256")
        if d is None or d in offsets:
            continue
        if sizes[d] == 0:
            offsets[d] = 0
            continue
        at = _up(at, PAGE if mappable[d] else SMALL_ALIGN)
        offsets[d] = at
        at += sizes[d]
    for f in files:
        if "sha256" in f:
            f["offset"] = offsets[f["sha256"]]
    return files, sources


def _digest(src: str | bytes) -> tuple[str, int, bytes]:
    if isinstance(src, bytes):
        return hashlib.sha256(src).hexdigest(), len(src), src[:4]
    h = hashlib.sha256()
    size = 0
    head = b""
    for chunk in _chunks(src):
        if not size:
            head = chunk[:4]
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size, head


def _blob_layout(files: Sequence[dict], names: bool = False) -> list[tuple]:
    """(offset, size, sha256[, first path]) of each distinct non-empty content, by offset."""
    seen: dict[tuple[int, int, str], str] = {}
    for f in files:
        if f["kind"] == "file" and f["size"]:
            seen.setdefault((f["offset"], f["size"], f["sha256"]), f["path"])
    out = sorted(seen.items())
    return [(*k, p) if names else k for k, p in out]


def _substitution(objects: Sequence[str], enabled: bool, root: str = "") -> dict:
    """Per object considered for substitution: what the rewriter did (from
    the uklibc cache's report), without host-specific fields; an object of
    another root file system (``root``) is named by its path there."""
    summary: dict[str, dict] = {}
    if enabled:
        from ..uklibc import cache

        for obj in sorted(set(objects), key=_pathkey):
            rep = cache.report(obj)
            s = {k: rep[k] for k in ("build_id", "soname", "sites", "rewritten", "left",
                                     "by_reason", "error") if k in rep}
            s["substituted"] = cache.substitute(obj) != obj
            if "sha256" in rep:
                s["substitute_sha256"] = rep["sha256"]
            summary[obj[len(root):] if root and obj.startswith(root + "/") else obj] = s
    return {"enabled": enabled, "objects": summary}


def _add_dirs(entries: dict[str, Entry], path: str) -> None:
    """Dir entries for a mount point and its parents that the image lacks."""
    cur = ""
    for comp in [c for c in path.split("/") if c]:
        cur += "/" + comp
        if cur not in entries:
            entries[cur] = Entry(cur, "dir", 0o755)
    entries.setdefault("/", Entry("/", "dir", 0o755))


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


_KINDS = {"dir", "file", "symlink"}


def _check_manifest(path: str, m, data_size: int) -> None:
    """The manifest's structure, so nothing later trips on a bad field."""
    def bad(why: str):
        raise ImageError(f"{path}: corrupt: the manifest {why}")

    if not isinstance(m, dict):
        bad("is not an object")
    if m.get("format") != FORMAT_VERSION:
        bad(f"says format {m.get('format')!r}, the header {FORMAT_VERSION}")
    for key, typ in (("exe", str), ("execfn", str), ("cwd", str), ("hostname", str),
                     ("net", str), ("argv", list), ("env", list), ("volumes", list),
                     ("files", list), ("kernel", dict)):
        if not isinstance(m.get(key), typ):
            bad(f"has no valid {key!r}")
    if not m["argv"] or not all(isinstance(a, str) for a in m["argv"] + m["env"]):
        bad("has a bad argv or env")
    if not isinstance(m.get("keep_argc"), int) or not 1 <= m["keep_argc"] <= len(m["argv"]):
        bad("has a bad keep_argc")
    if not isinstance(m["kernel"].get("sha256"), str):
        bad("has no kernel digest")
    for v in m["volumes"]:
        if not (isinstance(v, dict) and isinstance(v.get("path"), str) and v["path"].startswith("/")
                and isinstance(v.get("readonly"), bool)):
            bad(f"has a bad volume {v!r}")
    prev = None
    for f in m["files"]:
        if not isinstance(f, dict) or f.get("kind") not in _KINDS or \
                not isinstance(f.get("path"), str) or not f["path"].startswith("/"):
            bad(f"has a bad file entry {str(f)[:80]}")
        key = _pathkey(f["path"])
        if prev is not None and key <= prev:
            bad(f"lists {f['path']} out of order")
        prev = key
        if f["kind"] == "symlink":
            if not isinstance(f.get("target"), str):
                bad(f"has no target for the symlink {f['path']}")
            continue
        if not isinstance(f.get("mode"), int) or not 0 <= f["mode"] <= 0o7777:
            bad(f"has a bad mode for {f['path']}")
        if f["kind"] == "file":
            ints = [f.get(k) for k in ("offset", "size", "mtime_ns")]
            if not all(isinstance(i, int) and i >= 0 for i in ints) or \
                    not isinstance(f.get("sha256"), str) or not _SHA256.match(f["sha256"]):
                bad(f"has a bad entry for {f['path']}")
            if f["offset"] + f["size"] > data_size:
                raise ImageError(f"{path}: corrupt: {f['path']} lies past the end of the data")
