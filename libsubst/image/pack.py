"""Packing: a program (or a container image's) laid out as ``run`` would
lay it out (layout.py), its files' contents taken into a new image
(lsi.py writes it) with a manifest (manifest.py) that records how it boots.

What differs from a run's plan is the packing policy, all here: the image
takes an interpreter's run-time trees into its root instead of mounting
them, declares volumes without host paths, records a fixed host name and
only the environment it is given, and nothing of the current directory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence

from ..errors import ImageError, ProgramNotFound
from ..plan import GuestPlan
from ..volumes import Mount, bind, under
from . import lsi, rootfs
from .layout import layout_program
from .manifest import FileRecord, Manifest, pathkey
from .tree import Entry

# The environment an image gets when packing names none: images never take
# the packing host's environment.
DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
HOSTNAME = "libsubst"


def plan_for_pack(program: str, args: Sequence[str] = (), *,
                  env: Mapping[str, str] | None = None, volumes: Sequence[str | Mount] = (),
                  workdir: str | None = None, net: str = "host", subst: bool = True,
                  add: Sequence[str] = (), init: bool = False) -> GuestPlan:
    """``program`` laid out for a packed image: looked up on this process's
    PATH; ``env`` added to DEFAULT_ENV; ``volumes`` declare mount points
    (``[HOST:]GUEST[:ro]``); the run-time trees an interpreter reads
    (Python's standard library, ...) in the root, without third-party
    packages (``rootfs.PACK_SKIP``); the packages' state directories empty
    and a /tmp for the scratch one the image's run mounts."""
    image_env = dict(DEFAULT_ENV)
    image_env.update(env or {})
    lay = layout_program(program, args, image_env, lookup=os.environ.get("PATH"),
                         hostname=HOSTNAME, add=add, subst=subst, packed=True)
    if not lay.mapped:
        # Its first exec fails (run says why, with Linux's errno): an image
        # that can never start is refused here, where the mistake is made.
        raise ProgramNotFound(f"{program}: cannot be executed (a directory, neither an ELF "
                              f"program nor a #! script, or a #! line naming no program): "
                              f"`libsubst run {program}` names the error")
    tree = lay.tree
    mounts = bind(volumes, declare=True)
    for m in lay.runtime_mounts:
        rootfs.pack_tree(tree, m)
    for s in lay.scripts:
        if not any(under(s, m) for m in mounts):
            tree.add_host_path(s)
    files = [e.path for e in tree.entries() if e.kind != "dir"]
    for d in lay.state_dirs:
        tree.add_host_path(d)
    if not any(p.startswith("/tmp/") for p in files):
        tree.add_dir("/tmp", 0o1777)    # where the image's run mounts its scratch /tmp
    for m in mounts:
        tree.add_dir(m.guest)
    # A program given by a relative path is exec'd by the path it is packed
    # at: the image's working directory is not the packing one (a #! line's
    # interpreter is given that path, ./app.py would be /app.py).
    return GuestPlan(exe=lay.exe, execfn=os.path.abspath(lay.execfn) if "/" in lay.execfn
                     else lay.execfn, argv=lay.argv,
                     env=[f"{k}={v}" for k, v in image_env.items()], cwd=workdir or "/",
                     entries=tree.entries(), mounts=mounts, hostname=HOSTNAME,
                     uid=os.getuid(), gid=os.getgid(), net=net, objects=lay.objects, init=init)


class Image(lsi.Image):
    """A packed image (lsi.Image) with the ways of making one."""

    @classmethod
    def from_program(cls, program: str, args: Sequence[str] = (), *,
                     env: Mapping[str, str] | None = None, volumes: Sequence[str] = (),
                     workdir: str | None = None, net: str = "host", subst: bool = True,
                     add: Sequence[str] = (), keep_args: int = 0,
                     specialize: bool = False, keep_calls: Sequence[str] = (),
                     init: bool = False) -> "Image":
        """Lay out ``program`` and ``args`` the way ``libsubst run`` would and
        take every file's contents into a new image.

        ``env`` is added to :data:`DEFAULT_ENV` (the packing environment is
        never recorded); ``volumes`` declare mount points (``[HOST:]GUEST[:ro]``)
        that ``run`` must bind; ``add`` puts more host files or trees into the
        image (``HOST[:GUEST]``).  The working directory is ``/`` unless
        ``workdir`` says otherwise; it is neither packed nor mounted.
        Arguments given at run time replace the recorded ones after the first
        ``keep_args`` of ``args`` (0: all of them, as docker's CMD; 1 for
        ``python3 script.py`` makes run's arguments the script's).
        ``specialize``: the image's kernel serves only the calls ``libsubst
        analyze`` finds for the program and the programs added
        (``kernel.specialize``), and those named in ``keep_calls``.  ``init``:
        its runs start the program as the child of a small init (run's
        ``--init``)."""
        _check_keep(keep_args, args)
        plan = plan_for_pack(program, args, env=env, volumes=volumes, workdir=workdir,
                             net=net, subst=subst, add=add, init=init)
        served = None
        if specialize:
            from .specialized import analysed_calls
            served = analysed_calls(program, args, add, keep_calls)
        return cls._from_plan(plan, keep_args, subst, served=served)

    @classmethod
    def from_container(cls, source: str, program: str, args: Sequence[str] = (), *,
                       env: Mapping[str, str] | None = None, volumes: Sequence[str] = (),
                       workdir: str | None = None, net: str = "host", subst: bool = True,
                       keep_args: int = 0, insecure: bool = False,
                       init: bool = False) -> "Image":
        """Pack ``program`` from a container image — an OCI image layout
        directory, a ``docker save``/``podman save`` archive, or a registry
        reference — with that image's root file system and its own libraries
        (glibc substituted), its config's environment and working directory.
        The other arguments are ``from_program``'s."""
        import tempfile

        from ..oci import layers
        from . import container

        _check_keep(keep_args, args)
        work = tempfile.TemporaryDirectory(prefix="libsubst-oci-")
        try:
            source_image = layers.open_any(source, os.path.join(work.name, "src"),
                                           insecure=insecure)
            root = os.path.join(work.name, "root")
            layers.unpack(source_image, root)
            plan = container.prepare(root, source_image.config, program, args, env=env,
                                     volumes=volumes, workdir=workdir, net=net, subst=subst)
            plan.init = init
            image = cls._from_plan(plan, keep_args, subst, root=root)
        except BaseException:
            work.cleanup()
            raise
        image._work = work         # the files stay until the image is written or dropped
        return image

    @classmethod
    def _from_plan(cls, plan: GuestPlan, keep_args: int, subst: bool,
                   root: str = "", served: dict | None = None) -> "Image":
        """An image of a plan laid out for packing, with the installed kernel,
        or one linked for the calls of ``served`` (specialized.py)."""
        from ..elf import ElfFile
        from ..monitor.executables import kernel_path

        kpath = kernel_path()
        specialized, allowed = None, None
        if served is None:
            with open(kpath, "rb") as f:
                kernel = f.read()
        else:
            from .specialized import kernel_for
            kernel, specialized, allowed = kernel_for(served)
        build_id = ElfFile(kernel, kpath).build_id()
        files, sources = _pack_files(plan.entries)
        meta = Manifest(
            exe=plan.exe, execfn=plan.execfn, argv=list(plan.argv),
            # argv[0] and the first keep_args arguments stay when run gets ARGS
            # (argv is as given: the kernel adds a #! line's words at the exec).
            keep_argc=1 + keep_args,
            env=list(plan.env), cwd=plan.cwd, hostname=plan.hostname, net=plan.net,
            volumes=sorted(plan.mounts, key=lambda m: pathkey(m.guest)), files=files,
            kernel={"build_id": build_id.hex() if build_id else None,
                    "sha256": hashlib.sha256(kernel).hexdigest(), "size": len(kernel),
                    "seccomp": _seccomp_summary(allowed), "namespaces": _namespaces()},
            substitution=_substitution(plan.objects, subst, root),
            libsubst={"version": _libsubst_version()}, init=plan.init)
        if specialized:
            meta.kernel["specialized"] = specialized
        return cls(meta, kernel=kernel, sources=sources)


def _check_keep(keep_args: int, args: Sequence[str]) -> None:
    if not 0 <= keep_args <= len(args):
        raise ImageError(f"--keep-args {keep_args}: there are {len(args)} arguments to keep")


def _namespaces() -> list[str]:
    """What the tender makes for every guest (net: with --net none), recorded for inspect."""
    from ..kernel import hostcalls

    return list(hostcalls.NAMESPACES)


def _seccomp_summary(allowed=None) -> dict:
    """The host-call allow-list compiled into the kernel being packed (a
    specialised kernel's: ``allowed``, whose names it lists too)."""
    from ..kernel import hostcalls

    out = {}
    if allowed is not None:
        out["calls"] = [h.name for h in allowed]
    else:
        allowed = hostcalls.allowed()
    out.update({"allowed": len(allowed), "pinned": sum(1 for h in allowed if h.pins)})
    return out


def _libsubst_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("libsubst")
    except metadata.PackageNotFoundError:
        return "unknown"


def _pack_files(entries: Sequence[Entry]) -> tuple[list[FileRecord], dict[str, str | bytes]]:
    """Manifest file records with data offsets, and sha256 -> source."""
    files: list[FileRecord] = []
    sources: dict[str, str | bytes] = {}
    mappable: dict[str, bool] = {}
    for e in sorted(entries, key=lambda e: pathkey(e.path)):
        if e.kind == "dir":
            files.append(FileRecord(e.path, "dir", e.mode))
        elif e.kind == "symlink":
            files.append(FileRecord(e.path, "symlink", 0o777, target=e.target))
        elif e.kind in ("file", "data"):
            src = e.host_path if e.kind == "file" else e.data
            digest, size, head = _digest(src)
            sources.setdefault(digest, src)
            mappable[digest] = head == lsi.ELF_MAGIC or size >= lsi.MAP_THRESHOLD
            files.append(FileRecord(e.path, "file", e.mode, size=size, sha256=digest,
                                    mtime_ns=e.mtime or 0))
        else:
            raise ImageError(f"{e.path}: a {e.kind} entry cannot be packed")
    # Place each distinct content once, in the order of its first path.
    offsets: dict[str, int] = {}
    at = 0
    for f in files:
        if f.sha256 is None or f.sha256 in offsets:
            continue
        if f.size == 0:
            offsets[f.sha256] = 0
            continue
        at = lsi.align(at, lsi.PAGE if mappable[f.sha256] else lsi.SMALL_ALIGN)
        offsets[f.sha256] = at
        at += f.size
    return [f if f.sha256 is None else
            FileRecord(f.path, f.kind, f.mode, size=f.size, sha256=f.sha256,
                       offset=offsets[f.sha256], mtime_ns=f.mtime_ns) for f in files], sources


def _digest(src: str | bytes) -> tuple[str, int, bytes]:
    if isinstance(src, bytes):
        return hashlib.sha256(src).hexdigest(), len(src), src[:4]
    h = hashlib.sha256()
    size = 0
    head = b""
    for chunk in lsi.chunks(src):
        if not size:
            head = chunk[:4]
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size, head


def _substitution(objects: Sequence[str], enabled: bool, root: str = "") -> dict:
    """Per object considered for substitution: what the rewriter did (from
    the uklibc cache's report), without host-specific fields; an object of
    another root file system (``root``) is named by its path there."""
    summary: dict[str, dict] = {}
    if enabled:
        from ..uklibc import cache

        for obj in sorted(set(objects), key=pathkey):
            rep = cache.report(obj)
            s = {k: rep[k] for k in ("build_id", "soname", "sites", "rewritten", "left",
                                     "by_reason", "error") if k in rep}
            s["substituted"] = cache.substitute(obj) != obj
            if "sha256" in rep:
                s["substitute_sha256"] = rep["sha256"]
            summary[obj[len(root):] if root and obj.startswith(root + "/") else obj] = s
    return {"enabled": enabled, "objects": summary}
