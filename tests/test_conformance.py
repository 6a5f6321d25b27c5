"""Syscall conformance: each tests/conformance/<family>.c run natively, under
libsubst (fastcall path) and under libsubst --no-subst (trap path), from the
same directory; the guest's stdout and status must be the native ones, and
no guest input may reach a `libsubst-kernel: fatal`."""

import errno
import os
import re
import shutil
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from conftest import LIBSUBST
from libsubst.kernel import syscalls

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = sorted(f[:-2] for f in os.listdir(os.path.join(HERE, "conformance")) if f.endswith(".c"))
PATHS = {"fast": [], "trap": ["--no-subst"]}
# The native run a family is compared with, when it is not a plain one: a
# guest's root is a container's root, without CAP_SYS_ADMIN (or
# CAP_SYS_RESOURCE: raising a hard limit) over the host.
NATIVE_PREFIX = {**{family: ["unshare", "--user", "--map-root-user"]
                    for family in ("mount", "handles", "pidcalls", "files", "chroot",
                                   "procwrite")},
                 # its own UTS namespace too, as the guest's (the native run
                 # then renames that one, not the host)
                 "container": ["unshare", "--user", "--map-root-user", "--uts"]}


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    """Every conformance program, compiled once."""
    d = tmp_path_factory.mktemp("conformance")
    for name in FAMILIES:
        subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-o", str(d / name),
                        os.path.join(HERE, "conformance", name + ".c")], check=True)
    return d


def run(argv, cwd, opts=None):
    """argv natively (opts None) or under libsubst run with opts; bounded."""
    cmd = argv if opts is None else [*LIBSUBST, "run", *opts, *argv]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=300)


def assert_conforms(native, guest):
    err = guest.stderr.decode(errors="replace")
    assert "libsubst-kernel: fatal" not in err and "Traceback" not in err, err
    assert guest.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), err
    assert guest.returncode == native.returncode, err


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("family", FAMILIES)
def test_family(progs, tmp_path, family, path):
    (tmp_path / "native").mkdir()
    (tmp_path / "guest").mkdir()
    native = run([*NATIVE_PREFIX.get(family, []), str(progs / family), "native"], tmp_path)
    assert native.returncode == 0, native.stderr.decode()
    guest = run([str(progs / family), "guest"], tmp_path, PATHS[path])
    assert_conforms(native, guest)


@pytest.mark.parametrize("path", PATHS)
def test_stdout_a_file_outside_the_guest_reopened(progs, tmp_path, path):
    """stdio_reopen.c with its stdout a file of the caller's opened for
    appending (`>> log`) outside every path the guest may open by name (the
    working directory a volume beside it): the reopens by name and what
    ends in the file are the native run's."""
    work = tmp_path / "work"
    work.mkdir()
    got = {}
    for side, opts in (("native", None), ("guest", PATHS[path])):
        with open(tmp_path / f"{side}.out", "ab") as out:
            argv = [str(progs / "stdio_reopen")]
            cmd = argv if opts is None else [*LIBSUBST, "run", *opts, *argv]
            r = subprocess.run(cmd, cwd=work, stdout=out, stderr=subprocess.PIPE, timeout=300)
        got[side] = (r.returncode, (tmp_path / f"{side}.out").read_bytes(), r.stderr)
    assert got["native"][:2] == (0, b"truncated\nthird\n"), got
    assert got["guest"] == got["native"]


@pytest.mark.parametrize("path", PATHS)
def test_exec_family_in_the_scratch_tmp(progs, tmp_path, path):
    """exec.c's files written in /tmp, the guest's scratch tmpfs (the
    host's /tmp natively): programs and scripts made there at run time
    are loaded as from a volume."""
    d = f"/tmp/libsubst-conformance-exec-{os.getpid()}-{path}"
    try:
        native = run([str(progs / "exec"), d], tmp_path)
        shutil.rmtree(d)
        assert native.returncode == 0, native.stderr.decode()
        guest = run([str(progs / "exec"), d], tmp_path, PATHS[path])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert_conforms(native, guest)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("where", ["/tmp", "/var/tmp"])
