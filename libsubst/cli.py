"""The ``libsubst`` command: a thin click layer over libsubst.api."""

from __future__ import annotations

import sys

import click

from .clickutil import Group


@click.group(cls=Group)
@click.version_option(package_name="libsubst")
def main():
    """Run prebuilt Linux programs as unikernels."""


@main.command(context_settings={"allow_interspersed_args": False,
                                "ignore_unknown_options": False})
@click.option("-v", "--volume", "volumes", multiple=True, metavar="HOST:GUEST[:ro]",
              help="Mount a host directory in the guest (repeatable).")
@click.option("-e", "--env", "envs", multiple=True, metavar="K=V",
              help="Set a variable in the guest's environment (repeatable).")
@click.option("-w", "--workdir", metavar="DIR", help="The guest's working directory.")
@click.option("--no-cwd", is_flag=True, help="Do not mount the current directory.")
@click.option("--net", type=click.Choice(["host", "none"]), default="host", show_default=True,
              help="host: the host's network; none: only a loopback of the guest's own.")
@click.option("--no-subst", is_flag=True,
              help="Do not substitute glibc: every syscall takes the trap path.")
@click.option("--trace", is_flag=True, help="Print every guest syscall to stderr.")
@click.option("--trace-file", type=click.Path(dir_okay=False, writable=True),
              help="Write the syscall trace to a file.")
@click.argument("program")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(volumes, envs, workdir, no_cwd, net, no_subst, trace, trace_file, program, args):
    """Run PROGRAM [ARGS]... as a unikernel."""
    import os

    from . import api

    env = dict(os.environ)
    for kv in envs:
        if "=" not in kv:
            raise click.BadParameter(f"{kv!r} is not K=V", param_hint="--env")
        k, v = kv.split("=", 1)
        env[k] = v
    dest = trace_file if trace_file else (2 if trace else None)
    done = api.run(program, list(args), env=env, volumes=volumes, workdir=workdir,
                   mount_cwd=not no_cwd, subst=not no_subst, net=net, trace=dest)
    sys.exit(done.returncode)


@main.group()
def bench():
    """Benchmarks (see benchmarks/ and the README)."""


@bench.command("syscalls")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--iterations", default=20000, show_default=True, help="Calls per timed run.")
@click.option("--repeats", default=7, show_default=True, help="Timed runs per operation (median).")
def bench_syscalls(as_json, iterations, repeats):
    """ns per call natively, on the trap path and on the fastcall path."""
    from .benchmarks import syscalls

    syscalls.main(iterations=iterations, repeats=repeats, as_json=as_json)


def _add_uklibc():
    from .uklibc.cli import uklibc

    main.add_command(uklibc)


_add_uklibc()
