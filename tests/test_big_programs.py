"""Big programs start: LLVM's tools (libLLVM-14, 110 MB, and a tree whose
links lead back up) and large Go programs, compared with native runs; the
planner's file search and the rewriter's decoding against what they replace."""

import glob
import os
import shutil
import struct
import subprocess
from bisect import bisect_left

import pytest

from conftest import assert_same, run_guest, run_native
from libsubst.image.walk import files_below


def _glob(top, patterns):
    return sorted(p for pat in patterns for p in glob.glob(os.path.join(top, "**", pat),
                                                          recursive=True))


@pytest.mark.parametrize("top", ["/usr/lib/python3", "/usr/lib/jvm", "/usr/lib/x86_64-linux-gnu",
                                 "/usr/lib/postgresql"])
def test_files_below_finds_what_glob_finds(top):
    if not os.path.isdir(top):
        pytest.skip(f"no {top}")
    for patterns in (("*.so",), ("*.so", "*.so.*")):
        assert files_below(top, patterns) == _glob(top, patterns)


def test_files_below_does_not_follow_a_link_back_up(tmp_path):
    (tmp_path / "lib" / "sub").mkdir(parents=True)
    for name in ("lib/a.so", "lib/sub/b.so.1", "lib/sub/c.txt", "lib/.hidden.so"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".dot").mkdir()
    (tmp_path / ".dot" / "d.so").write_bytes(b"")
    os.symlink("lib", tmp_path / "other")          # a second way to the same files
    os.symlink("gone.so", tmp_path / "lib" / "broken.so")
    expect = _glob(str(tmp_path), ("*.so", "*.so.*"))
    assert files_below(str(tmp_path), ("*.so", "*.so.*")) == expect
    assert len(expect) == 6
    # LLVM's build/Release -> .. and build/Debug+Asserts -> .., which glob
    # follows until the path is too long
    (tmp_path / "build").mkdir()
    os.symlink("..", tmp_path / "build" / "Release")
    os.symlink("..", tmp_path / "build" / "Debug")
    os.symlink("../..", tmp_path / "lib" / "sub" / "top")
    found = files_below(str(tmp_path), ("*.so", "*.so.*"))
    assert found == expect


BIG = [
    # llvm-14-tools: FileCheck in /usr/lib/llvm-14/bin, whose tree loops
    (["FileCheck-14", "--version"], "llvm-14-tools"),
    # Go programs of 21 and 48 MB
    (["docker-registry", "--version"], "docker-registry"),
    (["containerd", "--version"], "containerd"),
    # a Go PIE (3.6 MB), planned from its functions near its sites (gotext)
    (["age", "--version"], "age"),
]


@pytest.mark.parametrize("argv,package", BIG, ids=[a[0] for a, _ in BIG])
def test_big_program_as_native(argv, package, work):
    if shutil.which(argv[0]) is None:
        pytest.skip(f"tests/run.sh installs {package}")
    assert_same(run_native(argv, work), run_guest(argv, work))


def test_a_program_beside_its_packages_programs_reads_each_library_once(monkeypatch):
    """FileCheck-14 comes with the other programs of llvm-14-tools' own
    directory, planned with the libraries they load (libstdc++ for all of
    them, libLLVM-14 for some where llvm-14 is installed): each object's
    read-only data is searched for the names it dlopens once, not once per
    program loading it (llvm-objdump's 147 siblings in llvm-14 took 17 s of
    planning so, past the sweep's timeout), and the plan is the one a
    search for every program gives."""
    from collections import Counter

    from libsubst import api
    from libsubst.elf import ElfFile
    from libsubst.ldso import search

    if shutil.which("FileCheck-14") is None:
        pytest.skip("tests/run.sh installs llvm-14-tools")
    searched, rodata_strings = Counter(), ElfFile.rodata_strings

    def counted(self, needle):
        searched[os.path.realpath(self.path)] += 1
        return rodata_strings(self, needle)
    monkeypatch.setattr(ElfFile, "rodata_strings", counted)
    monkeypatch.setattr(search, "_DLOPEN_NAMES", {})
    plan = api.prepare("FileCheck-14", ["--version"], net="none")
    assert searched and set(searched.values()) == {1}

    class Forgets(dict):
        def __setitem__(self, key, value):
            pass
    monkeypatch.setattr(search, "_DLOPEN_NAMES", Forgets())
    searched.clear()
    assert api.prepare("FileCheck-14", ["--version"], net="none").digest() == plan.digest()
    assert max(searched.values()) > 1       # a library the programs share, searched again


