"""The embeddable API: prepare a guest from a program, run it, pack it.

    >>> import libsubst
    >>> done = libsubst.run("/bin/echo", ["hi"])
    >>> done.returncode
    0
    >>> libsubst.Image.from_program("/bin/echo", ["hi"]).write("echo.lsi")
    >>> libsubst.run("echo.lsi", ["bye"]).returncode
    0

The CLI is a thin layer over this module."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .errors import GuestError, GuestTimeout, LibsubstError, ProgramNotFound, VolumeError
from .image import rootfs
from .image.tree import Tree
from .monitor.bootinfo import BootSpec, Mount
from .monitor.guest import Completed, Guest, Limits

if TYPE_CHECKING:
    from .image.lsi import Image


def prepare(program: str, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
            volumes: Sequence[str | Mount] = (), workdir: str | None = None,
            mount_cwd: bool = True, subst: bool = True, net: str = "host",
            add: Sequence[str] = (), for_image: bool = False, policy: bool = True) -> BootSpec:
    """The boot spec for running ``program`` with ``args``.

    ``env`` is the guest's whole environment (default: this process's);
    ``volumes`` are ``HOST:GUEST[:ro]`` strings or Mounts; the current
    directory is mounted read-write at its own path and is the guest's
    working directory unless ``mount_cwd`` is false or ``workdir`` says
    otherwise.  ``net`` is "host" (the host's network) or "none" (a network
    namespace of the guest's own with only loopback).  With ``subst`` (the default) every object with syscall
    sites is replaced by its substitute (libsubst.uklibc), so its calls are
    fastcalls; without it every call takes the trap path.  ``add`` puts more
    host files or directories into the guest's root (``HOST[:GUEST]``).

    ``policy=False`` boots without namespaces, seccomp and Landlock: only the benchmarks
    use it, to measure what the sandbox costs; the CLI has no such option.

    ``for_image`` lays the guest out for a packed image (libsubst.image.lsi):
    the program is looked up on this process's PATH; ``volumes`` only declare
    mount points (``[HOST:]GUEST[:ro]``, recorded with no host path); the
    run-time trees an interpreter reads (Python's standard library, ...) go
    into the root instead of being mounted, without third-party packages
    (``rootfs.PACK_SKIP``); nothing of the current directory is used; the
    host name is fixed (``lsi.HOSTNAME``) and no scratch /tmp is made (the
    image's run makes one)."""
    # ELF reading is imported here: running a packed image never needs it.
    from .elf import ElfFile
    from .ldso.program import find_program, resolve_script
    from .ldso.search import resolve, resolve_dlopen_closure

    if net not in ("host", "none"):
        raise LibsubstError(f"--net {net}: expected host or none")
    if workdir is not None and not workdir.startswith("/"):
        raise LibsubstError(f"--workdir {workdir}: expected an absolute path")
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        raise LibsubstError("the current directory has been deleted: run libsubst from "
                            "another one") from None
    env = dict(os.environ if env is None else env)
    lookup = os.environ.get("PATH") if for_image else env.get("PATH")
    path = find_program(program, lookup)
    binary, argv, scripts = resolve_script(path, [program, *args],
                                           filename=program if "/" in program else path)
    with ElfFile.open(binary) as elf:
        interp = elf.interp()
    plan = resolve(binary, env)

    if for_image:
        from .image.lsi import HOSTNAME as hostname
    else:
        hostname = os.uname().nodename
    tree = Tree()
    rootfs.add_layout(tree)
    objects = [tree.add_host_path(binary)]
    if interp:
        # The kernel opens PT_INTERP as written; a relative one (rare) as resolved.
        objects.append(tree.add_host_path(interp if os.path.isabs(interp) else plan.interp))
    objects += [tree.add_host_path(lib) for _soname, lib in plan.libraries]
    runtime_mounts, modules, runtime_files = rootfs.runtime_trees(
        binary, env, packed=for_image, libraries=[lib for _soname, lib in plan.libraries])
    for f in runtime_files:
        tree.add_host_path(f)
    objects += [tree.add_host_path(lib) for lib in resolve_dlopen_closure(plan, modules, env)]
    for spec in add:
        rootfs.add_host(tree, spec)
        added, added_mounts = _added_program(tree, spec, env, for_image)
        objects += added
        runtime_mounts += [m for m in added_mounts
                           if not any(m.guest == o.guest for o in runtime_mounts)]
    if subst:
        from .uklibc.cache import substitute

        for real in dict.fromkeys(objects):
            sub = substitute(real)
            if sub != real:
                tree.replace_host_file(real, sub)
    rootfs.add_etc(tree, hostname, host_names=not for_image)
    at_own_path = [os.path.abspath(a) for a in add if ":" not in a]
    # A #! script's package counts as the program's (py3versions: python3-minimal's data).
    state_dirs = rootfs.add_packages(tree, [binary, *scripts,
                                            *filter(os.path.isfile, at_own_path)])

    if for_image:
        from .image.lsi import parse_declared_volume

        mounts = []
        for v in volumes:
            guest, ro = (v.guest, v.readonly) if isinstance(v, Mount) else parse_declared_volume(v)
            mounts.append(Mount(guest=guest, host="", readonly=ro))
        for m in runtime_mounts:
            rootfs.pack_tree(tree, m)
        runtime_mounts = []
        mount_cwd = False
    else:
        mounts = [v if isinstance(v, Mount) else rootfs.parse_volume(v) for v in volumes]
    if mount_cwd and cwd != "/" and not any(m.guest == cwd for m in mounts):
        mounts.append(Mount(guest=cwd, host=cwd))
    mounts += [m for m in runtime_mounts if not any(m.guest == o.guest for o in mounts)]
    for s in scripts:
        if not any(s == m.guest or s.startswith(m.guest.rstrip("/") + "/") for m in mounts):
            tree.add_host_path(s)
    if any(m.guest == "/" for m in mounts):
        raise VolumeError("a volume cannot be mounted at / (the guest's root is its image)")
    scratch = []
    files = [e.path for e in tree.entries() if e.kind != "dir"]
    if for_image:
        for d in state_dirs:
            tree.add_host_path(d)
    if for_image and not any(p.startswith("/tmp/") for p in files):
        tree.add_dir("/tmp", 0o1777)    # where the image's run mounts its scratch /tmp
    elif not for_image:
        added, scratch = rootfs.scratch_mounts(mounts, files, state_dirs, private=policy)
        mounts += added
    for m in mounts:
        tree.add_dir(m.guest)
    entries = tree.entries()

    if workdir is None:
        workdir = cwd if mount_cwd and cwd != "/" else "/"
    return BootSpec(exe=os.path.realpath(binary), execfn=path if not scripts else binary,
                    argv=list(argv),
                    env=[f"{k}={v}" for k, v in env.items()], cwd=workdir,
                    entries=entries, mounts=mounts, hostname=hostname,
                    uid=os.getuid(), gid=os.getgid(), net=net, scratch=scratch,
                    objects=objects if subst else [], policy=policy)


def _added_program(tree: Tree, spec: str, env, packed: bool) -> tuple[list[str], list[Mount]]:
    """A program given with --add at its own path comes with what it loads:
    its interpreter and libraries join the image, and all of them are
    substituted like the main program's (the guest may execve it); an
    interpreter comes with its run-time trees as the main program does
    (perl's @INC, Python's standard library, and the extension modules
    there).  Returns (objects to substitute, mounts of run-time trees)."""
    from .errors import LibsubstError
    from .ldso.search import resolve, resolve_dlopen_closure

    host, _sep, guest = spec.partition(":")
    if guest or not os.path.isfile(host):
        return [], []
    host = os.path.abspath(host)
    try:
        plan = resolve(host, env)
    except LibsubstError:
        return [], []                             # not an ELF program: a plain file
    objects = [os.path.realpath(host)]
    if plan.interp:
        objects.append(tree.add_host_path(plan.interp))
    libraries = [lib for _soname, lib in plan.libraries]
    objects += [tree.add_host_path(lib) for lib in libraries]
    mounts, modules, files = rootfs.runtime_trees(host, env, packed=packed, libraries=libraries)
    for f in files:
        tree.add_host_path(f)
    objects += [tree.add_host_path(lib) for lib in resolve_dlopen_closure(plan, modules, env)]
    return objects, mounts


_Target = "str | os.PathLike | Image"


def _spec_and_kernel(target, args, *, volumes, env, workdir, net, kw):
    """(spec, kernel, pass_fds, cleanup) for a program or a packed image."""
    from .image.magic import is_image

    if isinstance(target, (str, bytes, os.PathLike)) and not is_image(target):
        spec = prepare(os.fspath(target), list(args or ()), env=env, volumes=volumes,
                       workdir=workdir, net=net or "host", **kw)
        return spec, None, (), None
    from .image.lsi import Image
    if kw:
        raise LibsubstError(f"option(s) {', '.join(sorted(kw))} cannot apply to a packed "
                            "image (its files are fixed when it is packed)")
    stack = contextlib.ExitStack()              # the image stays open while the guest runs
    try:
        image = target if isinstance(target, Image) else stack.enter_context(Image.open(target))
        image.verify()
        spec = image.boot_spec(args, volumes=volumes, env=env, workdir=workdir, net=net)
        kernel, kfd, tmp = image.kernel_executable()
    except BaseException:
        stack.close()
        raise
    if kfd >= 0:
        stack.callback(os.close, kfd)
    if tmp:
        stack.callback(os.unlink, tmp)
    return spec, kernel, (kfd,) if kfd >= 0 else (), stack.close


def deny_numbers(names: Sequence[str]) -> frozenset[int]:
    """``enosys`` names -> syscall numbers, with a clear error for an unknown one."""
    if not names:       # the table's import is for --enosys only
        return frozenset()
    from .kernel.syscalls import by_name

    out = set()
    for name in names:
        try:
            out.add(by_name(name).nr)
        except KeyError:
            raise LibsubstError(f"--enosys {name}: no such x86-64 system call") from None
    return frozenset(out)


class Popen(Guest):
    """Start a program or a packed image as a unikernel and return at once:
    a handle like subprocess.Popen's for a long-running guest (a server a
    tool starts and stops).

        with libsubst.Popen("redis-server", ["--port", "7000"]) as server:
            ...                    # the guest runs
            server.terminate()     # SIGTERM, passed on to the guest
            server.wait(10)

    ``pid``, ``stdin``/``stdout``/``stderr`` (file objects for PIPE),
    ``poll()``, ``wait(timeout)``, ``communicate(input, timeout)``,
    ``send_signal(sig)``, ``terminate()``, ``kill()`` (the whole guest),
    ``returncode`` (as a shell shows it: 128+N when killed by signal N) and
    ``completed`` (a Completed, with the report) behave as subprocess's.
    Unlike subprocess.Popen, the handle owns its guest: leaving the ``with``
    block, ``close()`` or garbage collection kill a guest still running;
    the guest is killed too when the thread that started it ends.

    The arguments are :func:`run`'s, without ``input``, ``capture_output``,
    ``timeout`` and ``check``."""

    def __init__(self, target: _Target, args: Sequence[str] | None = None, *,
                 trace: str | int | None = None, stdin=None, stdout=None, stderr=None,
                 text: bool | None = None, encoding: str | None = None,
                 errors: str | None = None, volumes: Sequence[str | Mount] = (),
                 env: Mapping[str, str] | None = None, workdir: str | None = None,
                 net: str | None = None, memory: int | None = None, cpus: int | None = None,
                 pids: int | None = None, gdb=None, core: str | None = None,
                 enosys: Sequence[str] = (), weaker_sandbox: bool = False,
                 profile: str | None = None, read_only: bool = False,
                 scratch_size: int | None = None, **kw):
        if read_only and scratch_size is not None:
            raise LibsubstError("--scratch-size: a --read-only root has no scratch layer")
        limits = Limits(memory, cpus, pids, scratch_size)
        deny = deny_numbers(enosys)
        from .image.magic import is_image
        if gdb is not None and (not isinstance(target, (str, bytes, os.PathLike))
                                or is_image(target)):
            raise LibsubstError("gdb cannot debug a packed image (its program is no host file "
                                "gdb could read); run the program it was packed from instead")
        spec, kernel, pass_fds, cleanup = _spec_and_kernel(
            target, args, volumes=volumes, env=env, workdir=workdir, net=net, kw=kw)
        spec.deny_calls, spec.weaker_sandbox = deny, weaker_sandbox
        if read_only:
            spec.mounts = [m for m in spec.mounts if m != rootfs.ROOT_LAYER]
        super().__init__(spec, trace=trace, stdin=stdin, stdout=stdout, stderr=stderr,
                         text=text, encoding=encoding, errors=errors, kernel=kernel,
                         pass_fds=pass_fds, limits=limits, cleanup=cleanup, gdb=gdb,
                         core=core, profile=profile)


def run(target: _Target, args: Sequence[str] | None = None, *, input=None,
        capture_output: bool = False, timeout: float | None = None, check: bool = False,
        **kw) -> Completed:
    """Run a program or a packed image as a unikernel and wait for it, as
    subprocess.run runs a process.

    ``target`` is a program (a name looked up on PATH, or a path), an
    :class:`~libsubst.image.lsi.Image`, or the path of an image file
    (recognised by its magic, whatever its name).

    For a program, ``args`` are its arguments and the other keyword
    arguments are ``prepare``'s (``env`` is then the whole environment).
    For an image, ``args`` (when not None) replace the recorded arguments,
    as docker's CMD (all of them, or those after the first ``keep_args`` it
    was packed with); ``env`` entries are added to the recorded environment
    (replacing a variable of the same name); ``volumes`` bind the image's
    declared mount points (``HOST:GUEST[:ro]``; each declared one must be
    bound) and may add others; ``workdir`` and ``net`` override the recorded
    ones.  Every file's sha256 is checked before the guest starts.

    As subprocess.run: ``stdin``/``stdout``/``stderr`` (PIPE, DEVNULL, a
    file, an fd), ``input`` (bytes, or str with ``text``), ``capture_output``,
    ``text``/``encoding``/``errors``; the returned Completed has ``stdout``
    and ``stderr`` for what was piped.  ``timeout`` (s) kills the whole guest
    and raises GuestTimeout (a subprocess.TimeoutExpired); ``check`` raises
    GuestError (a subprocess.CalledProcessError) for a non-zero status.

    ``trace`` is a file path, an fd or a ``monitor.tracing.Trace`` for the
    syscall trace; ``core`` a directory where a crashing guest writes an ELF
    core file; ``gdb`` a listening socket to serve a debugger on; ``enosys``
    names calls answered with ENOSYS as if unimplemented.  ``memory`` (bytes
    of RAM: its processes, /tmp, /dev/shm, its root's writes and memfds),
    ``cpus`` (how many of the host's CPUs) and ``pids`` (processes and
    threads) limit the whole
    guest, or raise LibsubstError where this host cannot enforce them (the
    README's sandbox section says how).  The guest's root is writable, its
    changes made in a layer of its own over the image and gone after the
    run, of ``scratch_size`` bytes (ENOSPC past it; default as /tmp: half of
    ``memory``); ``read_only`` keeps the image's root read-only (EROFS).
    ``weaker_sandbox`` runs it where
    the host's Landlock is older than ABI 6 or absent, which is otherwise
    refused (a warning says what the sandbox lacks)."""
    if input is not None:
        if kw.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        kw["stdin"] = subprocess.PIPE
    if capture_output:
        if kw.get("stdout") is not None or kw.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        kw["stdout"] = kw["stderr"] = subprocess.PIPE
    with Popen(target, args, **kw) as guest:
        try:
            guest.communicate(input, timeout)
        except subprocess.TimeoutExpired:
            guest.kill()
            out, err = guest.communicate()
            raise GuestTimeout(guest.args, timeout, out, err) from None
    done = guest.completed
    if check:
        done.check_returncode()
    return done


__all__ = ["prepare", "run", "Popen", "Completed", "BootSpec", "Mount", "LibsubstError",
           "GuestError", "GuestTimeout", "ProgramNotFound"]
