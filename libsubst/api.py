"""The embeddable API: prepare a guest from a program, run it.

    >>> from libsubst import api
    >>> done = api.run("/bin/echo", ["hi"])
    >>> done.returncode
    0

The CLI is a thin layer over this module."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence

from .errors import LibsubstError, ProgramNotFound, VolumeError
from .image import rootfs
from .image.tree import Tree
from .ldso.elf import ElfFile
from .ldso.program import find_program, resolve_script
from .ldso.search import resolve, resolve_dlopen_closure
from .monitor.bootinfo import BootSpec, Mount
from .monitor.guest import Completed, run_spec


def prepare(program: str, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
            volumes: Sequence[str | Mount] = (), workdir: str | None = None,
            mount_cwd: bool = True, subst: bool = True, net: str = "host") -> BootSpec:
    """The boot spec for running ``program`` with ``args``.

    ``env`` is the guest's whole environment (default: this process's);
    ``volumes`` are ``HOST:GUEST[:ro]`` strings or Mounts; the current
    directory is mounted read-write at its own path and is the guest's
    working directory unless ``mount_cwd`` is false or ``workdir`` says
    otherwise.  ``net`` is "host" (the host's network) or "none" (a network
    namespace of the guest's own with only loopback).  With ``subst`` (the default) every object with syscall
    sites is replaced by its substitute (libsubst.uklibc), so its calls are
    fastcalls; without it every call takes the trap path."""
    if net not in ("host", "none"):
        raise LibsubstError(f"--net {net}: expected host or none")
    env = dict(os.environ if env is None else env)
    path = find_program(program, env.get("PATH"))
    binary, argv, scripts = resolve_script(path, [program, *args],
                                           filename=program if "/" in program else path)
    with ElfFile.open(binary) as elf:
        interp = elf.get_interp()
    plan = resolve(binary, env)

    hostname = os.uname().nodename
    tree = Tree()
    objects = [tree.add_host_path(binary)]
    if interp:
        # The kernel opens PT_INTERP as written; a relative one (rare) as resolved.
        objects.append(tree.add_host_path(interp if os.path.isabs(interp) else plan.interp))
    objects += [tree.add_host_path(lib) for _soname, lib in plan.libraries]
    runtime_mounts, modules = rootfs.runtime_trees(binary, env)
    objects += [tree.add_host_path(lib) for lib in resolve_dlopen_closure(plan, modules, env)]
    if subst:
        from .uklibc.cache import substitute

        for real in objects:
            sub = substitute(real)
            if sub != real:
                tree.replace_host_file(real, sub)
    rootfs.add_etc(tree, hostname)

    mounts = [v if isinstance(v, Mount) else rootfs.parse_volume(v) for v in volumes]
    cwd = os.getcwd()
    if mount_cwd and cwd != "/" and not any(m.guest == cwd for m in mounts):
        mounts.append(Mount(guest=cwd, host=cwd))
    mounts += [m for m in runtime_mounts if not any(m.guest == o.guest for o in mounts)]
    for s in scripts:
        if not any(s == m.guest or s.startswith(m.guest.rstrip("/") + "/") for m in mounts):
            tree.add_host_path(s)
    scratch = []
    if not any(m.guest == "/tmp" for m in mounts) and not any(
            e.path.startswith("/tmp/") and e.kind != "dir" for e in tree.entries()):
        # A writable /tmp of the guest's own, gone when the guest is (unless
        # it would hide files of the image, such as a program under /tmp).
        scratch.append(tempfile.mkdtemp(prefix="libsubst-tmp-"))
        mounts.append(Mount(guest="/tmp", host=scratch[0]))
    for m in mounts:
        if m.guest == "/":
            raise VolumeError("a volume cannot be mounted at / (the guest's root is its image)")
        tree.add_dir(m.guest)
    entries = tree.entries()

    if workdir is None:
        workdir = cwd if mount_cwd and cwd != "/" else "/"
    return BootSpec(exe=os.path.realpath(binary), execfn=path if not scripts else binary, argv=list(argv),
                    env=[f"{k}={v}" for k, v in env.items()], cwd=workdir,
                    entries=entries, mounts=mounts, hostname=hostname,
                    uid=os.getuid(), gid=os.getgid(), net=net, scratch=scratch)


def run(program: str, args: Sequence[str] = (), *, trace: str | int | None = None,
        stdin=None, stdout=None, stderr=None, **kw) -> Completed:
    """Prepare and run ``program``; see ``prepare`` for the keyword arguments."""
    return run_spec(prepare(program, args, **kw), trace=trace, stdin=stdin, stdout=stdout,
                    stderr=stderr)


__all__ = ["prepare", "run", "Completed", "BootSpec", "Mount", "LibsubstError",
           "ProgramNotFound"]
