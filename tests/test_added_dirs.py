"""--add DIR at its own path: one read-only bind of the directory (not an
entry and a bind per file), its symlinks that lead out of it brought as
entries, its programs' libraries and substitutes as entries; the guest sees
it as natively, cannot change it, and a cached plan misses when it changes."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import assert_same, run_guest, run_native
from libsubst.api import prepare

FRONTEND = os.path.join(os.path.dirname(sys.executable), "libsubst")


def _tools(tmp_path):
    """tools/: a real program (xz), a plain file, a link to a sibling, a
    link leading out of it (to /usr/bin/tail), a subdirectory."""
    tools = tmp_path / "tools"
    (tools / "sub").mkdir(parents=True)
    shutil.copy("/usr/bin/xz", tools / "xz")
    (tools / "notes.txt").write_text("alpha\nbeta\n" * 20)
    (tools / "sub" / "deep.txt").write_text("deep\n")
    os.symlink("xz", tools / "unxz-here")
    os.symlink(os.path.realpath("/usr/bin/tail"), tools / "tail")
    return tools


def test_an_added_directory_is_one_read_only_bind(tmp_path):
    tools = _tools(tmp_path)
    plan = prepare("/bin/true", add=[str(tools)], mount_cwd=False)
    assert [m for m in plan.mounts if m.guest == str(tools)] == \
        [m for m in plan.mounts if m.host == str(tools) and m.readonly]
    below = {e.path: e for e in plan.entries if e.path.startswith(f"{tools}/")}
    # No file of it is an entry; the link leading out is, with its target.
    assert sorted(below) == [f"{tools}/tail"]
    assert below[f"{tools}/tail"].kind == "symlink"
    tail = [e for e in plan.entries if e.path == os.path.realpath("/usr/bin/tail")]
    assert [e.kind for e in tail] == ["file"]
    # xz's own library, which /bin/true does not load, is an entry.
    assert any(os.path.basename(e.path).startswith("liblzma.so") for e in plan.entries)


def test_a_directory_holding_a_fifo_keeps_its_entries(tmp_path):
    """A bind would show a fifo (a socket, a device) the per-file entries
    leave out: such a directory is added file by file, as before."""
    tools = _tools(tmp_path)
    os.mkfifo(tools / "pipe")
    plan = prepare("/bin/true", add=[str(tools)], mount_cwd=False)
    assert not [m for m in plan.mounts if m.guest == str(tools)]
    paths = {e.path: e.kind for e in plan.entries}
    assert paths[f"{tools}/notes.txt"] == "file" and f"{tools}/pipe" not in paths


def test_an_added_directory_runs_as_natively(tmp_path):
    """Its programs run, through its links too, a link leading out of it
    resolves, its listing and files are the host's; the guest cannot
    change it (the bind is read-only) and the host's file is untouched."""
    tools = _tools(tmp_path)
    argv = ["sh", "-c", "ls -R tools; tools/xz -c tools/notes.txt | tools/unxz-here -dc | "
                        "tools/tail -n 1; cat tools/sub/deep.txt"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.endswith(b"beta\ndeep\n"), native.stderr
    assert_same(native, run_guest(argv, tmp_path, opts=["--no-cwd", "-w", str(tmp_path),
                                                         "--add", str(tools), "--add", "/bin/ls",
                                                         "--add", "/bin/cat"]))
    write = run_guest(["sh", "-c", "echo changed > tools/notes.txt"], tmp_path,
                      opts=["--no-cwd", "-w", str(tmp_path), "--add", str(tools)])
    assert write.returncode != 0
    assert (tools / "notes.txt").read_text() == "alpha\nbeta\n" * 20


@pytest.mark.skipif(not os.access(FRONTEND, os.X_OK),
                    reason="the front end is installed by pip beside the Python")
def test_a_change_to_an_added_directory_misses(tmp_path):
    """The plan cache keeps the bound directory's listing: a program put
    there after planning makes the next run plan again (its libraries)."""
    tools = _tools(tmp_path)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    plans = tmp_path / "cache" / "libsubst" / "plans"
    cmd = [FRONTEND, "run", "--no-cwd", "-w", str(tmp_path), "--add", str(tools),
           "--add", "/bin/ls", "sh", "-c", "ls tools"]

    def run():
        done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout, {p.name: p.stat().st_ino for p in plans.iterdir()
                             if not p.name.startswith(("kernel-", "."))}

    out, first = run()
    assert run() == (out, first)                  # a hit: the entry is not rewritten
    shutil.copy("/usr/bin/sha256sum", tools / "sha256sum")
    out, after = run()
    assert b"sha256sum\n" in out and after != first


@pytest.mark.long
def test_a_script_with_the_toolbox_of_usr_bin(tmp_path):
    """The whole of /usr/bin added (its first run substitutes every library
    its programs load: minutes), a script using several of its tools."""
    (tmp_path / "words.txt").write_text("pear apple fig apple kiwi pear apple\n")
    argv = ["/bin/sh", "-c", "tr ' ' '\\n' < words.txt | sort | uniq -c | sort -rn | head -2; "
                             "awk '{print NF}' words.txt; sha256sum words.txt | cut -c1-16; "
                             "basename $(readlink -f /usr/bin/awk); ls /usr/bin | wc -l"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.startswith(b"      3 apple\n")
    assert_same(native, run_guest(argv, tmp_path, opts=["--add", "/usr/bin"]))
