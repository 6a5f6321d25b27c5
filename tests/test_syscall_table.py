"""The syscall table (libsubst/kernel/syscalls.py) and the C generated from it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from libsubst.kernel import gentable, syscalls
from libsubst.kernel.syscalls import TABLE, by_name, by_nr

UNISTD_64 = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
REPO = Path(__file__).resolve().parent.parent
GCC_FLAGS = ["-c", "-O2", "-ffreestanding", "-fPIE", "-Wall", "-Werror", "-Wno-strict-prototypes"]

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def header_syscalls() -> dict[int, str]:
    text = UNISTD_64.read_text()
    return {int(nr): name for name, nr in re.findall(r"^#define __NR_(\w+)\s+(\d+)\s*$", text, re.M)}


# ---- the table against the kernel headers ---------------------------------

@pytest.mark.skipif(not UNISTD_64.exists(), reason="linux-libc-dev headers not installed")
def test_table_matches_unistd_64_h():
    header = header_syscalls()
    assert len(header) > 300
    table = {s.nr: s.name for s in TABLE}
    missing = {nr: n for nr, n in header.items() if table.get(nr) != n}
    extra = {nr: n for nr, n in table.items() if header.get(nr) != n}
    assert not missing, f"in unistd_64.h but not in TABLE (or named differently): {missing}"
    assert not extra, f"in TABLE but not in unistd_64.h: {extra}"


def test_names_and_numbers_unique_and_sorted():
    names = [s.name for s in TABLE]
    nrs = [s.nr for s in TABLE]
    assert len(set(names)) == len(names)
    assert len(set(nrs)) == len(nrs)
    assert nrs == sorted(nrs)


def test_arg_kinds_in_vocabulary():
    vocab = {"int", "uint", "hex", "fd", "dirfd", "path", "buf_in", "buf_out", "ptr", "size",
             "off", "sig", "pid", "mode", "oflags", "prot", "mflags", "argv", "envp"}
    assert set(syscalls.ARG_KINDS) == vocab
    for s in TABLE:
        assert isinstance(s.args, tuple)
        assert len(s.args) <= 6, s
        assert set(s.args) <= vocab, s
        for i, kind in enumerate(s.args):
            if kind == "buf_in":  # its length is the next argument
                assert s.args[i + 1] in ("size", "uint", "int"), s


def test_levels_valid_and_known():
    assert set(syscalls.LEVELS) <= {s.name for s in TABLE}
    assert set(syscalls.LEVELS.values()) <= {"host", "kernel", "enosys"}
    for s in TABLE:
        assert s.level == syscalls.LEVELS.get(s.name, "enosys"), s
        assert (s.handler == f"sys_{s.name}") == (s.level == "kernel")


# (name, nr, number of arguments) from the man-2 pages and the kernel's SYSCALL_DEFINEn.
KNOWN = [
    ("read", 0, 3), ("write", 1, 3), ("open", 2, 3), ("close", 3, 1), ("stat", 4, 2),
    ("lseek", 8, 3), ("mmap", 9, 6), ("mprotect", 10, 3), ("munmap", 11, 2), ("brk", 12, 1),
    ("rt_sigaction", 13, 4), ("rt_sigprocmask", 14, 4), ("rt_sigreturn", 15, 0),
    ("ioctl", 16, 3), ("pread64", 17, 4), ("pwrite64", 18, 4), ("readv", 19, 3),
    ("pipe", 22, 1), ("select", 23, 5), ("sched_yield", 24, 0), ("mremap", 25, 5),
    ("sendfile", 40, 4), ("sendto", 44, 6), ("recvfrom", 45, 6), ("socketpair", 53, 4),
    ("setsockopt", 54, 5), ("clone", 56, 5), ("fork", 57, 0), ("vfork", 58, 0),
    ("execve", 59, 3), ("exit", 60, 1), ("wait4", 61, 4), ("kill", 62, 2), ("semctl", 66, 4),
    ("msgrcv", 70, 5), ("fcntl", 72, 3), ("getdents", 78, 3), ("getcwd", 79, 2),
    ("readlink", 89, 3), ("chown", 92, 3), ("getuid", 102, 0), ("ptrace", 101, 4),
    ("prctl", 157, 5), ("arch_prctl", 158, 2), ("mount", 165, 5), ("setxattr", 188, 5),
    ("getxattr", 191, 4), ("futex", 202, 6), ("getdents64", 217, 3), ("set_tid_address", 218, 1),
    ("clock_nanosleep", 230, 4), ("exit_group", 231, 1), ("epoll_wait", 232, 4),
    ("tgkill", 234, 3), ("mbind", 237, 6), ("waitid", 247, 5), ("openat", 257, 4),
    ("fchownat", 260, 5), ("newfstatat", 262, 4), ("unlinkat", 263, 3), ("linkat", 265, 5),
    ("symlinkat", 266, 3), ("readlinkat", 267, 4), ("fchmodat", 268, 3), ("faccessat", 269, 3),
    ("pselect6", 270, 6), ("ppoll", 271, 5), ("splice", 275, 6), ("utimensat", 280, 4),
    ("epoll_pwait", 281, 6), ("accept4", 288, 4), ("dup3", 292, 3), ("pipe2", 293, 2),
    ("preadv", 295, 5), ("prlimit64", 302, 4), ("process_vm_readv", 310, 6),
    ("renameat2", 316, 5), ("getrandom", 318, 3), ("execveat", 322, 5),
    ("copy_file_range", 326, 6), ("preadv2", 327, 6), ("statx", 332, 5), ("rseq", 334, 4),
    ("io_uring_enter", 426, 6), ("clone3", 435, 2), ("close_range", 436, 3), ("openat2", 437, 4),
    ("faccessat2", 439, 4), ("epoll_pwait2", 441, 6), ("futex_waitv", 449, 5),
]


@pytest.mark.parametrize("name,nr,nargs", KNOWN, ids=[k[0] for k in KNOWN])
def test_known_signatures(name, nr, nargs):
    s = by_name(name)
    assert s.nr == nr
    assert len(s.args) == nargs, s


@pytest.mark.parametrize("name,args", [
    ("read", ("fd", "buf_out", "size")),
    ("write", ("fd", "buf_in", "size")),
    ("pread64", ("fd", "buf_out", "size", "off")),
    ("pwrite64", ("fd", "buf_in", "size", "off")),
    ("openat", ("dirfd", "path", "oflags", "mode")),
    ("open", ("path", "oflags", "mode")),
    ("mmap", ("ptr", "size", "prot", "mflags", "fd", "off")),
    ("mprotect", ("ptr", "size", "prot")),
    ("sendto", ("fd", "buf_in", "size", "hex", "ptr", "uint")),
    ("recvfrom", ("fd", "buf_out", "size", "hex", "ptr", "ptr")),
    ("getdents64", ("fd", "buf_out", "uint")),
    ("readlink", ("path", "buf_out", "size")),
    ("kill", ("pid", "sig")),
    ("execve", ("path", "argv", "envp")),
])
def test_known_arg_kinds(name, args):
    assert by_name(name).args == args


def test_lookups():
    assert by_nr(257) is by_name("openat")
    assert by_nr(400) is None  # reserved range 335..423
    assert by_nr(10**6) is None
    with pytest.raises(KeyError):
        by_name("no_such_syscall")
    impl = syscalls.implemented()
    assert all(s.level in ("host", "kernel") for s in impl)
    assert {s.name for s in impl} == set(syscalls.LEVELS) - {
        n for n, lv in syscalls.LEVELS.items() if lv == "enosys"}
    assert [s.nr for s in impl] == sorted(s.nr for s in impl)


def test_syscall_is_frozen():
    with pytest.raises(Exception):
        by_name("read").level = "kernel"


# ---- generated C ----------------------------------------------------------

def test_generated_header_contents(tmp_path):
    h, c = gentable.write_c(tmp_path)
    text = h.read_text()
    assert text.startswith("/* generated by libsubst/kernel/gentable.py")
    assert f"#define LS_NR_SYSCALLS {max(s.nr for s in TABLE) + 1}\n" in text
    assert "enum ls_level { LS_ENOSYS = 0, LS_HOST = 1, LS_KERNEL = 2 };" in text
    assert re.search(r"#define LS_SYS_OPENAT\s+257\n", text)
    assert re.search(r"#define LS_SYS__SYSCTL\s+156\n", text)
    protos = set(re.findall(r"^long (sys_\w+)\(\);$", text, re.M))
    assert protos == {f"sys_{s.name}" for s in TABLE if s.level == "kernel"}
    src = c.read_text()
    assert src.count('] = { "') == len(TABLE)
    assert '[1] = { "write", 0, LS_HOST' in src
    assert '[0] = { "read", (sys_fn)sys_read, LS_KERNEL' in src
    assert '[257] = { "openat", ' in src


def test_generation_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    gentable.write_c(a)
    gentable.write_c(b)
    for name in (gentable.HEADER_NAME, gentable.SOURCE_NAME):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert gentable.support_markdown() == gentable.support_markdown()


@needs_gcc
def test_generated_c_compiles(tmp_path):
    gentable.write_c(tmp_path)
    subprocess.run(["gcc", *GCC_FLAGS, "syscall_table.c", "-o", "syscall_table.o"],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    # Linking needs exactly the 'kernel' handlers.
    nm = subprocess.run(["nm", "-u", "syscall_table.o"], cwd=tmp_path, check=True,
                        capture_output=True, text=True).stdout
    undefined = {line.split()[-1] for line in nm.splitlines() if line.strip()}
    assert undefined == {f"sys_{s.name}" for s in TABLE if s.level == "kernel"}


@needs_gcc
def test_handlers_defined_with_natural_parameters(tmp_path):
    """The empty-parentheses prototypes accept definitions with real parameter lists."""
    gentable.write_c(tmp_path)
    (tmp_path / "handler.c").write_text(
        '#include "syscall_table.h"\n'
        "long sys_openat(int dirfd, const char *path, int flags, unsigned mode)\n"
        "{ return dirfd + (path ? 1 : 0) + flags + (long)mode; }\n"
        "long sys_exit_group(int status) { return status; }\n"
        "long dispatch(long nr, long a, long b, long c, long d, long e, long f)\n"
        "{ const struct syscall_desc *s = &syscall_table[nr];\n"
        "  return s->level == LS_KERNEL ? s->fn(a, b, c, d, e, f) : -38; }\n")
    r = subprocess.run(["gcc", *GCC_FLAGS, "-std=gnu17", "handler.c", "-o", "handler.o"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", sorted(syscalls.KEPT))
def test_kept_handlers_are_the_host_call_for_every_fd_the_kernel_keeps_nothing_of(name):
    """A KEPT call's fastcall goes straight to the host when its fd (the
    first argument) is the guest's and the kernel keeps none of its status
    flags (fs_kept): its handler must refuse the kernel's fds first and,
    for every fd whose flags are the host's (fd_flags_kept false), be that
    host call with the guest's arguments in order."""
    src = (REPO / "c_src" / "kernel" / "fs" / "fd.c").read_text()
    m = re.search(r"^long sys_%s\(([^)]*)\)\n\{\n\s*if \(!fd_valid\((\w+)\)\)\n\s*return -EBADF;\n"
                  r"(.*?)^\}" % name, src, re.M | re.S)
    assert m, f"sys_{name} does not start by refusing the kernel's fds"
    params = [p.split()[-1].lstrip("*") for p in m[1].split(",")]
    assert m[2] == params[0]
    body = m[3]
    host = "return hsys%d(__NR_%s, %s);" % (len(params), name, ", ".join(params))
    assert re.search(r"int kept = fd_flags_kept\(o\);.*?if \(!kept\)\n\s*" + re.escape(host),
                     body, re.S), body
    assert by_name(name).level == syscalls.KERNEL and by_name(name).kept


