"""The substitute libc: site discovery on real Debian objects, the rewritten
object's validity, rewritten code run natively, the cache, the CLI, and
mutated input.

Rewritten code is run natively (no guest kernel) by a stand-in for the
kernel's fastcall entry: a program sets its %gs base (arch_prctl) to a block
whose first qword points at ``fastcall_entry``, which counts the call and
makes the real syscall.  Never run a rewritten object without that: its
sites jump through %gs:0.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libsubst.elf import ElfFile
from libsubst.errors import LibsubstError
from libsubst.uklibc import cache, rewrite, sites
from libsubst.uklibc.cli import uklibc

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
LDSO = "/lib64/ld-linux-x86-64.so.2"
MUSL = "/lib/x86_64-linux-musl/libc.so"     # Debian's musl: loader and libc in one

needs_musl = pytest.mark.skipif(not (os.path.exists(MUSL) and shutil.which("musl-gcc")),
                                reason="needs Debian's musl-tools (apt-get install musl-tools)")

# The stand-in fastcall entry.  Its own syscalls sit on a global label with a
# non-movable neighbour, so the rewriter must leave them on the trap path (a
# rewritten one would recurse through %gs:0).
GSENTRY_S = r"""
	.text
	.globl gs_start                 /* entry of the static programs: set %gs, go to _start */
gs_start:
	mov $158, %eax                  /* arch_prctl(ARCH_SET_GS, gs_block) */
	mov $0x1001, %edi
	lea gs_block(%rip), %rsi
	.globl gs_start_syscall
gs_start_syscall:
	syscall
	jmp _start

	.globl fastcall_entry
	.type fastcall_entry,@function
fastcall_entry:                     /* the syscall ABI; counts without touching the flags */
	mov fastcalls(%rip), %rcx
	lea 1(%rcx), %rcx
	mov %rcx, fastcalls(%rip)
	.globl fastcall_entry_syscall
fastcall_entry_syscall:
	syscall
	ret

	.data
	.balign 8
	.globl gs_block
gs_block:
	.quad fastcall_entry
	.globl fastcalls
fastcalls:
	.quad 0
	.section .note.GNU-stack,"",@progbits
"""

# A shared object with syscall sites of every shape the rewriter must handle.
SYSFUNCS_S = r"""
	.text
	.globl f_fork                   /* excluded: stays on the trap path (never called) */
	.type f_fork,@function
f_fork:
	mov $57, %eax
	syscall
	ret
	.size f_fork, .-f_fork
	.balign 64

	.globl f_getpid                 /* the classic: mov $nr,%eax; syscall */
	.type f_getpid,@function
f_getpid:
	mov $39, %eax
	syscall
	ret
	.size f_getpid, .-f_getpid

	.globl f_target                 /* a branch target right at the syscall */
	.type f_target,@function
f_target:                           /* f_target(0) = getpid(), else getppid() */
	mov $39, %eax
	test %rdi, %rdi
	jz 1f
	mov $110, %eax
1:	syscall
	mov %rax, %rdx
	mov %rdx, %rax
	ret
	.size f_target, .-f_target

	.globl f_rip                    /* a rip-relative load next to the syscall */
	.type f_rip,@function
f_rip:                              /* write(1, msg, msglen) */
	mov $1, %eax
	mov $1, %edi
	lea msg(%rip), %rsi
	jmp 1f
1:	mov msglen(%rip), %rdx
	syscall
	ret
	.size f_rip, .-f_rip

	.globl f_redzone                /* a leaf keeping data in its red zone */
	.type f_redzone,@function
f_redzone:
	mov %rdi, -8(%rsp)
	mov %rdi, -120(%rsp)
	mov $39, %eax
	syscall
	mov -8(%rsp), %rax
	add -120(%rsp), %rax
	ret
	.size f_redzone, .-f_redzone

	.globl f_flags                  /* the flags survive: returns CF after getpid */
	.type f_flags,@function
f_flags:
	xor %edx, %edx
	stc
	mov $39, %eax
	syscall
	setc %dl
	mov %rdx, %rax
	ret
	.size f_flags, .-f_flags

	.globl f_syscall                /* number not known statically: syscall(nr, a, b, c) */
	.type f_syscall,@function
