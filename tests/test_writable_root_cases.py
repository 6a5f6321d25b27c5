"""The writable root against native Linux, case by case: tests/c/root_cases.c
runs natively on a copy of a directory's files and in the guest on the
image's (each a stub of the layer until changed, c_src/kernel/fs/upper.c);
what the two print must be the same, on the fastcall and the trap path.
The cases marked xfail are the layer's known differences, each said in its
reason."""

import os
import shutil
import subprocess

import pytest

from conftest import LIBSUBST, build_c, run_guest, run_native

FILES = ["stat", "rdwr", "rename", "rename2", "utimes", "truncate", "truncate2", "reopen",
         "dents", "dents2", "dents3", "fdtimes", "fdtimes2", "shared", "shared2", "device", "link",
         "moved", "names", "names2", "dirfd", "dirfd2", "statfs", "xattr", "xattr2", "sub/inner"]
PATHS = {"fast": [], "trap": ["--no-subst"]}
MTIME = 900000000           # 1998: shown as is by root_cases.c

STALE = ("an fd of another process, or a mapping, opened on a stub before the file is "
         "copied up stays on the image's bytes: it does not see the writes made through the "
         "copy (this process's fds are moved onto the copy: shared2)")


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    top = tmp_path_factory.mktemp("root_cases")
    exe = build_c("root_cases", top)
    files = top / "files"
    (files / "sub").mkdir(parents=True)
    for name in FILES:
        (files / name).write_text(f"{name} line\n")
        (files / name).chmod(0o644)
        os.utime(files / name, (MTIME, MTIME))
    return top, exe, files


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", [
    "stat", "rdwr", "rename", "utimes", "truncate", "reopen", "names", "dirfd", "statfs",
    "dents", "device", "fdtimes", "shared2", "moved", "movedsub", "link", "xattr",
    pytest.param("shared", marks=pytest.mark.xfail(strict=True, reason=STALE))])
def test_a_stub_behaves_as_the_file_natively(cases, case, path, tmp_path):
    top, exe, files = cases
    native_dir = tmp_path / "native"
    shutil.copytree(files, native_dir)
    native = run_native([exe, case, str(native_dir)], tmp_path)
    guest = run_guest([exe, case, str(files)], tmp_path,
                      opts=["--no-cwd", *PATHS[path], "--add", str(files)])
    assert native.returncode == 0, native.stderr
    assert (guest.stdout.decode(), guest.stderr, guest.returncode) == \
        (native.stdout.decode(), b"", 0)
    assert all((files / n).read_text() == f"{n} line\n" for n in FILES)


