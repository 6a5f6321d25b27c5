"""Container images for the tests, made here from Debian's packages: a root
file system bootstrapped with debootstrap (Debian 11, whose glibc 2.31 is
not the host's), cached as a tarball between runs, turned into an OCI image
layout or a docker-archive with tarfile and json alone."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

CACHE = "/var/cache/libsubst-test"
SUITE = "bullseye"
PACKAGES = "redis-server"


def _mirror() -> str:
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        try:
            text = open(path).read()
        except OSError:
            continue
        # Comments may name other mirrors (a snapshot's URL above URIs:).
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for word in line.split():
                if word.startswith("http") and "security" not in word:
                    return word.rstrip("/")
    return "http://deb.debian.org/debian"


def rootfs_tar() -> str:
    """A tarball of a minimal Debian 11 root with redis-server, made once
    (skips the test when the mirror or debootstrap cannot be had)."""
    key = hashlib.sha256(f"{SUITE} {PACKAGES} minbase".encode()).hexdigest()[:12]
    tar = os.path.join(CACHE, f"{SUITE}-{key}.tar")
    if os.path.exists(tar):
        return tar
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed")
    os.makedirs(CACHE, exist_ok=True)
    work = os.path.join(CACHE, f".{SUITE}-{key}-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        r = subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE,
                            work, _mirror()], capture_output=True, timeout=1500)
        if r.returncode != 0:
            pytest.skip(f"debootstrap {SUITE} failed (is the mirror reachable?): "
                        f"{r.stderr.decode()[-300:]}")
        # What a container image leaves out: apt's downloads, device nodes.
        shutil.rmtree(os.path.join(work, "var/cache/apt/archives"), ignore_errors=True)
        subprocess.run(["tar", "-C", work, "--exclude=./dev/*", "--exclude=./proc/*",
                        "--exclude=./sys/*", "-cf", tar + ".tmp", "."], check=True)
        os.replace(tar + ".tmp", tar)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tar


def _layer(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# The second layer: a file of the image's own, and a whiteout of the first
# layer's motd (applied in order, the image has the one and not the other).
TOP = [("etc/libsubst-layer", b"second layer\n"), ("etc/.wh.motd", b"")]
CONFIG = {"architecture": "amd64", "os": "linux",
          "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                             "LIBSUBST_FROM=image-config"],
                     "Cmd": ["redis-server"], "WorkingDir": "/var/lib/redis"}}


def oci_layout(folder) -> str:
    """An OCI image layout of the Debian 11 root plus TOP."""
    blobs = os.path.join(folder, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data: bytes, media: str) -> dict:
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return {"mediaType": media, "digest": "sha256:" + d, "size": len(data)}

    base = open(rootfs_tar(), "rb").read()
    layers = [put(base, "application/vnd.oci.image.layer.v1.tar"),
              put(_layer(TOP), "application/vnd.oci.image.layer.v1.tar")]
    config = put(json.dumps(CONFIG).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = put(json.dumps({"schemaVersion": 2, "config": config, "layers": layers,
                               "mediaType": "application/vnd.oci.image.manifest.v1+json"}).encode(),
                   "application/vnd.oci.image.manifest.v1+json")
    with open(os.path.join(folder, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
    return str(folder)


def docker_archive(path) -> str:
    """The same image as a docker-archive (what `docker save` writes)."""
    config = json.dumps(CONFIG).encode()
    with tarfile.open(path, "w") as t:
        t.add(rootfs_tar(), "base/layer.tar")
        for name, data in (("top/layer.tar", _layer(TOP)), ("config.json", config),
                           ("manifest.json", json.dumps([{
                               "Config": "config.json", "RepoTags": ["test/redis:11"],
                               "Layers": ["base/layer.tar", "top/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return str(path)
