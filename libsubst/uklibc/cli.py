"""``libsubst uklibc``: inspect an object's syscall sites, make its substitute.

    libsubst uklibc inspect OBJECT [--sites] [--json]
    libsubst uklibc make OBJECT -o OUT

Exit status: 0 on success — including ``inspect`` of an object with no
syscall sites, which says "nothing to do"; 1 for ``make`` when there is
nothing to rewrite (no output is written: a substitute identical to its
original would only hide that fact); 2 for bad input (missing file, not an
ELF object, 32-bit, truncated or corrupt).  Errors are one line,
``libsubst: <message>``.
"""

from __future__ import annotations

import json

import click

from ..clickutil import Group


@click.group(cls=Group)
def uklibc():
    """The substitute libc: syscall sites rewritten into fastcalls."""


def _names(sites) -> str:
    counts: dict[str, int] = {}
    for s in sites:
        n = s.name or (f"nr {s.nr}" if s.nr is not None else "unknown nr")
        counts[n] = counts.get(n, 0) + 1
    return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(counts.items()))


def _summary(a) -> list[str]:
    n, done = len(a.sites), len(a.rewritable)
    bid = a.elf.build_id()
    head = a.path
    extra = [x for x in (a.elf.soname(), bid and f"build-id {bid.hex()}") if x]
    if extra:
        head += f" ({', '.join(extra)})"
    lines = [head]
    if not n:
        lines.append("  no syscall instructions: nothing to do")
        return lines
    lines.append(f"  {n} syscall sites: {done} rewritten ({100.0 * done / n:.1f}%), "
                 f"{n - done} left on the trap path")
    for reason, count in a.by_reason().items():
        lines.append(f"    {reason:<26}{count:>5}   {_names(s for s in a.left if s.status == reason)}")
    unknown = sum(1 for s in a.rewritable if s.nr is None)
    if unknown:
        lines.append(f"  {unknown} rewritten sites take a number not known statically")
    lines.append(f"  analysed in {a.seconds:.2f} s ({a.instructions} instructions decoded, "
                 f"{a.targets} branch targets among them)")
    return lines


@uklibc.command()
@click.argument("obj", metavar="OBJECT")
@click.option("--sites", "list_sites", is_flag=True, help="List every site.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def inspect(obj, list_sites, as_json):
    """Report OBJECT's syscall sites: rewritten, or left on the trap path and why."""
    from .sites import analyse

    a = analyse(obj)
    if as_json:
        click.echo(json.dumps(a.to_dict(), indent=1))
        return
    for line in _summary(a):
        click.echo(line)
    if list_sites:
        for s in a.sites:
            name = s.name or ("?" if s.nr is None else f"nr {s.nr}")
            where = f" in {s.function}" if s.function else ""
            state = s.status if s.rewritable else f"trap: {s.status}"
            click.echo(f"  {s.addr:#10x} {s.section:<10} {name:<20} {state}{where}")


@uklibc.command()
@click.argument("obj", metavar="OBJECT")
@click.option("-o", "--output", "out", required=True, metavar="OUT",
              help="Where to write the substitute object.")
def make(obj, out):
    """Write OBJECT's substitute, with its syscall sites rewritten, to OUT.

    Exits 1 without writing OUT when OBJECT has nothing to rewrite."""
    from .rewrite import make as make_substitute

    r = make_substitute(obj, out)
    a = r.analysis
    left = f" ({', '.join(f'{n} {k}' for k, n in a.by_reason().items())})" if a.left else ""
    click.echo(f"{out}: {len(a.rewritable)} of {len(a.sites)} syscall sites rewritten, "
               f"{len(a.left)} left on the trap path{left}; {r.stub_bytes} bytes of stubs "
               f"at {r.layout.stub_vaddr:#x}; {r.seconds:.2f} s")