def _reference_sweep(dis):
    """The sweep as it was, an instruction at a time through capstone's
    ``disasm_lite``: (per region: addresses, sizes, flags), syscall
    indices, jumps, rip references and immediates."""
    import re
    from array import array
    from bisect import bisect_left, bisect_right

    import capstone

    from libsubst.uklibc import decode, stretch

    lite = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    lite.skipdata = True
    rip = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|[0-9]+)\]")
    lo, hi = dis.spans[0][0], dis.spans[-1][1]
    hexes = re.compile(rf"\b0x[0-9a-f]{{{len(f'{lo:x}')},}}\b")
    restarts = stretch.function_starts(dis.elf)
    regions, syscalls, jumps, rips, imms = [], [], [], [], []
    for name, base, data in dis.elf.code_ranges():
        addrs, sizes, flags = array("Q"), array("B"), bytearray()
        end, pos = base + len(data), base
        for cut in restarts[bisect_right(restarts, base):bisect_left(restarts, end)] + [end]:
            if cut <= pos:
                continue
            for a, s, m, o in lite.disasm_lite(data[pos - base:cut - base], pos):
                what, f = decode._kind(m)
                if what == decode._SYSCALL:
                    syscalls.append((base, len(addrs)))
                elif what and o.startswith("0x") and what != decode._CALL:
                    jumps.append((int(o, 16), a))
                r = rip.search(o)
                if r:
                    disp = int(r.group(2), 0)
                    rips.append((a + s + (disp if r.group(1) == "+" else -disp), m == "lea"))
                if dis.absolute:
                    imms += [v for v in map(lambda h: int(h, 16), hexes.findall(o)) if lo <= v < hi]
                addrs.append(a)
                sizes.append(s)
                flags.append(f)
            pos = cut
        regions.append((name, base, bytes(addrs), bytes(sizes), bytes(flags)))
    return regions, syscalls, jumps, rips, imms


@pytest.mark.parametrize("path,chunk", [("/lib/x86_64-linux-gnu/libc.so.6", None),
                                        ("/lib64/ld-linux-x86-64.so.2", 7),
                                        ("/usr/lib/llvm-14/bin/FileCheck", None)])
def test_bulk_sweep_finds_what_the_sweep_by_instruction_found(path, chunk, monkeypatch):
    """decode's sweep reads capstone's output in bulk (uklibc/bulk.py):
    every instruction, flag, syscall, jump, rip-relative reference and
    (position-dependent FileCheck) immediate is the one a sweep of
    ``disasm_lite``'s tuples finds; also when a stretch is decoded in many
    chunks (``chunk`` instructions each)."""
    from libsubst.elf import ElfFile
    from libsubst.uklibc import bulk
    from libsubst.uklibc.decode import Disassembly

    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    if chunk:
        monkeypatch.setattr(bulk, "CHUNK", chunk)
    dis = Disassembly(ElfFile.open(path))
    regions, syscalls, jumps, rips, imms = _reference_sweep(dis)
    assert [(c.name, c.base, bytes(c.addrs), bytes(c.sizes), bytes(c.flags))
            for c in dis.codes] == regions
    assert [(c.base, i) for c, i in dis.syscalls] == syscalls
    assert dis._jumps == jumps
    assert dis.rip_refs == rips
    assert dis._immediates == imms
    assert syscalls or path.endswith("FileCheck")
    assert imms or not dis.absolute


