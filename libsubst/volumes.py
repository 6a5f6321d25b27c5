"""Volumes: host directories bound into a guest, and the mount points a
packed image declares.  One type (:class:`Mount`) and one parser for every
``--volume``, run's and pack's; the guest's root is never a volume
(``check_not_root``: only the OCI runtime binds a bundle's root there).

A leaf module (it imports only ``errors``): the image format reads its
declared volumes with it, the plan binds them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import VolumeError

ROOT_VOLUME = "a volume cannot be mounted at / (the guest's root is its image)"


@dataclass(frozen=True)
class Mount:
    """A host directory bound at a guest path; ``host`` is empty for a mount
    point an image declares and its run binds."""

    guest: str
    host: str
    readonly: bool = False
    scratch: bool = False         # host is a tmpfs the kernel makes in the guest's mount namespace
    size: int | None = None       # scratch: its size in bytes (the guest's --memory), None: no limit
    mode: int | None = None       # scratch: its root's permission bits, None: 0o1777 as /tmp's
    gid: int | None = None        # scratch: its root's group, None: root's


def parse_volume(spec: str, *, declare: bool = False) -> Mount:
    """``HOST:GUEST[:ro|:rw]`` (run: a host directory to bind) -> Mount.

    With ``declare`` (pack), ``[HOST:]GUEST[:ro|:rw]``: a mount point the
    image records, with no host path (a HOST part is accepted, so the same
    --volume works for run and pack, and ignored)."""
    parts = spec.split(":")
    ro = False
    if len(parts) > (1 if declare else 2) and parts[-1] in ("ro", "rw"):
        ro = parts.pop() == "ro"
    if declare:
        ok = len(parts) <= 2 and parts[-1]
    else:
        ok = len(parts) == 2 and all(parts)
    if not ok:
        raise VolumeError(f"--volume {spec!r}: expected {'[HOST:]' if declare else 'HOST:'}"
                          "GUEST[:ro]")
    guest = parts[-1]
    if not guest.startswith("/"):
        raise VolumeError(f"--volume {spec!r}: the guest path must be absolute")
    check_not_root(guest)
    if declare:
        return Mount(guest=os.path.normpath(guest), host="", readonly=ro)
    host = parts[0]
    if not os.path.exists(host):
        raise VolumeError(f"--volume {spec!r}: host path {host} does not exist")
    if not os.path.isdir(host):
        raise VolumeError(f"--volume {spec!r}: host path {host} is not a directory")
    if os.path.realpath(host) == "/":
        raise VolumeError(f"--volume {spec!r}: the host's root cannot be a volume; "
                          "name the directories the guest needs")
    return Mount(guest=os.path.normpath(guest), host=os.path.realpath(host), readonly=ro)


def check_not_root(guest: str) -> None:
    """The one check that no volume is mounted at the guest's root."""
    if os.path.normpath(guest) == "/":
        raise VolumeError(ROOT_VOLUME)


def bind(volumes, *, declare: bool = False) -> list[Mount]:
    """``--volume`` strings or an API caller's Mounts -> Mounts, checked;
    ``declare``: mount points a packed image records (no host path)."""
    out = []
    for v in volumes:
        if isinstance(v, Mount):
            check_not_root(v.guest)
            out.append(Mount(guest=v.guest, host="", readonly=v.readonly) if declare else v)
        else:
            out.append(parse_volume(v, declare=declare))
    return out


def under(path: str, mount: Mount) -> bool:
    """Whether guest ``path`` is ``mount``'s point or below it."""
    return path == mount.guest or path.startswith(mount.guest.rstrip("/") + "/")
