"""Container images as root file systems: read an image from an OCI image
layout directory, a ``docker save``/``podman save`` archive (docker-archive
or oci-archive) or a registry, and apply its layers in order into a
directory, as container engines do.

Layers are tar archives (gzip or plain), applied with the OCI image spec's
whiteouts (``.wh.NAME`` deletes NAME from the layers below, ``.wh..wh..opq``
hides a directory's lower contents).  Nothing in a layer is trusted: every
path is resolved inside the root the way containerd's securejoin does it
(``..`` stops at the root, a symlink is followed within the root, never out
of it), hard links point inside the root, device nodes are skipped, and
set-user/group-ID bits are dropped (a guest never gets them)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field

from ..errors import ImageError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_LINKS = 40
_SAFE_MODE = 0o1777             # no set-user-ID or set-group-ID


@dataclass
class ImageConfig:
    """What a container image's config says about its process."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    workdir: str = "/"
    user: str = ""

    @classmethod
    def from_json(cls, data: dict) -> "ImageConfig":
        c = data.get("config") or {}
        return cls(list(c.get("Entrypoint") or []), list(c.get("Cmd") or []),
                   list(c.get("Env") or []), c.get("WorkingDir") or "/", c.get("User") or "")


@dataclass
class ContainerImage:
    """An image's config and its layers (readable files, in order)."""

    config: ImageConfig
    layers: list[str]


# ---- reading the sources ------------------------------------------------------

