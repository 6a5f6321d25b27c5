"""Package build: besides the Python code, builds the guest kernel (a
freestanding static PIE, libsubst/_bin/libsubst-kernel) from c_src/ and the
cffi ABI module for the boot-info contract.  Everything is compiled here, by
the package build; there is no Makefile to run by hand."""

import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def build_kernel(bin_dir, work_dir):
    """Generate the syscall table, compile c_src/{lib,tender,kernel} into the
    archive pack --specialize links from (libsubst-kernel.a) and link the
    full kernel and the native supervisor from it (libsubst/kernel/kbuild.py has the recipe)."""
    sys.path.insert(0, os.path.join(HERE, "libsubst", "kernel"))
    try:
        import kbuild  # and gentable, syscalls, hostcalls, seccomp beside it: standard library only
    finally:
        sys.path.pop(0)
    gen_dir = os.path.join(work_dir, "gen")
    os.makedirs(gen_dir, exist_ok=True)
    kbuild.gentable.write_c(gen_dir)
    archive = os.path.join(bin_dir, kbuild.ARCHIVE_NAME)
    kbuild.build_archive(os.path.join(HERE, "c_src"), gen_dir, work_dir, archive)
    kbuild.link(archive, gen_dir, os.path.join(bin_dir, "libsubst-kernel"))
    kbuild.link_supervisor(archive, os.path.join(bin_dir, kbuild.SUPERVISOR_NAME))


def build_programs(bin_dir):
    """Ordinary (glibc, dynamically linked) helper programs: the benchmarks'."""
    cc = os.environ.get("CC", "gcc")
    os.makedirs(bin_dir, exist_ok=True)
    include = "-I" + os.path.join(HERE, "c_src", "include")   # landlock_rules.h
    subprocess.check_call([cc, "-O2", include, "-o", os.path.join(bin_dir, "syscall-bench"),
                           os.path.join(HERE, "benchmarks", "syscall_bench.c")])
    subprocess.check_call([cc, "-O2", include, "-o", os.path.join(bin_dir, "contained"),
                           os.path.join(HERE, "benchmarks", "contained.c")])
    subprocess.check_call([cc, "-O2", "-o", os.path.join(bin_dir, "echo-server"),
                           os.path.join(HERE, "benchmarks", "echo_server.c")])
    subprocess.check_call([cc, "-O2", "-o", os.path.join(bin_dir, "child-exit"),
                           os.path.join(HERE, "benchmarks", "child_exit.c")])


def build_id():
    """sha256 of every source the package is built from: the plan cache's
    entries name the build that made them (libsubst/plancache.py)."""
    import hashlib

    h = hashlib.sha256()
    for top in ("libsubst", "c_src"):
        for root, dirs, files in sorted(os.walk(os.path.join(HERE, top))):
            dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "_bin"))
            for f in sorted(files):
                if f.endswith((".py", ".c", ".h", ".S")) and not f.startswith("_build_id"):
                    path = os.path.join(root, f)
                    h.update(os.path.relpath(path, HERE).encode() + b"\0")
                    with open(path, "rb") as fh:
                        h.update(fh.read())
    for f in ("setup.py", "pyproject.toml"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


# The native front end, which the wheel installs as the `libsubst` command.
FRONTEND = os.path.join("build", "frontend", "libsubst")


def build_frontend(pkg_dir, ident):
    """The native front end (c_src/frontend/, host libc) and the build id
    Python reads (libsubst/_build_id.py): the same id is compiled into both."""
    cc = os.environ.get("CC", "gcc")
    src = os.path.join(HERE, "c_src", "frontend")
    out = os.path.join(HERE, FRONTEND)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.check_call([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-I",
                           os.path.join(HERE, "c_src", "include"), f'-DLS_BUILD_ID="{ident}"',
                           *sorted(os.path.join(src, f) for f in os.listdir(src)
                                   if f.endswith(".c")), "-o", out])
    with open(os.path.join(pkg_dir, "_build_id.py"), "w", encoding="ascii") as fh:
        fh.write(f'"""Written by the package build (setup.py)."""\nBUILD_ID = "{ident}"\n')


class BuildPyWithKernel(build_py):
    def run(self):
        super().run()
        bin_dir = os.path.join(self.build_lib, "libsubst", "_bin")
        build_kernel(bin_dir, os.path.join(HERE, "build", "kernel"))
        build_programs(bin_dir)
        build_frontend(os.path.join(self.build_lib, "libsubst"), build_id())


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "build_kernel_inplace":
    # Developer shortcut: python setup.py build_kernel_inplace
    build_kernel(os.path.join(HERE, "libsubst", "_bin"), os.path.join(HERE, "build", "kernel"))
    build_programs(os.path.join(HERE, "libsubst", "_bin"))
    sys.exit(0)

setup(
    cmdclass={"build_py": BuildPyWithKernel},
    # The `libsubst` command is the front end; it execs the Python CLI,
    # libsubst-py (pyproject.toml's scripts), for all it does not serve.
    data_files=[("bin", [FRONTEND])],
    cffi_modules=["libsubst/_build_abi.py:ffibuilder"],
)
