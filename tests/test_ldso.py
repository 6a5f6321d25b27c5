"""libsubst.ldso against readelf(1), pyelftools, ldd(1) and the real ld.so(8)."""

import os
import re
import shutil
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from libsubst.elf import ElfFile
from libsubst.elf.abi import PT_DYNAMIC
from libsubst.errors import (CorruptElf, LibraryNotFound, LibsubstError, NotAnElf, ProgramNotFound,
                             UnsupportedElf)
from libsubst.ldso import cache
from libsubst.ldso.hwcaps import platform
from libsubst.ldso.search import resolve

REAL = [p for p in ("/usr/bin/python3.11", "/usr/bin/sqlite3", "/usr/bin/perl", "/bin/ls",
                    "/lib/x86_64-linux-gnu/libc.so.6") if os.path.exists(p)]
PROGRAMS = [p for p in REAL if not p.endswith(".so.6")]
ENV_C = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

# readelf's names for p_type values.
P_TYPES = {"NULL": 0, "LOAD": 1, "DYNAMIC": 2, "INTERP": 3, "NOTE": 4, "PHDR": 6, "TLS": 7,
           "GNU_EH_FRAME": 0x6474E550, "GNU_STACK": 0x6474E551, "GNU_RELRO": 0x6474E552,
           "GNU_PROPERTY": 0x6474E553}


def readelf(flag, path):
    return subprocess.run(["readelf", "-W", flag, path], capture_output=True, text=True,
                          env=ENV_C, check=True).stdout