@pytest.mark.parametrize("name", sorted(syscalls.BASED))
def test_based_handlers_are_the_host_call_for_every_other_fd(name):
    """A BASED call's fastcall goes straight to the host when the fd of the
    argument syscalls.BASED names is not a window of a packed image
    (dispatch.c): its handler must test that argument and be, for such an
    fd, that host call with the guest's arguments in order."""
    src = (REPO / "c_src" / "kernel" / "fs" / "read_write.c").read_text()
    m = re.search(r"^long sys_%s\(([^)]*)\)\n\{\n\s*if \(!fd_is_based\((\w+)\)\)\n"
                  r"\s*return host_call_blocking\(__NR_%s,\s*([^;]*)\);" % (name, name), src, re.M)
    assert m, f"sys_{name} does not start with the host call"
    params = [p.split()[-1].lstrip("*") for p in m[1].split(",")]
    args = [re.sub(r"\(long\)\s*", "", a.strip()) for a in m[3].split(",")]
    assert m[2] == params[syscalls.BASED[name]]
    assert args == params + ["0"] * (6 - len(params))
    assert by_name(name).level == syscalls.KERNEL and by_name(name).based


def test_runs_without_the_package(tmp_path):
    """setup.py imports gentable (and its siblings) by name from their folder,
    before libsubst is importable."""
    folder = REPO / "libsubst" / "kernel"
    code = (f"import sys; sys.path.insert(0, {str(folder)!r}); import gentable; "
            f"gentable.write_c({str(tmp_path / 'out')!r})")
    r = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    gentable.write_c(tmp_path / "ref")
    for name in (gentable.HEADER_NAME, gentable.SOURCE_NAME):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


