"""Where perl finds its modules, by its own rule: @INC is compiled into the
interpreter (Configure's privlib, archlib, sitelib, vendorlib… as strings of
the perl executable, or of the libperl it links), so the directories the
guest gets are the absolute paths naming perl among the executable's and
libperl's strings that are directories on the host.  Extension modules are
those below an ``auto`` directory of one of them (where XS modules live:
``<archlib>/auto/<Module>/<Module>.so``).  Nothing is run on the host."""

from __future__ import annotations

import os
import re

from .walk import files_below

NAME = re.compile(r"perl(5)?([.\d]*)?")
PATH = re.compile(rb"(?<=\x00)/[\x21-\x7e]*perl[\x21-\x7e]*(?=\x00)")


def inc_dirs(program: str, objects: list[str] = ()) -> list[str] | None:
    """@INC's directories that exist, from the strings of ``program`` (a
    perl, by its real file name) and of the libperl among ``objects``; None
    when it is not a perl."""
    real = os.path.realpath(program)
    if not NAME.fullmatch(os.path.basename(real)):
        return None
    dirs: list[str] = []
    for path in [real, *(o for o in objects if os.path.basename(o).startswith("libperl.so"))]:
        with open(path, "rb") as f:
            data = f.read()
        for m in PATH.finditer(data):
            d = os.fsdecode(m.group())
            if d not in dirs and os.path.isdir(d):
                dirs.append(d)
    return dirs


def extension_modules(dirs: list[str]) -> list[str]:
    modules: list[str] = []
    for d in dirs:
        modules += files_below(os.path.join(d, "auto"))
    return modules
