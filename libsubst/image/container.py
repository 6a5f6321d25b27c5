"""Packing a program from a container image (``libsubst pack --from-oci``).

The container's root file system (``oci.layers``: layers applied in order)
becomes the image's root, as it is the container's: every file of it but
/dev, /proc and /sys, which the guest kernel provides.  The program is
found on the container's PATH, its ``#!`` and ``DT_NEEDED`` closure are
resolved with ld.so's rules inside that root (``ldso``, with ``root``), and
every object of the closure with syscall sites — the container's own glibc
and ld.so, whatever their version — is replaced by its substitute, as for a
host program.  The image config gives the environment and the working
directory."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ..plan import GuestPlan
from ..volumes import parse_volume
from .tree import Tree

SKIP = ("dev/*", "proc/*", "sys/*")


def prepare(root: str, config, program: str, args: Sequence[str] = (), *,
            env: Mapping[str, str] | None = None, volumes: Sequence[str] = (),
            workdir: str | None = None, net: str = "host", subst: bool = True) -> GuestPlan:
    """The plan of ``program`` in the root file system at ``root`` (an
    unpacked container image whose config is ``config``), for packing."""
    from ..ldso.program import find_program, interpreters, mapped_program
    from ..ldso.search import realpath, resolve
    from .pack import DEFAULT_ENV, HOSTNAME

    image_env = dict(DEFAULT_ENV)
    image_env.update(kv.split("=", 1) for kv in config.env if "=" in kv)
    image_env.update(env or {})
    path = find_program(program, image_env.get("PATH"), root)
    cwd = workdir or config.workdir or "/"
    binary = mapped_program(interpreters(path, root, cwd), root)
    # No ELF at the end of its #! lines: the kernel's first exec says why.
    loaded = resolve(binary, image_env, root).host_paths() if binary else []

    tree = Tree()
    tree.add_host_tree(root, "/", exclude=SKIP)
    for d in ("/dev", "/proc", "/sys", "/tmp"):
        tree.add_dir(d, 0o1777 if d == "/tmp" else 0o755)
    objects = [realpath(p, root) for p in loaded]
    hosts = []
    for guest in dict.fromkeys(objects):
        host = root + guest
        hosts.append(host)
        if subst:
            from ..uklibc.cache import substitute
            sub = substitute(host)
            if sub != host:
                tree.replace_host_file(guest, sub)
    mounts = [parse_volume(v, declare=True) for v in volumes]
    for m in mounts:
        tree.add_dir(m.guest)
    return GuestPlan(exe=realpath(path, root), execfn=program if "/" in program else path,
                    argv=[program, *args], env=[f"{k}={v}" for k, v in image_env.items()],
                    cwd=cwd, entries=tree.entries(), mounts=mounts,
                    hostname=HOSTNAME, uid=os.getuid(), gid=os.getgid(), net=net,
                    objects=hosts if subst else [])
