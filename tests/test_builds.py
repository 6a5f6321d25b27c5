"""A developer's process-spawning workloads, each a whole build in one
guest, compared with the same build run natively in the same path (the
sources of tests/builds/ copied with their times): an autoconf configure,
make -j2 and make check of a libtool project; cmake and meson with ninja
and their test runners; make's jobserver across recursive makes, makefiles
read from /dev/stdin, a here-document and a pipe; a venv with pip
building and installing a local project; perl's MakeMaker; a Debian
package built under fakeroot.  stdout, stderr, exit status, the names of
the files made and the bytes of all but those that record times, temporary
names or pids (each case's VOLATILE) are compared.  The programs each
execs are given with --add, as a user gives them (README, Compatibility)."""

import difflib
import fnmatch
import os
import shutil
import subprocess

import pytest

from conftest import LIBSUBST

BUILDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "builds")
# Sources older than anything a build makes (make compares times).
SOURCE_TIME = 1704067200        # 2024-01-01

# Programs a build only looks for: added where the host has them, as a
# native build finds them there (meson's tags targets).
OPTIONAL = {"etags", "ctags", "cscope"}
# ninja's lines, whose order its parallel jobs decide, without their counter, sorted.
NINJA = "sed 's/^\\[[0-9]*\\/[0-9]*\\] //' | sort"
# Each workload: (sources: directories of tests/builds copied into the
# build directory, the shell script, the programs it runs, names whose
# bytes are not compared, long).  The compilers' toolchains come with the
# drivers (image/gcc.py); what a configure script or a build system only
# looks for (etags for meson's tags targets, gcc-ar's binutils) changes what
# it writes, so it is added too.
COREUTILS = ["cat", "rm", "mv", "cp", "ln", "ls", "mkdir", "rmdir", "chmod", "touch", "sort",
             "uniq", "tr", "wc", "head", "echo", "true", "sleep", "dirname", "basename", "expr",
             "uname", "mktemp", "dd", "install", "cut", "md5sum"]
AUTOTOOLS = ["make", "gcc", "cc", "sed", "grep", "gawk", "awk", "diff", "cmp", "file",
             "hostname", "getconf", "arch", "mt", "bash"]
CASES = {
    # thousands of sh forks with here-documents, traps, exec redirections;
    # libtool's shared library; config.h and every object as natively
    "autoconf configure make check": (
        ["autotools"], "./configure -q && make -s -j2 && make -s check && src/hello guest",
        [*COREUTILS, *AUTOTOOLS], ["config.log"], True),
    # try_compile and try_run, a C and a C++ target, ninja's parallel jobs
    # and deps log (what it records and what a touched source rebuilds)
    "cmake ninja ctest": (
        ["cmake"], "cmake -S . -B b -G Ninja && ninja -C b | " + NINJA + " && ninja -C b -t deps | "
        "grep '#deps' | sed 's/mtime [0-9]*/mtime N/' | sort && touch sq.c && "
        "ninja -C b | " + NINJA + " && ninja -C b && "
        "cd b && ctest 2>&1 | sed 's/[0-9.]* sec/N sec/'",
        ["cmake", "ninja", "ctest", "cc", "c++", "sed", "sort", "grep", "touch", "uname"],
        ["b/.ninja_log", "b/.ninja_deps", "b/CMakeFiles/CMakeOutput.log",
         "b/CMakeFiles/CMakeError.log", "b/Testing/Temporary/*"], False),
    "meson ninja test": (
        # one test at a time: meson numbers and prints them as they end
        ["cmake", "meson"], "meson setup b && ninja -C b | " + NINJA + " && meson test -C b "
        "--num-processes 1 2>&1 | "
        "sed -E 's/[0-9]+[.][0-9]+s/Ns/'",
        ["meson", "ninja", "cc", "c++", "sed", "sort", "rm", "dpkg-architecture", "etags", "ctags",
         "cscope"],
        ["b/.ninja_log", "b/.ninja_deps", "b/meson-logs/*", "b/meson-private/*.dat"], False),
    # the jobserver's fds across exec into sub-makes, -O's temporary files,
    # $(shell), -C, mtimes to the nanosecond, makefiles read by name from
    # a pipe, a here-string and a here-document (/dev/stdin, /proc/self/fd/0)
    "make jobserver stdin": (
        ["make"], "make -j2 --no-print-directory -O 2>&1 | sort; cat sub1/sum sub2/sum; "
        "make -j2 --no-print-directory 2>&1 | sort; "
        "touch -d '2024-01-01 00:00:00.5' sub1/f3.in; "
        "touch -d '2024-01-01 00:00:00.4' sub1/f3.out; "
        "make -j2 -C sub1 2>&1; make -q -C sub2; echo up to date $?; "
        "printf 'all:\\n\\t@echo from a pipe $(words $(MAKEFLAGS))\\n' | make -f /dev/stdin; "
        "make -f /dev/stdin <<< $'x:\\n\\t@echo here-string'; "
        "make -f - <<EOT\ny:\n\t@echo here-doc \\$(shell echo shell)\nEOT\n"
        "make -f /proc/self/fd/0 -n all < Makefile; make -f /dev/stdin",
        ["bash", "make", "sort", "cat", "sleep", "tr", "touch", "ls", "wc", "echo"], [], False),
    # (the last make reads the runner's pipe: STDIN)
    # perl's MakeMaker: Makefile.PL, make, make test (Test::Harness forks perl)
    "perl Makefile.PL make test": (
        ["perl"], "perl Makefile.PL && make && make test 2>&1 | "
        "sed 's/[0-9]* wallclock.*/wallclock/'",
        ["perl", "make", "sed", "chmod", "touch", "true"], [], False),
    # a package tree built as root under fakeroot (its faked daemon, the
    # preloaded libfakeroot), listed and read back; ownership it fakes
    "dpkg-deb fakeroot": (
        ["deb"], "SOURCE_DATE_EPOCH=1700000000 fakeroot dpkg-deb --root-owner-group "
        "-Zxz --build pkg hello.deb && dpkg-deb -c hello.deb && "
        "dpkg-deb -f hello.deb Package Version && md5sum hello.deb && "
        "fakeroot sh -c 'touch f; chown 1234:5678 f; ls -n f | cut -d\" \" -f3,4; "
        "mknod dev c 1 3; ls -l dev | cut -c1'",
        ["fakeroot", "dpkg-deb", "tar", "xz", "getopt", "cut", "md5sum", "touch", "chown", "mknod",
         "ls", "rm", "sed"], [], False),
    # a venv of Debian's python3, pip building a wheel of a local project
    # with setuptools (no network, no build isolation) and installing it,
    # its console script; compileall
    "python venv pip compileall": (
        ["python"], "/usr/bin/python3 -m venv --system-site-packages v && "
        "v/bin/pip install -q --no-index --no-build-isolation . && v/bin/greet && "
        "SOURCE_DATE_EPOCH=1700000000 v/bin/pip wheel -q --no-index --no-build-isolation -w dist . "
        "&& ls dist && /usr/bin/python3 -m compileall -q greetpkg && ls greetpkg/__pycache__",
        # (fnmatch's * crosses /): the venv's byte code records its sources' times
        ["/usr/bin/python3", "ls"], ["v/lib/*/__pycache__/*"], True),
}
# What a case reads on stdin: the caller's pipe, a user the guest's user
# namespace does not map (README, Known limits), reopened by name.
STDIN = {"make jobserver stdin": b"all:\n\t@echo from the runner pipe\n"}


