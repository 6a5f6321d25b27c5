"""A client of the OCI distribution API (the registry HTTP API v2), enough
to push and pull artifacts: blobs (existence, chunked resumable upload,
verified download) and manifests.

Authentication follows the registry's challenge (``WWW-Authenticate``):
``Basic`` with the stored credentials, or ``Bearer``, for which a token is
fetched from the challenge's realm (the "token authentication" of the
distribution spec).  TLS is verified against the system's CAs and the
container tools' per-registry CA directories (``certs.d/HOST[:PORT]/*.crt``);
plain HTTP only with ``insecure``, and only to a loopback registry."""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import tempfile
import time
import urllib.parse
from base64 import b64encode

from ..errors import RegistryError
from . import auth
from .reference import Reference

# Where podman/skopeo and docker look for a registry's CA certificates.
CERTS_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")
CHUNK = 8 << 20
MAX_BODY = 4 << 20          # manifests, errors, tokens: anything not streamed to a file
RETRIES = 5
TIMEOUT = 60
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def certs_dirs() -> list[str]:
    """``$LIBSUBST_CERTS_D`` (colon-separated) replaces the default directories."""
    env = os.environ.get("LIBSUBST_CERTS_D")
    return env.split(":") if env else list(CERTS_DIRS)


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback
                       for a in socket.getaddrinfo(name, None))
        except OSError:
            return False


def _next_offset(rng: str | None, default: int) -> int:
    """The next byte an upload wants, from its ``Range: 0-N`` header.  An
    upload with nothing stored says ``0-0`` (docker-registry 2.8) as one with
    one byte would: a byte is stored only when the registry has acknowledged
    more than a single one, so both restart at 0 here — safe either way,
    since the registry overwrites what a chunk at 0 sends again."""
    m = re.fullmatch(r"(?:bytes=)?0-(\d+)", (rng or "").strip())
    if not m:
        return default
    last = int(m.group(1))
    return last + 1 if last > 0 else 0


