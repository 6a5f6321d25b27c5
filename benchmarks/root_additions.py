"""What the rules that read names in a program's read-only data add to its
root, over every program the sweep runs (sweep.select): the libraries an
object dlopens by a name it holds (ldso/search.py's DLOPEN_NAME) and the
programs of the packages its package depends on that it runs by name
(image/layout.py's _path_programs).  Nothing is run: planning only.

    python -m libsubst.benchmarks.root_additions [--only GLOB] [--top N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

from ..errors import LibsubstError
from ..image.layout import LIBC_SONAME, _path_programs
from ..ldso.search import GLIBC_DLOPENS, resolve, resolve_dlopen_closure
from . import sweep


def additions(program: str) -> tuple[list[str], list[str]]:
    """(libraries dlopened by name, programs run by name) for ``program``."""
    try:
        plan = resolve(program, {})
    except LibsubstError:
        return [], []
    libs = [p for p in resolve_dlopen_closure(plan, [], {})
            if os.path.basename(p) not in GLIBC_DLOPENS]
    objects = [plan.program, *(p for n, p in plan.libraries if n != LIBC_SONAME)]
    return libs, _path_programs(plan.program, objects)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.root_additions",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", metavar="GLOB", help="only the programs whose name matches")
    ap.add_argument("--top", type=int, default=10, metavar="N", help="the N most added of each")
    args = ap.parse_args(argv)
    start = time.monotonic()
    paths = sweep.select(args.only)
    libs, progs = Counter(), Counter()
    with_libs = with_progs = 0
    for path in paths:
        l, p = additions(path)
        with_libs += bool(l)
        with_progs += bool(p)
        libs.update(l)
        progs.update(p)
    print(f"programs planned:            {len(paths)}   ({time.monotonic() - start:.0f} s)")
    print(f"libraries dlopened by name:  {sum(libs.values())} to {with_libs} programs "
          f"({len(libs)} libraries, {sum(os.path.getsize(p) for p in libs) / 1e6:.1f} MB)")
    for p, n in libs.most_common(args.top):
        print(f"  {n:5}  {p}")
    print(f"programs run by name:        {sum(progs.values())} to {with_progs} programs "
          f"({len(progs)} programs)")
    for p, n in progs.most_common(args.top):
        print(f"  {n:5}  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
