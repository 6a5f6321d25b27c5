"""Container images applied as root file systems (libsubst.oci.layers):
layer order, whiteouts, links, and layers that try to write outside the root."""

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from libsubst.errors import ImageError
from libsubst.oci import layers


def _tar(entries, gz=False) -> bytes:
    """entries: (name, kind, data_or_target, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE}[kind]
            if kind in ("sym", "link"):
                info.linkname = payload
            tar.addfile(info)
    data = buf.getvalue()
    return gzip.compress(data, mtime=0) if gz else data


LOWER = [("etc", "dir", None, 0o755), ("etc/os", "file", b"lower\n", 0o644),
         ("etc/gone", "file", b"x\n", 0o644), ("opt", "dir", None, 0o755),
         ("opt/old1", "file", b"1\n", 0o644), ("opt/old2", "file", b"2\n", 0o644),
         ("usr", "dir", None, 0o755), ("usr/lib", "dir", None, 0o755),
         ("lib", "sym", "usr/lib", 0o777), ("usr/bin", "dir", None, 0o755),
         ("usr/bin/tool", "file", b"#!/bin/sh\n", 0o4755)]
UPPER = [("etc/os", "file", b"upper\n", 0o644), ("etc/.wh.gone", "file", b"", 0o644),
         ("opt/.wh..wh..opq", "file", b"", 0o644), ("opt/new", "file", b"n\n", 0o644),
         ("lib/libz.so", "file", b"ELF\n", 0o755), ("usr/bin/hard", "link", "usr/bin/tool", 0o755),
         ("dev", "dir", None, 0o755), ("dev/null", "chr", None, 0o666)]


def _layout(folder, layer_blobs, config=None):
    """An OCI image layout with these layer blobs."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    cfg = put(json.dumps(config or {"config": {"Cmd": ["/usr/bin/tool"], "Env": ["A=1"],
                                                "WorkingDir": "/opt"}}).encode())
    manifest = put(json.dumps({"schemaVersion": 2, "config": cfg,
                               "layers": [put(b) for b in layer_blobs]}).encode())
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**manifest, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "platform": {"architecture": "amd64", "os": "linux"}}]}))
    return folder


def test_layers_apply_in_order_with_whiteouts(tmp_path):
    src = _layout(tmp_path / "img", [_tar(LOWER, gz=True), _tar(UPPER)])
    image = layers.open_source(str(src), str(tmp_path / "work"))
    assert image.config.cmd == ["/usr/bin/tool"] and image.config.workdir == "/opt"
    root = tmp_path / "root"
    layers.unpack(image, str(root))
    assert (root / "etc/os").read_bytes() == b"upper\n"
    assert not (root / "etc/gone").exists()
    assert sorted(os.listdir(root / "opt")) == ["new"]           # opaque: old ones hidden
    assert os.readlink(root / "lib") == "usr/lib"
    assert os.path.realpath(root / "lib") == str(root / "usr/lib")
    assert (root / "usr/lib/libz.so").read_bytes() == b"ELF\n"    # written through lib -> usr/lib
    assert os.stat(root / "usr/bin/hard").st_ino == os.stat(root / "usr/bin/tool").st_ino
    assert os.stat(root / "usr/bin/tool").st_mode & 0o7777 == 0o755   # no set-user-ID
    assert not (root / "dev/null").exists()                       # no device nodes


def test_a_layer_cannot_write_outside_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = [("etc", "sym", str(outside), 0o777), ("etc/passwd", "file", b"owned\n", 0o644),
            ("up", "sym", "../../../../" + str(outside).lstrip("/"), 0o777),
            ("up/x", "file", b"owned\n", 0o644),
            ("../escape", "file", b"owned\n", 0o644),
            ("hl", "link", "../../../../etc/hostname", 0o644)]
    src = _layout(tmp_path / "img", [_tar(evil)])
    root = tmp_path / "root"
    layers.unpack(layers.open_source(str(src), str(tmp_path / "w")), str(root))
    assert os.listdir(outside) == []
    assert not (tmp_path / "escape").exists()
    # The symlinks were followed inside the root, as the guest will see them.
    assert (root / str(outside).lstrip("/") / "passwd").read_bytes() == b"owned\n"
    assert (root / "escape").read_bytes() == b"owned\n"
    assert not (root / "hl").exists()
    # Every link now resolves inside the root on the host too.
    for link in ("etc", "up"):
        assert os.path.realpath(root / link).startswith(str(root) + "/"), link


def test_a_docker_archive(tmp_path):
    layer1, layer2 = _tar(LOWER), _tar(UPPER)
    config = json.dumps({"config": {"Entrypoint": ["/usr/bin/tool"], "Cmd": ["-x"],
                                    "User": "daemon"}}).encode()
    arch = tmp_path / "img.tar"
    with tarfile.open(arch, "w") as tar:
        for name, data in (("l1/layer.tar", layer1), ("l2/layer.tar", layer2),
                           ("cfg.json", config),
                           ("manifest.json", json.dumps([{"Config": "cfg.json",
                                                          "Layers": ["l1/layer.tar",
                                                                     "l2/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    image = layers.open_source(str(arch), str(tmp_path / "work"))
    assert image.config.entrypoint == ["/usr/bin/tool"] and image.config.user == "daemon"
    layers.unpack(image, str(tmp_path / "root"))
    assert (tmp_path / "root/etc/os").read_bytes() == b"upper\n"


def test_damaged_and_unknown_sources(tmp_path):
    src = _layout(tmp_path / "img", [_tar(LOWER)])
    blob = next(p for p in (src / "blobs/sha256").iterdir() if p.stat().st_size > 1000)
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ImageError, match="damaged"):
        layers.open_source(str(src), str(tmp_path / "w"))
    with pytest.raises(ImageError, match="no such"):
        layers.open_source(str(tmp_path / "nothing"), str(tmp_path / "w"))
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(ImageError):
        layers.open_source(str(tmp_path / "junk.tar"), str(tmp_path / "w"))
