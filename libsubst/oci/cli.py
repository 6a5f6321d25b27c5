"""``libsubst push|pull|images|rmi|login|logout``: images in OCI registries
and the local store (loaded only when one of them is asked for)."""

from __future__ import annotations

import json
import sys

import click

from ..errors import LibsubstError

_INSECURE = click.option("--insecure", is_flag=True,
                         help="Plain HTTP, for a registry on this machine's loopback only.")


def _log(msg: str) -> None:
    click.echo(f"libsubst: {msg}", err=True)


@click.command()
@_INSECURE
@click.argument("image", type=click.Path(dir_okay=False))
@click.argument("ref")
def push(insecure, image, ref):
    """Push a packed IMAGE file to REF (REGISTRY/REPO[:TAG]) as an OCI artifact."""
    from .artifact import push as do_push

    digest = do_push(image, ref, insecure=insecure, log=_log)
    click.echo(digest)


@click.command()
@_INSECURE
@click.argument("ref")
def pull(insecure, ref):
    """Pull REF (REGISTRY/REPO[:TAG][@DIGEST]) into the local store."""
    from .artifact import pull as do_pull

    digest, _path = do_pull(ref, insecure=insecure, log=_log)
    click.echo(digest)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def images(as_json):
    """List the images in the local store."""
    from ..image.inspect import human_size
    from .store import Store

    rows = Store().images()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'REPOSITORY':<40} {'TAG':<12} {'DIGEST':<19} {'SIZE':>10}  PROGRAM")
    for r in rows:
        size = human_size(r["size"]) if r["size"] is not None else "damaged"
        click.echo(f"{r['repository']:<40} {r['tag'] or '<none>':<12} {r['digest'][:19]:<19} "
                   f"{size:>10}  {r['program'] or ''}")


@click.command()
@click.argument("refs", nargs=-1, required=True)
def rmi(refs):
    """Remove images from the local store (by tag, or every tag of a digest)."""
    from . import reference
    from .store import Store

    store = Store()
    for text in refs:
        for gone in store.remove(reference.parse(text)):
            click.echo(f"removed {gone}")


@click.command()
@click.option("-u", "--username", required=True, help="The user name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_INSECURE
@click.argument("registry")
def login(username, password_stdin, insecure, registry):
    """Log in to REGISTRY (HOST[:PORT]); the credentials go where docker and
    podman keep theirs ($REGISTRY_AUTH_FILE or ~/.docker/config.json)."""
    from . import auth
    from .client import Registry
    from .reference import Reference

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True)
    if not password:
        raise LibsubstError("an empty password")
    previous = auth.credentials(registry)
    auth.save(registry, username, password)
    try:
        Registry(Reference(registry, "libsubst-login-check"), insecure=insecure).check_login()
    except LibsubstError:
        if previous:
            auth.save(registry, *previous)
        else:
            auth.forget(registry)
        raise
    click.echo(f"libsubst: logged in to {registry}", err=True)


@click.command()
@click.argument("registry")
def logout(registry):
    """Forget the credentials of REGISTRY."""
    from . import auth

    if not auth.forget(registry):
        raise LibsubstError(f"not logged in to {registry}")
    click.echo(f"libsubst: logged out of {registry}", err=True)


COMMANDS = {c.name: c for c in (push, pull, images, rmi, login, logout)}