class Response:
    def __init__(self, status: int, headers, body: bytes, url: str):
        self.status, self.headers, self.body, self.url = status, headers, body, url

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class Registry:
    """One registry, for one repository's pushes and pulls."""

    def __init__(self, ref: Reference, *, insecure: bool = False):
        self.ref = ref
        host = ref.api_host
        if insecure and not _is_loopback(host):
            raise RegistryError(f"--insecure (plain HTTP) is only for a registry on this "
                                f"machine's loopback; {host} must be reached with TLS")
        self.scheme = "http" if insecure else "https"
        self.host = host
        self._auth_header: str | None = None
        self._ssl = None if insecure else self._ssl_context(host)

    @staticmethod
    def _ssl_context(host: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        for d in certs_dirs():
            folder = os.path.join(d, host)
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for n in names:
                if n.endswith(".crt"):
                    try:
                        ctx.load_verify_locations(cafile=os.path.join(folder, n))
                    except (OSError, ssl.SSLError) as e:
                        raise RegistryError(f"cannot load CA {folder}/{n}: {e}") from None
        return ctx

    # ---- HTTP ----

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def _open(self, url: str):
        u = urllib.parse.urlsplit(url)
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.netloc, timeout=TIMEOUT,
                                               context=self._ssl or ssl.create_default_context())
        if u.scheme == "http" and self.scheme == "http" and _is_loopback(u.netloc):
            return http.client.HTTPConnection(u.netloc, timeout=TIMEOUT)
        raise RegistryError(f"{self.host} sent libsubst to {u.scheme}://{u.netloc}: refused "
                            "(plain HTTP only with --insecure, and only on loopback)")

    def _send(self, method: str, url: str, headers: dict, body=None, sink=None) -> Response:
        """One request.  The response body is read into memory up to
        MAX_BODY, or, for a 200 with ``sink``, handed to sink(response)."""
        conn = self._open(url)
        u = urllib.parse.urlsplit(url)
        target = u.path + (f"?{u.query}" if u.query else "")
        try:
            conn.request(method, target, body=body, headers=headers)
            r = conn.getresponse()
            if sink is not None and r.status == 200:
                sink(r)
                return Response(r.status, r.headers, b"", url)
            data = r.read(MAX_BODY + 1)
            if len(data) > MAX_BODY:
                raise RegistryError(f"{self.host}: a response of more than {MAX_BODY} bytes "
                                    f"to {method} {u.path}: refused")
            return Response(r.status, r.headers, data, url)
        except ssl.SSLCertVerificationError as e:
            raise RegistryError(f"{self.host}: TLS certificate not trusted ({e.verify_message}); "
                                f"put its CA in certs.d/{self.host}/ca.crt "
                                f"({' or '.join(certs_dirs())})") from None
        except ssl.SSLError as e:
            # A TLS hello answered in plain HTTP: the registry has no TLS.
            hint = ("; it speaks plain HTTP: `libsubst pull --insecure` (push, login too) "
                    "reach one on loopback" if e.reason == "WRONG_VERSION_NUMBER" else "")
            raise RegistryError(f"{self.host}: {method} failed: {e}{hint}") from None
        except (OSError, http.client.HTTPException) as e:
            raise RegistryError(f"{self.host}: {method} failed: {e}") from None
        finally:
            conn.close()

    def _authenticate(self, challenge: str, scope: str) -> None:
        creds = auth.credentials(self.ref.registry)
        kind, _, params = challenge.partition(" ")
        if kind.lower() == "basic":
            if not creds:
                raise RegistryError(f"{self.host} asks for a login: run `libsubst login "
                                    f"{self.ref.registry}`")
            self._auth_header = "Basic " + b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            return
        if kind.lower() != "bearer":
            raise RegistryError(f"{self.host}: unsupported authentication {kind!r}")
        p = dict(_CHALLENGE.findall(params))
        if "realm" not in p:
            raise RegistryError(f"{self.host}: a Bearer challenge without a realm")
        query = {"service": p.get("service", ""), "scope": p.get("scope", scope)}
        url = p["realm"] + "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
        headers = {}
        if creds:
            headers["Authorization"] = "Basic " + b64encode(
                f"{creds[0]}:{creds[1]}".encode()).decode()
        r = self._send("GET", url, headers)
        if r.status != 200:
            raise RegistryError(f"{self.host}: token request refused ({r.status})")
        try:
            body = json.loads(r.body)
            token = body.get("token") or body["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f"{self.host}: the token service sent no token") from None
        self._auth_header = f"Bearer {token}"

    def request(self, method: str, path_or_url: str, *, headers: dict | None = None, body=None,
                scope: str = "", redirects: int = 5, sink=None) -> Response:
        url = path_or_url if "://" in path_or_url else self._url(path_or_url)
        for _attempt in range(2):
            h = dict(headers or {})
            if self._auth_header and urllib.parse.urlsplit(url).netloc == self.host:
                h["Authorization"] = self._auth_header
            r = self._send(method, url, h, body, sink)
            if r.status == 401 and r.header("WWW-Authenticate") and _attempt == 0:
                if self._auth_header and self._auth_header.startswith("Basic"):
                    break
                self._authenticate(r.header("WWW-Authenticate"), scope)
                if hasattr(body, "seek"):
                    body.seek(0)
                continue
            break
        if r.status == 401:
            raise RegistryError(f"{self.host}: login refused (check `libsubst login "
                                f"{self.ref.registry}`)")
        if r.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD") and redirects:
            return self.request(method, urllib.parse.urljoin(url, r.header("Location") or ""),
                                headers=headers, scope=scope, redirects=redirects - 1, sink=sink)
        return r

    def _scope(self, actions: str) -> str:
        return f"repository:{self.ref.repository}:{actions}"

    def _fail(self, what: str, r: Response):
        detail = ""
        try:
            errs = json.loads(r.body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs)
        except (ValueError, AttributeError):
            pass
        raise RegistryError(f"{self.ref.name}: {what}: HTTP {r.status}"
                            + (f" ({detail})" if detail else ""))

    # ---- API ----

    def check_login(self) -> None:
        """Whether the stored credentials open the registry's API root."""
        r = self.request("GET", "/v2/", scope="")
        if r.status != 200:
            self._fail("not an OCI registry", r)

    def has_blob(self, digest: str) -> bool:
        r = self.request("HEAD", f"/v2/{self.ref.repository}/blobs/{digest}",
                         scope=self._scope("pull"))
        if r.status == 200:
            return True
        if r.status == 404:
            return False
        self._fail(f"checking blob {digest}", r)

    def push_blob(self, path: str, digest: str, size: int, chunk: int = CHUNK) -> bool:
        """Uploads a file as a blob unless the registry has it; whether it was
        sent.  The upload goes in chunks; after a failed chunk the upload's
        status says where to resume (the spec's GET on the upload URL)."""
        scope = self._scope("pull,push")
        if self.has_blob(digest):
            return False
        location = self._start_upload(scope)
        offset, failures = 0, 0
        with open(path, "rb") as f:
            while offset < size:
                f.seek(offset)
                data = f.read(min(chunk, size - offset))
                try:
                    r = self.request("PATCH", location, scope=scope, body=data, headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(len(data)),
                        "Content-Range": f"{offset}-{offset + len(data) - 1}"})
                    if r.status != 202:
                        self._fail("uploading a chunk", r)
                except RegistryError:
                    failures += 1
                    if failures > RETRIES:
                        raise
                    time.sleep(0.2 * failures)
                    # Resume where the registry says the upload stands; from
                    # nothing (or an upload it lost) a new upload starts.
                    try:
                        offset, location = self._upload_status(location, scope)
                    except RegistryError:
                        offset = 0
                    if offset == 0:
                        location = self._start_upload(scope)
                    continue
                location = urllib.parse.urljoin(r.url, r.header("Location") or location)
                offset = _next_offset(r.header("Range"), offset + len(data))
        sep = "&" if "?" in location else "?"
        r = self.request("PUT", f"{location}{sep}digest={digest}", scope=scope,
                         headers={"Content-Length": "0"})
        if r.status != 201:
            self._fail(f"finishing the upload of {digest}", r)
        return True

    def _start_upload(self, scope: str) -> str:
        r = self.request("POST", f"/v2/{self.ref.repository}/blobs/uploads/", scope=scope,
                         headers={"Content-Length": "0"})
        if r.status != 202 or not r.header("Location"):
            self._fail("starting an upload", r)
        return urllib.parse.urljoin(r.url, r.header("Location"))

    def _upload_status(self, location: str, scope: str) -> tuple[int, str]:
        """(next offset, upload URL) of an upload in progress."""
        r = self.request("GET", location, scope=scope)
        if r.status != 204:
            self._fail("resuming an upload", r)
        return _next_offset(r.header("Range"), 0), urllib.parse.urljoin(
            r.url, r.header("Location") or location)

    def push_manifest(self, body: bytes, media_type: str, tag: str) -> str:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        r = self.request("PUT", f"/v2/{self.ref.repository}/manifests/{tag or digest}",
                         body=body, scope=self._scope("pull,push"),
                         headers={"Content-Type": media_type, "Content-Length": str(len(body))})
        if r.status != 201:
            self._fail("uploading the manifest", r)
        sent = r.header("Docker-Content-Digest")
        if sent and sent != digest:
            raise RegistryError(f"{self.ref.name}: the registry stored the manifest as {sent}, "
                                f"not {digest}")
        return digest

    def get_manifest(self, accept: list[str]) -> tuple[bytes, str, str]:
        """(body, media type, digest) of the reference's manifest; a digest
        reference is checked against the body."""
        ref = self.ref.digest or self.ref.tag
        r = self.request("GET", f"/v2/{self.ref.repository}/manifests/{ref}",
                         scope=self._scope("pull"), headers={"Accept": ", ".join(accept)})
        if r.status == 404:
            raise RegistryError(f"{self.ref}: no such image in the registry")
        if r.status != 200:
            self._fail("fetching the manifest", r)
        digest = "sha256:" + hashlib.sha256(r.body).hexdigest()
        if self.ref.digest and digest != self.ref.digest:
            raise RegistryError(f"{self.ref}: the registry sent a manifest whose digest is "
                                f"{digest}: refused")
        media = (r.header("Content-Type") or "").split(";")[0].strip()
        return r.body, media, digest

    def fetch_blob(self, digest: str, size: int, dest: str) -> None:
        """Downloads a blob to ``dest`` (atomically), streaming it through
        sha256, reading no more than the descriptor's size, and refusing it
        unless size and digest match."""
        folder = os.path.dirname(dest)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".blob-")
        h = hashlib.sha256()
        got = 0

        def sink(resp):
            nonlocal got
            with os.fdopen(os.dup(fd), "wb") as out:
                while got <= size:
                    chunk = resp.read(min(1 << 20, size + 1 - got))
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk)
                    got += len(chunk)
        try:
            r = self.request("GET", f"/v2/{self.ref.repository}/blobs/{digest}",
                             scope=self._scope("pull"), sink=sink)
            if r.status != 200:
                self._fail(f"fetching blob {digest}", r)
            actual = "sha256:" + h.hexdigest()
            if got != size or actual != digest:
                raise RegistryError(f"{self.ref.name}: blob {digest} arrived with digest "
                                    f"{actual} and {got} bytes (expected {size}): refused, "
                                    "nothing stored")
            os.close(fd)
            fd = -1
            os.replace(tmp, dest)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