def _blob(root: str, digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
        raise ImageError(f"{root}: {digest!r} is not a sha256 digest")
    return os.path.join(root, "blobs", "sha256", hexd)


def _verified(path: str, digest: str) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as e:
        raise ImageError(f"{path}: {e.strerror}") from None
    if "sha256:" + h.hexdigest() != digest:
        raise ImageError(f"{path} is not {digest}: the image is damaged")
    return path


def _json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ImageError(f"{path}: not a readable JSON document ({e})") from None


def _pick_manifest(root: str, index: dict) -> dict:
    """The linux/amd64 image manifest of an index (nested indexes followed)."""
    for _ in range(4):
        manifests = index.get("manifests") or []
        if not manifests:
            raise ImageError(f"{root}: the index lists no manifest")
        chosen = next((m for m in manifests
                       if (m.get("platform") or {}).get("architecture") in (None, "amd64")
                       and (m.get("platform") or {}).get("os") in (None, "linux")), None)
        if chosen is None:
            raise ImageError(f"{root}: no linux/amd64 image in it")
        doc = _json(_verified(_blob(root, chosen["digest"]), chosen["digest"]))
        if "layers" in doc:
            return doc
        index = doc
    raise ImageError(f"{root}: indexes nested too deep")


def from_layout(root: str) -> ContainerImage:
    """An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/``)."""
    manifest = _pick_manifest(root, _json(os.path.join(root, "index.json")))
    config = _json(_verified(_blob(root, manifest["config"]["digest"]),
                             manifest["config"]["digest"]))
    layers = [_verified(_blob(root, d["digest"]), d["digest"]) for d in manifest["layers"]]
    return ContainerImage(ImageConfig.from_json(config), layers)


def _tar_reason(e: Exception) -> str:
    """One line for a tarfile error: ``tarfile.open(mode="r:*")`` lists, a
    line each, why every compression it tried failed."""
    lines = str(e).splitlines()
    if len(lines) > 1:
        return "no tar archive, plain or compressed with gzip, bzip2 or xz"
    return lines[0] if lines else type(e).__name__


def from_archive(path: str, work: str) -> ContainerImage:
    """A ``docker save`` / ``podman save`` archive (docker-archive, or
    oci-archive: an OCI layout in a tar), unpacked into ``work``."""
    try:
        with tarfile.open(path, "r:*") as tar:
            names = set(tar.getnames())
            for m in tar.getmembers():
                if not (m.isfile() or m.isdir()) or _outside(m.name):
                    continue
                tar.extract(m, work, set_attrs=False)
    except (OSError, tarfile.TarError) as e:
        raise ImageError(f"{path}: not a readable image archive ({_tar_reason(e)})") from None
    if "index.json" in names or "./index.json" in names:
        return from_layout(work)
    if "manifest.json" not in names and "./manifest.json" not in names:
        raise ImageError(f"{path}: neither an OCI layout nor a docker archive")
    entries = _json(os.path.join(work, "manifest.json"))
    if not isinstance(entries, list) or not entries:
        raise ImageError(f"{path}: manifest.json lists no image")
    entry = entries[0]
    config = _json(_inside(work, entry["Config"]))
    return ContainerImage(ImageConfig.from_json(config),
                          [_inside(work, layer) for layer in entry["Layers"]])


def _outside(name: str) -> bool:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return ".." in parts or name.startswith("/")


def _inside(work: str, name: str) -> str:
    if _outside(name):
        raise ImageError(f"{name!r}: a path outside the archive")
    return os.path.join(work, name)


# ---- applying the layers -----------------------------------------------------------

def secure_join(root: str, path: str) -> str:
    """``path`` (as the image names it) as a host path inside ``root``: every
    symlink on the way is followed inside the root, ``..`` stops at it.  The
    last component is not followed."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, part)
        if parts and os.path.islink(host):
            links += 1
            if links > MAX_LINKS:
                raise ImageError(f"{path}: too many levels of symbolic links")
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


def _remove(path: str) -> None:
    if os.path.islink(path) or not os.path.isdir(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        shutil.rmtree(path)


def apply_layer(layer: str, root: str) -> None:
    """Applies one layer to the tree at ``root``."""
    try:
        with tarfile.open(layer, "r:*") as tar:
            members = tar.getmembers()
            # Opaque whiteouts hide what lower layers put there, not what
            # this layer adds: apply them first.
            for m in members:
                if os.path.basename(m.name) == OPAQUE:
                    d = secure_join(root, os.path.dirname(m.name))
                    if os.path.isdir(d) and not os.path.islink(d):
                        for child in os.listdir(d):
                            _remove(os.path.join(d, child))
            for m in members:
                _apply(tar, m, root)
    except (OSError, tarfile.TarError) as e:
        raise ImageError(f"{layer}: cannot apply this layer ({_tar_reason(e)})") from None


def _apply(tar: tarfile.TarFile, m: tarfile.TarInfo, root: str) -> None:
    base = os.path.basename(m.name.rstrip("/"))
    if base == OPAQUE:
        return
    if base.startswith(WHITEOUT):
        _remove(secure_join(root, os.path.join(os.path.dirname(m.name), base[len(WHITEOUT):])))
        return
    dest = secure_join(root, m.name)
    if dest == root:
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    mode = m.mode & _SAFE_MODE
    if m.isdir():
        if os.path.lexists(dest) and not os.path.isdir(dest):
            _remove(dest)
        os.makedirs(dest, exist_ok=True)
        os.chmod(dest, mode | 0o700)
        return
    if os.path.lexists(dest):
        _remove(dest)
    if m.isfile():
        src = tar.extractfile(m)
        with open(dest, "wb") as out:
            shutil.copyfileobj(src or io.BytesIO(), out)
        os.chmod(dest, mode)
    elif m.issym():
        os.symlink(m.linkname, dest)
    elif m.islnk():
        target = secure_join(root, m.linkname)
        if os.path.isfile(target) and not os.path.islink(target):
            os.link(target, dest)
    elif m.isfifo():
        os.mkfifo(dest, mode)
    # Device nodes and anything else are not part of a guest's root.


def unpack(image: ContainerImage, root: str) -> None:
    """Applies every layer of ``image`` in order into the directory ``root``,
    then makes its symlinks relative and inside it (``contain_links``)."""
    os.makedirs(root, exist_ok=True)
    for layer in image.layers:
        apply_layer(layer, root)
    contain_links(root)


def contain_links(root: str) -> None:
    """Rewrites every symlink of the tree to the relative link, inside the
    root, that means what it meant in the image (an absolute target is the
    root's, ``..`` stops at it): the host can then resolve paths of the tree
    with its own calls and never leave it."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            link = os.path.join(folder, name)
            if not os.path.islink(link):
                continue
            target = os.readlink(link)
            rel_dir = os.path.relpath(folder, root)
            inside = target if target.startswith("/") else os.path.join("/", rel_dir, target)
            resolved = _lexical_inside(inside)
            new = os.path.relpath(os.path.join(root, resolved.lstrip("/")) if resolved != "/"
                                  else root, folder)
            if new != target:
                os.unlink(link)
                os.symlink(new, link)


def _lexical_inside(path: str) -> str:
    """``path`` with ``.`` and ``..`` taken lexically, ``..`` stopping at /."""
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
        else:
            out.append(part)
    return "/" + "/".join(out)


def is_layout(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "index.json"))


def open_any(source: str, work: str, insecure: bool = False) -> ContainerImage:
    """A layout directory, an archive file, or a registry reference."""
    from .reference import looks_like_reference

    if not os.path.exists(source) and looks_like_reference(source):
        return from_registry(source, work, insecure)
    return open_source(source, work)


MANIFEST_TYPES = ("application/vnd.oci.image.index.v1+json",
                  "application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


def from_registry(text: str, work: str, insecure: bool = False) -> ContainerImage:
    """A container image pulled from a registry into ``work`` (every blob
    checked against its digest)."""
    from . import reference
    from .client import Registry

    ref = reference.parse(text)
    reg = Registry(ref, insecure=insecure)
    body, _media, _digest = reg.get_manifest(list(MANIFEST_TYPES))
    doc = json.loads(body)
    for _ in range(3):
        if "layers" in doc:
            break
        manifests = doc.get("manifests") or []
        chosen = next((m for m in manifests
                       if (m.get("platform") or {}).get("architecture") == "amd64"
                       and (m.get("platform") or {}).get("os") == "linux"), None)
        if chosen is None:
            raise ImageError(f"{text}: no linux/amd64 image in it")
        body, _media, _digest = Registry(ref.with_digest(chosen["digest"]),
                                         insecure=insecure).get_manifest(list(MANIFEST_TYPES))
        doc = json.loads(body)
    blobs = os.path.join(work, "blobs")
    os.makedirs(blobs, exist_ok=True)

    def fetch(d) -> str:
        path = os.path.join(blobs, d["digest"].split(":", 1)[1])
        reg.fetch_blob(d["digest"], d["size"], path)
        return path

    config = _json(fetch(doc["config"]))
    return ContainerImage(ImageConfig.from_json(config), [fetch(d) for d in doc["layers"]])


def open_source(source: str, work: str) -> ContainerImage:
    """A layout directory or an archive file, read (into ``work`` if needed)."""
    if is_layout(source):
        return from_layout(source)
    if os.path.isfile(source):
        return from_archive(source, work)
    if os.path.exists(source):
        raise ImageError(f"{source}: neither an OCI layout directory nor an image archive")
    raise ImageError(f"{source}: no such image directory or archive")

