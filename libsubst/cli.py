"""The ``libsubst`` command: a thin click layer over libsubst.api."""

from __future__ import annotations

import sys

import click

from .clickutil import Group, Seconds
from .plan import NETS


# Commands loaded only when asked for, so a ``libsubst run`` pays nothing for
# them: the rewriter's, the analysis, and the registry and store commands.
_LAZY = {"uklibc": "uklibc", "push": "oci", "pull": "oci", "images": "oci", "rmi": "oci",
         "login": "oci", "logout": "oci", "analyze": "analyze"}


_ARGV: list[str] | None = None       # what the command line was (the plan cache's key)


class _Main(Group):
    def main(self, args=None, *a, **kw):
        global _ARGV
        from .monitor import caller, stdio
        caller.take()
        stdio.hold()
        _ARGV = list(sys.argv[1:] if args is None else args)
        return super().main(args, *a, **kw)

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx, name):
        if _LAZY.get(name) == "uklibc":
            from .uklibc.cli import uklibc
            return uklibc
        if _LAZY.get(name) == "analyze":
            from .analyze.cli import analyze
            return analyze
        if _LAZY.get(name) == "oci":
            from .oci.cli import COMMANDS
            return COMMANDS[name]
        return super().get_command(ctx, name)


@click.group(cls=_Main)
@click.version_option(package_name="libsubst")
def main():
    """Run prebuilt Linux programs as unikernels."""


def _env_pairs(envs) -> dict[str, str]:
    env = {}
    for kv in envs:
        if "=" not in kv:
            raise click.BadParameter(f"{kv!r} is not K=V", param_hint="--env")
        k, v = kv.split("=", 1)
        if not k:
            raise click.BadParameter(f"{kv!r} has no variable name", param_hint="--env")
        env[k] = v
    return env


_ADD_HELP = "Put a host file or directory into the guest's root, at GUEST or its own path (repeatable)."
_INIT_HELP = ("Run a small init as the guest's pid 1 and the program as its child (docker run "
              "--init): it reaps orphans, passes signals on, ends with the program's status.")


@main.command(context_settings={"allow_interspersed_args": False,
                                "ignore_unknown_options": False})
@click.option("-v", "--volume", "volumes", multiple=True, metavar="HOST:GUEST[:ro]",
              help="Mount a host directory in the guest (repeatable); for an image, bind "
                   "the mount points it declares.")
@click.option("-e", "--env", "envs", multiple=True, metavar="K=V",
              help="Set a variable in the guest's environment (repeatable).")
@click.option("-w", "--workdir", metavar="DIR", help="The guest's working directory.")
@click.option("--no-cwd", is_flag=True, help="Do not mount the current directory.")
@click.option("--net", type=click.Choice(NETS), default=None,
              help="host (default): the host's network; none: only a loopback of the guest's own.")
@click.option("--no-subst", is_flag=True,
              help="Do not substitute glibc: every syscall takes the trap path.")
@click.option("--add", "adds", multiple=True, metavar="HOST[:GUEST]", help=_ADD_HELP)
@click.option("--memory", metavar="SIZE",
              help="RAM the whole guest may use (512M, 2G), its /tmp, /dev/shm, what it "
                   "writes to its root and memfds included.")
@click.option("--cpus", type=click.IntRange(min=1), metavar="N",
              help="Run the guest on N of the host's CPUs.")
@click.option("--pids", type=click.IntRange(min=1), metavar="N",
              help="At most N processes and threads in the whole guest.")
@click.option("--scratch-size", metavar="SIZE",
              help="Bound the writes to the guest's root (ENOSPC past it; default: as /tmp).")
@click.option("--read-only", is_flag=True,
              help="Keep the guest's root read-only (EROFS) instead of a scratch layer over it.")
@click.option("--allow-weaker-sandbox", is_flag=True,
              help="Run even where the host's Landlock is older than ABI 6 or absent "
                   "(says what the sandbox lacks).")
@click.option("--gdb", "gdb", metavar="[HOST:]PORT",
              help="Stop before the program's first instruction and serve gdb's remote "
                   "protocol on PORT (loopback unless --gdb-allow-remote).")
@click.option("--gdb-allow-remote", is_flag=True,
              help="Let --gdb listen on an address other than loopback.")
@click.option("--enosys", "enosys", metavar="NAME[,NAME...]", multiple=True,
              help="Answer these system calls with ENOSYS, as if unimplemented (fault "
                   "injection; repeatable).")
@click.option("--core", "core", metavar="DIR", envvar="LIBSUBST_CORE",
              help="A crashing guest writes an ELF core file into DIR (also $LIBSUBST_CORE).")
