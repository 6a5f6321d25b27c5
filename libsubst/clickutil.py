"""What every libsubst click command shares."""

from __future__ import annotations

import math
import sys

import click

from .errors import LibsubstError


# click 8.2 and later raise it for a group run without a command (8.1 printed the help).
_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def one_line(message: str) -> str:
    """A message as one line: a value the user gave with a newline or
    another control character in it is shown escaped, as Python writes it."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


class Group(click.Group):
    """Prints a LibsubstError, or a usage error (a bad option or argument),
    as one line, ``libsubst: <message>``, and exits with its code: never a
    traceback, never a screen of usage for bad input."""

    def main(self, *args, **kwargs):
        if kwargs.pop("standalone_mode", True) is False:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx else "libsubst"
            message = e.format_message()
            if isinstance(e, _NO_ARGS) and e.ctx and isinstance(e.ctx.command, click.Group):
                # A group given no command: its names, not its whole help page.
                message = "expected a command: " + ", ".join(e.ctx.command.list_commands(e.ctx))
            click.echo(f"libsubst: {one_line(message)} (see {cmd} --help)", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"libsubst: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:                     # ^C while libsubst itself works
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LibsubstError as e:
            click.echo(f"libsubst: {one_line(str(e))}", err=True)
            sys.exit(e.exit_code)


class Seconds(click.FloatRange):
    """A duration in seconds, 0 to max: never nan or infinity (a plan cache
    keeps it as a 32-bit count of milliseconds)."""

    name = "seconds"

    def __init__(self, max: float):
        super().__init__(min=0, max=max)

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if math.isnan(rv):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return rv
