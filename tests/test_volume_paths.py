"""Paths a directory or more below a volume's root, stat'ed again and again
while the host or the guest changes the directories on the way: the guest
kernel stats such a path in one host call once its directories were
resolved with no symlink (fs/volume.c, vol_statx_resolved), and must still
say what is at the path now.  tests/c/path_steps.c makes one call per line
of stdin; the test changes the tree on the host between lines, the same way
for a native run and a guest's, and compares the answers."""

import os
import select
import shutil
import subprocess
import time

import pytest

from conftest import LIBSUBST, build_c

PATHS = {"fast": [], "trap": ["--no-subst"]}
OUTSIDE_SIZE = 12345          # the size of the one file outside the volume


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    # outside every volume, so that each volume is one nothing else lies under
    return build_c("path_steps", str(tmp_path_factory.mktemp("path_steps")))


def tree(root):
    """The volume (root/vol) and a directory outside it (root/outside)."""
    vol, out = root / "vol", root / "outside"
    for d, size in ((vol / "d1" / "d2", 100), (vol / "d1" / "other", 200),
                    (out / "d9", OUTSIDE_SIZE)):
        d.mkdir(parents=True)
        (d / "f").write_bytes(b"x" * size)
    return vol, out


def readline(proc, timeout=60):
    """One line of proc's stdout, waited for at most timeout s."""
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
        chunk = os.read(proc.stdout.fileno(), 1) if ready else b""
        if not chunk:
            raise AssertionError(f"no answer within {timeout} s (or EOF): {buf!r}, "
                                 f"stderr {proc.stderr.read() if proc.poll() is not None else ''}")
        buf += chunk
    return buf.decode()


