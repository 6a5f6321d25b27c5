"""A real OCI registry on loopback for the tests: Debian's docker-registry
(the distribution project's registry), with a storage directory of the
test's own, optionally TLS (a test CA) and htpasswd basic auth."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request

from conftest import free_port


def make_ca(folder) -> tuple[str, str, str]:
    """A test CA and a server certificate for localhost/127.0.0.1 it signed:
    (ca.crt, server.crt, server.key)."""
    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=libsubst test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(folder, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return tuple(os.path.join(folder, n) for n in ("ca.crt", "server.crt", "server.key"))


class Registry:
    def __init__(self, folder, *, tls=False, users=None):
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.port = free_port()
        self.host = f"localhost:{self.port}"
        self.storage = os.path.join(self.folder, "storage")
        self.ca = None
        lines = ["version: 0.1", "log: {level: error}",
                 f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, "
                 "delete: {enabled: true}}",
                 "http:", f"  addr: 127.0.0.1:{self.port}"]
        if tls:
            self.ca, crt, key = make_ca(self.folder)
            lines.append(f"  tls: {{certificate: {crt}, key: {key}}}")
        if users:
            pw = os.path.join(self.folder, "htpasswd")
            with open(pw, "w") as f:
                for user, password in users.items():
                    f.write(subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                                           capture_output=True, text=True).stdout.strip() + "\n")
            lines.append(f"auth: {{htpasswd: {{realm: libsubst-test, path: {pw}}}}}")
        config = os.path.join(self.folder, "config.yml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.folder, "registry.log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            self._wait(tls)
        except BaseException:
            self.stop()
            raise

    def _wait(self, tls):
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca) if tls else None
        url = f"{'https' if tls else 'http'}://{self.host}/v2/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"registry exited: {open(self.log.name).read()}")
            try:
                urllib.request.urlopen(url, timeout=2, context=ctx)
                return
            except urllib.error.HTTPError:
                return                                  # 401: up, and asking for a login
            except OSError:
                time.sleep(0.05)
        raise AssertionError("registry never answered")

    def certs_d(self, folder) -> str:
        """A certs.d directory that trusts this registry's CA."""
        d = os.path.join(str(folder), self.host)
        os.makedirs(d)
        shutil.copy(self.ca, os.path.join(d, "ca.crt"))
        return str(folder)

    def manifest_link(self, repository: str, digest: str) -> str:
        """The file the registry keeps a manifest's digest in, for a repository."""
        return os.path.join(self.storage, "docker", "registry", "v2", "repositories", repository,
                            "_manifests", "revisions", "sha256", digest.split(":", 1)[1], "link")

    def blob_file(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", "sha256",
                            hexd[:2], hexd, "data")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
