"""Facts written once and read by both sides: each check puts the C the
build makes (or the assembler's bytes) beside the Python that reads the same
fact, so neither can drift from the other."""

import shutil
import subprocess
from pathlib import Path

import pytest

from libsubst.kernel import gentable, report_records, syscalls
from libsubst.uklibc import stub

REPO = Path(__file__).resolve().parent.parent
INCLUDE = REPO / "c_src" / "include"

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("gen")
    gentable.write_c(d)
    return d


def _run_c(tmp_path: Path, gen: Path, text: str) -> str:
    (tmp_path / "t.c").write_text(text)
    subprocess.run(["gcc", "-Wall", "-Werror", "-I", str(INCLUDE), "-I", str(gen), "-o",
                    str(tmp_path / "t"), str(tmp_path / "t.c")], check=True)
    return subprocess.run([str(tmp_path / "t")], check=True, capture_output=True,
                          text=True).stdout


# A value of each field type, and how C spells it.
SAMPLE = {"int": -7, "ulong": 18446744073709551615, "hex": 0xffffffffff600000, "str": "i386:x",
          "bytes": b"/a b\n\xff"}
C_LITERAL = {"int": "{}", "ulong": "{}UL", "hex": "{}UL", "str": '"{}"',
             "bytes": '"{}"'}       # the kernel writes the bytes' hex


@needs_gcc
def test_the_kernels_report_formats_are_what_the_monitor_reads(tmp_path, gen):
    """Each record, printed by C with the kernel's generated format, reads
    back to the values printed."""
    calls, expected = [], []
    for kind, fields in report_records.RECORDS.items():
        values = [SAMPLE[t] for _, t in fields]
        args = ", ".join(C_LITERAL[t].format(SAMPLE[t].hex() if t == "bytes" else SAMPLE[t])
                         for _, t in fields)
        calls.append(f"    printf(LS_REPORT_{kind.upper()}, {args});")
        expected.append((kind, values))
    out = _run_c(tmp_path, gen, "#include <stdio.h>\n#include \"report_records.h\"\n"
                 "int main(void)\n{\n" + "\n".join(calls) + "\n    return 0;\n}\n")
    assert [report_records.read(line) for line in out.splitlines()] == expected


def test_a_malformed_record_is_skipped():
    assert report_records.read("crash 11 1 0x10") == ("crash", [11, 1, 16])
    for bad in ("crash 11 1", "crash 11 1 0x10 extra", "crash x 1 0x10", "frame zz", "nosuch 1"):
        assert report_records.read(bad) is None, bad


@needs_gcc
def test_the_stub_bytes_are_the_assemblers_from_fastcall_h(tmp_path, gen):
    """The rewriter's stub (uklibc/stub.py) is what gcc assembles from the
    contract header's constants."""
    src = ('#include "libsubst/fastcall.h"\n'
           "#define S(x) #x\n#define X(x) S(x)\n"
           '__asm__(".globl seq\\nseq:\\n"\n'
           '        "lea -" X(LS_RED_ZONE) "(%rsp),%rsp\\n"\n'
           '        "call *%gs:" X(LS_KBLOCK_ENTRY) "\\n"\n'
           '        "lea " X(LS_RED_ZONE) "(%rsp),%rsp\\n"\n'
           '        ".globl seq_end\\nseq_end:\\n");\n'
           "extern const unsigned char seq[], seq_end[];\n"
           "#include <stdio.h>\nint main(void)\n{\n"
           "    for (const unsigned char *p = seq; p < seq_end; p++)\n"
           '        printf("%02x", *p);\n    return 0;\n}\n')
    out = _run_c(tmp_path, gen, src)
    assert bytes.fromhex(out) == stub.STUB_ENTER + stub.STUB_CALL + stub.STUB_LEAVE


def test_the_rewriter_leaves_exactly_the_trap_only_calls():
    """The calls the rewriter never turns into fastcalls are the table's
    TRAP_ONLY, each one the guest kernel serves (from the trap's frame)."""
    assert {syscalls.by_nr(n).name for n in stub.EXCLUDED_SYSCALLS} == set(syscalls.TRAP_ONLY)
    assert all(syscalls.by_name(n).level == syscalls.KERNEL for n in syscalls.TRAP_ONLY)