def ldd(path, env=None):
    """(realpaths ldd lists in order, names it reports not found, exit status)."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, env={**ENV_C, **(env or {})})
    paths, missing = [], []
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\S+) => not found", line)
        if m:
            missing.append(m.group(1))
            continue
        m = re.match(r"\s*(?:\S+ => )?(\S*/\S*) \(0x", line)
        if m:
            paths.append(os.path.realpath(m.group(1)))
    return paths, missing, out.returncode


def plan_paths(plan):
    return [os.path.realpath(p) for _, p in plan.libraries]


def assert_matches_ldd(program, env=None):
    plan = resolve(program, env)
    paths, missing, _ = ldd(program, env)
    assert not missing
    interp = os.path.realpath(plan.interp)
    assert plan_paths(plan) == [p for p in paths if p != interp]
    return plan


# -- ElfFile against readelf ---------------------------------------------------

@pytest.mark.parametrize("path", REAL)
def test_segments_match_readelf(path):
    rows = re.findall(r"^\s+(\S+)\s+0x(\w+) 0x(\w+) 0x(\w+) 0x(\w+) 0x(\w+) (.{3}) 0x(\w+)$",
                      readelf("-l", path), re.M)
    want = [(P_TYPES[t], int(o, 16), int(v, 16), int(pa, 16), int(fs, 16), int(ms, 16),
             (4 if "R" in fl else 0) | (2 if "W" in fl else 0) | (1 if "E" in fl else 0), int(al, 16))
            for t, o, v, pa, fs, ms, fl, al in rows]
    with ElfFile.open(path) as elf:
        got = [(s.p_type, s.p_offset, s.p_vaddr, s.p_paddr, s.p_filesz, s.p_memsz, s.p_flags, s.p_align)
               for s in elf.segments]
        assert got == want
        interp = re.search(r"\[Requesting program interpreter: (.*)\]", readelf("-l", path))
        assert elf.interp() == (interp and interp.group(1))
        assert elf.is_static == (interp is None)


@pytest.mark.parametrize("path", REAL)
def test_dynamic_matches_readelf(path):
    text = readelf("-d", path)

    def tag(name):
        return re.findall(rf"\({name}\)\s+[^[]*\[(.*)\]", text)

    with ElfFile.open(path) as elf:
        assert elf.needed() == tag("NEEDED")
        assert elf.soname() == (tag("SONAME") or [None])[-1]
        for getter, name in ((elf.rpath, "RPATH"), (elf.runpath, "RUNPATH")):
            assert getter() == (tag(name)[-1].split(":") if tag(name) else None)
        flags = re.search(r"\(FLAGS_1\)\s+Flags: (.*)", text)
        assert elf.is_pie == bool(flags and "PIE" in flags.group(1).split())


@pytest.mark.parametrize("path", REAL)
def test_build_id_matches_readelf(path):
    m = re.search(r"Build ID: ([0-9a-f]+)", readelf("-n", path))
    with ElfFile.open(path) as elf:
        assert elf.build_id() == (m and bytes.fromhex(m.group(1)))


def test_many_libraries_match_pyelftools():
    from elftools.elf.elffile import ELFFile

    libdir = "/usr/lib/x86_64-linux-gnu"
    libs = sorted(n for n in os.listdir(libdir) if ".so." in n and os.path.isfile(os.path.join(libdir, n)))
    for name in libs[::max(1, len(libs) // 25)]:
        path = os.path.join(libdir, name)
        with open(path, "rb") as f:
            ref = ELFFile(f)
            if ref.elfclass != 64:
                continue
            dyn = ref.get_section_by_name(".dynamic")
            tags = list(dyn.iter_tags()) if dyn else []
            with ElfFile.open(path) as elf:
                assert elf.needed() == [t.needed for t in tags if t.entry.d_tag == "DT_NEEDED"], path
                sonames = [t.soname for t in tags if t.entry.d_tag == "DT_SONAME"]
                assert elf.soname() == (sonames[-1] if sonames else None), path
                assert [s.p_vaddr for s in elf.segments] == [s["p_vaddr"] for s in ref.iter_segments()]


# -- resolve against ldd on Debian programs ------------------------------------

@pytest.mark.parametrize("path", PROGRAMS)
def test_resolve_matches_ldd(path):
    plan = assert_matches_ldd(path)
    assert plan.program == path and plan.interp == "/lib64/ld-linux-x86-64.so.2"
    assert ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6") in plan.libraries
    names = [n for n, _ in plan.libraries]
    assert len(names) == len(set(names))


def test_libc_needs_only_the_interpreter():
    plan = resolve("/lib/x86_64-linux-gnu/libc.so.6")
    assert plan.libraries == []


def test_cache_has_libc():
    assert "/lib/x86_64-linux-gnu/libc.so.6" in cache.get_cache()["libc.so.6"]
    assert cache.get_cache() is cache.get_cache()
    assert cache.load("/nonexistent") == {}


# -- small programs built here -------------------------------------------------

def cc(out, *args, src):
    """Compile C source *src* with gcc into *out*."""
    out.parent.mkdir(parents=True, exist_ok=True)
    c = out.with_name(out.name + ".c")
    c.write_text(src)
    subprocess.run(["gcc", "-o", str(out), str(c), *args], check=True, capture_output=True)
    return str(out)


FOO = "int foo(void) { return 42; }"
BAR = "int foo(void); int bar(void) { return foo() + 1; }"
MAIN_BAR = "int bar(void); int main(void) { return bar() == 43 ? 0 : 1; }"
MAIN_FOO = "int foo(void); int main(void) { return foo() == 42 ? 0 : 1; }"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A tree: lib/{libfoo,libbar}, lib2/libbar (RUNPATH to lib), alt/libfoo, bin/*."""
    r = tmp_path_factory.mktemp("root")
    lib, lib2, alt, bin_ = r / "lib", r / "lib2", r / "alt", r / "bin"
    cc(lib / "libfoo.so.1", "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", src=FOO)
    cc(alt / "libfoo.so.1", "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", src=FOO)
    cc(lib / "libbar.so.1", "-shared", "-fPIC", "-Wl,-soname,libbar.so.1", f"-L{lib}", "-l:libfoo.so.1",
       src=BAR)
    cc(lib2 / "libbar.so.1", "-shared", "-fPIC", "-Wl,-soname,libbar.so.1", f"-L{lib}", "-l:libfoo.so.1",
       "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib", src=BAR)
    link = [f"-L{lib}", "-l:libbar.so.1", f"-Wl,-rpath-link,{lib}"]
    cc(bin_ / "rpath", *link, "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib", src=MAIN_BAR)
    cc(bin_ / "runpath", *link, "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib", src=MAIN_BAR)
    cc(bin_ / "runpath2", *link, "-Wl,--enable-new-dtags", "-Wl,-rpath,${ORIGIN}/../lib2", src=MAIN_BAR)
    cc(bin_ / "plain", f"-L{lib}", "-l:libfoo.so.1", src=MAIN_FOO)
    (r / "link").mkdir()
    os.symlink("../bin/rpath", r / "link" / "rpath")
    return r