@pytest.mark.parametrize("path", ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
                                  "/lib/x86_64-linux-gnu/libcrypto.so.3",
                                  "/lib/x86_64-linux-gnu/libsystemd.so.0"])
def test_has_syscall_is_what_a_whole_sweep_says(path):
    """has_syscall decodes only the stretches holding 0f 05 in known code,
    shortest first, and each only to 15 bytes past its last 0f 05: its
    answer is whether a whole sweep finds a syscall in known code."""
    import capstone

    from libsubst.elf import ElfFile
    from libsubst.uklibc import ehframe, stretch

    elf = ElfFile.open(path)
    lite = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    lite.skipdata = True
    known = stretch.known_code(elf, ehframe.fde_ranges(elf))
    restarts = stretch.function_starts(elf)
    whole = False
    for _, base, data in elf.code_ranges():
        cuts = [base] + [r for r in restarts if base < r < base + len(data)] + [base + len(data)]
        for start, stop in zip(cuts, cuts[1:]):
            whole = whole or any(m == "syscall" and stretch.covers(known, a) for a, _, m, _
                                 in lite.disasm_lite(data[start - base:stop - base], start))
    assert stretch.has_syscall(elf) == whole


@pytest.mark.parametrize("path", ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
                                  "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                                  "/usr/lib/llvm-14/lib/libLLVM-14.so.1", "/usr/bin/cpack"])
def test_unwind_tables_read_fast_as_by_the_general_reader(path, monkeypatch):
    """ehframe reads an FDE with pc-relative sdata4 pointers, and
    .eh_frame_hdr's datarel sdata4 table, with one unpack each: what the
    general DW_EH_PE reader gives for every entry (C's, C++'s with LSDAs)."""
    from libsubst.elf import ElfFile
    from libsubst.uklibc import ehframe

    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    elf = ElfFile.open(path)
    fast = ehframe.hdr_table(elf), ehframe.unwind_targets(elf)
    monkeypatch.setattr(ehframe, "_PCREL_SDATA4", -1)        # no encoding: always the general reader
    monkeypatch.setattr(ehframe, "_DATAREL_SDATA4", -1)
    assert fast == (ehframe.hdr_table(elf), ehframe.unwind_targets(elf))
    assert len(fast[0][1]) > 100 and len(fast[1][1]) > 100


# Go programs with syscall sites (static, position-dependent), small to large.
GO_SITES = ["/usr/bin/etcdctl", "/usr/bin/docker-registry", "/usr/bin/buildah", "/usr/bin/kubectl"]


@pytest.mark.parametrize("path", GO_SITES, ids=os.path.basename)
def test_go_sites_decoding_around_them_are_the_whole_sweeps(path):
    """A Go program's sites are classified from its functions near a
    ``0f 05`` and those that may jump into them (uklibc/scan.py); every
    site, its status, number, window and displaced instructions are what
    the whole sweep's proof gives, from a fraction of the instructions."""
    from libsubst.uklibc import sites

    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    near, whole = sites.analyse(path), sites.analyse(path, whole=True)
    assert [s.to_dict() for s in near.sites] == [s.to_dict() for s in whole.sites]
    assert near.rewritable and near.instructions * 4 < whole.instructions


def test_go_sites_widened_where_the_proof_asks_are_the_whole_sweeps(monkeypatch):
    """With 8 bytes known around each ``0f 05``, the windows and the
    number's search ask about addresses outside them, which are added and
    the sites classified again: the answer is still the whole sweep's."""
    from libsubst.uklibc import decode, sites

    path = GO_SITES[0]
    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    whole = [s.to_dict() for s in sites.analyse(path, whole=True).sites]
    made = []
    monkeypatch.setattr(sites, "Disassembly",
                        lambda *a, **k: made.append(decode.Disassembly(*a, **k)) or made[-1])
    monkeypatch.setattr(sites, "NEAR", 8)
    assert [s.to_dict() for s in sites.analyse(path).sites] == whole
    assert len(made) > 1 and made[0].escapes and not made[-1].escapes


@pytest.mark.parametrize("path", ["/usr/lib/llvm-14/bin/FileCheck", "/lib/x86_64-linux-gnu/libc.so.6",
                                  "/usr/bin/etcdctl"])
def test_scan_finds_every_instruction_sending_control_into_ranges(path):
    """scan.inbound finds, for ranges of code, a byte inside every
    instruction of the whole sweep whose direct target, rip-relative
    operand, jump table (``lea``) or (position-dependent FileCheck and
    etcdctl) immediate lands in them."""
    import random
    import re

    import capstone
    import numpy as np

    from libsubst.elf import ElfFile
    from libsubst.uklibc import decode, scan

    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    dis = decode.Disassembly(ElfFile.open(path))
    rng = random.Random(15)
    near = []
    for code in dis.codes:
        for i in sorted(rng.sample(range(len(code.addrs)), min(60, len(code.addrs)))):
            a = code.addrs[i]
            if not near or a - 64 > near[-1][1]:
                near.append((a - 64, a + 64))
    hits = scan.inbound(dis.elf, near, dis.spans, dis.absolute)
    into = scan._Ranges(near)
    lite = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    lite.skipdata = True
    rip = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+)\]")
    hexes = re.compile(r"(?<![\w])0x[0-9a-f]+\b")
    checked = 0
    share = 300_000 / dis.instructions      # instructions looked at: a sample of etcdctl's 2 million
    for code in dis.codes:
        for k, (a, s) in enumerate(zip(code.addrs, code.sizes)):
            if code.flags[k] & decode.BAD or rng.random() > share:
                continue
            raw = code.raw(k)
            _, _, m, o = next(lite.disasm_lite(raw, a))
            lands = []
            r = rip.search(o)
            if r:
                t = a + s + (int(r.group(2), 16) * (1 if r.group(1) == "+" else -1))
                lands.append(t)
                if m == "lea" and not dis.in_code(t):
                    lands += dis.jump_table(t)
            if decode._kind(m)[0] in (decode._JUMP, decode._CALL) and o.startswith("0x"):
                lands.append(int(o, 16))
            if dis.absolute:
                lands += [int(h, 16) for h in hexes.findall(o)]
            lands = np.array([t for t in lands if 0 <= t < 1 << 63], dtype=np.int64)
            if into.has(lands).any():
                checked += 1
                at = bisect_left(hits, a)
                assert at < len(hits) and hits[at] < a + s, (hex(a), m, o)
    assert checked > 50


