"""OCI image references: ``[REGISTRY/]REPOSITORY[:TAG][@DIGEST]``.

The grammar is the distribution project's (reference/regexp.go in
github.com/distribution/reference), as container tools read it: the first
component is a registry when it has a ``.`` or a ``:`` or is ``localhost``;
otherwise the reference is Docker Hub's (``docker.io``, ``library/`` for a
one-component name)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadReference, LibsubstError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*\Z")
_HOST = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
                   r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])"
                   r"(?::[0-9]+)?\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """The host the registry API answers on (Docker Hub's differs from its name)."""
        return "registry-1.docker.io" if self.registry == DOCKER_HUB else self.registry

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.registry, self.repository, None, digest)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def _has_registry(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost" or first.startswith("[")


def parse(text: str) -> Reference:
    """``localhost:5000/redis:7`` -> Reference('localhost:5000', 'redis', '7').
    A reference with neither tag nor digest means ``:latest``."""
    if not text or len(text) > 4096 or any(c.isspace() for c in text):
        raise BadReference(f"{text!r} is not an image reference")
    rest, _, digest = text.partition("@")
    if digest and not DIGEST.match(digest):
        raise BadReference(f"{text!r}: the digest must be sha256: and 64 hex digits")
    first, slash, remainder = rest.partition("/")
    if slash and _has_registry(first):
        registry, path = first, remainder
        if not _HOST.match(registry):
            raise BadReference(f"{text!r}: {registry!r} is not a registry host[:port]")
    else:
        registry, path = DOCKER_HUB, rest
        if "/" not in path:
            path = "library/" + path
    # A tag is after the last ':' of the path part (a registry's port came before the first '/').
    repo, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
    if colon and "/" in tag:
        raise BadReference(f"{text!r} is not an image reference")
    if not _REPOSITORY.match(repo):
        raise BadReference(f"{text!r}: repository {repo!r} must be lower-case components "
                              "separated by '/'")
    if colon and not _TAG.match(tag):
        raise BadReference(f"{text!r}: tag {tag!r} is not valid")
    if not colon and not digest:
        tag = "latest"
    return Reference(registry, repo, tag or None, digest or None)


def looks_like_reference(text: str) -> bool:
    """Whether ``libsubst run TEXT`` means an image in a registry rather than a
    program: it names a registry host explicitly (``HOST/...``) and parses."""
    first, slash, _ = text.partition("/")
    if not slash or not _has_registry(first) or text.startswith(("/", ".")):
        return False
    try:
        parse(text)
    except LibsubstError:
        return False
    return True
