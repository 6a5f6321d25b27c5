"""Images through a real OCI registry on loopback: push, pull into a clean
store, run REF, tags that move, digests, corruption, auth and TLS."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import LIBSUBST, free_port, run_native
from registry import Registry

pytestmark = pytest.mark.skipif(shutil.which("docker-registry") is None,
                                reason="Debian's docker-registry is not installed")


@pytest.fixture
def env(tmp_path):
    """An environment with a store, credentials file and certs.d of the test's own."""
    e = dict(os.environ)
    e["LIBSUBST_STORE"] = str(tmp_path / "store")
    e["REGISTRY_AUTH_FILE"] = str(tmp_path / "auth.json")
    e["LIBSUBST_CERTS_D"] = str(tmp_path / "certs.d")
    return e


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "registry")
    try:
        yield reg
    finally:
        reg.stop()


def lsub(env, *args, stdin=b""):
    return subprocess.run([*LIBSUBST, *args], env=env, input=stdin, capture_output=True,
                          timeout=120)


def one_error_line(done):
    err = done.stderr.decode()
    assert done.returncode != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("libsubst: "), err
    return lines[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two packed images of echo with different words: (path, words)."""
    folder = tmp_path_factory.mktemp("images")
    out = []
    for words in (["first", "image"], ["second", "image"]):
        path = str(folder / f"{words[0]}.lsi")
        done = subprocess.run([*LIBSUBST, "pack", "/bin/echo", *words, "-o", path],
                              capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        out.append((path, words))
    return out


def test_push_pull_run_against_native(registry, env, images, tmp_path):
    path, words = images[0]
    ref = f"{registry.host}/tools/echo:1"
    pushed = lsub(env, "push", "--insecure", path, ref)
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.decode().strip()
    # The registry holds the .lsi byte for byte, under its sha256.
    lsi_digest = "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert open(registry.blob_file(lsi_digest), "rb").read() == open(path, "rb").read()
    # A clean store pulls it; run needs no network afterwards.
    pulled = lsub(env, "pull", "--insecure", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.decode().strip() == digest
    registry.stop()
    native = run_native(["/bin/echo", *words], cwd=tmp_path)
    guest = lsub(env, "run", ref)
    assert (guest.stdout, guest.returncode) == (native.stdout, native.returncode), guest.stderr
    listed = json.loads(lsub(env, "images", "--json").stdout)
    assert [(r["reference"], r["digest"], r["program"]) for r in listed] == \
        [(ref, digest, "/usr/bin/echo")]
    # inspect takes the reference as run does, from the store, as it takes the file.
    by_ref, by_file = lsub(env, "inspect", ref), lsub(env, "inspect", path)
    assert by_ref.returncode == 0, by_ref.stderr
    assert by_ref.stdout.decode().replace(ref, path, 1) == by_file.stdout.decode()
    missing = lsub(env, "inspect", f"{registry.host}/tools/none:1")
    assert missing.returncode != 0 and "libsubst pull" in one_error_line(missing)


def test_the_manifest_is_an_oci_artifact(registry, env, images):
    path, _ = images[0]
    ref = f"{registry.host}/echo:art"
    digest = lsub(env, "push", "--insecure", path, ref).stdout.decode().strip()
    import urllib.request
    req = urllib.request.Request(f"http://{registry.host}/v2/echo/manifests/{digest}",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    body = urllib.request.urlopen(req, timeout=10).read()
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
    m = json.loads(body)
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert m["config"]["mediaType"] == m["artifactType"] == \
        "application/vnd.libsubst.image.config.v1+json"
    assert [layer["mediaType"] for layer in m["layers"]] == ["application/vnd.libsubst.image.v1"]
    ann = m["annotations"]
    assert ann["org.libsubst.image.program"] == "/usr/bin/echo"
    assert "host calls allowed" in ann["org.libsubst.image.seccomp"]
    assert "build-id" in ann["org.libsubst.image.kernel"]
    # Pushing the same image again gives the same digest (deterministic artifact).
    assert lsub(env, "push", "--insecure", path, ref).stdout.decode().strip() == digest


def test_run_pulls_on_first_use_and_a_tag_moves(tmp_path, env, images):
    reg = Registry(tmp_path / "tls", tls=True)
    try:
        env["LIBSUBST_CERTS_D"] = reg.certs_d(tmp_path / "certs.d")
        ref = f"{reg.host}/echo:latest"
        (first, w1), (second, w2) = images
        assert lsub(env, "push", first, ref).returncode == 0
        guest = lsub(env, "run", ref)
        assert guest.stdout == run_native(["/bin/echo", *w1], cwd=tmp_path).stdout, guest.stderr
        assert "pulled" in guest.stderr.decode()
        # The tag moves in the registry; the store keeps what it pulled until pulled again.
        assert lsub(env, "push", second, ref).returncode == 0
        assert lsub(env, "run", ref).stdout == b"first image\n"
        assert lsub(env, "pull", ref).returncode == 0
        assert lsub(env, "run", ref).stdout == run_native(["/bin/echo", *w2], cwd=tmp_path).stdout
    finally:
        reg.stop()


def test_a_digest_reference(registry, env, images, tmp_path):
    path, words = images[1]
    digest = lsub(env, "push", "--insecure", path, f"{registry.host}/echo:d").stdout.decode().strip()
    by_digest = f"{registry.host}/echo@{digest}"
    assert lsub(env, "pull", "--insecure", by_digest).returncode == 0
    guest = lsub(env, "run", by_digest)
    assert guest.stdout == run_native(["/bin/echo", *words], cwd=tmp_path).stdout
    # A digest that is not the manifest's is refused.
    wrong = f"{registry.host}/echo@sha256:{'0' * 64}"
    assert "no such image" in one_error_line(lsub(env, "pull", "--insecure", wrong))


def test_a_corrupt_blob_is_refused_and_nothing_runs(registry, env, images):
    path, _ = images[0]
    ref = f"{registry.host}/echo:bad"
    assert lsub(env, "push", "--insecure", path, ref).returncode == 0
    lsi_digest = "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()
    blob = registry.blob_file(lsi_digest)
    data = bytearray(open(blob, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(blob, "wb").write(bytes(data))
    line = one_error_line(lsub(env, "pull", "--insecure", ref))
    assert lsi_digest in line and "refused" in line
    store = env["LIBSUBST_STORE"]
    blobs = os.path.join(store, "blobs", "sha256")
    assert not os.path.exists(blobs) or lsi_digest.split(":")[1] not in os.listdir(blobs)
    assert json.loads(lsub(env, "images", "--json").stdout) == []


def test_unknown_reference_and_unreachable_registry(registry, env):
    line = one_error_line(lsub(env, "pull", "--insecure", f"{registry.host}/nothing:here"))
    assert "no such image" in line
    port = free_port()
    line = one_error_line(lsub(env, "pull", "--insecure", f"localhost:{port}/x:1"))
    assert f"localhost:{port}" in line and "refused" in line.lower()
    line = one_error_line(lsub(env, "run", f"localhost:{port}/x:1"))
    assert f"localhost:{port}" in line
    assert "lower-case" in one_error_line(lsub(env, "pull", "localhost:5000/UP:1"))
    assert "not a registry" in one_error_line(lsub(env, "pull", "bad_host.x:5000/a:1"))
    # A plain-HTTP registry reached with TLS (run has no --insecure): the
    # line says what to do, not only the TLS library's complaint.
    for argv in (["run"], ["pull"]):
        line = one_error_line(lsub(env, *argv, f"{registry.host}/nothing:here"))
        assert "plain HTTP" in line and "--insecure" in line, line


def test_insecure_is_for_loopback_only(env, images):
    line = one_error_line(lsub(env, "push", "--insecure", images[0][0], "registry.example/a:1"))
    assert "loopback" in line


def test_tls_refused_without_the_ca_accepted_with_it(tmp_path, env, images):
    reg = Registry(tmp_path / "tls", tls=True)
    try:
        ref = f"{reg.host}/echo:tls"
        line = one_error_line(lsub(env, "push", images[0][0], ref))
        assert "not trusted" in line
        env["LIBSUBST_CERTS_D"] = reg.certs_d(tmp_path / "certs.d")
        assert lsub(env, "push", images[0][0], ref).returncode == 0
        assert lsub(env, "pull", ref).returncode == 0
    finally:
        reg.stop()


def test_basic_auth_right_and_wrong(tmp_path, env, images):
    reg = Registry(tmp_path / "auth", tls=True, users={"alice": "s3cret"})
    try:
        env["LIBSUBST_CERTS_D"] = reg.certs_d(tmp_path / "certs.d")
        ref = f"{reg.host}/private/echo:1"
        assert "libsubst login" in one_error_line(lsub(env, "push", images[0][0], ref))
        line = one_error_line(lsub(env, "login", "-u", "alice", "--password-stdin", reg.host,
                                   stdin=b"wrong\n"))
        assert "refused" in line
        assert not json.load(open(env["REGISTRY_AUTH_FILE"]))["auths"]
        done = lsub(env, "login", "-u", "alice", "--password-stdin", reg.host, stdin=b"s3cret\n")
        assert done.returncode == 0, done.stderr
        assert oct(os.stat(env["REGISTRY_AUTH_FILE"]).st_mode & 0o777) == "0o600"
        assert lsub(env, "push", images[0][0], ref).returncode == 0
        assert lsub(env, "run", ref).stdout == b"first image\n"
        assert lsub(env, "logout", reg.host).returncode == 0
        env["LIBSUBST_STORE"] = str(tmp_path / "store2")
        assert "libsubst login" in one_error_line(lsub(env, "pull", ref))
    finally:
        reg.stop()


def test_rmi_removes_tags_and_unreferenced_blobs(registry, env, images):
    path, _ = images[0]
    a, b = f"{registry.host}/echo:a", f"{registry.host}/echo:b"
    for ref in (a, b):
        assert lsub(env, "push", "--insecure", path, ref).returncode == 0
        assert lsub(env, "pull", "--insecure", ref).returncode == 0
    blobs = os.path.join(env["LIBSUBST_STORE"], "blobs", "sha256")
    assert len(os.listdir(blobs)) == 3                    # manifest, config, image
    assert lsub(env, "rmi", a).returncode == 0
    assert [r["reference"] for r in json.loads(lsub(env, "images", "--json").stdout)] == [b]
    assert len(os.listdir(blobs)) == 3
    assert lsub(env, "rmi", b).returncode == 0
    assert os.listdir(blobs) == []
    assert "not in the local store" in one_error_line(lsub(env, "rmi", b))


class _DropOnce:
    """A loopback TCP proxy that cuts the n-th connection carrying a PATCH
    halfway: an upload interrupted mid-chunk."""

    def __init__(self, target_port, nth):
        self.nth = nth
        self.target = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.dropped = 0
        self.patches = 0
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.target))
        first = client.recv(65536)
        self.patches += first.startswith(b"PATCH")
        if first.startswith(b"PATCH") and self.patches == self.nth:
            self.dropped += 1
            upstream.sendall(first[: len(first) // 2])
            client.close()
            upstream.close()
            return
        upstream.sendall(first)

        def copy(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        t = threading.Thread(target=copy, args=(upstream, client), daemon=True)
        t.start()
        copy(client, upstream)
        t.join(30)


@pytest.mark.parametrize("nth", [1, 2, 5])
def test_chunked_upload_goes_on_after_a_cut(registry, images, nth):
    """A chunk cut mid-way (the first, or one after others went through): the
    blob arrives whole, byte for byte, under its digest."""
    from libsubst.oci.client import Registry as Client
    from libsubst.oci.reference import parse

    proxy = _DropOnce(registry.port, nth)
    try:
        path = images[0][0]
        data = open(path, "rb").read()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        client = Client(parse(f"localhost:{proxy.port}/echo:chunks{nth}"), insecure=True)
        assert client.push_blob(path, digest, len(data), chunk=256 * 1024) is True
        assert proxy.dropped == 1
        assert open(registry.blob_file(digest), "rb").read() == data
    finally:
        proxy.stop = True
        proxy.sock.close()


def test_a_manifest_that_is_not_its_digest_is_refused(registry, env, images):
    """The registry serves, under a digest, bytes of another digest: refused."""
    path, _ = images[0]
    first = lsub(env, "push", "--insecure", path, f"{registry.host}/echo:a").stdout.decode().strip()
    second = lsub(env, "push", "--insecure", images[1][0],
                  f"{registry.host}/echo:b").stdout.decode().strip()
    # Point the registry's record of the first manifest at the second's bytes.
    first_blob, second_blob = registry.blob_file(first), registry.blob_file(second)
    os.replace(second_blob, first_blob)
    line = one_error_line(lsub(env, "pull", "--insecure", f"{registry.host}/echo@{first}"))
    assert "refused" in line and first in line, line
    assert json.loads(lsub(env, "images", "--json").stdout) == []


def test_plain_http_is_never_followed_off_loopback(env):
    from libsubst.errors import RegistryError
    from libsubst.oci.client import Registry as Client
    from libsubst.oci.reference import parse

    client = Client(parse("localhost:5000/x:1"), insecure=True)
    with pytest.raises(RegistryError, match="refused"):
        client._open("http://registry.example:5000/v2/")


@pytest.mark.parametrize("text,parts", [
    ("localhost:5000/redis:7", ("localhost:5000", "redis", "7", None)),
    ("localhost/a/b", ("localhost", "a/b", "latest", None)),
    ("registry.example/ns/app@sha256:" + "a" * 64,
     ("registry.example", "ns/app", None, "sha256:" + "a" * 64)),
    ("127.0.0.1:5000/x:v1.2-rc_3@sha256:" + "b" * 64,
     ("127.0.0.1:5000", "x", "v1.2-rc_3", "sha256:" + "b" * 64)),
    ("redis", ("docker.io", "library/redis", "latest", None)),
    ("user/app:1", ("docker.io", "user/app", "1", None)),
])
def test_reference_grammar(text, parts):
    from libsubst.oci.reference import parse
    r = parse(text)
    assert (r.registry, r.repository, r.tag, r.digest) == parts


@pytest.mark.parametrize("text", ["", "a b", "localhost:5000/Upper", "localhost:5000/x@sha256:12",
                                  "localhost:5000/x:caf\u00e9",
                                  "localhost:5000/x:" + "t" * 200, "localhost:5000/x::1",
                                  "localhost:5000//x"])
def test_reference_refused(text):
    from libsubst.errors import BadReference
    from libsubst.oci.reference import parse
    with pytest.raises(BadReference):
        parse(text)


@pytest.mark.parametrize("text,is_ref", [("localhost:5000/redis:7", True), ("redis-server", False),
                                         ("./localhost/x", False), ("/usr/bin/echo", False),
                                         ("registry.example/ns/app", True), ("sub/dir", False)])
def test_run_tells_references_from_programs(text, is_ref):
    from libsubst.oci.reference import looks_like_reference
    assert looks_like_reference(text) is is_ref
