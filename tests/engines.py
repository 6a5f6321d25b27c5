"""Container engines for the tests of libsubst-runtime: podman with the
Debian 11 root (tests/containers.py) imported as a local image, and a
containerd of the test's own, on a private socket, root and state, started
and stopped by its fixture."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from containers import rootfs_tar

# This machine class's hard limits are below podman's defaults (runc refuses
# those too): every run says its own, the same for runc and libsubst.
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (tests/run.sh installs it)")


def runtime() -> str:
    path = shutil.which("libsubst-runtime")
    if path is None:
        pytest.skip("libsubst-runtime is not installed (pip install .)")
    return path


def podman(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(["podman", *args], capture_output=True, timeout=timeout, **kw)


def podman_image() -> str:
    """The Debian 11 root as a podman image, imported once (a cache, as the
    tarball it is made from)."""
    need("podman", "runc", "conmon")
    tar = rootfs_tar()
    tag = "localhost/libsubst-test-bullseye:" + os.path.basename(tar)[len("bullseye-"):-len(".tar")]
    if podman("image", "exists", tag).returncode != 0:
        r = podman("import", tar, tag)
        assert r.returncode == 0, r.stderr.decode()
    # The engine itself must work here: where runc cannot run the image
    # either (a host without the cgroups or namespaces podman needs), there
    # is nothing to compare with.
    r = podman("--runtime", "runc", "run", "--rm", *ULIMITS, tag, "true")
    if r.returncode != 0:
        pytest.skip(f"podman cannot run a container with runc here: {r.stderr.decode()[-300:]}")
    return tag


class Containerd:
    """A containerd of the test's own (so none on the machine is touched)."""

    def __init__(self, folder: str):
        self.folder, self.sock = folder, os.path.join(folder, "c.sock")
        self.image = ""
        config = os.path.join(folder, "config.toml")
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{folder}/root"\nstate = "{folder}/state"\n'
                    f'[grpc]\n  address = "{self.sock}"\n'
                    f'[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
                    '[debug]\n  address = ""\n[metrics]\n  address = ""\n'
                    '[plugins."io.containerd.grpc.v1.cri"]\n  disable_tcp_service = true\n')
        self.log = open(os.path.join(folder, "containerd.log"), "wb")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while self.ctr("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("containerd did not start: " + open(self.log.name).read()[-500:])
            time.sleep(0.2)

    def ctr(self, *args, timeout=300) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "-a", self.sock, *args], capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        # Snapshots are unmounted with their containers; what a failed test
        # left mounted goes with the directory's lazy unmount.
        subprocess.run(["sh", "-c", f"grep -o ' {self.folder}/[^ ]*' /proc/self/mounts | "
                                    "xargs -r -n1 umount -l"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd(tmp_path_factory):
    need("containerd", "ctr", "containerd-shim-runc-v2", "runc")
    image = podman_image()
    daemon = Containerd(str(tmp_path_factory.mktemp("containerd")))
    try:
        archive = os.path.join(daemon.folder, "image.tar")
        r = podman("save", "--format", "docker-archive", "-o", archive, image)
        assert r.returncode == 0, r.stderr.decode()
        r = daemon.ctr("images", "import", archive)
        assert r.returncode == 0, r.stderr.decode()
        daemon.image = image
        yield daemon
    finally:
        daemon.stop()