def test_rpath_and_origin(root):
    prog = str(root / "bin" / "rpath")
    with ElfFile.open(prog) as elf:
        assert elf.rpath() == ["$ORIGIN/../lib"] and elf.runpath() is None
    plan = assert_matches_ldd(prog)
    # libbar has no search path of its own: libfoo comes from the program's
    # DT_RPATH, inherited along the loader chain.
    assert plan.libraries == [("libbar.so.1", f"{root}/bin/../lib/libbar.so.1"),
                              ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
                              ("libfoo.so.1", f"{root}/bin/../lib/libfoo.so.1")]
    assert subprocess.run([prog]).returncode == 0


def test_rpath_beats_ld_library_path(root):
    plan = assert_matches_ldd(str(root / "bin" / "rpath"), {"LD_LIBRARY_PATH": str(root / "alt")})
    assert dict(plan.libraries)["libfoo.so.1"].endswith("/lib/libfoo.so.1")


def test_origin_of_symlinked_program_is_its_real_directory(root):
    plan = assert_matches_ldd(str(root / "link" / "rpath"))
    assert dict(plan.libraries)["libbar.so.1"] == f"{root}/bin/../lib/libbar.so.1"


def test_runpath_is_not_inherited(root):
    prog = str(root / "bin" / "runpath")
    with ElfFile.open(prog) as elf:
        assert elf.runpath() == ["$ORIGIN/../lib"] and elf.rpath() is None
    with pytest.raises(LibraryNotFound) as e:
        resolve(prog)
    assert str(e.value).startswith(f"library libfoo.so.1 needed by {root}/bin/../lib/libbar.so.1 not found")
    assert ldd(prog)[1] == ["libfoo.so.1"]
    assert_matches_ldd(prog, {"LD_LIBRARY_PATH": str(root / "lib")})


def test_ld_library_path_beats_runpath(root):
    prog = str(root / "bin" / "runpath2")
    plan = assert_matches_ldd(prog)
    assert dict(plan.libraries)["libfoo.so.1"] == f"{root}/bin/../lib2/../lib/libfoo.so.1"
    plan = assert_matches_ldd(prog, {"LD_LIBRARY_PATH": f"/nonexistent;{root}/alt"})
    assert dict(plan.libraries)["libfoo.so.1"] == f"{root}/alt/libfoo.so.1"


def test_host_environment_is_ignored(root, monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", str(root / "lib"))
    with pytest.raises(LibraryNotFound, match="libfoo.so.1"):
        resolve(str(root / "bin" / "plain"))
    plan = resolve(str(root / "bin" / "plain"), {"LD_LIBRARY_PATH": str(root / "lib")})
    assert plan.libraries[0] == ("libfoo.so.1", f"{root}/lib/libfoo.so.1")


def test_empty_ld_library_path_element_is_cwd(root, monkeypatch):
    monkeypatch.chdir(root / "lib")
    plan = resolve(str(root / "bin" / "plain"), {"LD_LIBRARY_PATH": "/nonexistent:"})
    assert plan.libraries[0] == ("libfoo.so.1", f"{root}/lib/libfoo.so.1")


def test_needed_path_relative_to_cwd(root, tmp_path, monkeypatch):
    cc(tmp_path / "libnoname.so", "-shared", "-fPIC", src=FOO)
    monkeypatch.chdir(tmp_path)
    prog = cc(tmp_path / "bypath", "./libnoname.so", src=MAIN_FOO)
    with ElfFile.open(prog) as elf:
        assert "./libnoname.so" in elf.needed()
    plan = assert_matches_ldd(prog)
    assert plan.libraries[0] == ("./libnoname.so", f"{tmp_path}/libnoname.so")


def test_hwcaps_subdirectories_in_ld_so_order(root, tmp_path):
    """Remove the file ld.so picks, one at a time, and agree with it each time."""
    p = platform()
    subdirs = list(dict.fromkeys([
        "glibc-hwcaps/x86-64-v4", "glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2",
        f"tls/{p}/x86_64", f"tls/{p}", "tls/x86_64", "tls", f"{p}/x86_64", p, "x86_64", ""]))
    for sub in subdirs:
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "lib" / "libfoo.so.1", tmp_path / sub / "libfoo.so.1")
    env = {"LD_LIBRARY_PATH": str(tmp_path)}
    # ld.so searches only the levels this CPU supports (x86-64-v4 needs
    # AVX-512): the copies it never picks are left when it finds none.
    picks = []
    while not ldd(str(root / "bin" / "plain"), env)[1]:
        picked = dict(assert_matches_ldd(str(root / "bin" / "plain"), env).libraries)["libfoo.so.1"]
        picks.append(os.path.relpath(os.path.dirname(picked), tmp_path))
        os.unlink(picked)
    with pytest.raises(LibraryNotFound, match="libfoo.so.1"):
        resolve(str(root / "bin" / "plain"), env)
    assert picks[-1] == "." and len(picks) >= 4