def test_markdown_lists_every_served_syscall():
    md = gentable.support_markdown()
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\w+) \|", md, re.M)
    assert [(n, int(nr), lv) for n, nr, lv in rows] == sorted(
        ((s.name, s.nr, s.level) for s in syscalls.implemented()),
        key=lambda t: (t[2] != "kernel", t[1]))


def test_markdown_cli():
    r = subprocess.run([sys.executable, "-m", "libsubst.kernel.gentable", "--markdown"],
                       cwd=REPO, capture_output=True, text=True, check=True)
    assert r.stdout == gentable.support_markdown()


def test_docs_support_table_is_generated_from_the_table():
    """docs/syscalls.md is the generator's output: regenerate it with
    `python -m libsubst.kernel.gentable --markdown > docs/syscalls.md`."""
    docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "syscalls.md")
    assert open(docs, encoding="utf-8").read().strip() == gentable.support_markdown().strip()


def test_every_handler_that_differs_from_linux_says_so_in_the_table():
    """A handler comment 'Implements NAME(2); differs from Linux in: ...' has
    its deviation in syscalls.DEVIATIONS (which docs/syscalls.md shows), and
    every deviation names a call the guest serves."""
    import glob
    import re

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "c_src", "kernel")
    said = set()
    for path in glob.glob(os.path.join(root, "**", "*.c"), recursive=True):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"/\*\s*Implements ([a-z0-9_]+)\(2\)(.*?)\*/", text, re.S):
            if "differs from Linux" in m.group(2):
                said.add(m.group(1))
    assert said, "no handler comment found: the pattern is out of date"
    missing = sorted(said - set(syscalls.DEVIATIONS))
    assert missing == [], f"handlers that differ from Linux without a DEVIATIONS entry: {missing}"
    for name in syscalls.DEVIATIONS:
        assert syscalls.by_name(name).level != syscalls.ENOSYS, name