f_syscall:
	mov %rdi, %rax
	mov %rsi, %rdi
	mov %rdx, %rsi
	mov %rcx, %rdx
	syscall
	ret
	.size f_syscall, .-f_syscall

	.globl f_tight                  /* no window: a symbol at the syscall, ret after it */
	.type f_tight,@function
f_tight:
	mov $39, %eax
	.globl f_tight_syscall
f_tight_syscall:
	syscall
	ret
	.size f_tight, .-f_tight

	.section .rodata
msg:	.ascii "rip-relative ok\n"
	.balign 8
msglen:	.quad 16
	.section .note.GNU-stack,"",@progbits
"""

# The start of a driver's main: %gs at the test fastcall block, then the
# substitute (argv[1]) loaded.
DRIVE_START_C = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
extern long fastcalls;
extern char gs_block[];
int main(int argc, char **argv) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(158), "D"(0x1001), "S"(gs_block)
                     : "rcx", "r11", "memory");
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
"""

DRIVE_C = DRIVE_START_C + r"""
    long (*f_getpid)(void) = dlsym(h, "f_getpid");
    long (*f_target)(long) = dlsym(h, "f_target");
    long (*f_rip)(void) = dlsym(h, "f_rip");
    long (*f_redzone)(long) = dlsym(h, "f_redzone");
    long (*f_flags)(void) = dlsym(h, "f_flags");
    long (*f_syscall)(long, long, long, long) = dlsym(h, "f_syscall");
    long (*f_tight)(void) = dlsym(h, "f_tight");
    printf("getpid %d\n", f_getpid() == getpid());
    printf("target %d %d\n", f_target(0) == getpid(), f_target(1) == getppid());
    fflush(stdout);
    printf("rip %ld\n", f_rip());
    printf("redzone %ld\n", f_redzone(21));
    printf("flags %ld\n", f_flags());
    printf("syscall %d\n", f_syscall(39, 0, 0, 0) == getpid());
    printf("tight %d\n", f_tight() == getpid());
    fprintf(stderr, "fastcalls=%ld\n", fastcalls);
    return 0;
}
"""

PROG_C = r"""
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern long fastcalls;
static void *worker(void *arg) { printf("thread %ld\n", (long)arg); return arg; }
int main(int argc, char **argv) {
    char buf[64];
    printf("hello %d\n", argc);
    int fd = open("/proc/self/cmdline", O_RDONLY);
    printf("read ok %d\n", read(fd, buf, sizeof buf) > 0);
    close(fd);
    struct timespec ts = {0, 1000};
    nanosleep(&ts, 0);
    pthread_t t; void *r;
    pthread_create(&t, 0, worker, (void *)7L);
    pthread_join(t, &r);
    printf("joined %ld\n", (long)r);
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) { printf("child\n"); fflush(stdout); _exit(3); }
    int st; waitpid(p, &st, 0);
    printf("child status %d\n", WEXITSTATUS(st));
    char *m = malloc(1 << 20); memset(m, 1, 1 << 20); free(m);
    fprintf(stderr, "fastcalls=%ld\n", fastcalls);
    return 0;
}
"""