def test_lib_and_platform_tokens(root, tmp_path):
    for sub in (f"p/{platform()}", "l/lib/x86_64-linux-gnu"):
        (tmp_path / sub).mkdir(parents=True)
    shutil.copy(root / "lib" / "libbar.so.1", tmp_path / "l/lib/x86_64-linux-gnu")
    shutil.copy(root / "lib" / "libfoo.so.1", tmp_path / f"p/{platform()}")
    prog = cc(tmp_path / "dst", f"-L{root}/lib", "-l:libbar.so.1", f"-Wl,-rpath-link,{root}/lib",
              "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/p/$PLATFORM:$ORIGIN/l/${LIB}", src=MAIN_BAR)
    plan = assert_matches_ldd(prog)
    assert dict(plan.libraries)["libfoo.so.1"] == f"{tmp_path}/p/{platform()}/libfoo.so.1"


def elf32_lib(path):
    """A 32-bit shared object: built with gcc -m32 if it can, else an ELF32 header."""
    try:
        cc(path, "-m32", "-shared", "-nostdlib", "-fPIC", src=FOO)
    except subprocess.CalledProcessError:
        path.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHI", 3, 3, 1) + bytes(32))


def with_machine(src, dst, machine):
    data = bytearray(src.read_bytes())
    data[18:20] = struct.pack("<H", machine)
    dst.write_bytes(bytes(data))