def drive(argv, vol, out, steps):
    """argv started; for each step its host change (if any) is made, then its
    line sent and the answer read.  The answers, one per step."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    answers = []
    try:
        for change, line in steps:
            if change:
                change(vol, out)
            proc.stdin.write(line.format(V=vol).encode() + b"\n")
            proc.stdin.flush()
            answers.append(readline(proc))
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return answers


def host_rename(a, b):
    return lambda vol, out: os.rename(vol / a, vol / b)


def host_out(a, b):
    return lambda vol, out: os.rename(vol / a, out / b)


def host_mkdir_with_file(d, size):
    def change(vol, out):
        (vol / d).mkdir()
        (vol / d / "f").write_bytes(b"y" * size)
    return change


def host_replace_by_symlink(d, target):
    """vol/d (a directory or a symlink) replaced by a symlink to target;
    an OUT in target is the outside directory."""
    def change(vol, out):
        p = vol / d
        if p.is_symlink():
            p.unlink()
        else:
            shutil.rmtree(p)
        os.symlink(target.replace("OUT", str(out)), p)
    return change


# (change on the host before the line, the line).  Each path is stat'ed
# twice in a row at least: the first walk notes its directories resolved,
# the second takes the one host call.
STEPS = [
    (None, "stat {V}/d1/d2/f"), (None, "stat {V}/d1/d2/f"), (None, "statx {V}/d1/d2/f"),
    # a cached directory renamed by the host, inside the volume
    (host_rename("d1/d2", "d1/d3"), "stat {V}/d1/d2/f"), (None, "statx {V}/d1/d2/f"),
    (None, "stat {V}/d1/d3/f"), (None, "stat {V}/d1/d3/f"), (None, "open {V}/d1/d3/f"),
    # ... and out of it
    (host_out("d1/d3", "d3"), "stat {V}/d1/d3/f"), (None, "lstat {V}/d1/d3/f"),
    (None, "open {V}/d1/d3/f"),
    # a new directory where a cached one was
    (host_mkdir_with_file("d1/d2", 300), "stat {V}/d1/d2/f"), (None, "stat {V}/d1/d2/f"),
    # replaced by the host by a symlink inside the volume
    (host_replace_by_symlink("d1/d2", "other"), "stat {V}/d1/d2/f"),
    (None, "statx {V}/d1/d2/f"), (None, "lstat {V}/d1/d2"),
    # by the guest: a cached directory renamed, removed, replaced by a symlink
    (None, "stat {V}/d1/other/f"), (None, "stat {V}/d1/other/f"),
    (None, "rename {V}/d1/other {V}/d1/moved"), (None, "stat {V}/d1/other/f"),
    (None, "stat {V}/d1/moved/f"), (None, "stat {V}/d1/moved/f"),
    (None, "mkdir {V}/d1/other"), (None, "stat {V}/d1/other/f"),
    (None, "rmdir {V}/d1/other"), (None, "symlink {V}/d1/other moved"),
    (None, "stat {V}/d1/other/f"), (None, "lstat {V}/d1/other/f"), (None, "statx {V}/d1/other/f"),
    (None, "unlink {V}/d1/other"), (None, "stat {V}/d1/other/f"),
    (None, "rename {V}/d1/moved {V}/d1/other"), (None, "stat {V}/d1/other/f"),
    # relative paths (the cwd in the volume) take what the absolute ones noted
    (None, "cd {V}"), (None, "stat d1/other/f"), (None, "stat d1/other/f"),
    (None, "statx d1/other/f"), (host_rename("d1/other", "d1/again"), "stat d1/other/f"),
    (None, "stat d1/again/f"), (None, "stat d1/again/f"), (None, "cd {V}/d1"),
    (host_rename("d1/again", "d1/other"), "stat again/f"), (None, "stat ./other/f"),
    (None, "stat other/f"), (None, "stat ../d1/other/f"),
]


@pytest.mark.parametrize("path", PATHS)
def test_deep_stats_follow_changes_on_the_way_as_natively(prog, tmp_path, path):
    (tmp_path / "native").mkdir()
    (tmp_path / "guest").mkdir()
    vol_n, out_n = tree(tmp_path / "native")
    vol_g, out_g = tree(tmp_path / "guest")
    native = drive([prog], vol_n, out_n, STEPS)
    guest = drive([*LIBSUBST, "run", *PATHS[path], "--no-cwd", "--volume", f"{vol_g}:{vol_g}",
                   prog], vol_g, out_g, STEPS)
    assert guest == native
    assert "ENOENT\n" in guest
    assert "file 300 1 as fstat\n" in guest and "file 200 1 as fstat\n" in guest


@pytest.mark.parametrize("path", PATHS)
def test_a_host_symlink_out_of_the_volume_is_not_followed(prog, tmp_path, path):
    """A directory whose path the kernel stats in one call, replaced on the
    host by a symlink to a directory outside the volume, one the guest has
    as another volume elsewhere (/elsewhere): the host's stat of the whole
    path, made from the volume's root, reaches the outside file (the guest's
    mount namespace holds it, bound at its host path), but on another
    mount, so the kernel's mount check (vol_statx_resolved) sends it to the
    walk, which follows the link as a guest path, where nothing is: stopped
    by the guest kernel, the sandbox's mount namespace not in the way.
    Natively the same change shows the outside file."""
    vol, out = tree(tmp_path)
    steps = [(None, "stat {V}/d1/d2/f"), (None, "stat {V}/d1/d2/f"),
             (host_replace_by_symlink("d1/d2", "OUT/d9"), "stat {V}/d1/d2/f"),
             (None, "statx {V}/d1/d2/f"), (None, "open {V}/d1/d2/f"), (None, "lstat {V}/d1/d2")]
    answers = drive([*LIBSUBST, "run", *PATHS[path], "--no-cwd", "--volume", f"{vol}:{vol}",
                     "--volume", f"{out}:/elsewhere", prog], vol, out, steps)
    assert answers[:2] == ["file 100 1 as fstat\n"] * 2
    assert answers[2:5] == ["ENOENT\n"] * 3, answers
    assert answers[5].startswith("symlink ")
    (tmp_path / "again").mkdir()
    vol2, out2 = tree(tmp_path / "again")
    native = drive([prog], vol2, out2, steps)
    assert native[2] == f"file {OUTSIDE_SIZE} 1 as fstat\n"


@pytest.mark.parametrize("path", PATHS)
def test_a_guest_symlink_to_the_volume_host_path_resolves_in_the_guest(prog, tmp_path, path):
    """The guest renames a directory whose path the kernel stats in one call
    and puts a symlink in its place naming the volume's host path (the
    volume is /data in the guest): as in a container with the directory
    bound at /data, the link resolves in the guest's root, where that path
    is nothing.  The host would follow it into the same mount, so only the
    rename's news (the layer's generation, fs/namei_ops.c) keeps the one-call
    stat from answering for it."""
    vol, out = tree(tmp_path)
    steps = [(None, "stat /data/d1/d2/f"), (None, "stat /data/d1/d2/f"),
             (None, "rename /data/d1/d2 /data/d1/d5"),
             (None, "symlink /data/d1/d2 {V}/d1/d5"),
             (None, "stat /data/d1/d2/f"), (None, "statx /data/d1/d2/f"),
             (None, "stat /data/d1/d5/f")]
    answers = drive([*LIBSUBST, "run", *PATHS[path], "--no-cwd", "--volume", f"{vol}:/data",
                     prog], vol, out, steps)
    assert answers == (["file 100 1 as fstat\n"] * 2 + ["ok\n"] * 2 + ["ENOENT\n"] * 2 +
                       ["file 100 1 as fstat\n"])


def test_more_volumes_than_the_kernel_holds_say_so(tmp_path):
    """Each volume's root is one of the guest kernel's reserved fds
    (kernel.h's KFD_RESERVED): a run with more fails at boot with a line
    naming the cause, not only an errno."""
    opts = []
    for i in range(80):
        (tmp_path / f"v{i}").mkdir()
        opts += ["-v", f"{tmp_path}/v{i}:/mnt/v{i}"]
    r = subprocess.run([*LIBSUBST, "run", *opts, "/bin/true"], cwd=tmp_path,
                       capture_output=True, timeout=120)
    assert r.returncode != 0
    assert b"mounts are more than the kernel's 64 fds for them hold" in r.stderr, r.stderr