@pytest.fixture(scope="module")
def packed(cases):
    """root_cases packed with the files at /files."""
    top, exe, files = cases
    image = top / "root_cases.lsi"
    r = subprocess.run([*LIBSUBST, "pack", "--add", f"{files}:/files", exe, "-o", str(image)],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return image


@pytest.mark.parametrize("case", ["stat", "rdwr", "fdtimes", "shared2", "moved", "movedsub",
                                  "link", "xattr"])
def test_a_packed_images_stub_behaves_as_the_file_natively(cases, packed, case, tmp_path):
    """The same in a packed image, whose files are windows of the image
    file: an fd of one keeps its position and status flags in the kernel,
    which a copy-up moves onto the copy (fs/upper_fd.c)."""
    top, exe, files = cases
    native_dir = tmp_path / "native"
    shutil.copytree(files, native_dir)
    native = run_native([exe, case, str(native_dir)], tmp_path)
    guest = run_guest([str(packed), case, "/files"], tmp_path)
    assert native.returncode == 0, native.stderr
    assert (guest.stdout.decode(), guest.stderr, guest.returncode) == \
        (native.stdout.decode(), b"", 0)


def test_programs_in_the_root_run(tmp_path):
    """An image program chmodded (so copied up) and a copy the guest makes
    in its root run, as in a container's root: the layer is not noexec
    (the host still executes none: Landlock)."""
    true = shutil.which("true")
    copy = tmp_path / "true"
    shutil.copy2(true, copy)
    script = 'chmod 755 "$P" && "$P" && echo ran && cp "$P" "$D/mine" && "$D/mine" && echo ran too'
    native = run_native(["sh", "-c", script], tmp_path,
                        env={**os.environ, "P": str(copy), "D": str(tmp_path)})
    guest = run_guest(["sh", "-c", script], tmp_path,
                      opts=["--no-cwd", "--add", shutil.which("chmod"), "--add",
                            shutil.which("cp"), "--add", true],
                      env={**os.environ, "P": true, "D": ""})
    assert native.stdout == b"ran\nran too\n", native.stderr
    assert (guest.stdout, guest.returncode) == (native.stdout, 0), guest.stderr


def test_processes_copying_one_file_up_at_once_lose_no_write(tmp_path):
    """16 processes at a time open each of 300 image files to append a line
    (tests/c/race_copy_up.c): each file copied up once, every line kept, as
    natively (copy-ups take turns; before, a copy swapped back out could be
    the one a process had opened, and its line was lost)."""
    exe = build_c("race_copy_up", tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    names = [f"f{i}" for i in range(300)]
    for name in names:
        (files / name).write_text("first line\n")
    native_dir = tmp_path / "native"
    shutil.copytree(files, native_dir)
    native = run_native([exe, "16", *(str(native_dir / n) for n in names)], tmp_path)
    guest = run_guest([exe, "16", *(str(files / n) for n in names)], tmp_path,
                      opts=["--no-cwd", "--add", str(files)])
    assert native.stdout == b"16 lines appended, 0 failed\n" * len(names), native.stderr
    assert (guest.stdout, guest.returncode) == (native.stdout, 0), guest.stderr
    assert all((files / n).read_text() == "first line\n" for n in names)


BUSY = ("(echo x >> /proc/self/exe) 2>/dev/null || echo busy; "
        "(: > /proc/self/exe) 2>/dev/null || echo busy")


@pytest.mark.parametrize("path", PATHS)
def test_a_running_program_is_busy(tmp_path, path):
    """A shell opens its own program (/proc/self/exe) to append to it and to
    truncate it: ETXTBSY, as on Linux (the guest's kernel knows which files
    its processes run: c_src/kernel/fs/open.c fs_text_busy)."""
    sh = os.path.realpath("/bin/sh")
    copy = tmp_path / "sh"
    shutil.copy2(sh, copy)
    native = run_native([str(copy), "-c", BUSY], tmp_path)
    guest = run_guest([sh, "-c", BUSY], tmp_path, opts=["--no-cwd", *PATHS[path]])
    assert native.stdout == b"busy\nbusy\n", native.stderr
    assert guest.stdout == native.stdout, guest.stderr


def test_a_program_the_guest_copied_is_busy_while_it_runs(tmp_path):
    """The same for a copy of the shell made in the guest's root (a file of
    the layer, not a stub): busy while it runs, written once it has ended."""
    sh = os.path.realpath("/bin/sh")
    script = ('cp "$S" "$D/mine" && "$D/mine" -c "$BUSY" && echo x >> "$D/mine" && echo written '
              '&& "$D/mine" -c "rm \\"$D/mine\\" && echo removed while running"')
    native = run_native(["sh", "-c", script], tmp_path,
                        env={**os.environ, "S": sh, "D": str(tmp_path), "BUSY": BUSY})
    guest = run_guest(["sh", "-c", script], tmp_path,
                      opts=["--no-cwd", "--add", shutil.which("cp"), "--add", shutil.which("rm")],
                      env={**os.environ, "S": sh, "D": "", "BUSY": BUSY})
    assert native.stdout == b"busy\nbusy\nwritten\nremoved while running\n", native.stderr
    assert (guest.stdout, guest.returncode) == (native.stdout, 0), guest.stderr


# A PATH search misses each tool twice (the walk's cache keeps a name the
# layer has not got: c_src/kernel/fs/upper_cache.c), then other programs make
# them: the shell's redirection (open O_CREAT), cp, ln -s, mv, mkdir.
MADE = r"""
PATH="$D/opt/bin:$D/opt/sub:$PATH"
mkdir -p "$D/opt/bin"
for i in 1 2; do
  for n in a b c d e; do command -v $n-tool >/dev/null || echo "$n-tool missing"; done
done
printf '#!/bin/sh\necho a ran\n' > "$D/opt/bin/a-tool" && chmod +x "$D/opt/bin/a-tool"
cp "$D/opt/bin/a-tool" "$D/opt/bin/b-tool"
ln -s a-tool "$D/opt/bin/c-tool"
printf '#!/bin/sh\necho d ran\n' > "$D/opt/t" && chmod +x "$D/opt/t" && mv "$D/opt/t" "$D/opt/bin/d-tool"
mkdir "$D/opt/sub" && cp "$D/opt/bin/d-tool" "$D/opt/sub/e-tool"
hash -r
for n in a b c d e; do $n-tool; done
"""


@pytest.mark.parametrize("path", PATHS)
def test_a_name_a_search_missed_is_found_once_made(tmp_path, path):
    """dash looks for tools that are not there, twice, and finds each once
    another program has made it, as natively."""
    tools = [shutil.which(t) for t in ("mkdir", "chmod", "cp", "ln", "mv")]
    native = run_native(["sh", "-c", MADE], tmp_path, env={**os.environ, "D": str(tmp_path)})
    guest = run_guest(["sh", "-c", MADE], tmp_path,
                      opts=["--no-cwd", *PATHS[path], *[a for t in tools for a in ("--add", t)]],
                      env={**os.environ, "D": ""})
    assert native.stdout.endswith(b"a ran\na ran\na ran\nd ran\nd ran\n"), native.stderr
    assert native.stdout.count(b"missing") == 10
    assert (guest.stdout, guest.stderr, guest.returncode) == (native.stdout, b"", 0)


@pytest.mark.parametrize("looker", ["fork", "exec"])
def test_a_change_by_one_process_is_seen_by_another(tmp_path, looker):
    """One process copies up, renames, unlinks, replaces names (a file by a
    rename, a directory by a file, a file by a symlink) and makes new ones
    while another process -- forked, or forked and exec'd (another kernel)
    -- looks at every path twice before each change and again after it
    (tests/c/layer_cache.c): it sees each change at once, as natively,
    whatever its kernel cached of the layer (fs/upper_cache.c), a name it
    found missing made by each call that makes one (open O_CREAT, mkdir,
    mknod, symlink, link, rename, a Unix socket's bind) too."""
    exe = build_c("layer_cache", tmp_path)
    files = tmp_path / "files"
    for d in ("dir1", "sub"):
        (files / d).mkdir(parents=True)
    for name in ("a", "b", "c", "e", "dir1/f", "sub/x"):
        (files / name).write_text(f"{name} line\n")
    native_dir = tmp_path / "native"
    shutil.copytree(files, native_dir)
    native = run_native([exe, str(native_dir), looker], tmp_path)
    guest = run_guest([exe, str(files), looker], tmp_path, opts=["--no-cwd", "--add", str(files)])
    assert native.returncode == 0, native.stderr
    assert b"-- after 9\n" in native.stdout and b"a: file 15 a line|changed|" in native.stdout
    assert b"d2/g: lstat No such file" in native.stdout and b"d3/h: file 0" in native.stdout
    assert (guest.stdout.decode(), guest.stderr, guest.returncode) == \
        (native.stdout.decode(), b"", 0)


def test_a_name_being_made_is_never_cached_as_absent(tmp_path):
    """A process caches a name as absent, then a forked creator makes it and
    is stopped (then killed) at a random moment of its open: the name
    listed by getdents is found by lstat, as natively (the reviewer's
    stale ENOENT: a creator stopped between its host call and the count's
    bump; tests/c/layer_absent.c)."""
    exe = build_c("layer_absent", tmp_path)
    outs = []
    for side, d in (("native", tmp_path / "native"), ("guest", tmp_path / "files")):
        d.mkdir()
        argv = [exe, str(d), "stop", "5000", "1500"]
        r = run_native(argv, tmp_path) if side == "native" else \
            run_guest(argv, tmp_path, opts=["--no-cwd", "--add", str(d)])
        assert r.returncode == 0 and b"STALE" not in r.stdout, (side, r.stdout[-2000:], r.stderr)
        outs.append(r.stdout.splitlines()[-1].split()[0])
    assert outs == [b"stale=0", b"stale=0"]


def test_a_missing_name_is_looked_up_with_the_ids_of_the_moment(tmp_path):
    """A name found missing as root is missing for lack of search permission
    once the process is uid 65534 (EACCES, not a cached ENOENT: set*id
    forgets the cached absences; tests/c/layer_perm.c)."""
    exe = build_c("layer_perm", tmp_path)
    native_dir, files = tmp_path / "native", tmp_path / "files"
    native_dir.mkdir()
    files.mkdir()
    native = run_native([exe, str(native_dir)], tmp_path)
    guest = run_guest([exe, str(files)], tmp_path, opts=["--no-cwd", "--add", str(files)])
    assert native.stdout == b"as root: -1 No such file or directory; as 65534: -1 Permission denied\n"
    assert (guest.stdout, guest.stderr, guest.returncode) == (native.stdout, b"", 0)