# A Go program built as a PIE: its function table has no section of its own
# (the host linker merges it into .data.rel.ro; Go's names it
# .data.rel.ro.gopclntab) and its textStart is filled by a relocation.
GO_PIE_SRC = """package main

import (
	"bytes"
	"fmt"
	"os"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Printf("%d bytes, %d lines\\n", len(data), bytes.Count(data, []byte("\\n")))
}
"""


@pytest.fixture(scope="module")
def go_pies(tmp_path_factory):
    """{link mode: a PIE of GO_PIE_SRC linked so, with its symbols} and
    ``stripped`` copies (as Debian ships them: no symbol table), one of them
    with no section headers either."""
    from libsubst.elf import ElfFile

    if shutil.which("go") is None:
        pytest.skip("no go tool (tests/run.sh installs golang-go)")
    d = tmp_path_factory.mktemp("gopie")
    (d / "main.go").write_text(GO_PIE_SRC)
    out = {}
    for mode in ("internal", "external"):
        exe = d / mode
        subprocess.run(["go", "build", "-buildmode=pie", f"-ldflags=-linkmode={mode}", "-o",
                        str(exe), "main.go"], cwd=d, check=True, capture_output=True,
                       env={**os.environ, "GO111MODULE": "off", "CGO_ENABLED": "0"})
        assert ElfFile.open(str(exe)).section(".gopclntab") is None
        out[mode] = str(exe)
        out[f"{mode} stripped"] = str(d / f"{mode}-stripped")
        subprocess.run(["strip", "-o", out[f"{mode} stripped"], str(exe)], check=True)
    bare = bytearray(open(out["external stripped"], "rb").read())
    bare[0x28:0x30], bare[0x3C:0x40] = bytes(8), bytes(4)       # e_shoff, e_shnum, e_shstrndx
    out["external bare"] = str(d / "external-bare")
    open(out["external bare"], "wb").write(bare)
    os.chmod(out["external bare"], 0o755)
    return out


