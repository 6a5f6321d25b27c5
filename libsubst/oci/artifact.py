"""A packed image (``.lsi``) as an OCI artifact, and moving it through registries.

The artifact is an OCI image manifest (image-spec v1.1's artifact form,
which OCI 1.0 registries store as well)::

    artifactType / config.mediaType  application/vnd.libsubst.image.config.v1+json
    config   {"program", "argv", "kernel": {build_id, version, seccomp}, ...}
    layers   [the .lsi file, application/vnd.libsubst.image.v1]
    annotations  org.libsubst.image.{program,kernel,seccomp}, org.opencontainers.image.title

Everything in it is derived from the image's own manifest, so pushing the
same ``.lsi`` twice gives the same digest."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time

from ..errors import ImageError, RegistryError, StoreError
from . import reference
from .client import Registry
from .store import PROGRAM_ANNOTATION, Store

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.libsubst.image.config.v1+json"
LAYER_TYPE = "application/vnd.libsubst.image.v1"


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _file_digest(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def describe(image_path: str) -> tuple[bytes, dict]:
    """(config blob, annotations) of a packed image, after verifying it whole."""
    from ..image.lsi import Image

    with Image.open(image_path) as image:
        image.verify()
        m = image.manifest
    seccomp = m["kernel"]["seccomp"]
    config = {"program": m["exe"], "argv": m["argv"], "env": m["env"], "cwd": m["cwd"],
              "net": m["net"], "volumes": m["volumes"],
              "kernel": {"build_id": m["kernel"]["build_id"], "sha256": m["kernel"]["sha256"],
                         "seccomp": seccomp},
              "libsubst": m["libsubst"], "format": m["format"]}
    annotations = {
        PROGRAM_ANNOTATION: m["exe"],
        "org.libsubst.image.kernel": f"libsubst {m['libsubst']['version']}, build-id "
                                     f"{m['kernel']['build_id']}",
        "org.libsubst.image.seccomp": f"{seccomp['allowed']} host calls allowed, "
                                      f"{seccomp['pinned']} pinned to their arguments",
        "org.opencontainers.image.title": os.path.basename(image_path),
    }
    return _canonical(config), annotations


def push(image_path: str, ref_text: str, *, insecure: bool = False,
         log=lambda msg: None) -> str:
    """Pushes an image file to REF; the manifest's digest."""
    ref = reference.parse(ref_text)
    if not os.path.isfile(image_path):
        raise ImageError(f"{image_path}: no such image file")
    config, annotations = describe(image_path)
    layer_digest, layer_size = _file_digest(image_path)
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = {
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": CONFIG_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": layer_size,
                    "annotations": {"org.opencontainers.image.title":
                                    annotations["org.opencontainers.image.title"]}}],
        "annotations": annotations,
    }
    body = _canonical(manifest)
    reg = Registry(ref, insecure=insecure)
    t0 = time.monotonic()
    sent = reg.push_blob(image_path, layer_digest, layer_size)
    log(f"image {layer_digest[:19]}: {layer_size} bytes "
        f"{'uploaded' if sent else 'already in the registry'}")
    with tempfile.NamedTemporaryFile(prefix="libsubst-config-") as f:
        f.write(config)
        f.flush()
        reg.push_blob(f.name, config_digest, len(config))
    digest = reg.push_manifest(body, MANIFEST_TYPE, ref.tag or "")
    if ref.digest and ref.digest != digest:
        raise RegistryError(f"{ref}: the image's manifest digest is {digest}, not the one named")
    log(f"pushed {ref.name}{':' + ref.tag if ref.tag else ''}@{digest} "
        f"in {time.monotonic() - t0:.2f} s")
    return digest


def pull(ref_text: str, *, insecure: bool = False, store: Store | None = None,
         log=lambda msg: None) -> tuple[str, str]:
    """Pulls REF into the local store; (manifest digest, path of the image file).
    Every blob is checked against its digest before it is stored; a manifest
    that is not a libsubst image is refused."""
    ref = reference.parse(ref_text)
    store = store or Store()
    reg = Registry(ref, insecure=insecure)
    t0 = time.monotonic()
    body, media, digest = reg.get_manifest([MANIFEST_TYPE])
    try:
        manifest = json.loads(body)
        config, layers = manifest["config"], manifest["layers"]
        kind = manifest.get("artifactType") or config["mediaType"]
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"{ref}: the registry sent a manifest that is not valid JSON "
                            "of an OCI image manifest") from None
    if kind != CONFIG_TYPE:
        raise RegistryError(f"{ref} is not a libsubst image (its type is {kind!r}); a container "
                            "image becomes one with `libsubst pack --from-oci`")
    lsi = [d for d in layers if isinstance(d, dict) and d.get("mediaType") == LAYER_TYPE]
    if len(lsi) != 1 or not all(isinstance(d.get("size"), int) and isinstance(d.get("digest"), str)
                                and reference.DIGEST.match(d["digest"])
                                for d in (config, lsi[0])):
        raise RegistryError(f"{ref}: the manifest does not describe one libsubst image")
    from ..image.lsi import Image
    with store.pulling():
        for d in (config, lsi[0]):
            if not store.has_verified_blob(d["digest"]):
                reg.fetch_blob(d["digest"], d["size"], store.blob_path(d["digest"]))
        path = store.blob_path(lsi[0]["digest"])
        try:
            with Image.open(path) as image:
                image.verify()
        except ImageError as e:
            raise RegistryError(f"{ref}: the image it holds is not valid: {e}") from None
        store.write_blob(body)
    store.tag(ref, digest, (config["digest"], lsi[0]["digest"]))
    log(f"pulled {ref.name}{':' + ref.tag if ref.tag else ''}@{digest}: "
        f"{lsi[0]['size']} bytes in {time.monotonic() - t0:.2f} s")
    return digest, path


def local_image(ref_text: str, *, store: Store | None = None) -> str | None:
    """The stored image file for REF, or None when the store does not have it."""
    ref = reference.parse(ref_text)
    store = store or Store()
    digest = store.resolve(ref)
    if digest is None:
        return None
    try:
        manifest = json.loads(store.read_blob(digest))
        (layer,) = [d for d in manifest["layers"] if d["mediaType"] == LAYER_TYPE]
        path = store.blob_path(layer["digest"])
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"{ref}: its manifest in the local store is damaged") from None
    return path if os.path.isfile(path) else None


def image_for_run(ref_text: str, log=lambda msg: None) -> str:
    """``libsubst run REF``: the stored image, pulled on first use."""
    return local_image(ref_text) or pull(ref_text, log=log)[1]