def test_chroot_in_the_scratch_tmp_and_the_writable_root(progs, tmp_path, path, where):
    """chroot.c's jail made in /tmp (the guest's scratch tmpfs) and in
    /var/tmp (its writable root's layer), the host's natively: the walk
    classifies them as it does a volume's paths."""
    d = f"{where}/libsubst-conformance-chroot-{os.getpid()}-{path}"
    try:
        native = run(["unshare", "--user", "--map-root-user", str(progs / "chroot"), d], tmp_path)
        shutil.rmtree(d)
        assert native.returncode == 0, native.stderr.decode()
        guest = run([str(progs / "chroot"), d], tmp_path, PATHS[path])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert_conforms(native, guest)


# libsubst started from inside a pid namespace other than the initial one
# (a container, tests/fresh_machine.sh's machine), compared with a native
# run in a namespace made alike: the families that look at other processes.
FRESH_PID_NS = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("family", ["pidcalls", "proc"])
def test_family_from_a_fresh_pid_namespace(progs, tmp_path, family, path):
    (tmp_path / "native").mkdir()
    (tmp_path / "guest").mkdir()
    native = run([*FRESH_PID_NS, *NATIVE_PREFIX.get(family, []), str(progs / family), "native"],
                 tmp_path)
    assert native.returncode == 0, native.stderr.decode()
    guest = run([*FRESH_PID_NS, *LIBSUBST, "run", *PATHS[path], str(progs / family), "guest"],
                tmp_path)
    assert_conforms(native, guest)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("family", ["storm", "waits", "rtorder", "sigshared", "masks"])
def test_signal_family_two_at_once(progs, tmp_path, family, path):
    """The signal families with two guests at once (a loaded machine: a
    receiver that waits for a CPU while its sender goes on), each in its
    own directory: both answer as the native run; a hang is the program's
    watchdog's SIGKILL, or run's timeout."""
    for d in ("native", "a", "b"):
        for sub in ("native", "guest"):
            (tmp_path / d / sub).mkdir(parents=True)
    native = run([str(progs / family), "native"], tmp_path / "native")
    assert native.returncode == 0, native.stderr.decode()
    procs = [subprocess.Popen([*LIBSUBST, "run", *PATHS[path], str(progs / family), "guest"],
                              cwd=tmp_path / d, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for d in ("a", "b")]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outs):
        assert_conforms(native, subprocess.CompletedProcess(p.args, p.returncode, out, err))


def test_sigcontext_traced(progs, tmp_path):
    """sigcontext.c with every call traced: the fastcall's read is the
    kernel's handler, which waits in the host itself (signal/view.c's
    fastcall frame), not the entry's direct call."""
    native = run([str(progs / "sigcontext"), "native"], tmp_path)
    assert native.returncode == 0, native.stderr.decode()
    guest = run([str(progs / "sigcontext"), "guest"], tmp_path,
                ["--trace-file", str(tmp_path / "trace")])
    assert_conforms(native, guest)
    assert "fast read(3" in (tmp_path / "trace").read_text()


@pytest.mark.parametrize("path", PATHS)
def test_proc_net_unix_in_a_network_namespace_of_its_own(progs, tmp_path, path):
    # --net none: the namespace is the guest's, so /proc/net/unix lists all
    # its sockets (those in flight too), compared with a native run in a
    # network namespace of its own.  Under --net host (test_family) the
    # guest's are those its processes hold or sent.
    (tmp_path / "native").mkdir()
    (tmp_path / "guest").mkdir()
    native = run(["unshare", "--user", "--map-root-user", "--net", str(progs / "procnet"),
                  "native", "own"], tmp_path)
    assert native.returncode == 0, native.stderr.decode()
    for call in (b"sendmsg", b"sendmmsg"):
        assert b"a socket in flight (%s): listed\n" % call in native.stdout
    guest = run([str(progs / "procnet"), "guest", "own"], tmp_path, ["--net", "none", *PATHS[path]])
    assert_conforms(native, guest)


