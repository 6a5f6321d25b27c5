"""The guest's root is writable as a container's is: its changes go to a
scratch layer over the read-only image (c_src/kernel/fs/upper.c), bounded
by --scratch-size, gone after the run; --read-only keeps the image's
read-only root.  The host's files never change."""

import hashlib
import os
import shutil
import subprocess
import urllib.request

import pytest

from conftest import (LIBSUBST, build_c, free_port, run_guest, run_native,
                      wait_for_port)
from libsubst.image import packages, rootfs

NGINX = "/usr/sbin/nginx"
TOOLS = ["cat", "ls", "mkdir", "mv", "rm", "stat", "sha256sum", "ln", "head", "touch", "chmod",
         "grep", "df"]
ADD = [a for t in TOOLS for a in ("--add", shutil.which(t))]

# The same script natively (R: a copy of the files the guest's image holds;
# T: a directory beside it) and in the guest (R empty: its own root; T its
# /tmp, another file system).
SCRIPT = r"""
set -e
echo new at the root > $R/newfile; cat $R/newfile
echo new in etc > $R/etc/foo; cat $R/etc/foo
F=$R/etc/nginx/mime.types
stat -c '%a %s' $F
echo 'types { x/y z; }' >> $F
stat -c '%a %s' $F; sha256sum < $F
printf 'overwritten\n' > $R/etc/nginx/koi-utf; cat $R/etc/nginx/koi-utf
chmod 600 $R/etc/nginx/win-utf; stat -c '%a %s' $R/etc/nginx/win-utf
rm $R/etc/nginx/koi-win
ls $R/etc/nginx | grep -x koi-win || echo koi-win is gone
mv $R/etc/nginx/win-utf $R/moved
ls $R/etc/nginx | grep -x win-utf || echo win-utf is gone
stat -c '%a %s' $R/moved; sha256sum < $R/moved
mkdir -p $R/deep/a/b/c/d/e; touch $R/deep/a/b/c/d/e/f; ls -R $R/deep
ln -s $R/etc/foo $R/link; cat $R/link
mkdir $R/etc/nginx/newdir && rm -r $R/etc/nginx/newdir && echo rmdir ok
echo from tmp > $T/t; mv $T/t $R/etc/fromtmp; cat $R/etc/fromtmp
mv $R/etc/foo $T/foo; cat $T/foo; ls $R/etc | grep -x foo || echo foo moved out
"""
TOUCHED = ["/etc/nginx/mime.types", "/etc/nginx/koi-utf", "/etc/nginx/koi-win",
           "/etc/nginx/win-utf"]


def digests(paths):
    return {p: (hashlib.sha256(open(p, "rb").read()).hexdigest(), os.stat(p).st_mode,
                os.stat(p).st_mtime_ns) for p in paths}


@pytest.fixture
def nginx_files():
    if not os.path.exists(NGINX) or not all(os.path.isfile(p) for p in TOUCHED):
        pytest.skip("needs Debian's nginx")
    found = packages.contents([NGINX])
    assert set(TOUCHED) <= set(found.files)
    return found


def test_writes_go_to_the_layer_as_natively(tmp_path, nginx_files):
    """New files at / and in /etc, append (copy-up keeps mode and bytes),
    overwrite, chmod, unlink (the listing no longer shows it), rename out
    of a directory and across file systems (/tmp), mkdir -p, symlink,
    rmdir: as on a native copy of the same files; the host's files are
    untouched."""
    root = tmp_path / "root"
    for d in ("etc/nginx",):
        (root / d).mkdir(parents=True)
    for p in TOUCHED:
        shutil.copy2(p, root / p[1:])
    before = digests(TOUCHED)
    (tmp_path / "t").mkdir()
    native = run_native(["sh", "-c", SCRIPT], tmp_path,
                        env={**os.environ, "R": str(root), "T": str(tmp_path / "t")})
    guest = run_guest(["sh", "-c", SCRIPT], "/", opts=["--no-cwd", *ADD, "--add", NGINX],
                      env={**os.environ, "R": "", "T": "/tmp"})
    assert native.returncode == 0, native.stderr
    assert (guest.stdout, guest.stderr, guest.returncode) == \
        (native.stdout.replace(str(root).encode(), b""), b"", 0)
    assert digests(TOUCHED) == before
    assert not os.path.exists("/newfile") and not os.path.exists("/etc/foo")


