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

from .errors import GuestError, GuestTimeout, LibsubstError, ProgramNotFound
from .monitor.guest import Completed, Guest
from .plan import GuestPlan, Limits
from .volumes import Mount

if TYPE_CHECKING:
    from .image.lsi import Image

BootSpec = GuestPlan      # the plan's older name


def prepare(program: str, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
            volumes: Sequence[str | Mount] = (), workdir: str | None = None,
            mount_cwd: bool = True, subst: bool = True, net: str = "host",
            add: Sequence[str] = (), policy: bool = True, init: bool = False) -> GuestPlan:
    """The guest plan for running ``program`` with ``args`` (libsubst.planner).

    ``env`` is the guest's whole environment (default: this process's);
    ``volumes`` are ``HOST:GUEST[:ro]`` strings or Mounts; the current
    directory is mounted read-write at its own path and is the guest's
    working directory unless ``mount_cwd`` is false or ``workdir`` says
    otherwise.  ``net`` is "host" (the host's network) or "none" (a network
    namespace of the guest's own with only loopback).  With ``subst`` (the
    default) every object with syscall sites is replaced by its substitute
    (libsubst.uklibc), so its calls are fastcalls; without it every call
    takes the trap path.  ``add`` puts more host files or directories into
    the guest's root (``HOST[:GUEST]``).  With ``init`` the program runs as
    the child (pid 2) of a small init, pid 1 of the guest's pid namespace,
    that reaps orphans and passes signals on (``docker run --init``).

    ``policy=False`` boots without namespaces, seccomp and Landlock: only the benchmarks
    use it, to measure what the sandbox costs; the CLI has no such option."""
    from .planner import plan_program

    return plan_program(program, args, env=env, volumes=volumes, workdir=workdir,
                        mount_cwd=mount_cwd, subst=subst, net=net, add=add, policy=policy,
                        init=init)


_Target = "str | os.PathLike | Image"


def _is_program(target) -> bool:
    from .image.magic import is_image

    return isinstance(target, (str, bytes, os.PathLike)) and not is_image(target)


def _args_keyed(target) -> bool:
    """Whether a cached plan of ``target`` is keyed by its arguments too:
    a shell's, which planning reads (plancache.run_key's rule)."""
    from .image.shell_commands import is_shell

    return _is_program(target) and is_shell(os.fsdecode(os.fspath(target)))


# What a packed image fixes when it is packed, named as the CLI's flags.
_FIXED = {"subst": "--no-subst", "add": "--add", "mount_cwd": "--no-cwd"}


def _plan_and_kernel(target, args, options: dict, program_only: dict):
    """(plan, kernel, pass_fds, cleanup, whether the kernel is a temporary
    file, the image's kernel or None) for a program or a packed image.
    Otherwise the cleanup only closes close-on-exec fds: what an exec or an
    exit does too."""
    from . import planner

    if _is_program(target):
        plan = planner.plan_program(os.fspath(target), list(args or ()), **options,
                                    **program_only)
        return plan, None, (), None, False, None
    from .image.lsi import Image
    if program_only:
        flags = ", ".join(sorted(_FIXED.get(k, k) for k in program_only))
        raise LibsubstError(f"{flags} cannot apply to a packed image (its files are fixed "
                            "when it is packed)")
    stack = contextlib.ExitStack()              # the image stays open while the guest runs
    try:
        image = target if isinstance(target, Image) else stack.enter_context(Image.open(target))
        image.verify()
        plan = planner.plan_image(image, args, **options)
        kernel, kfd, tmp = planner.kernel_executable(image.kernel)
    except BaseException:
        stack.close()
        raise
    if kfd >= 0:
        stack.callback(os.close, kfd)
    if tmp:
        stack.callback(os.unlink, tmp)
    return plan, kernel, (kfd,) if kfd >= 0 else (), stack.close, bool(tmp), image.kernel


