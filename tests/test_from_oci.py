"""libsubst pack --from-oci: a program packed from a container image (an OCI
layout, a docker-archive, a registry) with the image's own root, libraries
and a glibc other than the host's (Debian 11's), run against the same
container root run natively (chroot), and distributed through a registry."""

import json
import os
import shutil
import subprocess
import tarfile

import pytest

from conftest import LIBSUBST, free_port, redis_cli, wait_for_port
from containers import docker_archive, oci_layout, rootfs_tar


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return oci_layout(tmp_path_factory.mktemp("oci") / "layout")


@pytest.fixture(scope="module")
def chroot(tmp_path_factory):
    """The same container root, unpacked for native runs with chroot."""
    root = tmp_path_factory.mktemp("chroot")
    with tarfile.open(rootfs_tar()) as t:
        t.extractall(root, filter="fully_trusted") if hasattr(tarfile, "data_filter") \
            else t.extractall(root)
    (root / "etc/libsubst-layer").write_text("second layer\n")
    (root / "etc/motd").unlink(missing_ok=True)
    return root


def pack(*args, cwd):
    done = subprocess.run([*LIBSUBST, "pack", *args], capture_output=True, timeout=900, cwd=cwd)
    assert done.returncode == 0, done.stderr.decode()
    return done


def native(chroot, *argv):
    return subprocess.run(["chroot", str(chroot), *argv], capture_output=True, timeout=60,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LIBSUBST_FROM":
                               "image-config"})


def test_a_program_of_the_image_with_its_own_glibc(layout, chroot, tmp_path):
    image = tmp_path / "cat.lsi"
    pack("--from-oci", layout, "-o", str(image), "sh", "-c",
         "cat /etc/debian_version /etc/libsubst-layer; ls /etc/motd; echo $LIBSUBST_FROM; pwd",
         cwd=tmp_path)
    guest = subprocess.run([*LIBSUBST, "run", str(image)], capture_output=True, timeout=120)
    want = native(chroot, "sh", "-c", "cat /etc/debian_version /etc/libsubst-layer; "
                  "ls /etc/motd; echo $LIBSUBST_FROM; cd /var/lib/redis; pwd")
    assert guest.stdout == want.stdout, guest.stderr.decode()
    assert guest.stdout.decode().startswith("11.")            # Debian 11's files
    assert guest.returncode == want.returncode
    # Its glibc is Debian 11's (2.31), substituted: not the host's 2.36.
    inspect = json.loads(subprocess.run([*LIBSUBST, "inspect", "--json", str(image)],
                                        capture_output=True, timeout=60).stdout)
    objects = inspect["manifest"]["substitution"]["objects"]
    libc = {p: o for p, o in objects.items() if os.path.basename(p).startswith("libc")}
    assert list(libc) == ["/usr/lib/x86_64-linux-gnu/libc-2.31.so"], objects
    host_libc_id = subprocess.run(["sh", "-c", "readelf -n /lib/x86_64-linux-gnu/libc.so.6 | "
                                   "awk '/Build ID/{print $3}'"], capture_output=True,
                                  text=True).stdout.strip()
    (o,) = libc.values()
    assert o["substituted"] and o["rewritten"] > 400 and o["build_id"] != host_libc_id


def test_redis_from_a_docker_archive_through_a_registry(chroot, tmp_path):
    from registry import Registry

    if shutil.which("docker-registry") is None:
        pytest.skip("Debian's docker-registry is not installed")
    archive = docker_archive(tmp_path / "redis.tar")
    image = tmp_path / "redis.lsi"
    pack("--from-oci", archive, "-o", str(image), "redis-server", "--save", "", "--port", "6379",
         "--keep-args", "0", cwd=tmp_path)
    reg = Registry(tmp_path / "registry")
    env = dict(os.environ, LIBSUBST_STORE=str(tmp_path / "store"),
               REGISTRY_AUTH_FILE=str(tmp_path / "auth.json"))
    server = None
    try:
        ref = f"{reg.host}/tests/redis:11"
        push = subprocess.run([*LIBSUBST, "push", "--insecure", str(image), ref], env=env,
                              capture_output=True, timeout=300)
        assert push.returncode == 0, push.stderr.decode()
        pull = subprocess.run([*LIBSUBST, "pull", "--insecure", ref], env=env,
                              capture_output=True, timeout=300)
        assert pull.returncode == 0, pull.stderr.decode()
        port = free_port()
        server = subprocess.Popen([*LIBSUBST, "run", ref, "--save", "", "--port", str(port)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_port(port, server)
        assert redis_cli(port, "set", "k", "from-a-container").strip() == "OK"
        assert redis_cli(port, "get", "k").strip() == "from-a-container"
        version = redis_cli(port, "info", "server")
        want = native(chroot, "redis-server", "--version").stdout.decode()
        assert f"redis_version:{want.split('v=')[1].split()[0]}" in version
        redis_cli(port, "shutdown", "nosave")
        assert server.wait(timeout=30) == 0
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        reg.stop()


def test_bad_sources_are_one_line(tmp_path):
    # A file tar cannot read: tarfile's error names each compression it
    # tried, one line each, which the message must not pass on as they are.
    (tmp_path / "text").write_text("not an archive\n")
    (tmp_path / "cut.tar.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\0" * 20)
    for source, words in ((str(tmp_path / "missing"), "no such image"),
                          (str(tmp_path), "neither"),
                          (str(tmp_path / "text"), "not a readable image archive"),
                          (str(tmp_path / "cut.tar.gz"), "not a readable image archive")):
        done = subprocess.run([*LIBSUBST, "pack", "--from-oci", source, "true", "-o",
                               str(tmp_path / "x.lsi")], capture_output=True, timeout=60)
        err = done.stderr.decode()
        assert done.returncode != 0 and err.startswith("libsubst: ") and words in err, err
        assert len(err.splitlines()) == 1, err


def test_from_a_registry_reference(layout, chroot, tmp_path):
    """A container image in a registry (pushed here blob by blob with
    libsubst's own client, as any OCI tool would) packed by its reference."""
    from libsubst.oci.client import Registry as Client
    from libsubst.oci.reference import parse
    from registry import Registry

    if shutil.which("docker-registry") is None:
        pytest.skip("Debian's docker-registry is not installed")
    reg = Registry(tmp_path / "registry")
    try:
        ref = f"{reg.host}/tests/debian:11"
        client = Client(parse(ref), insecure=True)
        index = json.load(open(os.path.join(layout, "index.json")))
        (desc,) = index["manifests"]
        blob = lambda d: os.path.join(layout, "blobs", "sha256", d["digest"].split(":")[1])
        manifest = json.load(open(blob(desc)))
        for d in [manifest["config"], *manifest["layers"]]:
            client.push_blob(blob(d), d["digest"], d["size"])
        client.push_manifest(open(blob(desc), "rb").read(), desc["mediaType"], "11")
        image = tmp_path / "ver.lsi"
        pack("--from-oci", ref, "--insecure", "-o", str(image), "cat", "/etc/debian_version",
             cwd=tmp_path)
    finally:
        reg.stop()
    guest = subprocess.run([*LIBSUBST, "run", str(image)], capture_output=True, timeout=120)
    assert guest.stdout == native(chroot, "cat", "/etc/debian_version").stdout
    assert guest.returncode == 0
