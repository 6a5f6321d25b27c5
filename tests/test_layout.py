"""The C tree's layout (docs/architecture.md): the guest kernel (c_src/kernel/)
never includes the tender (c_src/tender/), the tender and the shared runtime
(c_src/lib/) include only the contract headers (c_src/include/libsubst/),
and no .c file declares a function of another file for itself."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
C_SRC = REPO / "c_src"
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
# Headers the build generates from libsubst/kernel (gentable.write_c).
GENERATED = {"syscall_table.h", "seccomp_filter.h", "host_constants.h", "report_records.h"}
# Angle includes a part without the host libc may use: the host's UAPI
# headers and the compiler's freestanding ones.
FREESTANDING = re.compile(r"^(linux|asm|asm-generic)/|^(stdint|stddef|stdarg)\.h$")
# A function declared at file scope in a .c file: "type name(args);".
LOCAL_PROTOTYPE = re.compile(r"^(?!static\b|typedef\b|extern\s+const\b)[A-Za-z_][\w\s\*]*\b\w+\s*\([^;{}]*\)"
                             r"\s*(__attribute__\s*\(\(.*\)\))?\s*;", re.M)


def includes(path: Path) -> list[tuple[str, str]]:
    return INCLUDE.findall(path.read_text(encoding="utf-8"))


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".c", ".h", ".S"))


def layout_violations(c_src: Path) -> list[str]:
    """Every include that crosses the layout's boundaries, as 'file: why'."""
    tender_headers = {p.name for p in (c_src / "tender").glob("*.h")}
    contract = {f"libsubst/{p.name}" for p in (c_src / "include" / "libsubst").glob("*.h")}
    bad = []
    for path in sources(c_src / "kernel"):
        for kind, name in includes(path):
            if kind == '"' and (name.split("/")[-1] in tender_headers or "tender" in name):
                bad.append(f"{path.relative_to(c_src)}: the kernel includes the tender's {name}")
    for part in ("tender", "lib", "include"):
        own = {p.name for p in (c_src / part).glob("*.h")} if part == "tender" else set()
        for path in sources(c_src / part):
            for kind, name in includes(path):
                ok = (name in contract or name in GENERATED or name in own) if kind == '"' \
                    else bool(FREESTANDING.search(name))
                if not ok:
                    shown = f'"{name}"' if kind == '"' else f"<{name}>"
                    bad.append(f"{path.relative_to(c_src)}: includes {shown}, which is "
                               "not a contract header")
    return bad


def local_prototypes(c_src: Path) -> list[str]:
    bad = []
    for path in sorted(c_src.rglob("*.c")):
        for m in LOCAL_PROTOTYPE.finditer(path.read_text(encoding="utf-8")):
            bad.append(f"{path.relative_to(c_src)}: {m.group(0).strip()}")
    return bad


def test_the_kernel_never_includes_the_tender_and_the_tender_only_contracts():
    assert (C_SRC / "tender").is_dir() and (C_SRC / "kernel").is_dir()
    assert layout_violations(C_SRC) == []


def test_no_c_file_declares_another_files_function():
    assert local_prototypes(C_SRC) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


CLEAN = {
    "include/libsubst/rt.h": "#include <stddef.h>\n",
    "tender/tender.h": '#include "libsubst/rt.h"\n#include <linux/mount.h>\n',
    "tender/main.c": '#include "tender.h"\n#include "seccomp_filter.h"\n',
    "lib/string.c": '#include "libsubst/rt.h"\n',
    "kernel/kernel.h": '#include "libsubst/rt.h"\n',
    "kernel/boot.c": '#include "kernel.h"\nstatic long f(void);\n',
}


@pytest.mark.parametrize("rel, text, why", [
    ("kernel/fs/open.c", '#include "tender.h"\n', "the kernel includes the tender's tender.h"),
    ("kernel/boot.c", '#include "../tender/tender.h"\n', "the kernel includes the tender's"),
    ("tender/relay.c", '#include "kernel.h"\n', 'includes "kernel.h"'),
    ("tender/relay.c", '#include "fs/synth.h"\n', 'includes "fs/synth.h"'),
    ("lib/printf.c", '#include "kernel.h"\n', 'includes "kernel.h"'),
    ("tender/relay.c", "#include <stdio.h>\n", "includes <stdio.h>"),
])
def test_the_check_finds_each_kind_of_crossing(tmp_path, rel, text, why):
    root = _tree(tmp_path, CLEAN)
    assert layout_violations(root) == []
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    found = layout_violations(root)
    assert len(found) == 1 and why in found[0], found


def test_the_check_finds_a_local_prototype(tmp_path):
    root = _tree(tmp_path, CLEAN)
    assert local_prototypes(root) == []
    (root / "kernel" / "boot.c").write_text(
        '#include "kernel.h"\nlong trap_install(int sig, void (*fn)(int, void *));\n'
        "void exec_fail_late(void) __attribute__((noreturn));\n")
    assert len(local_prototypes(root)) == 2


def test_architecture_md_names_only_files_that_exist():
    """docs/architecture.md is the layout's reference: every source file it
    names is in the tree (generated ones are gentable's)."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    tree = {p.relative_to(REPO).as_posix() for top in ("c_src", "libsubst", "tests", "benchmarks")
            for p in (REPO / top).rglob("*") if p.is_file()} | {p.name for p in REPO.iterdir()}
    named = set(re.findall(r"[\w/.-]*\w\.(?:c|h|S|py)\b", text)) - GENERATED
    missing = {n for n in named if not any(t == n or t.endswith("/" + n) for t in tree)}
    assert len(named) > 30 and not missing, sorted(missing)


def test_the_host_files_directory_is_the_contracts():
    """Python names where the tender binds the image's files as handover.h
    does (a string, which cffi cannot read from the header)."""
    from libsubst.monitor import bootinfo

    header = (C_SRC / "include" / "libsubst" / "handover.h").read_text()
    assert f'#define LS_HOST_FILES "{bootinfo.HOST_FILES}"\n' in header
