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

KERNEL_CFLAGS = [
    "-O2", "-g", "-std=gnu17", "-ffreestanding", "-fno-builtin", "-nostdlib", "-fPIE",
    "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-mgeneral-regs-only",
    "-fno-plt", "-fvisibility=hidden", "-fcf-protection=none",
    "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
    "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types",
    "-Werror=int-conversion", "-Werror=return-type",
]
KERNEL_LDFLAGS = [
    "-static-pie", "-nostdlib", "-Wl,-e,_start", "-Wl,--no-dynamic-linker",
    "-Wl,-z,noexecstack", "-Wl,-z,text", "-Wl,--build-id", "-Wl,-z,separate-code",
]


def build_kernel(out_path, work_dir):
    """Generate the syscall table, compile c_src/kernel, link the static PIE."""
    sys.path.insert(0, os.path.join(HERE, "libsubst", "kernel"))
    try:
        import gentable  # and syscalls, hostcalls, seccomp beside it: standard library only
    finally:
        sys.path.pop(0)
    gen_dir = os.path.join(work_dir, "gen")
    os.makedirs(gen_dir, exist_ok=True)
    gentable.write_c(gen_dir)
    src_root = os.path.join(HERE, "c_src", "kernel")
    sources = [os.path.join(gen_dir, "syscall_table.c")]
    for root, _dirs, files in os.walk(src_root):
        sources += [os.path.join(root, f) for f in sorted(files) if f.endswith((".c", ".S"))]
    cc = os.environ.get("CC", "gcc")
    incs = ["-I", os.path.join(HERE, "c_src", "include"), "-I", src_root, "-I", gen_dir]
    objs = []
    for src in sorted(sources):
        rel = os.path.relpath(src, HERE).replace(os.sep, "_")
        obj = os.path.join(work_dir, rel + ".o")
        subprocess.check_call([cc, *KERNEL_CFLAGS, *incs, "-c", src, "-o", obj])
        objs.append(obj)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    subprocess.check_call([cc, *KERNEL_CFLAGS, *KERNEL_LDFLAGS, *objs, "-o", out_path])


def build_programs(bin_dir):
    """Ordinary (glibc, dynamically linked) helper programs: the benchmarks'."""
    cc = os.environ.get("CC", "gcc")
    os.makedirs(bin_dir, exist_ok=True)
    subprocess.check_call([cc, "-O2", "-o", os.path.join(bin_dir, "syscall-bench"),
                           os.path.join(HERE, "benchmarks", "syscall_bench.c")])


class BuildPyWithKernel(build_py):
    def run(self):
        super().run()
        bin_dir = os.path.join(self.build_lib, "libsubst", "_bin")
        build_kernel(os.path.join(bin_dir, "libsubst-kernel"), os.path.join(HERE, "build", "kernel"))
        build_programs(bin_dir)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "build_kernel_inplace":
    # Developer shortcut: python setup.py build_kernel_inplace
    build_kernel(os.path.join(HERE, "libsubst", "_bin", "libsubst-kernel"),
                 os.path.join(HERE, "build", "kernel"))
    build_programs(os.path.join(HERE, "libsubst", "_bin"))
    sys.exit(0)

setup(
    cmdclass={"build_py": BuildPyWithKernel},
    cffi_modules=["libsubst/_build_abi.py:ffibuilder"],
)
