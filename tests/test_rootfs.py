"""The guest's root looks like the host's where programs look: merged-/usr
links, the usual directories, scripts whose #! names /bin/sh."""

import gzip
import os

import pytest

from conftest import assert_same, run_guest, run_native
from libsubst.image import rootfs
from libsubst.image.tree import Tree

TOP_LINKS = sorted(n for n in os.listdir("/") if os.path.islink("/" + n))


def test_layout_has_the_hosts_top_level_links():
    tree = Tree()
    rootfs.add_layout(tree)
    assert TOP_LINKS, "this host has no top-level symlinks to compare with"
    for name in TOP_LINKS:
        e = tree.get("/" + name)
        assert e.kind == "symlink" and e.target == os.readlink("/" + name)
    for d in rootfs.USUAL_DIRS:
        if os.path.isdir(d) and not os.path.islink(d):
            assert tree.get(os.path.realpath(d)).kind == "dir", d


def test_add_at_own_path_keeps_links_on_the_way():
    """--add /bin/gunzip on merged /usr: /bin stays a link, the file lands in /usr/bin."""
    if not os.path.islink("/bin"):
        pytest.skip("this host's /bin is not a symlink")
    tree = Tree()
    rootfs.add_host(tree, "/bin/gunzip")
    assert tree.get("/bin").kind == "symlink"
    assert tree.get(os.path.realpath("/bin/gunzip")).kind == "file"


def test_script_with_bin_sh_interpreter(tmp_path):
    (tmp_path / "f.gz").write_bytes(gzip.compress(b"hello from a script\n"))
    argv = ["sh", "-c", "gunzip -c f.gz; ls -d /bin/ /lib/ /sbin/ /usr/bin/ /var/tmp/ /etc/"]
    native = run_native(argv, tmp_path)
    guest = run_guest(argv, tmp_path, opts=["--add", "/bin/gunzip", "--add", "/bin/gzip",
                                            "--add", "/bin/ls"])
    assert native.returncode == 0
    assert_same(native, guest)


def test_root_listing_names_the_same_links(tmp_path):
    """readlink of each top-level link in the guest is the host's."""
    argv = ["sh", "-c", "for l in " + " ".join("/" + n for n in TOP_LINKS) + "; do readlink $l; done"]
    assert_same(run_native(argv, tmp_path),
                run_guest(argv, tmp_path, opts=["--add", "/usr/bin/readlink"]))
