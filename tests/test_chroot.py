"""Inside a chroot, `libsubst run` says why it cannot start a guest (Linux
refuses a user namespace to a chrooted process) and what to do instead; the
same tree entered the way it says, with a mount namespace and pivot_root,
runs the guest."""

import os
import subprocess
import sys

import pytest

PYTHON = os.path.abspath(sys.executable)   # the tree has no tests/.. to resolve

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chroot and mounts need root")


def _tree_script(root, enter):
    """A shell script for `unshare --mount`: a directory holding, bind-mounted
    at their own paths, the host's /usr, /etc, /dev, /proc, /sys and the
    Python running these tests, a tmpfs /tmp, the merged-/usr links; then
    `enter` (which finds the tree in $R)."""
    paths = {"/usr", "/etc", "/dev", "/proc", "/sys",
             os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    # Only the outermost of nested paths: an rbind brings what is below it.
    paths = sorted(p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths))
    binds = "".join(f'mkdir -p "$R{p}" && mount --rbind "{p}" "$R{p}" && ' for p in paths)
    links = "".join(f'ln -s usr/{d} "$R/{d}" && ' for d in ("bin", "lib", "lib64", "sbin"))
    # The tmpfs /tmp first: a Python (a checkout's venv) below /tmp is bound over it.
    return (f'set -e; R="{root}"; mount --make-rprivate / && '
            f'mkdir -p "$R/tmp" && mount -t tmpfs tmpfs "$R/tmp" && {binds}{links}{enter}')


def _in_tree(tree, enter, argv):
    """argv run in a tree made in the empty directory `tree` and entered with `enter`."""
    tree.mkdir()
    run = " ".join(f"'{a}'" for a in argv)
    return subprocess.run(["unshare", "--mount", "sh", "-c", _tree_script(tree, enter.format(run=run))],
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def test_a_chroot_is_refused_in_words(tmp_path):
    r = _in_tree(tmp_path / "root", 'exec chroot "$R" sh -c "cd /tmp && exec {run}"',
                 [PYTHON, "-m", "libsubst", "run", "/bin/true"])
    err = r.stderr.decode(errors="replace")
    lines = err.splitlines()
    assert r.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("libsubst: "), err
    assert "inside a chroot" in err and "user namespace" in err and "pivot_root" in err, err


def test_the_same_tree_entered_with_pivot_root_runs_the_guest(tmp_path):
    enter = ('mount --rbind "$R" "$R" && cd "$R" && mkdir .old && pivot_root . .old && '
             'umount -l /.old && cd /tmp && exec {run}')
    argv = ["/bin/echo", "hello", "from", "pivot_root"]
    native = _in_tree(tmp_path / "native", enter, argv)
    guest = _in_tree(tmp_path / "guest", enter, [PYTHON, "-m", "libsubst", "run", *argv])
    assert native.returncode == 0, native.stderr
    assert guest.stderr == native.stderr
    assert guest.stdout == native.stdout
    assert guest.returncode == native.returncode
