"""Big programs start: LLVM's tools (libLLVM-14, 110 MB, and a tree whose
links lead back up) and large Go programs, compared with native runs; the
planner's file search and the rewriter's decoding against what they replace."""

import glob
import os
import shutil
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
]


@pytest.mark.parametrize("argv,package", BIG, ids=[a[0] for a, _ in BIG])
def test_big_program_as_native(argv, package, work):
    if shutil.which(argv[0]) is None:
        pytest.skip(f"tests/run.sh installs {package}")
    assert_same(run_native(argv, work), run_guest(argv, work))


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
