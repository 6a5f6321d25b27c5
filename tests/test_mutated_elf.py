"""Mutated input fed to `libsubst run` — ELF files and option values: it
runs them, or fails with a clear error, or reports the guest's crash —
libsubst itself never crashes, and never hangs."""

import errno
import os
import signal
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from conftest import LIBSUBST

TRUE = open("/bin/true", "rb").read()
HEADERS = 0x400   # ELF header and program headers of /bin/true, and more


def run_bounded(argv, cwd):
    """(status, stdout, stderr) of ARGV; an AssertionError if it has not
    ended within 60 s (every process it started is killed either way)."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(map(str, argv))} did not end within 60 s") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def run_libsubst(argv, cwd):
    """(status, stderr) of `libsubst ARGV`, bounded as run_bounded."""
    rc, _out, err = run_bounded([*LIBSUBST, *argv], cwd)
    return rc, err


def assert_clean(rc, err):
    assert "Traceback" not in err, err
    # libsubst's own refusals are one clear line; anything else is the
    # guest's (ld.so's message, a crash report), as a native run would show.
    if err.startswith("libsubst: ") and not err.startswith("libsubst: the guest crashed"):
        assert err.count("\n") == 1 and rc != 0, err


mutation = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, HEADERS - 1), st.integers(0, 255)),
                                         min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, len(TRUE) - 1)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutation)
def test_mutated_binaries_never_crash_libsubst(tmp_path_factory, m):
    data = bytearray(TRUE)
    if m[0] == "flip":
        for off, val in m[1]:
            data[off] = val
    else:
        data = data[:m[1]]
    d = tmp_path_factory.mktemp("mutant")
    exe = d / "mutant"
    exe.write_bytes(bytes(data))
    exe.chmod(0o755)
    assert_clean(*run_libsubst(["run", str(exe)], d))


# Options whose value is only checked (no host file is written or added).
OPTIONS = ["--memory", "--cpus", "--pids", "--workdir", "--env", "--volume", "--net",
           "--stop-timeout"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(OPTIONS),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               max_size=24))
# Found by this test: not finite, or past the plan cache's 32-bit milliseconds.
@example("--stop-timeout", "InfiNITY")
@example("--stop-timeout", "nan")
@example("--stop-timeout", "1e7")
def test_any_option_value_runs_or_gets_one_line(tmp_path_factory, option, value):
    rc, err = run_libsubst(["run", option, value, "true"], tmp_path_factory.mktemp("opt"))
    assert_clean(rc, err)
    assert rc == 0 or err.startswith("libsubst: "), err


# ---- program headers Linux's ELF loader refuses, patched into /bin/true ----

HERE = os.path.dirname(os.path.abspath(__file__))
PHOFF = struct.unpack_from("<Q", TRUE, 32)[0]
PHNUM = struct.unpack_from("<H", TRUE, 56)[0]
PH_FIELDS = {"p_offset": 8, "p_vaddr": 16, "p_filesz": 32, "p_memsz": 40}
PT_LOAD = 1
LOADS = [i for i in range(PHNUM) if struct.unpack_from("<I", TRUE, PHOFF + 56 * i)[0] == PT_LOAD]
FIRST, TEXT, DATA = LOADS[0], LOADS[1], LOADS[-1]   # r--, r-x, rw- in /bin/true
INTERP = next(i for i in range(PHNUM) if struct.unpack_from("<I", TRUE, PHOFF + 56 * i)[0] == 3)


def ph_get(b, i, field):
    return struct.unpack_from("<Q", b, PHOFF + 56 * i + PH_FIELDS[field])[0]


def ph_set(b, i, field, value):
    struct.pack_into("<Q", b, PHOFF + 56 * i + PH_FIELDS[field], value % (1 << 64))


def swap(b, i, j):
    a, c = PHOFF + 56 * i, PHOFF + 56 * j
    b[a:a + 56], b[c:c + 56] = b[c:c + 56], b[a:a + 56]


def set_bytes(*pairs):
    def edit(b):
        for off, val in pairs:
            b[off] = val
    return edit


# Each case: /bin/true with one edit.  The first two are hypothesis's: the
# text PT_LOAD's p_memsz made 0x790000003d59 (a 121 TB span), with and
# without a PT_NOTE's p_memsz made huge as well (then ld.so, had it run,
# would walk that note forever).
CASES = {
    "bytes 500 and 277": set_bytes((500, 0xa5), (277, 0x79)),
    "byte 277": set_bytes((277, 0x79)),
    "p_filesz > p_memsz": lambda b: ph_set(b, TEXT, "p_filesz", ph_get(b, TEXT, "p_memsz") + 1),
    "p_memsz past the address space": lambda b: ph_set(b, TEXT, "p_memsz", 1 << 46),
    # 44 TiB of file pages: inside the address space, no .bss to charge,
    # but more than fits above ELF_ET_DYN_BASE.
    "span past the room above the PIE base": lambda b: [ph_set(b, TEXT, f, 0x2c0000000000)
                                                        for f in ("p_filesz", "p_memsz")],
    ".bss past the commit limit": lambda b: ph_set(b, TEXT, "p_memsz", 1 << 40),
    "p_vaddr + p_memsz wraps": lambda b: ph_set(b, DATA, "p_memsz", -0x1000),
    "p_vaddr at the top": lambda b: ph_set(b, DATA, "p_vaddr", 1 << 47),
    "p_offset not congruent to p_vaddr": lambda b: ph_set(b, TEXT, "p_offset",
                                                          ph_get(b, TEXT, "p_offset") + 1),
    "p_vaddr not congruent to p_offset": lambda b: ph_set(b, TEXT, "p_vaddr",
                                                          ph_get(b, TEXT, "p_vaddr") + 1),
    "PT_LOADs descending": lambda b: swap(b, FIRST, TEXT),
    "data PT_LOAD first": lambda b: swap(b, FIRST, DATA),
    "e_phnum over 64 KiB": lambda b: struct.pack_into("<H", b, 56, 65536 // 56 + 1),
    "e_phentsize 32": lambda b: struct.pack_into("<H", b, 54, 32),
    "PT_INTERP of 1 byte": lambda b: ph_set(b, INTERP, "p_filesz", 1),
    "PT_INTERP past PATH_MAX": lambda b: ph_set(b, INTERP, "p_filesz", 4097),
    "PT_INTERP without its NUL": set_bytes((ph_get(TRUE, INTERP, "p_offset") +
                                            ph_get(TRUE, INTERP, "p_filesz") - 1, ord("x"))),
    "PT_INTERP past the end of the file": lambda b: ph_set(b, INTERP, "p_offset", 1 << 30),
    # Files libsubst's own ELF reader finds corrupt, or no ELF at all: it
    # leaves them to the guest kernel's first exec, which answers as Linux's.
    "no program headers": lambda b: struct.pack_into("<H", b, 56, 0),
    "program headers past the end of the file": lambda b: struct.pack_into("<Q", b, 32, 1 << 20),
    "empty PT_INTERP": set_bytes((ph_get(TRUE, INTERP, "p_offset"), 0)),
    "no ELF magic": set_bytes((1, ord("X"))),
}
PATHS = {"fast": [], "trap": ["--no-subst"]}


def mutants(d):
    """The CASES written into d, executable: their names, in order."""
    names = []
    for i, edit in enumerate(CASES.values()):
        data = bytearray(TRUE)
        edit(data)
        (d / f"m{i}").write_bytes(bytes(data))
        (d / f"m{i}").chmod(0o755)
        names.append(f"m{i}")
    return names


def native_end(exe, cwd):
    """How exe ends natively: ("status", N) as a shell shows it (128+N for
    signal N), or ("errno", NAME) if execve refused it."""
    try:
        rc, _out, _err = run_bounded([exe], cwd)
    except OSError as e:
        return "errno", errno.errorcode[e.errno]
    return "status", 128 - rc if rc < 0 else rc


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", CASES)
def test_a_refused_first_program_ends_as_natively(tmp_path, case, path):
    """The program libsubst runs first ends as the native process does: by
    the same signal, or — where Linux's execve returns an errno — with
    libsubst's `cannot execute` line and a shell's 126, those its own ELF
    reader finds corrupt too (the kernel's exec answers for them)."""
    name = mutants(tmp_path)[list(CASES).index(case)]
    kind, want = native_end(str(tmp_path / name), tmp_path)
    rc, err = run_libsubst(["run", *PATHS[path], f"./{name}"], tmp_path)
    assert_clean(rc, err)
    if kind == "errno":
        assert (rc, err) == (126, f"libsubst: ./{name}: cannot execute: {want}\n")
    else:
        assert rc == want, err


LDSO = open("/lib64/ld-linux-x86-64.so.2", "rb").read()


def bad_interpreters(d):
    """Copies of ld.so, iN, with its r-x PT_LOAD's p_filesz past p_memsz or
    its p_offset off the page, each named by a copy of /bin/true's PT_INTERP:
    the names of those programs, pN."""
    phoff, phnum = struct.unpack_from("<Q", LDSO, 32)[0], struct.unpack_from("<H", LDSO, 56)[0]
    text = next(phoff + 56 * i for i in range(phnum)
                if struct.unpack_from("<II", LDSO, phoff + 56 * i) == (PT_LOAD, 5))  # PF_R|PF_X
    names = []
    for i, (field, delta) in enumerate([("p_filesz", 1 << 20), ("p_offset", 1)]):
        ld = bytearray(LDSO)
        at = text + PH_FIELDS[field]
        struct.pack_into("<Q", ld, at, struct.unpack_from("<Q", ld, at)[0] + delta)
        (d / f"i{i}").write_bytes(bytes(ld))
        prog = bytearray(TRUE)
        off, size = ph_get(TRUE, INTERP, "p_offset"), ph_get(TRUE, INTERP, "p_filesz")
        prog[off:off + size] = f"./i{i}".encode().ljust(size, b"\0")
        (d / f"p{i}").write_bytes(bytes(prog))
        for f in (f"i{i}", f"p{i}"):
            (d / f).chmod(0o755)
        names.append(f"p{i}")
    return names


@pytest.fixture(scope="module")
def exec_try(tmp_path_factory):
    """tests/conformance/exec.c, whose `try NAME...` execs each NAME in a
    child and prints `errno E`, `signal N` or `exit N`."""
    d = tmp_path_factory.mktemp("exec")
    subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-o", str(d / "exec"),
                    os.path.join(HERE, "conformance", "exec.c")], check=True)
    return str(d / "exec")


@pytest.mark.parametrize("path", PATHS)
def test_a_guest_execve_of_refused_headers_ends_as_natively(tmp_path, exec_try, path):
    """The same files through a guest's own execve: the caller sees the
    native errno, or the new process dies by the native signal (after one
    line from the kernel saying why)."""
    names = mutants(tmp_path) + bad_interpreters(tmp_path)
    rc, want, _ = run_bounded([exec_try, "try", *names], tmp_path)
    assert rc == 0 and want.count("signal 11") >= 12, want
    rc, got, err = run_bounded([*LIBSUBST, "run", *PATHS[path], exec_try, "try", *names], tmp_path)
    assert "Traceback" not in err and "fatal" not in err, err
    assert all(line.startswith("libsubst-kernel: execve past its point of no return: cannot load ")
               for line in err.splitlines()), err
    assert (rc, got) == (0, want), err