def _go_functions(path):
    """The Go functions' entries by the symbol table, and the end of the last."""
    from libsubst.elf import ElfFile

    symbols = ElfFile.open(path).symbols()
    names = {n: v for v, _, _, n in symbols}
    text, etext = names["runtime.text"], names["runtime.etext"]
    return sorted({v for v, _, info, _ in symbols if info & 0xF == 2 and text <= v < etext}) + [etext]


def test_a_go_pies_function_table_is_found_without_its_section(go_pies):
    """gotext finds a PIE's table by its header, checked against the
    runtime's module data: its entries are the Go functions the symbol
    table names, stripped or not, with no section headers, and with
    textStart's own word zeroed (its relocation's addend is what it holds)."""
    from libsubst.elf import ElfFile
    from libsubst.uklibc import gotext

    for mode in ("internal", "external"):
        want = _go_functions(go_pies[mode])
        assert len(want) > 1000
        for name in (mode, f"{mode} stripped") + (("external bare",) if mode == "external" else ()):
            assert gotext.function_entries(ElfFile.open(go_pies[name])) == want, name
    data, header = _go_pie_header(go_pies["external stripped"])
    data[header + 24:header + 32] = bytes(8)
    assert gotext.function_entries(ElfFile(bytes(data))) == want


def _go_pie_header(path):
    """A Go PIE's bytes and the file offset of its table's header."""
    data = bytearray(open(path, "rb").read())
    at = [data.find(struct.pack("<I", m) + b"\0\0\x01\x08") for m in (0xFFFFFFF0, 0xFFFFFFF1)]
    assert max(at) > 0
    return data, max(at)


@pytest.mark.parametrize("name", ["/usr/bin/age", "internal stripped", "external stripped"])
def test_go_pie_sites_decoding_around_them_are_the_whole_sweeps(go_pies, name, work):
    """A Go PIE's sites are classified from its functions near a ``0f 05``
    (its table found without its section): the whole sweep's sites,
    statuses, numbers and windows, from a fraction of the instructions; the
    program runs as natively."""
    from libsubst.uklibc import sites

    path = go_pies.get(name, name)
    if not os.path.exists(path):
        pytest.skip(f"no {path} (tests/run.sh installs age)")
    near, whole = sites.analyse(path), sites.analyse(path, whole=True)
    assert [s.to_dict() for s in near.sites] == [s.to_dict() for s in whole.sites]
    assert near.rewritable and near.instructions * 4 < whole.instructions
    if name != path:
        argv = [path, "notes.txt"]
        assert_same(run_native(argv, work), run_guest(argv, work))
        assert run_guest([path, "missing"], work).returncode == 3


def _bad_func(data, header):
    """A _func record naming another entry than its function's."""
    pcln = header + struct.unpack_from("<Q", data, header + 64)[0]
    func = pcln + struct.unpack_from("<I", data, pcln + 8 * 7 + 4)[0]
    data[func] ^= 1


def _relocated_elsewhere(data, header, field):
    """The RELATIVE relocation storing the header's address (the module
    data's pointer: ``field`` None) or filling the header's ``field``
    (textStart: 24) stores 16 more."""
    vaddr = _vaddr(data, header)
    if field is None:
        at = data.find(struct.pack("<Qq", 8, vaddr)) + 8       # r_info, r_addend
    else:
        at = data.find(struct.pack("<QQ", vaddr + field, 8)) + 16     # r_offset, r_info
    assert at > 16
    struct.pack_into("<q", data, at, struct.unpack_from("<q", data, at)[0] + 16)