@pytest.mark.parametrize("path", PATHS)
def test_efault_on_a_packed_image_file(progs, tmp_path, path):
    # In a packed image the program's own file is a window of the image
    # that the kernel reads itself (fs/read_write.c): its "(exe" calls.
    (tmp_path / "native").mkdir()
    image = tmp_path / "efault.lsi"
    subprocess.run([*LIBSUBST, "pack", *PATHS[path], "-o", str(image), str(progs / "efault")],
                   check=True, capture_output=True, timeout=300)
    native = run([str(progs / "efault"), "native"], tmp_path)
    guest = run([str(image), "/tmp"], tmp_path, [])
    err = guest.stderr.decode(errors="replace")
    assert guest.returncode == native.returncode == 0, err

    def exe_lines(out):
        return [l for l in out.decode().splitlines() if "(exe" in l]
    assert exe_lines(guest.stdout) == exe_lines(native.stdout) != []


def test_fstat_in_a_packed_image(progs, tmp_path):
    # The program's own file is a window of the image there: a dup of the
    # image's fd, whose host fstat is the whole image's.  Its stat is the
    # kernel's (fs_kept's FD_KEPT_STAT bit, read without the lock), on each
    # number it is opened or dup'd at, as natively.
    (tmp_path / "native").mkdir()
    image = tmp_path / "fstat.lsi"
    subprocess.run([*LIBSUBST, "pack", "-o", str(image), str(progs / "fstat")],
                   check=True, capture_output=True, timeout=300)
    native = run([str(progs / "fstat"), str(tmp_path / "native")], tmp_path)
    guest = run([str(image), "/tmp"], tmp_path, [])
    assert native.returncode == 0, native.stderr.decode()
    assert b"that number, the program dup2'd over it: the same" in native.stdout
    assert_conforms(native, guest)


def test_openmodes_in_a_packed_image(progs, tmp_path):
    # In a packed image the files are windows of the image (KF_F_BASED),
    # whose status flags the kernel keeps itself: all but what a forked
    # child's F_SETFL does, which its parent does not see (README, Known
    # limits), as natively.
    (tmp_path / "native").mkdir()
    image = tmp_path / "openmodes.lsi"
    subprocess.run([*LIBSUBST, "pack", "-o", str(image), str(progs / "openmodes")],
                   check=True, capture_output=True, timeout=300)
    native = run([str(progs / "openmodes"), "native"], tmp_path)
    guest = run([str(image), "/tmp"], tmp_path, [])
    assert guest.returncode == native.returncode == 0, guest.stderr.decode(errors="replace")

    def lines(out):
        return [l for l in out.decode().splitlines() if "after the child's" not in l]
    assert "/etc/passwd: F_SETFL O_NONBLOCK|O_APPEND ok" in lines(native.stdout)
    assert lines(guest.stdout) == lines(native.stdout)


# Kernel-served calls taking a pointer that efault.c does not call, and why.
EFAULT_EXEMPT = {
    "brk": "an address, never read or written by the kernel",
    "mmap": "an address, never read or written by the kernel",
    "mprotect": "an address, never read or written by the kernel",
    "munmap": "an address, never read or written by the kernel",
    "mremap": "addresses, never read or written by the kernel",
    "shmat": "an address, never read or written by the kernel",
    "remap_file_pages": "an address, never read or written by the kernel",
    "open_by_handle_at": "refused (EPERM) before the handle is read, as for a caller without "
                         "CAP_DAC_READ_SEARCH over the host (tested in handles.c)",
    "clone": "the child's stack and tid words, used by the host in the child",
    "set_tid_address": "stored by the host, written at thread exit",
}


def test_efault_covers_every_kernel_call_with_a_pointer():
    called = set(re.findall(r"SYS_(\w+)", open(os.path.join(HERE, "conformance", "efault.c")).read()))
    served = {s.name for s in syscalls.implemented() if s.level == syscalls.KERNEL and
              any(k in ("path", "ptr", "buf_in", "buf_out") for k in s.args)}
    assert served - called - set(EFAULT_EXEMPT) == set()
    assert set(EFAULT_EXEMPT) <= served