def _cached(found):
    """(plan, kernel, pass_fds, cleanup, False) of a plan cache hit: an
    image's file is opened again for the guest."""
    plan, kernel = found
    if not plan.image:
        return plan, kernel, (), None, False
    try:
        plan.image_fd = os.open(plan.image, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    return plan, kernel, (), lambda: os.close(plan.image_fd), False


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
    ``timeout`` and ``check``.  A program's plan is kept in the plan cache
    (libsubst.plancache) and a later identical call boots it unplanned;
    ``plan_key``, ``caller_env`` and ``stop_timeout`` are the CLI's, for the
    entries the native front end serves."""

    def __init__(self, target: _Target, args: Sequence[str] | None = None, *,
                 trace: str | int | None = None, stdin=None, stdout=None, stderr=None,
                 text: bool | None = None, encoding: str | None = None,
                 errors: str | None = None, volumes: Sequence[str | Mount] = (),
                 env: Mapping[str, str] | None = None, workdir: str | None = None,
                 net: str | None = None, memory: int | str | None = None, cpus: int | None = None,
                 pids: int | None = None, gdb=None, core: str | None = None,
                 enosys: Sequence[str] = (), weaker_sandbox: bool = False,
                 profile: str | None = None, read_only: bool = False,
                 scratch_size: int | str | None = None, hand_over: bool = False,
                 plan_key: bytes | None = None, caller_env: dict | None = None,
                 stop_timeout: float = 10, init: bool = False, user: str | None = None, **kw):
        from . import plancache
        from .monitor import stdio
        from .planner import deny_numbers

        stdio.hold()            # before planning opens any fd (monitor/stdio.py)
        if read_only and scratch_size is not None:
            raise LibsubstError("--scratch-size: a --read-only root has no scratch layer")
        if gdb is not None and not _is_program(target):
            raise LibsubstError("--gdb cannot debug a packed image (its program is no host "
                                "file gdb could read); run the program it was packed from "
                                "with --gdb")
        # Every option that decides the guest is a field of its plan.
        options = dict(env=env, volumes=volumes, workdir=workdir,
                       limits=Limits(memory, cpus, pids, scratch_size),
                       deny_calls=deny_numbers(enosys), weaker_sandbox=weaker_sandbox,
                       read_only=read_only, init=init, user=user)
        if net is not None:
            options["net"] = net
        # A run the plan cache can serve again: one the front end can boot
        # and supervise as this monitor would (no trace, debugger, profile,
        # core file or cgroup).  The CLI gives its key (made from its argv)
        # and, for a program, the --env it adds to the caller's environment;
        # a program started through the API gets a key from these arguments.
        key = None
        # A shell's arguments name the programs its root gets (-c's string:
        # image/shell_commands.py): its entry is keyed by them, none patched.
        patched = () if _args_keyed(target) else tuple(args or ())
        if trace is None and gdb is None and core is None and profile is None and \
                memory is None and cpus is None and pids is None and kw.get("policy", True):
            if plan_key is not None:
                key = plan_key
            elif _is_program(target):
                key = plancache.api_key(target, args, {**options, **kw},
                                        keyed_args=not patched and bool(args))
                caller_env = {} if env is None else None
        found = plancache.lookup(key, patched) if key is not None else None
        with plancache.planning(key if found is None else None):
            if key is not None and found is None:
                found = plancache.lookup(key, patched)      # planned while this one waited
            made = _cached(found) if found is not None else None
            recorder = plancache.Recorder()
            if made is None:
                with recorder:
                    *made, image_kernel = _plan_and_kernel(target, args, options, kw)
            spec, kernel, pass_fds, cleanup, temporary = made
            # A kernel in a temporary file is removed by this process once the guest has ended.
            super().__init__(spec, trace=trace, stdin=stdin, stdout=stdout, stderr=stderr,
                             text=text, encoding=encoding, errors=errors, kernel=kernel,
                             pass_fds=pass_fds, cleanup=cleanup, gdb=gdb,
                             core=core, profile=profile, hand_over=hand_over and not temporary)
            if key is not None and found is None and recorder.repeatable:
                env_deps = recorder.env_deps()
                if plan_key is not None and "LIBSUBST_CORE" not in recorder.env_names:
                    env_deps.append("LIBSUBST_CORE")      # run's --core: a core file, not cached
                self._store(key, recorder, env_deps, caller_env, image_kernel, stop_timeout,
                            len(self.spec.argv) - len(patched))

    def _store(self, key, recorder, env_deps, caller_env, image_kernel, stop_timeout,
               argv_keep) -> None:
        """Keeps this run's plan for the next identical one (plancache)."""
        from . import plancache
        from .monitor.caller import preserved
        from .monitor.executables import epilogue_command, kernel_path, supervisor_path

        spec = self.spec
        kernel = plancache.image_kernel(image_kernel) if image_kernel is not None \
            else kernel_path()
        if kernel is None:
            return
        plancache.store(key, spec, self.bootinfo,
                        plancache.dependencies(recorder.paths, spec, kernel), kernel,
                        supervisor=supervisor_path(), epilogue=epilogue_command(),
                        env_deps=env_deps, overrides=caller_env, image=spec.image,
                        stop_timeout=stop_timeout, argv_keep=argv_keep,
                        preserve_fds=preserved())


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
    names calls answered with ENOSYS as if unimplemented.  ``memory`` (bytes,
    or a size as the CLI takes it, "512M", of RAM: its processes, /tmp,
    /dev/shm, its root's writes and memfds),
    ``cpus`` (how many of the host's CPUs) and ``pids`` (processes and
    threads) limit the whole
    guest, or raise LibsubstError where this host cannot enforce them (the
    README's sandbox section says how).  The guest's root is writable, its
    changes made in a layer of its own over the image and gone after the
    run, of ``scratch_size`` bytes or a size (ENOSPC past it; default as /tmp:
    a third of ``memory``); ``read_only`` keeps the image's root read-only (EROFS).
    ``weaker_sandbox`` runs it where
    the host's Landlock is older than ABI 6 or absent, which is otherwise
    refused (a warning says what the sandbox lacks).  ``init`` starts the
    program as the child of a small init (``prepare``'s; for an image, as
    if it was packed with ``--init``)."""
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


__all__ = ["prepare", "run", "Popen", "Completed", "GuestPlan", "BootSpec", "Mount",
           "LibsubstError",
           "GuestError", "GuestTimeout", "ProgramNotFound"]
