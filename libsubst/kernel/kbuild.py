"""Build the guest kernel: one recipe for the package build and for
``libsubst pack --specialize``.

The package build (``setup.py``) compiles the executable's three parts
(``c_src/lib``, ``c_src/tender``, ``c_src/kernel``; docs/architecture.md) into
``libsubst-kernel.a``, every function and datum in a section of its own
(``-ffunction-sections -fdata-sections``), and links the full kernel from it
with the generated syscall table and seccomp filter.  ``pack --specialize``
links a kernel for one image from the same archive: a table whose left-out
rows have no handler and a filter cut to the host calls that kernel can
still make; ``--gc-sections`` drops every handler no kept row (or other kept
code) refers to.  The table and the filter are the only code compiled at
pack time, so a specialised kernel is the full one minus what it cannot reach.

Standard library only: setup.py loads this file by path before anything is
built."""

from __future__ import annotations

import os
import shutil
import subprocess

try:
    from . import gentable
except ImportError:  # setup.py imports this folder's modules by name, before libsubst is built
    import gentable

ARCHIVE_NAME = "libsubst-kernel.a"

CFLAGS = [
    "-O2", "-g", "-std=gnu17", "-ffreestanding", "-fno-builtin", "-nostdlib", "-fPIE",
    "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-mgeneral-regs-only",
    "-fno-plt", "-fvisibility=hidden", "-fcf-protection=none",
    # A section per function and datum: the link keeps only what is referenced.
    "-ffunction-sections", "-fdata-sections",
    "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
    "-Wmissing-prototypes", "-Werror",
    "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types",
    "-Werror=int-conversion", "-Werror=return-type",
]
LDFLAGS = [
    "-static-pie", "-nostdlib", "-Wl,-e,_start", "-Wl,--no-dynamic-linker",
    "-Wl,-z,noexecstack", "-Wl,-z,text", "-Wl,--build-id", "-Wl,-z,separate-code",
    "-Wl,--gc-sections",
]


class ToolMissing(Exception):
    """The C compiler or the archiver is not installed."""


def tools() -> tuple[str, str]:
    """(C compiler, archiver): $CC or gcc, and ar."""
    cc, ar = os.environ.get("CC", "gcc"), "ar"
    missing = [t for t in (cc, ar) if shutil.which(t) is None]
    if missing:
        raise ToolMissing(" and ".join(missing))
    return cc, ar


# The executable's parts under c_src/, each compiled with its own include
# path: the tender and the shared runtime see only the contract headers
# (c_src/include/libsubst/) and the generated ones, never the kernel's.
PARTS = ("lib", "tender", "kernel")


def build_archive(c_src: str, gen_dir: str, work_dir: str, out: str) -> None:
    """Compile every .c/.S of the PARTS under ``c_src`` into the archive
    ``out`` (deterministic: no timestamps, members in path order)."""
    cc, ar = tools()
    objs = []
    for part in PARTS:
        src_root = os.path.join(c_src, part)
        incs = ["-I", os.path.join(c_src, "include"), "-I", src_root, "-I", gen_dir]
        for root, _dirs, files in sorted(os.walk(src_root)):
            for f in sorted(files):
                if not f.endswith((".c", ".S")):
                    continue
                src = os.path.join(root, f)
                rel = os.path.relpath(src, c_src).replace(os.sep, "_")
                obj = os.path.join(work_dir, rel + ".o")
                subprocess.check_call([cc, *CFLAGS, *incs, "-c", src, "-o", obj])
                objs.append(obj)
    if os.path.exists(out):
        os.unlink(out)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    subprocess.check_call([ar, "rcsD", out, *sorted(objs)])


SUPERVISOR_NAME = "libsubst-supervise"


def link_supervisor(archive: str, out: str) -> None:
    """Link the native supervisor (c_src/tender/supervise.c, what `libsubst
    run` becomes once its guest runs) from the same archive: only what its
    entry reaches, and no relocation to apply (checked), since it has no
    self-relocating start as the kernel has."""
    cc, _ar = tools()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    subprocess.check_call([cc, *CFLAGS, *LDFLAGS[:1], "-nostdlib", "-Wl,-e,supervise_start",
                           "-Wl,-u,supervise_start", *LDFLAGS[3:], archive, "-o", out])
    with open(out, "rb") as fh:
        if b".rela.dyn" in fh.read():
            os.unlink(out)
            raise RuntimeError(f"{out} needs run-time relocations: supervise.c must not "
                               "initialise data with addresses")


def link(archive: str, gen_dir: str, out: str, *, keep=None, allowed=None) -> None:
    """Write the table (only the rows named in ``keep``; all when None) and
    the filter (the host calls ``allowed``; all when None) into ``gen_dir``,
    compile them and link the kernel ``out`` with ``archive``."""
    cc, _ar = tools()
    gentable.write_c(gen_dir, keep=keep, allowed=allowed)
    objs = []
    # Compiled in gen_dir by relative names, its path mapped away: the same
    # table gives the same bytes wherever it is built (images are deterministic).
    where = [f"-ffile-prefix-map={os.path.abspath(gen_dir)}=gen"]
    for name in (gentable.SOURCE_NAME, gentable.SECCOMP_SOURCE_NAME):
        subprocess.check_call([cc, *CFLAGS, *where, "-I", ".", "-c", name, "-o", name + ".o"],
                              cwd=gen_dir)
        objs.append(os.path.join(gen_dir, name + ".o"))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    subprocess.check_call([cc, *CFLAGS, *LDFLAGS, *objs, "-Wl,--whole-archive", archive,
                           "-Wl,--no-whole-archive", "-o", out])
