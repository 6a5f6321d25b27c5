"""What every libsubst click command shares."""

from __future__ import annotations

import sys

import click

from .errors import LibsubstError


class Group(click.Group):
    """Prints a LibsubstError as one line, ``libsubst: <message>``, and exits
    with its code: never a traceback for bad input."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LibsubstError as e:
            click.echo(f"libsubst: {e}", err=True)
            sys.exit(e.exit_code)