def _build(tmp, name, text):
    p = tmp / name
    p.write_text(text)
    return str(p)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The test objects, built once: the .so, its driver, static programs."""
    tmp = tmp_path_factory.mktemp("uklibc")
    gsentry = _build(tmp, "gsentry.S", GSENTRY_S)
    out = {"dir": tmp}
    out["so"] = str(tmp / "libsysfuncs.so")
    subprocess.run(["gcc", "-shared", "-Wl,--build-id", "-o", out["so"],
                    _build(tmp, "sysfuncs.S", SYSFUNCS_S)], check=True)
    out["drive"] = str(tmp / "drive")
    subprocess.run(["gcc", "-O2", "-o", out["drive"], _build(tmp, "drive.c", DRIVE_C), gsentry,
                    "-ldl"], check=True)
    prog = _build(tmp, "prog.c", PROG_C)
    out["static_glibc"] = str(tmp / "static_glibc")
    subprocess.run(["gcc", "-O2", "-static", "-pthread", "-Wl,-e,gs_start", "-o",
                    out["static_glibc"], prog, gsentry], check=True)
    if shutil.which("musl-gcc"):
        out["static_musl"] = str(tmp / "static_musl")
        subprocess.run(["musl-gcc", "-O2", "-static", "-Wl,-e,gs_start", "-o", out["static_musl"],
                        prog, gsentry], check=True)
        out["dyn_musl"] = str(tmp / "dyn_musl")
        subprocess.run(["musl-gcc", "-O2", "-o", out["dyn_musl"],
                        _build(tmp, "hello.c", '#include <stdio.h>\n'
                               'int main(void) { puts("hello from musl"); return 0; }\n')],
                       check=True)
    return out


def objdump_syscalls(path):
    """``syscall`` instructions per objdump (the mnemonic column, not symbol names)."""
    text = subprocess.run(["objdump", "-d", path], capture_output=True, text=True,
                          check=True).stdout
    return len(re.findall(r"\tsyscall\s*$", text, re.M))


def reverify(src, out):
    """The written object is src with exactly its rewritable sites rewritten."""
    with open(out, "rb") as f:
        rewrite.verify(sites.analyse(src), f.read())


def readelf(*args):
    r = subprocess.run(["readelf", "-W", *args], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr
    return r.stdout


# -- real objects ---------------------------------------------------------------


def test_libc_sites():
    a = sites.analyse(LIBC)
    assert len(a.sites) == objdump_syscalls(LIBC)
    assert len(a.rewritable) >= 0.95 * len(a.sites)
    assert set(a.by_reason()) <= set(sites.REASONS)
    left = {s.name for s in a.left if s.status == sites.EXCLUDED}
    assert {"clone", "vfork", "rt_sigreturn"} <= left
    # Nothing that must trap is rewritten.
    assert not any(set(s.nrs) & {15, 56, 57, 58, 435} for s in a.rewritable)
    write = [s for s in a.sites if s.name == "write"]
    assert write and all(s.rewritable for s in write)
    assert a.seconds < 10


def test_libc_substitute_is_a_valid_library(tmp_path):
    lib = tmp_path / "libc.so.6"
    r = rewrite.make(LIBC, str(lib))
    reverify(LIBC, lib)
    assert len(r.analysis.rewritable) >= 0.95 * len(r.analysis.sites)
    phdrs = readelf("-l", str(lib))
    assert phdrs.count(" LOAD ") == readelf("-l", LIBC).count(" LOAD ") + 2
    assert "[Requesting program interpreter: /lib64/ld-linux-x86-64.so.2]" in phdrs
    assert "Library soname: [libc.so.6]" in readelf("-d", str(lib))
    bid = re.search(r"Build ID: (\w+)", readelf("-n", LIBC)).group(1)
    assert f"Build ID: {bid}" in readelf("-n", str(lib))
    assert readelf("-V", str(lib)) == readelf("-V", LIBC).replace(LIBC, str(lib))
    assert ".uklibc.stubs" in readelf("-S", str(lib))
    # The stock ld.so accepts and maps it (neither runs any of its code).
    assert subprocess.run([LDSO, "--verify", str(lib)]).returncode == 0
    ls = subprocess.run([LDSO, "--list", "/bin/ls"], capture_output=True, text=True,
                        env={"LD_LIBRARY_PATH": str(tmp_path)})
    assert ls.returncode == 0 and f"libc.so.6 => {lib}" in ls.stdout, ls.stdout + ls.stderr
    # objdump sees every rewritten site as a jmp into the stubs.
    site = r.analysis.rewritable[0]
    dis = subprocess.run(["objdump", "-d", f"--start-address={site.window[0]}",
                          f"--stop-address={site.window[0] + 5}", str(lib)],
                         capture_output=True, text=True).stdout
    assert re.search(rf"\tjmp\s+{site.stub:x}\b", dis), dis


def test_ldso_sites(tmp_path):
    a = sites.analyse(LDSO)
    assert len(a.sites) == objdump_syscalls(LDSO)
    assert [s.name for s in a.left] == ["rt_sigreturn"]
    rewrite.make(LDSO, str(tmp_path / "ld.so"))
    reverify(LDSO, tmp_path / "ld.so")
    readelf("-l", str(tmp_path / "ld.so"))


@needs_musl
def test_musl(built, tmp_path):
    # A dynamically linked musl program runs natively on the original...
    run = subprocess.run([built["dyn_musl"]], capture_output=True, text=True)
    assert run.stdout == "hello from musl\n"
    assert MUSL in readelf("-l", built["dyn_musl"]) or "ld-musl" in readelf("-l", built["dyn_musl"])
    # ...and its loader+libc is rewritten as well as glibc is.
    a = sites.analyse(MUSL)
    assert len(a.sites) == objdump_syscalls(MUSL)
    assert len(a.rewritable) >= 0.95 * len(a.sites)
    assert {"clone", "vfork", "fork", "rt_sigreturn"} <= {s.name for s in a.left}
    out = tmp_path / "libc.so"
    rewrite.make(MUSL, str(out))
    reverify(MUSL, out)
    readelf("-l", str(out))
    # musl's loader finds its own program headers at base + e_phoff.
    elf = ElfFile.open(str(out))
    phdr_load = next(s for s in elf.loads if s.p_offset <= elf.e_phoff < s.p_offset + s.p_filesz)
    assert phdr_load.p_offset == phdr_load.p_vaddr


@needs_musl
def test_musl_program_in_the_guest(built, tmp_path):
    """musl's loader+libc substituted: every call of a musl program is a fastcall."""
    trace = tmp_path / "trace"
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "libsubst", "run", "--trace-file", str(trace),
                        built["dyn_musl"]], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and r.stdout == "hello from musl\n", r.stderr
    calls = [line for line in trace.read_text().splitlines() if line[:5] in ("fast ", "trap ")]
    assert calls and all(line.startswith("fast ") for line in calls), calls


