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
    subprocess.check_call([cc, "-O2", "-o", os.path.join(bin_dir, "syscall-bench"),
                           os.path.join(HERE, "benchmarks", "syscall_bench.c")])
    subprocess.check_call([cc, "-O2", "-o", os.path.join(bin_dir, "echo-server"),
                           os.path.join(HERE, "benchmarks", "echo_server.c")])


class BuildPyWithKernel(build_py):
    def run(self):
        super().run()
        bin_dir = os.path.join(self.build_lib, "libsubst", "_bin")
        build_kernel(bin_dir, os.path.join(HERE, "build", "kernel"))
        build_programs(bin_dir)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "build_kernel_inplace":
    # Developer shortcut: python setup.py build_kernel_inplace
    build_kernel(os.path.join(HERE, "libsubst", "_bin"), os.path.join(HERE, "build", "kernel"))
    build_programs(os.path.join(HERE, "libsubst", "_bin"))
    sys.exit(0)

setup(
    cmdclass={"build_py": BuildPyWithKernel},
    cffi_modules=["libsubst/_build_abi.py:ffibuilder"],
)