def test_changes_are_gone_after_the_run(tmp_path, nginx_files):
    r = run_guest(["sh", "-c", "echo x > /newfile && rm /etc/nginx/koi-win && echo done"], "/",
                  opts=["--no-cwd", *ADD, "--add", NGINX])
    assert (r.stdout, r.returncode) == (b"done\n", 0), r.stderr
    r = run_guest(["sh", "-c", "cat /newfile; ls /etc/nginx | grep -x koi-win"], "/",
                  opts=["--no-cwd", *ADD, "--add", NGINX])
    assert r.stdout == b"koi-win\n", r.stderr
    assert b"/newfile: No such file or directory" in r.stderr


def test_scratch_size_bounds_the_writes(tmp_path):
    """Past --scratch-size the root is full (ENOSPC), as a full disk is;
    a file that fits is written."""
    script = ("head -c 400000 /dev/zero > /small && echo small fits; "
              "head -c 2000000 /dev/zero > /big || echo big is refused")
    r = run_guest(["sh", "-c", script], "/", opts=["--no-cwd", *ADD, "--scratch-size", "1M"])
    assert r.stdout == b"small fits\nbig is refused\n", r.stderr
    assert b"No space left on device" in r.stderr


def test_read_only_keeps_the_image_read_only(tmp_path):
    r = run_guest(["sh", "-c", "echo x > /newfile || echo refused"], "/",
                  opts=["--no-cwd", "--read-only"])
    assert r.stdout == b"refused\n"
    assert b"Read-only file system" in r.stderr


@pytest.mark.parametrize("opts, words", [
    (["--read-only", "--scratch-size", "1M"], "--read-only"),
    (["--memory", "64M", "--scratch-size", "128M"], "--memory"),
    (["--scratch-size", "lots"], "--scratch-size"),
    (["--scratch-size", "4K"], "at least 1M")])
def test_bad_scratch_options_are_one_line(opts, words):
    r = run_guest(["true"], "/", opts=opts)
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("libsubst: "), r.stderr
    assert words in lines[0]


def test_symlinks_in_the_layer_stay_in_the_guest(tmp_path):
    """Escape attempts through the layer: an absolute link to /etc, a
    relative one climbing above the root, a link to /proc/self/root; each
    resolves in the guest's own root (the guest kernel expands the layer's
    links; the kernel's vol_open_beneath never follows one), and the host's /etc
    gains nothing."""
    planted = [f"/etc/libsubst-escape-{i}" for i in range(3)]
    script = ("ln -s /etc /abs && echo a > /abs/libsubst-escape-0; "
              "ln -s ../../../../../../.. /up && echo b > /up/etc/libsubst-escape-1; "
              "ln -s /proc/self/root /pr && echo c > /pr/etc/libsubst-escape-2; "
              "cat /etc/libsubst-escape-0 /etc/libsubst-escape-1 /etc/libsubst-escape-2")
    r = run_guest(["sh", "-c", script], "/", opts=["--no-cwd", *ADD])
    assert r.stdout == b"a\nb\nc\n", r.stderr
    assert not any(os.path.exists(p) for p in planted)


def test_a_packed_image_has_a_writable_root(tmp_path):
    """A new file, and a file packed in the image (a window of the image
    file) appended to: copied up with its bytes."""
    image = tmp_path / "w.lsi"
    packed = tmp_path / "packed.txt"
    packed.write_text("first\n")
    subprocess.run([*LIBSUBST, "pack", "-o", str(image), "--add", str(packed), "/bin/sh", "-c",
                    "echo packed > /etc/new && read l < /etc/new && echo $l && "
                    f"echo second >> {packed} && {{ read a; read b; }} < {packed} && echo $a $b"],
                   check=True, capture_output=True, timeout=300)
    r = subprocess.run([*LIBSUBST, "run", str(image)], capture_output=True, timeout=120)
    assert (r.stdout, r.returncode) == (b"packed\nfirst second\n", 0), r.stderr
    assert packed.read_text() == "first\n"
    r = subprocess.run([*LIBSUBST, "run", "--read-only", str(image)], capture_output=True,
                       timeout=120)
    assert r.returncode != 0 and b"Read-only file system" in r.stderr