def _vaddr(data, offset):
    from libsubst.elf import ElfFile

    for s in ElfFile(bytes(data)).loads:
        if s.p_offset <= offset < s.p_offset + s.p_filesz:
            return offset - s.p_offset + s.p_vaddr
    raise AssertionError(offset)


@pytest.mark.parametrize("damage", ["_func", "module data's pointer", "textStart"])
def test_a_damaged_go_table_makes_a_go_pie_decoded_whole(go_pies, damage, monkeypatch, tmp_path):
    """A table that does not check out (a ``_func`` naming another entry,
    the module data pointing elsewhere, a textStart the module data does
    not have) gives no functions: the program is decoded whole, never
    planned from a wrong table."""
    from libsubst.elf import ElfFile
    from libsubst.uklibc import decode, gotext, sites

    data, header = _go_pie_header(go_pies["external stripped"])
    if damage == "_func":
        _bad_func(data, header)
    else:
        _relocated_elsewhere(data, header, None if damage == "module data's pointer" else 24)
    path = str(tmp_path / "damaged")
    open(path, "wb").write(data)
    assert gotext.function_entries(ElfFile.open(path)) == []
    made = []
    monkeypatch.setattr(sites, "Disassembly",
                        lambda *a, **k: made.append(k.get("near")) or decode.Disassembly(*a, **k))
    assert sites.analyse(path).rewritable and made == [None]


def test_a_go_program_carrying_another_ones_table_is_planned_from_its_own(go_pies, tmp_path):
    """A Go program that embeds another Go program (its table's header
    among its data, at an aligned address) is planned from its own table:
    no module data points at the other one."""
    from libsubst.elf import ElfFile
    from libsubst.uklibc import gotext

    shutil.copy(go_pies["external stripped"], tmp_path / "inner")
    (tmp_path / "main.go").write_text(
        'package main\nimport (\n\t_ "embed"\n\t"os"\n)\n\n//go:embed inner\nvar inner []byte\n\n'
        'func main() { os.Stdout.Write(inner[:4]) }\n')
    outer = str(tmp_path / "outer")
    subprocess.run(["go", "build", "-buildmode=pie", "-ldflags=-linkmode=external", "-o", outer,
                    "main.go"], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "GO111MODULE": "off", "CGO_ENABLED": "0"})
    elf = ElfFile.open(outer)
    inner_data, inner_header = _go_pie_header(str(tmp_path / "inner"))
    embedded = bytes(elf.data).find(bytes(inner_data[:1 << 12]))
    assert embedded > 0 and _vaddr(bytes(elf.data), embedded + inner_header) % 8 == 0
    assert gotext.function_entries(elf) == _go_functions(outer)


@pytest.mark.parametrize("low", [False, True], ids=["text at 4 MiB", "text below 64 KiB"])
def test_a_go_program_whose_code_starts_below_64k_is_decoded_whole(tmp_path, monkeypatch, low):
    """The scan reads no 16-bit immediate, which the whole sweep takes as a
    possible code address when the code starts below 64 KiB (``go build
    -ldflags=-T=0x1000``): such a program is decoded whole."""
    from libsubst.uklibc import decode, sites

    if shutil.which("go") is None:
        pytest.skip("no go tool (tests/run.sh installs golang-go)")
    (tmp_path / "hello.go").write_text('package main\nimport "os"\n'
                                       'func main() { os.Stdout.WriteString("hi\\n") }\n')
    exe = tmp_path / "hello"
    flags = ["-ldflags=-T=0x1000"] if low else []
    subprocess.run(["go", "build", *flags, "-o", str(exe), "hello.go"], cwd=tmp_path, check=True,
                   env={**os.environ, "GO111MODULE": "off", "CGO_ENABLED": "0"})
    made = []
    monkeypatch.setattr(sites, "Disassembly",
                        lambda *a, **k: made.append(k.get("near")) or decode.Disassembly(*a, **k))
    assert sites.analyse(str(exe)).rewritable
    assert (made[0] is None) == low
