"""libsubst.image.tree: the guest sees host paths exactly as the host does."""

import os

import pytest
from hypothesis import given, settings, strategies as st

from libsubst.errors import LibsubstError
from libsubst.image.tree import Entry, Tree
from libsubst.ldso.search import resolve


def guest_resolve(tree, path, depth=0):
    """Resolve *path* through *tree* as the guest kernel will: per component."""
    assert depth < 40, "symlink loop in the tree"
    cur = "/"
    comps = [c for c in path.split("/") if c not in ("", ".")]
    for i, name in enumerate(comps):
        if name == "..":
            cur = os.path.dirname(cur)
            continue
        here = os.path.join(cur, name)
        entry = tree.get(here)
        assert entry is not None, f"{here} missing from the tree"
        if entry.kind == "symlink":
            base = entry.target if entry.target.startswith("/") else os.path.join(cur, entry.target)
            here = guest_resolve(tree, base, depth + 1)
            entry = tree.get(here)
        assert entry.kind == "dir" or i == len(comps) - 1, f"{here} is not a directory"
        cur = here
    return cur


def check_invariants(tree):
    entries = tree.entries()
    assert [e.path for e in entries] == sorted((e.path for e in entries), key=os.fsencode)
    assert entries[0] == Entry("/", "dir", 0o755)
    for e in entries[1:]:
        assert tree.get(os.path.dirname(e.path)).kind == "dir"
        assert e.kind in ("dir", "file", "data", "symlink")


@pytest.mark.parametrize("program", ["/usr/bin/python3.11", "/bin/ls", "/usr/bin/perl"])
def test_load_plan_is_reachable_in_the_guest(program):
    if not os.path.exists(program):
        pytest.skip(f"{program} not installed")
    tree = Tree()
    paths = resolve(program).host_paths()
    for path in paths:
        tree.add_host_path(path)
    for path in paths:
        real = guest_resolve(tree, path)
        assert real == os.path.realpath(path)
        entry = tree.get(real)
        assert entry.kind == "file" and entry.host_path == real
        assert entry.size == os.path.getsize(real) and entry.mode == os.stat(real).st_mode & 0o7777
    for e in tree.entries():
        if e.kind == "symlink":
            assert os.readlink(e.path) == e.target
        elif e.kind == "dir":
            assert os.path.isdir(e.path) and not os.path.islink(e.path)
    check_invariants(tree)


@pytest.fixture
def host(tmp_path):
    """real/dir/file, with relative, absolute, chained and '..' symlinks to it."""
    (tmp_path / "real" / "dir").mkdir(parents=True)
    (tmp_path / "real" / "dir" / "file").write_bytes(b"12345")
    os.chmod(tmp_path / "real" / "dir" / "file", 0o640)
    os.symlink("real/dir", tmp_path / "rel")
    os.symlink(str(tmp_path / "real"), tmp_path / "abs")
    os.symlink("rel", tmp_path / "chain")
    os.symlink("../dir/file", tmp_path / "real" / "dir" / "up")
    return tmp_path


@pytest.mark.parametrize("path", ["rel/file", "abs/dir/file", "chain/file", "rel/../dir/file",
                                  "chain/./../dir/file"])
def test_symlinks_are_kept(host, path):
    tree = Tree()
    real = tree.add_host_path(f"{host}/{path}")
    assert real == f"{host}/real/dir/file" == os.path.realpath(f"{host}/{path}")
    assert guest_resolve(tree, f"{host}/{path}") == real
    assert tree.get(real) == Entry(real, "file", 0o640, real, None, None, 5, os.stat(real).st_mtime_ns)
    check_invariants(tree)


def test_symlink_entries(host):
    tree = Tree()
    tree.add_host_path(f"{host}/chain/file")
    assert tree.get(f"{host}/chain") == Entry(f"{host}/chain", "symlink", 0o777, target="rel")
    assert tree.get(f"{host}/rel").target == "real/dir"
    assert tree.get(f"{host}/abs") is None


def test_dangling_and_looping_symlinks(host):
    os.symlink("nowhere", host / "dangling")
    os.symlink("loop2", host / "loop1")
    os.symlink("loop1", host / "loop2")
    tree = Tree()
    before = tree.entries()
    for bad in ("dangling", "loop1/x", "real/dir/file/x"):
        with pytest.raises(LibsubstError) as e:
            tree.add_host_path(f"{host}/{bad}")
        assert "\n" not in str(e.value)
        # A failed add leaves nothing behind.
        assert tree.entries() == before


def test_special_files_and_relative_paths(host):
    os.mkfifo(host / "fifo")
    tree = Tree()
    with pytest.raises(LibsubstError, match="not a regular file"):
        tree.add_host_path(f"{host}/fifo")
    with pytest.raises(LibsubstError, match="not absolute"):
        tree.add_host_path("real/dir/file")


def test_directory_as_final_component(host):
    tree = Tree()
    tree.add_host_path(f"{host}/rel")
    assert tree.get(f"{host}/real/dir").kind == "dir"
    assert tree.get(f"{host}/real/dir/file") is None


def test_idempotent_and_conflicts(host):
    tree = Tree()
    tree.add_host_path(f"{host}/chain/file")
    n = len(tree)
    tree.add_host_path(f"{host}/chain/file")
    tree.add_host_path(f"{host}/real/dir/up")
    assert len(tree) == n + 1
    tree.add_data("/etc/hostname", b"guest\n")
    tree.add_data("/etc/hostname", b"guest\n")
    tree.add_dir("/etc")
    tree.add_symlink("/etc/mtab", "../proc/self/mounts")
    tree.add_symlink("/etc/mtab", "../proc/self/mounts")
    for call, args in ((tree.add_dir, ("/etc/hostname",)), (tree.add_data, ("/etc", b"")),
                       (tree.add_data, ("/etc/hostname", b"other\n")),
                       (tree.add_symlink, ("/etc/mtab", "/proc/mounts")),
                       (tree.add_data, ("/etc/hostname/x", b"")),
                       (tree.add_data, (f"{host}/chain/x", b"")),
                       (tree.add_dir, ("/a/../b",))):
        with pytest.raises(LibsubstError):
            call(*args)
    assert tree.get("/etc/hostname") == Entry("/etc/hostname", "data", 0o644, data=b"guest\n", size=6)
    check_invariants(tree)


names = st.sampled_from(["a", "b", "ab", "a-b", "é", ".", ""])
guest_paths = st.lists(names, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p))
ops = st.one_of(
    st.tuples(st.just("dir"), guest_paths),
    st.tuples(st.just("data"), guest_paths, st.binary(max_size=4)),
    st.tuples(st.just("symlink"), guest_paths, st.sampled_from(["a", "/b", "../ab"])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(ops, max_size=12))
def test_random_trees_stay_consistent(operations):
    tree = Tree()
    for kind, path, *arg in operations:
        try:
            getattr(tree, f"add_{kind}")(path, *arg)
        except LibsubstError:
            continue
        entry = tree.get(path)
        assert entry.kind == kind
    check_invariants(tree)