def _place(sources, d):
    """The sources copied into the empty directory d, every file and
    directory with the same old mtime."""
    for src in sources:
        shutil.copytree(os.path.join(BUILDS, src), d, symlinks=True, dirs_exist_ok=True)
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (SOURCE_TIME, SOURCE_TIME), follow_symlinks=False)


def _tree(d, volatile):
    """Each file below d: a symlink's target, a regular file's mode and
    bytes (only its mode if its name matches volatile)."""
    out = {}
    for root, dirs, files in os.walk(d):
        for name in files + [n for n in dirs if os.path.islink(os.path.join(root, n))]:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, d)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif any(fnmatch.fnmatch(rel, pat) for pat in volatile):
                out[rel] = ("file", os.stat(path).st_mode)
            else:
                with open(path, "rb") as f:
                    out[rel] = ("file", os.stat(path).st_mode, f.read())
    return out


def adds(add):
    """run's --add options for the programs add names that the host has;
    /bin/sh too: bash runs the script, make, cmake and MakeMaker's commands
    run /bin/sh."""
    return [o for p in ["/bin/sh", *add] if shutil.which(p) for o in ("--add", shutil.which(p))]


def _run(argv, d, timeout, stdin):
    return subprocess.run(argv, cwd=d, capture_output=True, timeout=timeout, input=stdin)


def _autotools(d):
    """The autotools project's configure and Makefile.in, made natively
    (autoreconf), with the times it gave them: make would run the autotools
    again if a generated file were older than its input."""
    r = _run(["autoreconf", "-fi"], d, 300, b"")
    assert r.returncode == 0, r.stderr.decode()
    shutil.rmtree(os.path.join(d, "autom4te.cache"))


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.long] if c[4] else [])
                                  for n, c in CASES.items()])
def test_build_as_native(name, tmp_path):
    sources, script, add, volatile, _long = CASES[name]
    needed = add + (["autoreconf", "libtoolize"] if "autotools" in sources else [])
    missing = [p for p in needed if shutil.which(p) is None and p not in OPTIONAL]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (tests/run.sh installs them)")
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    _place(sources, prepared)
    if "autotools" in sources:
        _autotools(prepared)
    d = tmp_path / "b"
    shutil.copytree(prepared, d, symlinks=True)
    argv = ["bash", "-c", script]
    native = _run(argv, d, 300, STDIN.get(name, b""))
    native_tree = _tree(d, volatile)
    shutil.rmtree(d)
    shutil.copytree(prepared, d, symlinks=True)
    guest = _run([*LIBSUBST, "run", *adds(add), *argv], d, 600, STDIN.get(name, b""))
    assert guest.stderr.decode(errors="replace") == native.stderr.decode(errors="replace")
    assert guest.stdout.decode(errors="replace") == native.stdout.decode(errors="replace")
    assert guest.returncode == native.returncode == 0
    guest_tree = _tree(d, volatile)
    assert sorted(guest_tree) == sorted(native_tree)
    differ = [rel for rel in native_tree if guest_tree[rel] != native_tree[rel]]
    assert differ == [], _first_difference(differ, native_tree, guest_tree)


def _first_difference(differ, native, guest):
    """The first differing file's lines as a unified diff (native, guest)."""
    if not differ or len(native[differ[0]]) < 3 or len(guest[differ[0]]) < 3:
        return ""
    a, b = (t[differ[0]][2].decode(errors="replace").splitlines() for t in (native, guest))
    return "\n".join(difflib.unified_diff(a, b, "native", "guest", lineterm="", n=1))
