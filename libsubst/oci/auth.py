"""Registry credentials, kept where container tools keep them.

Read from ``$REGISTRY_AUTH_FILE`` (podman's, same format), else
``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``: ``{"auths":
{"HOST": {"auth": base64("USER:PASSWORD")}}}``.  ``libsubst login`` writes
the same file (mode 0600), so docker, podman, skopeo and libsubst share one
login."""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile

from ..errors import LibsubstError


def auth_file() -> str:
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return os.environ["REGISTRY_AUTH_FILE"]
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise LibsubstError(f"cannot read registry credentials {path}: {e}") from None
    if not isinstance(data, dict):
        raise LibsubstError(f"cannot read registry credentials {path}: not a JSON object")
    return data


def _keys(registry: str) -> list[str]:
    # Docker Hub's entry is written under its legacy index URL by docker itself.
    if registry == "docker.io":
        return ["docker.io", "https://index.docker.io/v1/", "index.docker.io"]
    return [registry, f"https://{registry}", f"http://{registry}"]


def credentials(registry: str) -> tuple[str, str] | None:
    """(user, password) for a registry, or None."""
    auths = _load(auth_file()).get("auths") or {}
    for key in _keys(registry):
        entry = auths.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise LibsubstError(f"{auth_file()}: the entry for {key} is not "
                                    "base64 of USER:PASSWORD") from None
            if sep:
                return user, password
    return None


def _store(data: dict) -> None:
    path = auth_file()
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".config-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save(registry: str, user: str, password: str) -> str:
    """Records a login; the file's path."""
    data = _load(auth_file())
    auths = data.setdefault("auths", {})
    auths[registry] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _store(data)
    return auth_file()


def forget(registry: str) -> bool:
    """Removes a login; whether there was one."""
    data = _load(auth_file())
    auths = data.get("auths") or {}
    found = [k for k in _keys(registry) if k in auths]
    for k in found:
        del auths[k]
    if found:
        _store(data)
    return bool(found)