# ---- crafted ELF files given to the guest's own execve ----

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
EH_FIELDS = ["e_type", "e_machine", "e_version", "e_entry", "e_phoff", "e_phentsize", "e_phnum"]
EH_OFFSETS = {"e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
              "e_entry": (24, "Q"), "e_phoff": (32, "Q"), "e_phentsize": (54, "H"),
              "e_phnum": (56, "H")}
PH_OFFSETS = {"p_type": (0, "I"), "p_flags": (4, "I"), "p_offset": (8, "Q"), "p_vaddr": (16, "Q"),
              "p_filesz": (32, "Q"), "p_memsz": (40, "Q"), "p_align": (48, "Q")}
# Values at the edges: zero, one, page and sign boundaries, the top of memory.
EDGES = [0, 1, 2, 3, 7, 56, 64, 0xfff, 0x1000, 0x1001, 0x7fffffff, 0xffffffff, 1 << 32,
         1 << 46, 1 << 47, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 0x1000]

mutation = st.one_of(
    st.tuples(st.just("eh"), st.sampled_from(EH_FIELDS), st.sampled_from(EDGES)),
    st.tuples(st.just("ph"), st.integers(0, 15), st.sampled_from(sorted(PH_OFFSETS)),
              st.one_of(st.sampled_from(EDGES), st.integers(0, (1 << 64) - 1))),
    st.tuples(st.just("byte"), st.integers(0, 0x3ff), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 0x3000)),
)


def mutate(data, muts):
    """data with muts applied in order; a write past a cut-short end is dropped."""
    data = bytearray(data)
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]

    def put(off, fmt, value):
        size = struct.calcsize(fmt)
        if off + size <= len(data):
            struct.pack_into("<" + fmt, data, off, value & ((1 << (8 * size)) - 1))

    for m in muts:
        if m[0] == "eh":
            put(*EH_OFFSETS[m[1]], m[2])
        elif m[0] == "ph" and m[1] < phnum:
            off, fmt = PH_OFFSETS[m[2]]
            put(phoff + 56 * m[1] + off, fmt, m[3])
        elif m[0] == "byte" and m[1] < len(data):
            data[m[1]] = m[2]
        elif m[0] == "cut":
            data = data[:m[1]]
    return bytes(data)


def blocks(out):
    """The `exec try` output as {file: its result lines}."""
    res, cur = {}, None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("  "):
            res[cur].append(line.strip())
        else:
            cur = line.rstrip(":")
            res[cur] = []
    return res


@pytest.mark.parametrize("path", PATHS)
def test_exec_crafted_elf(progs, tmp_path_factory, path):
    base = (progs / "exec").read_bytes()

    # No shrinking: each example is two guest runs; the failing file and
    # its mutations are in the assertion message.
    @settings(max_examples=12, deadline=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.lists(mutation, min_size=1, max_size=3), min_size=24, max_size=24))
    def check(batch):
        d = tmp_path_factory.mktemp("crafted")
        names = []
        for i, muts in enumerate(batch):
            (d / f"m{i}").write_bytes(mutate(base, muts))
            (d / f"m{i}").chmod(0o755)
            names.append(f"m{i}")
        native = run([str(progs / "exec"), "try", *names], d)
        guest = run([str(progs / "exec"), "try", *names], d, PATHS[path])
        err = guest.stderr.decode(errors="replace")
        assert "libsubst-kernel: fatal" not in err and "Traceback" not in err, err
        assert guest.returncode == native.returncode == 0, err
        want, got = blocks(native.stdout), blocks(guest.stdout)
        assert list(got) == names, err
        for name in names:
            muts = batch[int(name[1:])]
            if want[name] and want[name][0].startswith("errno"):
                assert got[name] == want[name], (name, muts)
            else:
                # Past Linux's checks: the guest got past them too, and ended.
                assert not (got[name] and got[name][0].startswith("errno")), (name, muts, want[name], got[name])
    check()


