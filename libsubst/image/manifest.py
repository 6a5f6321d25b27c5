"""The manifest of a packed image, typed: its fields, their JSON form
(docs/image-format.md's table, canonical encoding) and their validation.

A new field is added here only: ``Manifest`` (the field), ``to_json`` and
``from_json`` (its form and its check).  Imports nothing above ``errors``
and ``volumes``: reading an image never loads the packing or ELF code."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import ImageError, VolumeError
from ..volumes import Mount, check_not_root

FORMAT_VERSION = 1
KINDS = ("dir", "file", "symlink")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def canonical(obj) -> bytes:
    """The manifest's canonical encoding: sorted keys, no spaces, ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def pathkey(path: str) -> bytes:
    """The order of ``files``: by the path's bytes (strcmp's)."""
    return os.fsencode(path)


class FileRecord(NamedTuple):      # a tuple: an image of Python's library has thousands
    """One guest path of the image's root: a ``dir``, a ``symlink`` or a
    ``file`` whose ``size`` bytes are at ``offset`` of the data area."""

    path: str
    kind: str
    mode: int = 0o755
    target: str | None = None     # symlink
    size: int = 0                 # file: its contents' length, sha256, place and mtime
    sha256: str | None = None
    offset: int = 0
    mtime_ns: int = 0

    def to_json(self) -> dict:
        if self.kind == "dir":
            return {"path": self.path, "kind": "dir", "mode": self.mode}
        if self.kind == "symlink":
            return {"path": self.path, "kind": "symlink", "target": self.target}
        return {"path": self.path, "kind": "file", "mode": self.mode, "mtime_ns": self.mtime_ns,
                "size": self.size, "sha256": self.sha256, "offset": self.offset}

    @classmethod
    def from_json(cls, f, bad) -> "FileRecord":
        if not isinstance(f, dict) or f.get("kind") not in KINDS or \
                not isinstance(f.get("path"), str) or not f["path"].startswith("/"):
            bad(f"has a bad file entry {str(f)[:80]}")
        if f["kind"] == "symlink":
            if not isinstance(f.get("target"), str):
                bad(f"has no target for the symlink {f['path']}")
            return cls(f["path"], "symlink", 0o777, f["target"])
        if not isinstance(f.get("mode"), int) or not 0 <= f["mode"] <= 0o7777:
            bad(f"has a bad mode for {f['path']}")
        if f["kind"] == "dir":
            return cls(f["path"], "dir", f["mode"])
        off, size, mtime, sha = f.get("offset"), f.get("size"), f.get("mtime_ns"), f.get("sha256")
        if not (type(off) is int and type(size) is int and type(mtime) is int
                and off >= 0 and size >= 0 and mtime >= 0
                and isinstance(sha, str) and _SHA256.match(sha)):
            bad(f"has a bad entry for {f['path']}")
        return cls(f["path"], "file", f["mode"], None, size, sha, off, mtime)


@dataclass
class Manifest:
    """How a packed image boots (docs/image-format.md, "Manifest")."""

    exe: str                      # guest path the first exec opens (a #! script's too)
    execfn: str                   # the name it is exec'd by: AT_EXECFN
    argv: list[str]
    keep_argc: int                # run's ARGS replace argv[keep_argc:]
    env: list[str]                # "K=V"
    cwd: str
    hostname: str
    net: str
    volumes: list[Mount]          # declared mount points (host ""), sorted by path
    files: list[FileRecord]       # sorted by pathkey
    kernel: dict                  # build_id, sha256, size, seccomp, namespaces
    substitution: dict = field(default_factory=lambda: {"enabled": False, "objects": {}})
    libsubst: dict = field(default_factory=dict)    # {"version": ...} of the packer
    init: bool = False            # pack --init: the program runs as an init's child
    format: int = FORMAT_VERSION

    def to_json(self) -> dict:
        return {"format": self.format, "libsubst": self.libsubst, "kernel": self.kernel,
                "exe": self.exe, "execfn": self.execfn, "argv": list(self.argv),
                "keep_argc": self.keep_argc, "env": list(self.env), "cwd": self.cwd,
                "hostname": self.hostname, "net": self.net,
                "volumes": [{"path": v.guest, "readonly": v.readonly} for v in self.volumes],
                "files": [f.to_json() for f in self.files], "substitution": self.substitution,
                "init": self.init}

    def encode(self) -> bytes:
        return canonical(self.to_json())

    @classmethod
    def from_json(cls, m, where: str, data_size: int) -> "Manifest":
        """The manifest ``m`` (parsed JSON) of the image at ``where``, whose
        data area has ``data_size`` bytes, checked so nothing later trips on
        a bad field: ImageError names the first problem."""
        def bad(why: str):
            raise ImageError(f"{where}: corrupt: the manifest {why}")

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
        if not isinstance(m.get("init", False), bool):
            bad("has a bad 'init'")
        volumes = []
        for v in m["volumes"]:
            if not (isinstance(v, dict) and isinstance(v.get("path"), str)
                    and v["path"].startswith("/") and isinstance(v.get("readonly"), bool)):
                bad(f"has a bad volume {v!r}")
            try:
                check_not_root(v["path"])
            except VolumeError as e:
                bad(f"declares a bad volume: {e}")
            volumes.append(Mount(guest=v["path"], host="", readonly=v["readonly"]))
        files, prev = [], None
        for f in m["files"]:
            rec = FileRecord.from_json(f, bad)
            key = pathkey(rec.path)
            if prev is not None and key <= prev:
                bad(f"lists {rec.path} out of order")
            prev = key
            if rec.offset + rec.size > data_size:
                raise ImageError(f"{where}: corrupt: {rec.path} lies past the end of the data")
            files.append(rec)
        sub = m.get("substitution", {"enabled": False, "objects": {}})
        return cls(exe=m["exe"], execfn=m["execfn"], argv=list(m["argv"]),
                   keep_argc=m["keep_argc"], env=list(m["env"]), cwd=m["cwd"],
                   hostname=m["hostname"], net=m["net"], volumes=volumes, files=files,
                   kernel=m["kernel"], substitution=sub if isinstance(sub, dict) else {},
                   libsubst=m.get("libsubst") if isinstance(m.get("libsubst"), dict) else {},
                   format=m["format"], init=m.get("init", False))
