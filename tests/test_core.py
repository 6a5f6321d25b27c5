"""--core DIR: a crashing guest writes an ELF core file that gdb opens with
the program's and libraries' symbols, as a native core."""

import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import LIBSUBST, build_c, run_guest

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


@pytest.fixture(scope="module")
def crash(tmp_path_factory):
    return build_c("crash_deep", str(tmp_path_factory.mktemp("core")), "-g", "-O0")


def gdb_bt(exe, core):
    out = subprocess.run(["gdb", "-batch", "-nx", exe, core, "-ex", "bt",
                          "-ex", "info sharedlibrary"], capture_output=True, timeout=120)
    return out.stdout.decode() + out.stderr.decode()


def check_backtrace(text):
    assert "Program terminated with signal SIGSEGV" in text, text
    frames = dict(re.findall(r"^#(\d+)\s+.*?in (\w+) \(", text, re.M))
    names = [frames[str(i)] for i in range(len(frames))]
    assert names[:5] == ["depth"] * 4 + ["main"], text
    assert re.search(r"depth \(p=0x10, n=0\) at .*crash_deep.c", text), text
    assert re.search(r"Yes\s+/lib/x86_64-linux-gnu/libc.so.6", text), text


def test_a_crash_writes_a_core_gdb_reads(crash, tmp_path):
    cores = tmp_path / "cores"
    cores.mkdir()
    r = run_guest([crash], tmp_path, opts=("--core", str(cores)))
    assert r.returncode == 128 + 11
    (core,) = glob.glob(str(cores / "core.*"))
    assert f"core file written to {core}" in r.stderr.decode()
    check_backtrace(gdb_bt(crash, core))


def test_the_environment_variable_and_no_core_without_a_crash(crash, tmp_path):
    env = dict(os.environ, LIBSUBST_CORE=str(tmp_path))
    done = subprocess.run([*LIBSUBST, "run", "/bin/true"], cwd=tmp_path, env=env,
                          capture_output=True, timeout=120)
    assert done.returncode == 0 and glob.glob(str(tmp_path / "core.*")) == []
    done = subprocess.run([*LIBSUBST, "run", crash], cwd=tmp_path, env=env,
                          capture_output=True, timeout=120)
    assert done.returncode == 139 and len(glob.glob(str(tmp_path / "core.*"))) == 1


def test_a_packed_image_crash_gives_a_core(crash, tmp_path):
    image = tmp_path / "crash.lsi"
    done = subprocess.run([*LIBSUBST, "pack", crash, "-o", str(image)], capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    r = run_guest([str(image)], tmp_path, opts=("--core", str(tmp_path)))
    assert r.returncode == 139
    (core,) = glob.glob(str(tmp_path / "core.*"))
    check_backtrace(gdb_bt(crash, core))


def test_a_bad_core_directory_is_one_line(tmp_path):
    done = subprocess.run([*LIBSUBST, "run", "--core", str(tmp_path / "missing"), "/bin/true"],
                          capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode != 0 and err.startswith("libsubst: --core") and \
        len(err.splitlines()) == 1, err