# ---- "#!" lines written by the test, run through the guest's own execve ----

# Pieces a "#!" line is made of: blanks, the interpreter (the driver itself),
# words, line ends, NULs, and long runs that cross Linux's 256-byte buffer.
shebang_piece = st.sampled_from([" ", "\t", "  \t ", "-x", "a b", "\n", "\r", "\0", "#!",
                                 "SELF", "x" * 120, " " * 130, "/no/such/interpreter"])


@pytest.mark.parametrize("path", PATHS)
def test_exec_shebang_lines(progs, tmp_path_factory, path):
    exe = str(progs / "exec")

    @settings(max_examples=6, deadline=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.lists(shebang_piece, max_size=4), st.lists(shebang_piece, max_size=6)),
                    min_size=16, max_size=16))
    def check(batch):
        d = tmp_path_factory.mktemp("shebang")
        names = []
        for i, (before, after) in enumerate(batch):
            line = "#!" + "".join(before) + exe + "".join(after)
            (d / f"s{i}").write_bytes(line.replace("SELF", exe).encode() + b"\n")
            (d / f"s{i}").chmod(0o755)
            names.append(f"s{i}")
        native = run([exe, "try", *names], d)
        guest = run([exe, "try", *names], d, PATHS[path])
        err = guest.stderr.decode(errors="replace")
        assert "libsubst-kernel: fatal" not in err and "Traceback" not in err, err
        assert guest.returncode == native.returncode == 0, err
        want, got = blocks(native.stdout), blocks(guest.stdout)
        assert got == want, [(n, (d / n).read_bytes(), want.get(n), got.get(n))
                             for n in names if want.get(n) != got.get(n)]
    check()


# ---- scripts whose interpreter is a script: the first exec and a guest's execve ----

def script_chain(d, exe, depth):
    """Scripts c1..c<depth> in d: c1's interpreter is the driver, c<k>'s is
    ./c<k-1> (a relative interpreter, the working directory's), each line
    with one argument between blanks Linux trims."""
    (d / "c1").write_text(f"#!{exe} one\n")
    for k in range(2, depth + 1):
        (d / f"c{k}").write_text(f"#! ./c{k - 1}  arg {k} \t\n")
    for k in range(1, depth + 1):
        (d / f"c{k}").chmod(0o755)


@pytest.mark.parametrize("path", PATHS)
def test_exec_script_chains(progs, tmp_path, path):
    """Linux follows 5 levels of "#!" (a 6th is ELOOP): the same chains run
    the same, argv for argv, whether the guest's first program is the script
    (the kernel's boot) or a guest's execve runs it."""
    exe = str(progs / "exec")
    script_chain(tmp_path, exe, 6)
    env = {**os.environ, "CONF_ARGS": "1", "CONF_EXE": os.path.realpath(exe)}
    names = [f"./c{k}" for k in range(1, 7)]
    # A guest's execve of each.
    native = run([exe, "try", *names], tmp_path)
    guest = run([exe, "try", *names], tmp_path, PATHS[path])
    assert_conforms(native, guest)
    assert "errno ELOOP" in native.stdout.decode().split("./c6:")[1]
    # The first exec of each, by libsubst run.
    for name in names:
        cmd = [name, "x", "y z"]
        try:
            want = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=60)
        except OSError as e:
            want = e
        got = subprocess.run([*LIBSUBST, "run", *PATHS[path], *cmd], cwd=tmp_path, env=env,
                             capture_output=True, timeout=300)
        err = got.stderr.decode(errors="replace")
        if isinstance(want, OSError):
            assert want.errno == errno.ELOOP and name == "./c6", want
            assert got.returncode != 0 and got.stdout == b"", err
            assert err.startswith("libsubst: ") and len(err.splitlines()) == 1, err
        else:
            assert_conforms(want, got)
            assert b"/proc/self/exe is the caller's" in got.stdout, got.stdout