# -- rewritten code, run natively -------------------------------------------------


def _fastcalls(stderr):
    return int(re.search(r"fastcalls=(\d+)", stderr).group(1))


def test_rewritten_shared_object_runs(built, tmp_path):
    a = sites.analyse(built["so"])
    status = {s.function: s.status for s in a.sites}
    assert status == {"f_fork": "excluded-syscall", "f_getpid": "rewritten",
                      "f_target": "rewritten", "f_rip": "rewritten", "f_redzone": "rewritten",
                      "f_flags": "rewritten", "f_syscall": "rewritten",
                      "f_tight": "branch-target-inside"}
    by_fn = {s.function: s for s in a.sites}
    assert by_fn["f_target"].window[0] == by_fn["f_target"].addr and by_fn["f_target"].post
    assert by_fn["f_target"].nrs == (39, 110) and by_fn["f_target"].nr is None
    assert by_fn["f_rip"].rip_fixups == 1 and by_fn["f_rip"].name == "write"
    assert by_fn["f_syscall"].nr is None
    sub = tmp_path / "libsysfuncs.so"
    rewrite.make(built["so"], str(sub))
    native = subprocess.run([built["drive"], built["so"]], capture_output=True, text=True)
    rewritten = subprocess.run([built["drive"], str(sub)], capture_output=True, text=True)
    assert native.returncode == rewritten.returncode == 0, rewritten.stderr
    assert rewritten.stdout == native.stdout
    assert "redzone 42\nflags 1\n" in native.stdout
    assert _fastcalls(native.stderr) == 0
    assert _fastcalls(rewritten.stderr) == 7       # every call but f_tight's


@pytest.mark.parametrize("which", ["static_glibc", "static_musl"])
def test_rewritten_static_program_runs(built, tmp_path, which):
    """A whole static program, its libc included, rewritten: threads, fork, stdio, malloc."""
    if which not in built:
        pytest.skip("needs musl-tools")
    sub = tmp_path / which
    r = rewrite.make(built[which], str(sub))
    assert len(r.analysis.rewritable) >= 0.9 * len(r.analysis.sites)
    # gs_start's and fastcall_entry's own syscalls must stay on the trap path.
    kept = {s.addr for s in r.analysis.left}
    elf = ElfFile.open(built[which])
    labels = {n: v for v, _, _, n in elf.symbols()}
    assert {labels["gs_start_syscall"], labels["fastcall_entry_syscall"]} <= kept
    native = subprocess.run([built[which]], capture_output=True, text=True)
    rewritten = subprocess.run([str(sub)], capture_output=True, text=True)
    assert native.returncode == rewritten.returncode == 0, rewritten.stderr
    assert rewritten.stdout == native.stdout
    assert "child status 3" in native.stdout
    assert _fastcalls(native.stderr) == 0 and _fastcalls(rewritten.stderr) > 10


# -- cache ------------------------------------------------------------------------


def _in_subprocess(code, env):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