@click.option("--trace", is_flag=True, help="Print every guest syscall to stderr.")
@click.option("--trace-file", type=click.Path(dir_okay=False, writable=True),
              help="Write the syscall trace to a file.")
@click.option("--trace-calls", metavar="LIST",
              help="Trace only these calls (strace -e trace=): names and classes, e.g. "
                   "open,read or %file,%network; !LIST for all but those.")
@click.option("--trace-summary", is_flag=True,
              help="At exit, count, errors and time per syscall, by path (strace -c); "
                   "per-call lines too only with --trace.")
@click.option("--trace-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one JSON object per call.")
@click.option("--profile", "profile", metavar="OUT.svg",
              help="Sample the guest (perf, from outside) and write a flame graph to OUT.svg "
                   "and its folded stacks to OUT.folded.")
@click.option("--stop-timeout", type=Seconds(max=30 * 86400), default=10, show_default=True,
              metavar="SECONDS", help="After a SIGTERM passed on to the guest, kill the whole "
                                      "guest if it has not ended within SECONDS (or at a second "
                                      "SIGTERM).")
@click.option("--init", is_flag=True, help=_INIT_HELP)
@click.option("-u", "--user", metavar="USER[:GROUP]",
              help="Run the program as this user of the guest (a name of its /etc/passwd or "
                   "a number; a root caller's guest only).")
@click.option("--preserve-fds", type=click.IntRange(min=0), default=0, metavar="N",
              help="Pass the caller's fds 3 .. 3+N-1 to the program, after those systemd's "
                   "socket activation passes (podman's and runc's option).")
@click.argument("program")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(volumes, envs, workdir, no_cwd, net, no_subst, adds, memory, cpus, pids,
        scratch_size, read_only, allow_weaker_sandbox, gdb, gdb_allow_remote, enosys, core,
        trace, trace_file, trace_calls, trace_summary, trace_format, profile, stop_timeout,
        init, user, preserve_fds, program, args):
    """Run PROGRAM [ARGS]... as a unikernel.

    PROGRAM may be a packed image (made by `libsubst pack`, recognised by its
    contents): ARGS, when given, replace its recorded arguments, --env adds
    to its recorded environment, and --volume binds the mount points it
    declares.  The current directory is not mounted for an image."""
    import os

    from . import api
    from .image.magic import is_image
    from .monitor import signals
    from .monitor.limits import parse_size

    from . import plancache
    from .image.shell_commands import is_shell
    # Keyed up to PROGRAM, where click put it: its arguments are patched in;
    # a shell's are keyed too (the programs -c's string names: api._args_keyed).
    key = plancache.run_key(_ARGV, 0 if is_shell(program) else len(args)) \
        if _ARGV and _ARGV[0] == "run" and _ARGV[len(_ARGV) - len(args) - 1] == program else None
    if not os.path.exists(program):
        from .oci.reference import looks_like_reference
        if looks_like_reference(program):
            key = None          # a tag can name another image tomorrow: pulled every time
            from .oci.artifact import image_for_run
            program = image_for_run(program, log=lambda m: click.echo(f"libsubst: {m}", err=True))
    from .monitor import caller
    if caller.pass_fds(preserve_fds):
        key = None      # a socket activation's LISTEN_PID is this run's: not for a plan cache
    dest = _trace(trace, trace_file, trace_calls, trace_summary, trace_format)
    limits = {"memory": parse_size(memory) if memory else None, "cpus": cpus, "pids": pids,
              "weaker_sandbox": allow_weaker_sandbox, "read_only": read_only, "init": init,
              "user": user,
              "scratch_size": parse_size(scratch_size, "--scratch-size", 1 << 20)
              if scratch_size else None}
    denied = [n for e in enosys for n in e.split(",") if n]
    if is_image(program):
        # What an image fixes when it is packed (--no-subst, --add, --gdb) is
        # refused by the API, in these flags' words.
        target = dict(args=list(args) if args else None, env=_env_pairs(envs))
        if no_subst:
            target["subst"] = False
        if adds:
            target["add"] = adds
    else:
        env = dict(os.environ)
        env.update(_env_pairs(envs))
        target = dict(args=list(args), env=env, mount_cwd=not no_cwd, subst=not no_subst,
                      add=adds)
    if gdb:
        from .debug.protocol import listen
        target["gdb"] = listen(gdb, gdb_allow_remote)
    try:
        with signals.before_start():
            guest = api.Popen(program, volumes=volumes, workdir=workdir, net=net, trace=dest,
                              core=core, enosys=denied, profile=profile, hand_over=True,
                              plan_key=key,
                              caller_env=None if is_image(program) else _env_pairs(envs),
                              stop_timeout=stop_timeout, **target, **limits)
        with guest:
            if guest.can_hand_over:     # the native supervisor: no Python while it runs
                guest.hand_over(stop_timeout)
            status = signals.supervise(guest, stop_timeout)
    except signals.Stopped as e:
        status = 128 + e.signo
    _leave(status)