@pytest.mark.parametrize("mode", [0o644, 0o755])
def test_a_first_exec_refused_by_the_kernel_is_one_line(progs, tmp_path, mode):
    """What the kernel's exec refuses at the first exec (here a script
    without the execute bit, EACCES, or whose interpreter lacks it) ends
    the run with one `libsubst:` line naming Linux's errno, and a shell's
    status, where the native exec raises that errno."""
    (tmp_path / "interp").write_bytes((progs / "exec").read_bytes())
    (tmp_path / "interp").chmod(mode ^ 0o111 if mode == 0o755 else 0o755)
    (tmp_path / "s").write_text(f"#!{tmp_path / 'interp'}\n")
    (tmp_path / "s").chmod(mode)
    with pytest.raises(PermissionError):
        subprocess.run(["./s"], cwd=tmp_path, capture_output=True, timeout=60)
    got = subprocess.run([*LIBSUBST, "run", "./s"], cwd=tmp_path, capture_output=True,
                         timeout=300)
    assert got.returncode == 126 and got.stdout == b"", got
    assert got.stderr.decode() == "libsubst: ./s: cannot execute: EACCES\n"


def bad_script(d, case):
    """./s in d, a script whose exec fails by Linux's #! rule (``case``), or
    for a ``program-`` case a program that is no script and no ELF file: a
    directory, a text file, one without the execute bit. The guest sees d
    (its cwd); /usr/share/doc (base-files') only if the plan lays it out."""
    if case.startswith("program-"):
        if case == "program-dir":
            (d / "s").mkdir()
        else:
            (d / "s").write_text("echo not a program\n")
            (d / "s").chmod(0o644 if case == "program-not-executable" else 0o755)
        return
    interp = {"dir": f"#!{d}\n", "dir-elsewhere": "#!/usr/share/doc\n", "empty": "#!\n",
              "blanks": "#!  \t\n", "missing": f"#!{d}/nowhere/sh\n", "text": f"#!{d}/text\n",
              "deep": f"#!{d}/c6\n", "relative-missing": "#!nowhere\n"}[case]
    (d / "text").write_text("echo not a program\n")
    (d / "text").chmod(0o755)
    if case == "deep":
        script_chain(d, "/bin/true", 6)     # c6 is already one level too deep
    (d / "s").write_text(interp)
    (d / "s").chmod(0o755)


@pytest.mark.parametrize("case", ["dir", "dir-elsewhere", "empty", "blanks", "missing",
                                  "relative-missing", "text", "deep", "program-dir",
                                  "program-text", "program-not-executable"])
def test_a_script_the_first_exec_refuses_fails_as_natively(tmp_path, case):
    """Every way a #! line makes execve fail (an interpreter that is a
    directory, a line naming none, a missing interpreter, one that is no
    program, a chain past Linux's depth) is the guest kernel's to refuse at
    the first exec: the orchestrator's walk lays out what it finds (a
    directory interpreter too, outside the working directory) and says nothing, and the run
    names the errno the native exec raises, with the status bash gives when
    its exec fails so."""
    bad_script(tmp_path, case)
    with pytest.raises(OSError) as native:
        subprocess.run(["./s"], cwd=tmp_path, capture_output=True, timeout=60)
    name = errno.errorcode[native.value.errno]
    shell = subprocess.run(["bash", "-c", 'exec "$0"', "./s"], cwd=tmp_path,
                           capture_output=True, timeout=60)
    got = subprocess.run([*LIBSUBST, "run", "./s"], cwd=tmp_path, capture_output=True,
                         timeout=300)
    assert got.stderr.decode() == f"libsubst: ./s: cannot execute: {name}\n", got
    assert got.stdout == b""
    # On ENOEXEC bash reads the file as a shell script itself (an exec's
    # fallback libsubst, running no shell, does not have): its status for a
    # file it cannot execute and will not read, 126 (EX_BINARY_FILE).
    want = 126 if name == "ENOEXEC" else shell.returncode
    assert shell.returncode != 0 or name == "ENOEXEC", shell
    assert got.returncode == want, got