def test_other_class_and_machine_are_skipped(root, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    elf32_lib(tmp_path / "a" / "libfoo.so.1")
    with_machine(root / "lib" / "libfoo.so.1", tmp_path / "b" / "libfoo.so.1", 183)
    env = {"LD_LIBRARY_PATH": f"{tmp_path}/a:{tmp_path}/b:{root}/lib"}
    plan = assert_matches_ldd(str(root / "bin" / "plain"), env)
    assert plan.libraries[0][1] == f"{root}/lib/libfoo.so.1"
    with pytest.raises(LibraryNotFound, match="skipped .*32-bit ELF.*machine aarch64"):
        resolve(str(root / "bin" / "plain"), {"LD_LIBRARY_PATH": env["LD_LIBRARY_PATH"].rsplit(":", 1)[0]})


@pytest.mark.parametrize("content, error", [(b"", NotAnElf), (b"x" * 100, NotAnElf), ("exe", UnsupportedElf)])
def test_bad_candidate_stops_the_search_like_ld_so(root, tmp_path, content, error):
    bad = tmp_path / "libfoo.so.1"
    if content == "exe":
        shutil.copy(root / "bin" / "plain", bad)
    else:
        bad.write_bytes(content)
    env = {"LD_LIBRARY_PATH": f"{tmp_path}:{root}/lib"}
    with pytest.raises(error, match=f"{bad}.*needed by {root}/bin/plain"):
        resolve(str(root / "bin" / "plain"), env)
    assert ldd(str(root / "bin" / "plain"), env)[2] != 0


def test_nodefaultlib_skips_cache_and_default_dirs(tmp_path):
    prog = cc(tmp_path / "nodeflib", "-Wl,-z,nodefaultlib", src="int main(void) { return 0; }")
    with pytest.raises(LibraryNotFound, match="libc.so.6"):
        resolve(prog)
    assert "libc.so.6" in ldd(prog)[1]


def test_missing_library(root, tmp_path):
    lib = cc(tmp_path / "libgone.so.7", "-shared", "-fPIC", "-Wl,-soname,libgone.so.7", src=FOO)
    prog = cc(tmp_path / "needsgone", lib, src=MAIN_FOO)
    os.unlink(lib)
    with pytest.raises(LibraryNotFound) as e:
        resolve(prog)
    assert str(e.value) == f"library libgone.so.7 needed by {prog} not found"
    assert ldd(prog)[1] == ["libgone.so.7"]


def test_static_and_static_pie(tmp_path):
    for flag in ("-static", "-static-pie"):
        prog = cc(tmp_path / flag.strip("-"), flag, src="int main(void) { return 0; }")
        with ElfFile.open(prog) as elf:
            assert elf.is_static and elf.interp() is None and elf.needed() == []
            assert elf.is_pie == (flag == "-static-pie")
        assert resolve(prog) == (prog, None, [])


def test_interpreter_errors(tmp_path):
    prog = cc(tmp_path / "badinterp", "-Wl,--dynamic-linker=/nonexistent/ld.so", src="int main(void){return 0;}")
    with pytest.raises(LibraryNotFound, match=f"program interpreter /nonexistent/ld.so of {prog} not found"):
        resolve(prog)
    (tmp_path / "text-ld.so").write_text("not an elf\n")
    prog = cc(tmp_path / "textinterp", f"-Wl,--dynamic-linker={tmp_path}/text-ld.so", src="int main(void){return 0;}")
    with pytest.raises(NotAnElf, match="program interpreter"):
        resolve(prog)


# -- bad programs --------------------------------------------------------------

def open_error(path):
    with pytest.raises(LibsubstError) as e:
        ElfFile.open(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
    return e


def test_bad_programs(tmp_path, root):
    assert open_error(tmp_path / "missing").type is ProgramNotFound
    assert "is a directory" in str(open_error(tmp_path).value)
    assert open_error(tmp_path).type is ProgramNotFound
    (tmp_path / "text").write_text("hello world\n")
    assert open_error(tmp_path / "text").type is NotAnElf
    (tmp_path / "script").write_text("#!/bin/sh\necho hi\n")
    assert "script" in str(open_error(tmp_path / "script").value)
    os.mkfifo(tmp_path / "fifo")
    assert open_error(tmp_path / "fifo").type is ProgramNotFound
    elf32_lib(tmp_path / "elf32")
    e = open_error(tmp_path / "elf32")
    assert e.type is not None and issubclass(e.type, UnsupportedElf) and "32-bit ELF" in str(e.value)
    with_machine(root / "lib" / "libfoo.so.1", tmp_path / "arm64", 183)
    assert "ELF for machine aarch64" in str(open_error(tmp_path / "arm64").value)
    data = bytearray((root / "lib" / "libfoo.so.1").read_bytes())
    data[5] = 2
    (tmp_path / "be").write_bytes(bytes(data))
    assert "big-endian" in str(open_error(tmp_path / "be").value)
    cc(tmp_path / "obj.o", "-c", src=FOO)
    assert "relocatable object" in str(open_error(tmp_path / "obj.o").value)


@pytest.mark.parametrize("length", [2, 5, 40, 63, 64, 100, 64 + 56 * 3, 4000, "half", "in last PT_LOAD"])
def test_truncated_true(tmp_path, length):
    data = open("/bin/true", "rb").read()
    with ElfFile.open("/bin/true") as elf:
        load_end = max(s.p_offset + s.p_filesz for s in elf.loads)
    n = {"half": len(data) // 2, "in last PT_LOAD": load_end - 1}.get(length, length)
    (tmp_path / "t").write_bytes(data[:n])
    e = open_error(tmp_path / "t")
    assert e.type is (NotAnElf if n < 4 else CorruptElf)
    if n >= 4:
        assert "truncated or corrupt ELF" in str(e.value)


# -- fuzzing -------------------------------------------------------------------

def regions(path):
    """Byte ranges worth mutating: ELF header, program headers, dynamic section."""
    with ElfFile.open(path) as elf:
        out = [(0, 64), (elf.e_phoff, elf.e_phoff + elf.e_phnum * 56)]
        out += [(s.p_offset, s.p_offset + s.p_filesz) for s in elf.segments if s.p_type == PT_DYNAMIC]
        out += [(0, elf.size)]
    return out


def mutations(path):
    data = open(path, "rb").read()
    where = st.sampled_from(regions(path)).flatmap(lambda r: st.integers(r[0], r[1] - 1))
    edit = st.tuples(where, st.sampled_from(["flip", "set"]), st.integers(0, 255))
    return st.tuples(st.just(data), st.lists(edit, max_size=8),
                     st.one_of(st.none(), st.integers(0, len(data))))


def mutate(data, edits, cut):
    data = bytearray(data)
    for pos, how, val in edits:
        data[pos] = data[pos] ^ (1 << (val % 8)) if how == "flip" else val
    return bytes(data[:cut] if cut is not None else data)


def exercise(path, program, env):
    """Everything a caller may do; only LibsubstError may come out."""
    try:
        with ElfFile.open(path) as elf:
            elf.interp(), elf.needed(), elf.rpath(), elf.runpath()
            elf.soname(), elf.build_id(), elf.is_pie, elf.is_static
    except LibsubstError:
        pass
    try:
        with ElfFile.open(path) as elf:         # and what the rewriter reads
            elf.check_layout()
            elf.code_ranges(), elf.data_ranges(), elf.symbols(), elf.relocations()
    except LibsubstError:
        pass
    try:
        plan = resolve(program, env)
        assert all(os.path.isabs(p) for p in plan.host_paths())
    except LibsubstError as e:
        assert "\n" not in str(e)


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzzdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(case=mutations("/bin/true"))
def test_fuzz_true(fuzzdir, case):
    path = fuzzdir / "true"
    path.write_bytes(mutate(*case))
    exercise(path, str(path), {})


@pytest.fixture(scope="module")
def fuzzlib(root):
    return str(root / "lib" / "libfoo.so.1")


@FUZZ
@given(data=st.data())
def test_fuzz_library_candidate(fuzzdir, root, fuzzlib, data):
    case = data.draw(mutations(fuzzlib))
    libdir = fuzzdir / "lib"
    libdir.mkdir(exist_ok=True)
    (libdir / "libfoo.so.1").write_bytes(mutate(*case))
    exercise(libdir / "libfoo.so.1", str(root / "bin" / "plain"), {"LD_LIBRARY_PATH": f"{libdir}:{root}/lib"})


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=10),
       cut=st.one_of(st.none(), st.integers(0, 3000)))
def test_fuzz_cache(edits, cut):
    data = bytearray(open(cache.CACHE_PATH, "rb").read())
    for pos, val in edits:
        data[pos % len(data)] = val
    result = cache.parse(bytes(data[:cut] if cut is not None else data))
    assert all(isinstance(k, str) and all(isinstance(p, str) for p in v) for k, v in result.items())


# -- libraries dlopened by a name they hold ------------------------------------

NSS = "/usr/lib/x86_64-linux-gnu/libnss3.so"


@pytest.mark.skipif(not os.path.exists(NSS), reason="libnss3 (tests/run.sh's libnss3-tools)")
@pytest.mark.parametrize("path", [NSS, "/usr/lib/x86_64-linux-gnu/libsoftokn3.so", "/usr/bin/chktest"])
def test_rodata_strings_match_readelf(path):
    """The read-only data's strings holding ".so", as readelf -p prints them."""
    out = subprocess.run(["readelf", "-p", ".rodata", path], capture_output=True,
                         check=True).stdout.decode(errors="replace")
    ref = [m.group(1) for m in re.finditer(r"^\s*\[\s*[0-9a-f]+\]  (.*)$", out, re.M)
           if ".so" in m.group(1)]
    with ElfFile.open(path) as elf:
        assert [s.decode() for s in elf.rodata_strings(b".so")] == ref


@pytest.mark.skipif(not os.path.exists("/usr/bin/chktest"), reason="libnss3-tools (tests/run.sh)")
def test_what_a_library_dlopens_by_a_name_it_holds_comes_with_it():
    """NSS opens its softoken by name from libnss3's directory, and the
    softoken its freebl and dbm modules (chktest names freebl itself), with
    the libraries they need; glibc's names are not taken (libidn2)."""
    from libsubst.ldso.search import resolve_dlopen_closure
    base = {os.path.basename(p) for p in
            resolve_dlopen_closure(resolve("/usr/bin/chktest"), [])}
    assert "libfreeblpriv3.so" in base and "libidn2.so.0" not in base
    signtool = {os.path.basename(p) for p in
                resolve_dlopen_closure(resolve("/usr/bin/signtool"), [])}
    assert {"libsoftokn3.so", "libfreeblpriv3.so", "libnssdbm3.so", "libsqlite3.so.0"} <= signtool