def test_nginx_writes_its_pid_and_logs_to_the_default_places(tmp_path, nginx_files):
    """No pid or log directives: nginx writes /run/nginx.pid and
    /var/log/nginx/{access,error}.log, in the guest's root; the host's stay
    as they were."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello\n")
    port = free_port()
    conf = tmp_path / "site.conf"
    conf.write_text(f"""user root;
events {{ worker_connections 64; }}
http {{ server {{ listen 127.0.0.1:{port}; root {tmp_path}/www; }} }}
""")
    watched = ["/run/nginx.pid", *(f"/var/log/nginx/{n}" for n in ("access.log", "error.log"))]
    before = {p: os.stat(p).st_mtime_ns if os.path.exists(p) else None for p in watched}
    proc = subprocess.Popen([*LIBSUBST, "run", "nginx", "-c", str(conf), "-g", "daemon off;"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=30) as r:
            assert r.read() == b"hello\n"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert b"[emerg]" not in err and b"[alert]" not in err, err
    assert {p: os.stat(p).st_mtime_ns if os.path.exists(p) else None for p in watched} == before


def test_the_layer_is_a_third_of_memory_by_default():
    """Without --scratch-size the layer is bounded as /tmp and /dev/shm are,
    a third of --memory each, so a full root is ENOSPC, not an OOM kill."""
    script = ("head -c 20000000 /dev/zero > /a && echo 20M fits; "
              "head -c 20000000 /dev/zero > /b || echo 40M is refused")
    r = run_guest(["sh", "-c", script], "/", opts=["--no-cwd", *ADD, "--memory", "64M"])
    assert r.stdout == b"20M fits\n40M is refused\n", r.stderr
    assert b"No space left on device" in r.stderr


def test_a_rename_race_does_not_lead_out_of_the_layer(tmp_path):
    """The guest swaps a directory of its root with a symlink to where its
    /tmp lies in its mount namespace, as fast as it can, while it opens a
    file through that directory: the walk may classify a path through the
    symlink, but every open goes through the kernel's vol_open_beneath, which
    follows no symlink out of the layer (EXDEV), so none reads the outside
    file."""
    exe = build_c("race_layer", tmp_path, "-pthread")
    r = run_guest([exe, rootfs.SCRATCH_ROOT + "/tmp", "20000"], tmp_path)
    assert r.returncode == 0, r.stderr
    inside, outside, failed, swaps = map(int, r.stdout.split()[1::2])
    assert outside == 0 and inside > 0 and failed > 0 and swaps > 1000, r.stdout


def test_an_unprivileged_callers_root_is_writable_too(as_nobody):
    """As nobody the guest writes its root as well (the layer is nobody's
    own tmpfs), and reads an image file it copied up unchanged."""
    script = ("read a < /etc/passwd && echo appended >> /etc/passwd && read b < /etc/passwd && "
              "[ \"$a\" = \"$b\" ] && echo first line kept && "
              "while read l; do last=$l; done < /etc/passwd && echo $last && "
              "echo new > /etc/new && read n < /etc/new && echo $n")
    r = as_nobody("sh", "-c", script)
    assert (r.stdout, r.returncode) == (b"first line kept\nappended\nnew\n", 0), r.stderr


@pytest.mark.parametrize("opts, table, size", [
    (["--scratch-size", "8M"], "libsubst / tmpfs rw,relatime 0 0", "8M"),
    (["--read-only"], "libsubst / ramfs ro,relatime 0 0", None)])
def test_the_mount_table_says_what_the_root_is(opts, table, size):
    """/proc/self/mounts names the root writable (a tmpfs) or read-only, and
    df shows the layer's bound."""
    r = run_guest(["sh", "-c", "grep ' / ' /proc/self/mounts; df -B1M --output=size / | "
                   "grep -v blocks"], "/", opts=["--no-cwd", *ADD, *opts])
    lines = r.stdout.decode().split("\n")
    assert lines[0] == table, r.stderr
    if size:
        assert lines[1].strip() + "M" == size, r.stdout