def _leave(status: int):
    """Ends `libsubst run` once its guest is closed and waited for: nothing
    is left to clean up, and the interpreter's teardown (freeing every
    module and object one by one) would cost the run 10-80 ms more."""
    import os

    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _trace(trace, trace_file, calls, summary, fmt):
    """The trace the --trace* options ask for, or None.  Any of them turns
    tracing on; --trace-summary alone prints only the table (strace -c)."""
    if not (trace or trace_file or calls or summary or fmt != "text"):
        return None
    from .monitor import tracing

    return tracing.Trace(trace_file or 2, tracing.parse_calls(calls) if calls else None,
                         lines=trace or not summary, summary=summary, fmt=fmt)


def _trailing_output(args: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """``PROGRAM ARGS... -o FILE``: the output named after the program's arguments."""
    if len(args) >= 2 and args[-2] in ("-o", "--output"):
        return args[:-2], args[-1]
    if args and args[-1].startswith("--output="):
        return args[:-1], args[-1].split("=", 1)[1]
    return args, None


@main.command(context_settings={"allow_interspersed_args": False,
                                "ignore_unknown_options": False})
@click.option("-o", "--output", metavar="FILE",
              help="The image file to write (may also come last, after ARGS).")
@click.option("-v", "--volume", "volumes", multiple=True, metavar="[HOST:]GUEST[:ro]",
              help="Declare a mount point the image expects; `run` binds it with "
                   "--volume HOST:GUEST (repeatable).")
@click.option("-e", "--env", "envs", multiple=True, metavar="K=V",
              help="Set a variable in the image's environment (repeatable; the packing "
                   "environment is not recorded, only PATH is set by default).")
@click.option("-w", "--workdir", metavar="DIR", help="The guest's working directory (default /).")
@click.option("--net", type=click.Choice(NETS), default="host", show_default=True,
              help="The network the image runs with (run --net overrides it).")
@click.option("--no-subst", is_flag=True,
              help="Pack the original glibc: every syscall takes the trap path.")
@click.option("--add", "adds", multiple=True, metavar="HOST[:GUEST]", help=_ADD_HELP)
@click.option("--keep-args", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="N", help="ARGS given to `run IMAGE` replace the recorded ones after the "
                                "first N (e.g. 1 for `python3 script.py`).")
@click.option("--from-oci", "from_oci", metavar="SOURCE",
              help="Pack PROGRAM from a container image: an OCI image layout directory, a "
                   "docker/podman save archive, or REGISTRY/REPO[:TAG] (its root file "
                   "system, libraries and config, not the host's).")
@click.option("--insecure", is_flag=True,
              help="With --from-oci REF: plain HTTP, to a registry on loopback only.")
@click.option("--specialize", is_flag=True,
              help="Give the image a kernel of its own with only the system calls `libsubst "
                   "analyze` finds for PROGRAM (and the programs added) and a host allow-list "
                   "cut to what that kernel calls; others answer ENOSYS and are reported. "
                   "Needs gcc.")
@click.option("--keep-calls", "keep_calls", metavar="NAME[,NAME...]", multiple=True,
              help="With --specialize: serve these calls too (ones the analysis cannot see, "
                   "e.g. made through syscall(2) with a computed number).")
@click.option("--init", is_flag=True, help=_INIT_HELP + " Recorded in the image; run --init "
                                                         "adds it to an image packed without.")
@click.argument("program")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def pack(output, volumes, envs, workdir, net, no_subst, adds, keep_args, from_oci, insecure,
         specialize, keep_calls, init, program, args):
    """Pack PROGRAM [ARGS]... into one self-contained image file.

    The image holds the program, its libraries (glibc substituted), ld.so,
    a minimal /etc, the run-time tree of an interpreter it knows (Python's
    standard library), the files given with --add, and the guest kernel;
    `libsubst run IMAGE` runs it on any x86-64 Linux host with none of them.
    To give the program a trailing -o of its own, put libsubst's -o before
    PROGRAM."""
    from .errors import LibsubstError
    from .image.inspect import human_size
    from .image.pack import Image

    if output is None:
        args, output = _trailing_output(args)
    if not output:
        raise click.UsageError("no output file: give -o FILE")
    keep = [n for k in keep_calls for n in k.split(",") if n]
    if keep and not specialize:
        raise LibsubstError("--keep-calls is for --specialize: an image's full kernel serves "
                            "every call already")
    if from_oci:
        if adds:
            raise LibsubstError("--add cannot be combined with --from-oci: the image's files "
                                "are the container's")
        if specialize:
            raise LibsubstError("--specialize cannot be combined with --from-oci yet: the "
                                "analysis reads the host's programs, not the container's")
        image = Image.from_container(from_oci, program, list(args), env=_env_pairs(envs),
                                     volumes=volumes, workdir=workdir, net=net,
                                     subst=not no_subst, keep_args=keep_args, insecure=insecure,
                                     init=init)
    else:
        image = Image.from_program(program, list(args), env=_env_pairs(envs), volumes=volumes,
                                   workdir=workdir, net=net, subst=not no_subst, add=adds,
                                   keep_args=keep_args, specialize=specialize,
                                   keep_calls=keep, init=init)
    image.write(output)
    nfiles = sum(1 for f in image.manifest["files"] if f["kind"] == "file")
    click.echo(f"libsubst: packed {image.manifest['exe']} into {output}: {nfiles} files, "
               f"{human_size(image.size)}", err=True)
    if specialize:
        from .image.inspect import kernel_line
        click.echo(f"libsubst: system calls: {kernel_line(image.manifest)}", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.argument("image", type=click.Path(dir_okay=False))
def inspect(as_json, image):
    """Show what a packed IMAGE (a file, or a REF in the local store) holds:
    how it boots, its files, the substitution report, the kernel it runs on,
    its size."""
    import os

    from .errors import LibsubstError
    from .image import inspect as insp

    if os.path.exists(image) and not os.path.isfile(image):    # a FIFO would block the read
        raise LibsubstError(f"{image} is not a regular file")
    name = image
    if not os.path.exists(image):
        from .oci.reference import looks_like_reference
        if looks_like_reference(image):     # as run takes it, but never pulled
            from .oci.artifact import local_image
            image = local_image(image)
            if image is None:
                raise LibsubstError(f"{name} is not in the local store: `libsubst pull {name}`")
    click.echo(insp.render(image, as_json=as_json, name=name), nl=False)


@main.command()
@click.option("--gdb", "gdb", metavar="[HOST:]PORT", required=True,
              help="Serve gdb's remote protocol on PORT (loopback unless --gdb-allow-remote).")
@click.option("--gdb-allow-remote", is_flag=True,
              help="Let --gdb listen on an address other than loopback.")
@click.argument("pid", type=int)
def attach(gdb, gdb_allow_remote, pid):
    """Stop a running guest and serve gdb for it; when gdb detaches, the
    guest goes on.  PID is a guest process, or the `libsubst run` above it."""
    from .debug import attach as do_attach
    from .debug.protocol import listen
    from .monitor.executables import kernel_path

    do_attach(pid, listen(gdb, gdb_allow_remote), kernel_path())


@main.group()
def bench():
    """Benchmarks (see benchmarks/ and the README)."""


@bench.command("syscalls")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--iterations", default=20000, show_default=True, type=click.IntRange(1),
              help="Calls per timed run.")
@click.option("--repeats", default=7, show_default=True, type=click.IntRange(1, 64),
              help="Timed runs per operation (median).")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1),
              help="Alternating rounds of every path (median of the rounds).")
@click.option("--baseline-python", metavar="PYTHON",
              type=click.Path(exists=True, dir_okay=False, executable=True),
              help="Also time the fastcall path of the libsubst installed for PYTHON.")
@click.option("--image", is_flag=True,
              help="Also time the fastcall path of the benchmark packed into an image.")
@click.option("--only", metavar="ROW,...",
              help="Time these rows alone (names as the table gives them).")
@click.option("--fastest", is_flag=True,
              help="Each round's fastest timed run instead of their median (a loaded machine).")
def bench_syscalls(as_json, iterations, repeats, rounds, baseline_python, image, only, fastest):
    """ns per call natively, on the fastcall and trap paths, and without the sandbox and the trap."""
    from .benchmarks import syscalls

    try:
        syscalls.main(iterations=iterations, repeats=repeats, as_json=as_json, rounds=rounds,
                      baseline=baseline_python, image=image, only=only, fastest=fastest)
    except syscalls.BenchmarkError as e:
        raise click.ClickException(str(e)) from None




def entry():
    """The Python CLI's console script, libsubst-py: the native front end
    (the `libsubst` command) execs it with its own argv."""
    main(prog_name="libsubst")
