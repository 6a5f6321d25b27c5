"""libsubst run --profile: a flame graph (SVG) and folded stacks of the guest,
sampled by perf from outside the sandbox, whose hottest frames are the
program's known hot function."""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import LIBSUBST, build_c

pytestmark = pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")


def test_the_hot_function_is_on_top(tmp_path):
    exe = build_c("profile_spin", str(tmp_path), "-g")
    out = tmp_path / "prof.svg"
    done = subprocess.run([*LIBSUBST, "run", "--profile", str(out), exe], capture_output=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert f"written to {out}" in done.stderr.decode()
    folded = {}
    for line in (tmp_path / "prof.folded").read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        folded[stack] = int(n)
    total = sum(folded.values())
    assert total > 50, folded
    hot = sum(n for s, n in folded.items() if s.split(";")[-1] == "hot_loop")
    assert hot / total > 0.8, folded
    assert any(s.endswith("main;hot_loop") for s in folded), folded
    # A frame without a symbol is named by its file, as natively: the
    # library, never the bind an image file has in the guest's mount
    # namespace (/.libsubst-files/INDEX: it was "[39]").
    unnamed = {f for s in folded for f in s.split(";") if f.startswith("[")}
    assert all(f in ("[host]", "[unknown]") or f.startswith("[guest kernel] ") or
               re.fullmatch(r"\[[\w+-]+\.so[\w.]*\]", f) for f in unnamed), unnamed
    svg = ET.parse(out).getroot()
    assert svg.tag.endswith("svg")
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("hot_loop (") for t in titles), titles[:20]


def test_a_forked_process_is_sampled_from_its_start(tmp_path):
    # The guest waits for perf before its first instruction, so the process
    # dash forks for the first command is sampled as a whole.
    exe = build_c("profile_spin", str(tmp_path), "-g")
    out = tmp_path / "fork.svg"
    done = subprocess.run([*LIBSUBST, "run", "--profile", str(out), "/bin/sh", "-c",
                           f"{exe}; echo done"], capture_output=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == b"done\n", done.stderr.decode()
    folded = dict(line.rsplit(" ", 1) for line in
                  (tmp_path / "fork.folded").read_text().splitlines())
    hot = sum(int(n) for s, n in folded.items() if s.endswith("main;hot_loop"))
    assert hot / sum(map(int, folded.values())) > 0.8, folded


def test_guest_kernel_and_host_frames_are_named(tmp_path):
    out = tmp_path / "cat.svg"
    (tmp_path / "big").write_bytes(os.urandom(1 << 20) * 64)
    with open(os.devnull, "wb") as null:
        done = subprocess.run([*LIBSUBST, "run", "--profile", str(out), "/bin/cat",
                               *["big"] * 40], stdout=null, stderr=subprocess.PIPE,
                              timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    stacks = (tmp_path / "cat.folded").read_text()
    assert "[host]" in stacks                       # time in the host kernel, folded
    assert "[guest kernel] " in stacks              # the guest kernel's own frames


def test_without_perf_it_is_refused_at_start(tmp_path):
    env = dict(os.environ, PATH="/nonexistent")
    done = subprocess.run([*LIBSUBST, "run", "--profile", str(tmp_path / "p.svg"), "/bin/true"],
                          capture_output=True, timeout=60, env=env)
    err = done.stderr.decode()
    assert done.returncode != 0 and err.startswith("libsubst: --profile needs perf"), err
    assert len(err.splitlines()) == 1
