"""The local image store: images pulled from registries, kept by digest.

Layout (``$LIBSUBST_STORE``, default ``$XDG_DATA_HOME/libsubst/store`` or
``~/.local/share/libsubst/store``)::

    blobs/sha256/HEX   every blob once: manifests, configs, .lsi files
    refs.json          {"refs": {"REGISTRY/REPO:TAG": "sha256:..."}}

``run REF`` maps the ``.lsi`` blob straight from here; the image's own
sha256s are checked again at every run, and every directory of the store's
path must be one only the user or root can change (safedirs.py).  A ref is
updated under a lock with an atomic rename, so concurrent pulls leave a
consistent store."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile

from .. import safedirs
from ..errors import StoreError
from .reference import DIGEST, Reference


def root() -> str:
    if os.environ.get("LIBSUBST_STORE"):
        return os.environ["LIBSUBST_STORE"]
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(data, "libsubst", "store")


class Store:
    def __init__(self, path: str | None = None):
        # A ref or blob planted by another user would be run: its path is
        # checked as the cache's (safedirs.py).
        self.path = safedirs.check_path(safedirs.STORE, path or root())

    def blob_path(self, digest: str) -> str:
        if not DIGEST.match(digest):
            raise StoreError(f"{digest!r} is not a sha256 digest")
        return os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1])

    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self.blob_path(digest))

    def has_verified_blob(self, digest: str) -> bool:
        """Whether the store holds the blob with the right contents; a damaged
        copy is removed (so a pull fetches it again)."""
        path = self.blob_path(digest)
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except FileNotFoundError:
            return False
        if "sha256:" + h.hexdigest() == digest:
            return True
        os.unlink(path)
        return False

    def read_blob(self, digest: str) -> bytes:
        try:
            with open(self.blob_path(digest), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise StoreError(f"{digest} is not in the local store") from None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise StoreError(f"{digest} in the local store is damaged: `libsubst rmi` it and "
                             "pull again")
        return data

    def write_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        dest = self.blob_path(digest)
        if not os.path.isfile(dest):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".blob-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
        return digest

    @contextlib.contextmanager
    def _locked(self, mode: int = fcntl.LOCK_EX):
        safedirs.check_path(safedirs.STORE, self.path, make=True)
        with open(os.path.join(self.path, "lock"), "w") as lock:
            fcntl.flock(lock, mode)
            yield

    def pulling(self):
        """Held (shared) while a pull fetches blobs it has not tagged yet, so
        a concurrent rmi does not collect them."""
        return self._locked(fcntl.LOCK_SH)

    def _refs(self) -> dict[str, str]:
        try:
            with open(os.path.join(self.path, "refs.json"), encoding="utf-8") as f:
                refs = json.load(f)["refs"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise StoreError(f"{self.path}/refs.json is damaged ({e})") from None
        return {k: v for k, v in refs.items() if isinstance(v, str) and DIGEST.match(v)}

    def _write_refs(self, refs: dict[str, str]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".refs-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"refs": dict(sorted(refs.items()))}, f, indent=1)
        os.replace(tmp, os.path.join(self.path, "refs.json"))

    def tag(self, ref: Reference, manifest_digest: str, blobs: tuple[str, ...] = ()) -> None:
        """Records a reference to a manifest whose ``blobs`` are in the store
        (checked under the lock: an rmi between the pull and this may have
        collected them)."""
        with self._locked():
            gone = [d for d in (manifest_digest, *blobs) if not self.has_blob(d)]
            if gone:
                raise StoreError(f"{ref}: the store changed while it was pulled "
                                 f"({gone[0]} went): pull it again")
            refs = self._refs()
            if ref.tag:
                refs[f"{ref.name}:{ref.tag}"] = manifest_digest
            refs[f"{ref.name}@{manifest_digest}"] = manifest_digest
            self._write_refs(refs)

    def resolve(self, ref: Reference) -> str | None:
        """The manifest digest the store has for a reference, or None."""
        if ref.digest:
            return ref.digest if self.has_blob(ref.digest) else None
        return self._refs().get(f"{ref.name}:{ref.tag}")

    def images(self) -> list[dict]:
        """One row per stored image: its tags, or its digest when untagged."""
        refs = self._refs()
        tagged = {(_name_of(k), v) for k, v in refs.items() if "@" not in k}
        rows = []
        for key, digest in refs.items():
            name = _name_of(key)
            if "@" in key and (name, digest) in tagged:
                continue                              # shown under its tag
            tag = None if "@" in key else key.rpartition(":")[2]
            row = {"reference": key, "repository": name, "tag": tag, "digest": digest,
                   "size": None, "program": None, "damaged": False}
            try:
                manifest = json.loads(self.read_blob(digest))
                row["size"] = manifest["layers"][0]["size"]
                row["program"] = (manifest.get("annotations") or {}).get(PROGRAM_ANNOTATION)
            except (StoreError, ValueError, KeyError, IndexError, TypeError):
                row["damaged"] = True
            rows.append(row)
        return sorted(rows, key=lambda r: r["reference"])

    def remove(self, ref: Reference) -> list[str]:
        """Removes a tag (with its digest entry when no other tag of the
        repository points there), or, for a digest reference, every reference
        of the repository to that manifest; then the blobs no remaining
        reference needs.  The removed references."""
        with self._locked():
            refs = self._refs()
            if ref.digest:
                gone = [k for k, v in refs.items() if v == ref.digest and _name_of(k) == ref.name]
            else:
                key = f"{ref.name}:{ref.tag}"
                gone = [key] if key in refs else []
                if gone and not any(v == refs[key] and k != key and "@" not in k
                                    and _name_of(k) == ref.name for k, v in refs.items()):
                    gone.append(f"{ref.name}@{refs[key]}")
            if not gone:
                raise StoreError(f"{ref} is not in the local store")
            for k in gone:
                refs.pop(k, None)
            self._write_refs(refs)
            self._collect(set(refs.values()))
        return gone

    def _collect(self, live_manifests: set[str]) -> None:
        """Deletes every blob that no live manifest is or refers to."""
        live = set(live_manifests)
        for d in live_manifests:
            try:
                m = json.loads(self.read_blob(d))
                live.add(m["config"]["digest"])
                live.update(layer["digest"] for layer in m["layers"])
            except (StoreError, ValueError, KeyError, TypeError):
                continue
        folder = os.path.join(self.path, "blobs", "sha256")
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            if name.startswith("."):
                continue                 # a download in progress
            if f"sha256:{name}" not in live:
                os.unlink(os.path.join(folder, name))


def _name_of(key: str) -> str:
    """``REGISTRY/REPO`` of a stored ``REGISTRY/REPO:TAG`` or ``REGISTRY/REPO@DIGEST``."""
    return key.split("@", 1)[0] if "@" in key else key.rpartition(":")[0]


PROGRAM_ANNOTATION = "org.libsubst.image.program"