HIT = """
import json, sys
from libsubst.uklibc.cache import substitute
p = substitute(sys.argv[1] if len(sys.argv) > 1 else %r)
print(json.dumps({"path": p, "heavy": sorted(m for m in ("lief", "capstone", "elftools")
                                              if m in sys.modules)}))
"""


def test_cache(built, tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    first = _in_subprocess(HIT % built["so"], env)
    path = first["path"]
    assert path.startswith(str(tmp_path / "cache" / "libsubst" / "uklibc")) and path != built["so"]
    reverify(built["so"], path)
    second = _in_subprocess(HIT % built["so"], env)
    assert second == {"path": path, "heavy": []}

    sidecar = path + ".json"
    report = json.load(open(path + ".report.json"))
    assert report["rewritten"] == 6 and report["sites"] == 8
    assert "report" not in json.load(open(sidecar))        # a hit parses only the small sidecar
    good = open(path, "rb").read()
    # Made again (as by a second process that missed at the same time): the
    # substitute already there with the same bytes stays, the very file a
    # guest laid out with it is about to mount.
    inode = os.stat(path).st_ino
    os.unlink(sidecar)
    assert _in_subprocess(HIT % built["so"], env)["path"] == path
    assert os.stat(path).st_ino == inode and os.path.exists(sidecar)
    for damage in ("truncate", "flip", "sidecar-garbage", "sidecar-missing", "object-missing"):
        if damage == "truncate":
            open(path, "wb").write(good[:len(good) // 2])
        elif damage == "flip":
            bad = bytearray(good)
            bad[len(bad) // 3] ^= 0xFF
            open(path, "wb").write(bad)
        elif damage == "sidecar-garbage":
            open(sidecar, "w").write("{not json")
        elif damage == "sidecar-missing":
            os.unlink(sidecar)
        else:
            os.unlink(path)
        again = _in_subprocess(HIT % built["so"], env)
        assert again["path"] == path, damage
        assert open(path, "rb").read() == good, damage
        assert _in_subprocess(HIT % built["so"], env)["heavy"] == [], damage

    # No sites: the original path, and a hit needs no heavy import either.
    for obj in ("/lib/x86_64-linux-gnu/libm.so.6",):
        assert _in_subprocess(HIT % obj, env)["path"] == obj
        assert _in_subprocess(HIT % obj, env) == {"path": obj, "heavy": []}
    os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
    try:
        assert cache.report(built["so"])["rewritten"] == 6
        assert cache.substitute(built["so"]) == path
    finally:
        del os.environ["XDG_CACHE_HOME"]


def test_cache_without_build_id(built, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    so = tmp_path / "nobuildid.so"
    subprocess.run(["gcc", "-shared", "-Wl,--build-id=none", "-o", so,
                    _build(tmp_path, "s.S", SYSFUNCS_S)], check=True)
    assert ElfFile.open(str(so)).build_id() is None
    p = cache.substitute(str(so))
    assert "/sha256-" in p and cache.substitute(str(so)) == p
    reverify(str(so), p)


# -- command line and bad input ---------------------------------------------------


def cli(*args):
    return CliRunner().invoke(uklibc, list(args))


def assert_one_line_error(r, *words, code=2):
    assert r.exit_code == code, r.output
    assert r.output.startswith("libsubst: ") and r.output.count("\n") == 1, r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output


def test_cli_inspect_and_make(built, tmp_path):
    r = cli("inspect", LIBC)
    assert r.exit_code == 0
    assert re.search(r"\d+ syscall sites: \d+ rewritten", r.output)
    assert "excluded-syscall" in r.output and "clone" in r.output
    r = cli("inspect", "--json", built["so"])
    rep = json.loads(r.output)
    assert rep["sites"] == 8 and rep["rewritten"] == 6
    assert rep["by_reason"] == {"excluded-syscall": 1, "branch-target-inside": 1}
    assert {s["name"] for s in rep["site_list"]} >= {"getpid", "write", "fork"}
    r = cli("inspect", "--sites", built["so"])
    assert "f_tight" in r.output and "trap: branch-target-inside" in r.output
    r = cli("make", built["so"], "-o", str(tmp_path / "out.so"))
    assert r.exit_code == 0 and "6 of 8 syscall sites rewritten" in r.output
    reverify(built["so"], tmp_path / "out.so")


def test_cli_nothing_to_do(tmp_path):
    r = cli("inspect", "/lib/x86_64-linux-gnu/libm.so.6")
    assert r.exit_code == 0 and "nothing to do" in r.output
    r = cli("make", "/lib/x86_64-linux-gnu/libm.so.6", "-o", str(tmp_path / "x"))
    assert_one_line_error(r, "nothing to do", code=1)
    assert not (tmp_path / "x").exists()


def test_cli_bad_input(built, tmp_path):
    good = open(built["so"], "rb").read()
    text = tmp_path / "text"
    text.write_text("not an object\n")
    elf32 = tmp_path / "elf32"
    elf32.write_bytes(good[:4] + b"\x01" + good[5:])
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good[:200])
    cases = [(tmp_path / "missing", "no such file"), (text, "not an ELF"),
             (tmp_path, "directory"), (elf32, "32-bit"), (truncated, "truncated")]
    for path, words in cases:
        for cmd in (["inspect", str(path)], ["make", str(path), "-o", str(tmp_path / "o")]):
            assert_one_line_error(cli(*cmd), words)
    assert_one_line_error(cli("make", built["so"], "-o", str(tmp_path / "no" / "dir.so")),
                          "cannot write")


def test_unwritable_cache(built, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-cache-here")
    with pytest.raises(cache.CacheError, match="XDG_CACHE_HOME"):
        cache.substitute(built["so"])


def test_only_a_file_of_its_own_is_kept_at_a_substitutes_path(tmp_path):
    """A file of the same bytes already at the path is kept (another maker
    wrote it at the same time) only if it is a regular file that no one but
    the maker can change; a planted symlink, another user's file or a
    group-writable one is renamed over, and what a symlink points at is
    left alone."""
    data = b"\x7fELF substitute" * 64
    theirs = tmp_path / "theirs"
    theirs.write_bytes(data)
    cases = {"symlink": None, "other uid": (0o755, 4242), "group-writable": (0o775, os.geteuid()),
             "another name": (0o755, os.geteuid()), "its own": (0o755, os.geteuid())}
    for name, how in cases.items():
        path = tmp_path / name
        if how is None:
            path.symlink_to(theirs)
        else:
            path.write_bytes(data)
            os.chmod(path, how[0])
            if how[1] != os.geteuid():
                if os.geteuid() != 0:
                    continue        # only root can give a file away
                os.chown(path, how[1], -1)
            if name == "another name":
                os.link(path, tmp_path / "other-name")
        before = os.lstat(path)
        rewrite.write_atomic(str(path), data, mode=0o755, keep_same=True)
        after = os.lstat(path)
        kept = (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
        assert kept == (name == "its own"), name
        assert stat.S_ISREG(after.st_mode) and after.st_uid == os.geteuid() and \
            after.st_mode & 0o777 == 0o755 and path.read_bytes() == data, name
    assert theirs.read_bytes() == data and not theirs.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".uklibc-")) == []


def test_stripped_objects(built, tmp_path):
    """Symbol-stripped, and section-header-stripped (found through PT_LOAD and PT_GNU_EH_FRAME)."""
    stripped = tmp_path / "stripped.so"
    subprocess.run(["strip", "--strip-all", "-o", stripped, built["so"]], check=True)
    a = sites.analyse(str(stripped))
    assert len(a.rewritable) == 6
    data = bytearray(stripped.read_bytes())
    data[0x28:0x30] = bytes(8)                   # e_shoff
    data[0x3C:0x40] = bytes(4)                   # e_shnum, e_shstrndx
    bare = tmp_path / "bare.so"
    bare.write_bytes(bytes(data))
    b = sites.analyse(str(bare))
    assert [s.addr for s in b.rewritable] == [s.addr for s in a.rewritable]
    rewrite.make(str(bare), str(tmp_path / "bare.sub.so"))
    reverify(str(bare), tmp_path / "bare.sub.so")
    out = subprocess.run([built["drive"], str(tmp_path / "bare.sub.so")], capture_output=True,
                         text=True)
    assert _fastcalls(out.stderr) == 7


# -- mutated input ----------------------------------------------------------------

_SMALL = {}


def _small():
    """The test .so's bytes and the offsets of its syscalls (built once per session)."""
    if not _SMALL:
        d = tempfile.mkdtemp()
        so = os.path.join(d, "s.so")
        src = os.path.join(d, "s.S")
        open(src, "w").write(SYSFUNCS_S)
        subprocess.run(["gcc", "-shared", "-Wl,--build-id", "-o", so, src], check=True)
        _SMALL["data"] = open(so, "rb").read()
        elf = ElfFile.open(so)
        _SMALL["sites"] = [elf.vaddr_to_offset(s.addr) for s in sites.analyse(so).sites]
        shutil.rmtree(d)
    return _SMALL


@st.composite
def mutants(draw):
    small = _small()
    data = bytearray(small["data"])
    kind = draw(st.sampled_from(["truncate", "header", "anywhere", "near-site"]))
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 8))):
        if kind == "header":
            at = draw(st.integers(0, 0x40 + 56 * 12))
        elif kind == "near-site":
            at = draw(st.sampled_from(small["sites"])) + draw(st.integers(-16, 16))
        else:
            at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutated_objects_fail_cleanly_or_verify(data):
    d = tempfile.mkdtemp()
    try:
        src, out = os.path.join(d, "in.so"), os.path.join(d, "out.so")
        open(src, "wb").write(data)
        try:
            rewrite.make(src, out)
        except LibsubstError as e:
            assert str(e) and "\n" not in str(e)
            assert not os.path.exists(out)
            return
        reverify(src, out)
        ElfFile.open(out)
    finally:
        shutil.rmtree(d)


# -- generated instruction sequences around a site, run natively -------------------

# Registers the generated code may use: not %rax (the number, then the
# result), %rcx/%r11 (the syscall clobbers them), %rsp/%rbp, %r15.
_REGS = ["rbx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r12", "r13", "r14"]

PROBE_DRIVE_C = DRIVE_START_C + r"""
    void (*probe)(void) = dlsym(h, "probe");
    long *out = dlsym(h, "probe_out");
    probe();
    for (int i = 0; i < 20; i++) printf("%d %lx\n", i, out[i]);
    fprintf(stderr, "fastcalls=%ld\n", fastcalls);
    return 0;
}
"""


@st.composite
def instruction(draw):
    r1, r2, r3 = (draw(st.sampled_from(_REGS)) for _ in range(3))
    imm = draw(st.integers(-2**31, 2**31 - 1))
    k = draw(st.integers(0, 3))
    off = draw(st.sampled_from([8, 16, 64, 120]))
    return draw(st.sampled_from([
        f"mov ${imm}, %{r1}",
        f"movabs ${draw(st.integers(0, 2**64 - 1))}, %{r1}",
        f"lea {imm % 4096}(%{r2},%{r3},{draw(st.sampled_from([1, 2, 4, 8]))}), %{r1}",
        f"add %{r2}, %{r1}", f"xor %{r2}, %{r1}", f"sub %{r2}, %{r1}", f"imul %{r2}, %{r1}",
        f"cmp ${imm}, %{r1}", f"test %{r2}, %{r1}", "stc", "clc", "cmc",
        f"mov data{k}(%rip), %{r1}",                   # rip-relative load
        f"lea data{k}(%rip), %{r1}\n\tmov (%{r1}), %{r1}",   # rip-relative address (not leaked)
        f"add %{r1}, data{k}(%rip)",                   # rip-relative read-modify-write
        f"addl ${imm % 1000}, data{k}(%rip)",          # rip-relative with an immediate after it
        f"cmpb ${imm % 100}, data{k}(%rip)",
        f"mov %{r1}, -{off}(%rsp)",                    # the red zone
        f"mov -{off}(%rsp), %{r1}",
        f"setc %{ {'rbx': 'bl', 'rdx': 'dl', 'rsi': 'sil', 'rdi': 'dil'}.get(r1, r1 + 'b') }",
        "nop", f"xchg %{r2}, %{r1}",
    ]))


@st.composite
def probes(draw):
    pre = draw(st.lists(instruction(), max_size=5))
    post = draw(st.lists(instruction(), max_size=5))
    nr_at = draw(st.integers(0, len(pre)))             # where %eax gets the number
    pre.insert(nr_at, "mov $102, %eax")                # getuid: the same in every run
    target = draw(st.one_of(st.none(), st.integers(0, len(pre))))   # a branch target
    if target is not None:
        pre.insert(target, "jmp 1f\n1:")
    return pre, post


def _probe_source(pre, post):
    regs = "\n".join(f"\tmov ${0x1111111111 * (i + 1)}, %{r}" for i, r in enumerate(_REGS))
    save = "\n".join(f"\tmov %{r}, pout+{8 * i}(%rip)" for i, r in enumerate(["rax"] + _REGS))
    redzone = "\n".join(f"\tmovq ${k}, -{8 * k}(%rsp)" for k in range(1, 17))   # known contents
    body = "\n".join("\t" + i for i in pre) + "\n\tsyscall\n" + "\n".join("\t" + i for i in post)
    return f"""
	.text
	.globl probe
	.type probe,@function
probe:
	push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15
{regs}
{redzone}
	xor %ecx, %ecx                  /* defined flags: the caller's differ between runs */
{body}
{save}
	pushfq
	pop %rcx
	and $0x8d5, %rcx
	mov %rcx, pout+{8 * (len(_REGS) + 1)}(%rip)
	mov data0(%rip), %rcx; mov %rcx, pout+{8 * (len(_REGS) + 2)}(%rip)
	mov data1(%rip), %rcx; mov %rcx, pout+{8 * (len(_REGS) + 3)}(%rip)
	mov data2(%rip), %rcx; mov %rcx, pout+{8 * (len(_REGS) + 4)}(%rip)
	mov data3(%rip), %rcx; mov %rcx, pout+{8 * (len(_REGS) + 5)}(%rip)
	pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx
	ret
	.size probe, .-probe
	.data
	.balign 8
	.globl probe_out
probe_out:
pout:	.fill 20, 8, 0
data0:	.quad 0x0123456789abcdef
data1:	.quad 7
data2:	.quad -1
data3:	.quad 0x8000
	.section .note.GNU-stack,"",@progbits
"""


@pytest.fixture(scope="module")
def probe_driver(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("probe")
    exe = str(tmp / "drive_probe")
    subprocess.run(["gcc", "-O2", "-o", exe, _build(tmp, "d.c", PROBE_DRIVE_C),
                    _build(tmp, "gsentry.S", GSENTRY_S), "-ldl"], check=True)
    return exe


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(probes())
def test_generated_sites_behave_the_same(probe_driver, tmp_path_factory, probe):
    pre, post = probe
    d = tmp_path_factory.mktemp("p")
    so, sub = str(d / "probe.so"), str(d / "probe.sub.so")
    subprocess.run(["gcc", "-shared", "-o", so, _build(d, "probe.S", _probe_source(pre, post))],
                   check=True)
    r = rewrite.make(so, sub)
    (site,) = r.analysis.sites
    assert site.status in ("rewritten", "branch-target-inside"), site
    native = subprocess.run([probe_driver, so], capture_output=True, text=True)
    rewritten = subprocess.run([probe_driver, sub], capture_output=True, text=True)
    assert native.returncode == rewritten.returncode == 0, rewritten.stderr
    assert rewritten.stdout == native.stdout, (pre, post, site)
    assert _fastcalls(rewritten.stderr) == (1 if site.rewritable else 0)


@pytest.mark.parametrize("body, real", [
    ("int f(void) { return 0x050f; }", False),          # the bytes inside a mov's immediate
    ("long f(void) { long r; __asm__ volatile(\"syscall\" : \"=a\"(r) : \"a\"(39L) "
     ": \"rcx\", \"r11\", \"memory\"); return r; }", True),
])
def test_only_a_syscall_instruction_makes_an_object_decoded(tmp_path, body, real):
    """has_syscall, which decodes only the stretches holding 0f 05, agrees
    with the whole object's sweep: the bytes inside another instruction are
    no site, a syscall instruction is one."""
    from libsubst.uklibc.decode import Disassembly
    from libsubst.uklibc.stretch import has_syscall
    src, so = tmp_path / "f.c", tmp_path / "f.so"
    src.write_text(body + "\n")
    subprocess.run(["gcc", "-O2", "-fPIC", "-shared", "-o", str(so), str(src)], check=True)
    with ElfFile.open(str(so)) as elf:
        assert any(b"\x0f\x05" in data for _, _, data in elf.code_ranges())
        assert has_syscall(elf) is real
        assert bool(Disassembly(elf).syscalls) is real
    assert (len(sites.analyse(str(so)).sites) > 0) is real
