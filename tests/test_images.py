"""Packed images: `libsubst pack` makes one file that runs where neither the
program, nor its libraries, nor libsubst's substitute cache, nor its
installed kernel can be reached; packing is deterministic; a bad image is
refused with one clear line before the guest starts."""

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import textwrap

import pytest

import libsubst
from conftest import LIBSUBST, assert_same, free_port, redis_cli, run_native
from conftest import wait_for_port as conftest_wait_for_port

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = struct.Struct("<8sIIQ" + "QQ32s" * 3)



def assert_only_plans(cache):
    """An image's run makes no substitute: what it leaves in the cache is
    its plan (libsubst/plancache.py), for the next run to boot from."""
    made = [os.path.relpath(os.path.join(d, f), cache) for d, _, fs in os.walk(cache)
            for f in fs]
    assert all(p.startswith("libsubst/plans/") for p in made), made

def libsubst_cmd(*args, cwd=None, stdin=b"", env=None, timeout=120):
    return subprocess.run([*LIBSUBST, *args], cwd=cwd, input=stdin, capture_output=True,
                          env=env, timeout=timeout)


def assert_clean_error(r, *words):
    err = r.stderr.decode()
    assert r.returncode != 0, err
    assert "Traceback" not in err
    assert err.startswith("libsubst: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


@pytest.fixture
def empty_cache(tmp_path):
    """An environment whose XDG_CACHE_HOME is empty: no substitute cached."""
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    return dict(os.environ, XDG_CACHE_HOME=str(cache))


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    """A hello-world C program, packed from a copy that is then deleted."""
    d = tmp_path_factory.mktemp("hello")
    (d / "hello.c").write_text(textwrap.dedent("""\
        #include <stdio.h>
        int main(int argc, char **argv)
        {
            printf("hello");
            for (int i = 1; i < argc; i++)
                printf(" %s", argv[i]);
            printf("\\n");
            return argc - 1;
        }
        """))
    subprocess.run(["gcc", "-O2", "-o", d / "hello", d / "hello.c"], check=True)
    image = libsubst.Image.from_program(str(d / "hello"), ["world"])
    image.write(d / "hello.lsi")
    os.unlink(d / "hello")
    return d / "hello.lsi"


def image_parts(path):
    data = open(path, "rb").read()
    h = HEADER.unpack_from(data)
    manifest = json.loads(data[h[4]:h[4] + h[5]])
    return data, h, manifest


# -- running images ------------------------------------------------------------------

def test_hello_image_runs_without_its_files(hello, empty_cache, tmp_path):
    r = libsubst_cmd("run", str(hello), cwd=tmp_path, env=empty_cache)
    assert (r.stdout, r.stderr, r.returncode) == (b"hello world\n", b"", 1)
    # ARGS replace the recorded arguments; the image is found by its magic, not its name.
    renamed = tmp_path / "app.bin"
    shutil.copy(hello, renamed)
    r = libsubst_cmd("run", "app.bin", "a", "b", cwd=tmp_path, env=empty_cache)
    assert (r.stdout, r.returncode) == (b"hello a b\n", 2)
    assert_only_plans(empty_cache["XDG_CACHE_HOME"])


def test_python_api(hello, tmp_path):
    with libsubst.Image.open(hello) as image:
        assert image.manifest["argv"][1:] == ["world"]
        assert image.kernel_build_id and len(image.kernel_build_id) == 40
        image.verify()
        out = tmp_path / "out"
        with open(out, "wb") as f:
            done = libsubst.run(image, ["from", "api"], stdout=f)
        assert done.returncode == 2 and out.read_bytes() == b"hello from api\n"
        with open(out, "wb") as f:
            done = libsubst.run(str(hello), stdout=f, env={"X": "1"})
        assert done.returncode == 1 and out.read_bytes() == b"hello world\n"


def test_import_is_cheap_and_running_an_image_reads_no_elf(hello):
    code = textwrap.dedent(f"""\
        import sys
        import libsubst
        assert [m for m in sys.modules if m.startswith("libsubst")] == ["libsubst"]
        import os
        with open(os.devnull, "w") as null:
            assert libsubst.run({str(hello)!r}, stdout=null).returncode == 1
        heavy = [m for m in sys.modules if m.startswith(
            ("libsubst.ldso", "libsubst.uklibc", "elftools", "lief", "capstone"))]
        assert not heavy, heavy
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()


def test_image_files_read_like_files(tmp_path):
    """read/pread/readv/lseek/dup/mmap/sendfile/splice/copy_file_range/fstat on
    packed files (a page-aligned large one, a small tight-packed one, an
    empty one) behave as on the original files."""
    prog = tmp_path / "image_io"
    subprocess.run(["gcc", "-O2", "-o", prog, os.path.join(HERE, "c", "image_io.c")], check=True)
    files = tmp_path / "files"
    files.mkdir()
    (files / "big.bin").write_bytes(hashlib.sha256(b"x").digest() * 4000)
    (files / "small.txt").write_text("small file contents here, more than forty bytes long\n")
    (files / "empty").write_bytes(b"")
    (files / "again.txt").write_text("small file contents here, more than forty bytes long\n")
    names = [str(files / n) for n in ("big.bin", "small.txt", "empty", "again.txt")]
    native = run_native([str(prog), *names], tmp_path)
    assert native.returncode == 0
    image = tmp_path / "io.lsi"
    r = libsubst_cmd("pack", "--add", str(files), str(prog), *names, "-o", str(image))
    assert r.returncode == 0, r.stderr
    _data, _h, manifest = image_parts(image)
    by_path = {f["path"]: f for f in manifest["files"]}
    small, again = by_path[names[1]], by_path[names[3]]
    assert small["offset"] == again["offset"] and small["sha256"] == again["sha256"]
    assert by_path[names[0]]["offset"] % 4096 == 0
    guest = libsubst_cmd("run", str(image), cwd=tmp_path)
    assert_same(native, guest)


def test_volume_files_and_pipes_read_like_files_beside_image_files(tmp_path):
    """In a guest with a packed image, read and its kin on an fd that is
    not a window of the image (a volume's file, a pipe, a memfd) go from the
    fastcall entry straight to the host (dispatch.c, fastcall.S), and on an
    image file's fd to the kernel: image_io on files of a volume and of the
    image alternately, so that one fd number is a window, then not, then
    again, gives what it gives natively on the same paths."""
    prog = tmp_path / "image_io"
    subprocess.run(["gcc", "-O2", "-o", prog, os.path.join(HERE, "c", "image_io.c")], check=True)
    packed, vol = tmp_path / "packed", tmp_path / "vol"
    for d in (packed, vol):
        d.mkdir()
        (d / "big.bin").write_bytes(hashlib.sha256(d.name.encode()).digest() * 4000)
        (d / "small.txt").write_text(f"a small file of {d.name}, more than forty bytes long\n")
    names = [str(d / n) for n in ("big.bin", "small.txt") for d in (packed, vol)]
    native = run_native([str(prog), *names], tmp_path)
    assert native.returncode == 0
    image = tmp_path / "mixed.lsi"
    r = libsubst_cmd("pack", "--add", str(packed), "--volume", f"{vol}:ro", str(prog), *names,
                     "-o", str(image))
    assert r.returncode == 0, r.stderr
    guest = libsubst_cmd("run", "--volume", f"{vol}:{vol}", str(image), cwd=tmp_path)
    assert_same(native, guest)


# -- run where the original files cannot be reached ------------------------------------

HIDDEN = ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/python3", "/usr/lib/python3.11",
          "/usr/share/zoneinfo"]

HIDE_AND_RUN = textwrap.dedent("""\
    # Runs `libsubst run ARGS...` in-process after hiding the host's programs,
    # libraries, Python tree and libsubst's own kernel behind empty tmpfs
    # mounts in a mount namespace of its own.  Everything this process needs
    # is loaded first, by a warm-up run of another image.
    import ctypes, os, sys
    import libsubst, libsubst.cli
    warm, hidden, args = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    with open(os.devnull, "w") as null:
        libsubst.run(warm, stdout=null)
    hidden.append(os.path.join(os.path.dirname(libsubst.__file__), "_bin"))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x20000) != 0:                       # CLONE_NEWNS
        sys.exit(77)
    libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None)   # MS_REC | MS_PRIVATE
    for d in hidden:
        if os.path.isdir(d) and libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0, None) != 0:
            sys.exit(77)
    assert not os.path.exists("/usr/bin/redis-server") and not os.path.exists("/lib64/ld-linux-x86-64.so.2")
    sys.stderr.flush()
    libsubst.cli.main(["run", *args], prog_name="libsubst")
    """)


def hidden_cmd(hello, *args):
    return [sys.executable, "-c", HIDE_AND_RUN, str(hello), ",".join(HIDDEN), *args]


def run_hidden(hello, args, env, cwd, stdin=b""):
    r = subprocess.run(hidden_cmd(hello, *args), input=stdin, capture_output=True, env=env,
                       cwd=cwd, timeout=120)
    if r.returncode == 77:
        pytest.skip("cannot make a mount namespace here (needs root or user namespaces)")
    return r


def test_python_script_image(tmp_path, empty_cache):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""\
        import hashlib, json, sqlite3, sys, zlib, os
        db = sqlite3.connect(":memory:")
        db.execute("create table t(x)")
        db.executemany("insert into t values (?)", [(i,) for i in range(1000)])
        print(json.dumps({"sum": db.execute("select sum(x) from t").fetchone()[0],
                          "sha": hashlib.sha256(b"abc").hexdigest()[:16],
                          "crc": zlib.crc32(b"abc"), "args": sys.argv[1:]}, sort_keys=True))
        """))
    image = tmp_path / "py.lsi"
    r = libsubst_cmd("pack", "--keep-args", "1", "--add", f"{script}:/app/app.py",
                     "/usr/bin/python3", "/app/app.py", "recorded", "-o", str(image))
    assert r.returncode == 0, r.stderr
    native = run_native(["/usr/bin/python3", str(script), "given", "args"], tmp_path)
    hello_image = tmp_path / "warm.lsi"
    libsubst.Image.from_program("/bin/true").write(hello_image)
    guest = run_hidden(hello_image, [str(image), "given", "args"], empty_cache, tmp_path)
    assert_same(native, guest)
    r = libsubst_cmd("run", str(image), cwd=tmp_path, env=empty_cache)
    assert json.loads(r.stdout)["args"] == ["recorded"]
    assert_only_plans(empty_cache["XDG_CACHE_HOME"])


def test_an_image_packed_before_the_kernel_expanded_scripts_still_runs(tmp_path):
    """Images packed before the guest kernel expanded #! at the first exec
    name a script's ELF interpreter as their exe and hold the #! line's
    words in argv, keep_argc counting them (image-format.md): the kernel
    maps that exe as it is, and run's ARGS replace what follows, so the
    image runs as the script does natively."""
    import dataclasses

    (tmp_path / "show.c").write_text(textwrap.dedent("""\
        #include <stdio.h>
        int main(int argc, char **argv)
        {
            for (int i = 0; i < argc; i++)
                printf("[%d] %s\\n", i, argv[i]);
            return 0;
        }
        """))
    show = tmp_path / "show"
    subprocess.run(["gcc", "-O1", "-o", show, tmp_path / "show.c"], check=True)
    script = tmp_path / "s"
    script.write_text(f"#!{show}  one two \n")
    script.chmod(0o755)
    image = libsubst.Image.from_program(str(script), ["recorded"], keep_args=0)
    old = dataclasses.replace(image.meta, exe=os.path.realpath(show), execfn=str(show),
                              argv=[str(show), "one two", str(script), "recorded"], keep_argc=3)
    image.meta, image._json = old, None
    image.write(tmp_path / "old.lsi")
    for args in ([], ["given", "a b"]):
        native = run_native([str(script), *(args or ["recorded"])], tmp_path)
        guest = libsubst_cmd("run", str(tmp_path / "old.lsi"), *args, cwd=tmp_path)
        assert_same(native, guest)
        assert native.stdout.startswith(f"[0] {show}\n[1] one two\n[2] {script}\n".encode())


def test_sqlite3_image(tmp_path, empty_cache):
    image = tmp_path / "sqlite.lsi"
    r = libsubst_cmd("pack", "/usr/bin/sqlite3", "-batch", "-o", str(image))
    assert r.returncode == 0, r.stderr
    sql = (b"create table t(k text, v int); insert into t values ('a', 1), ('b', 22), ('c', 3);"
           b"select k, v * 10 from t order by v desc; select sqlite_version();"
           b"select printf('%.3f', avg(v)) from t;")
    native = run_native(["/usr/bin/sqlite3", "-batch"], tmp_path, stdin=sql)
    warm = tmp_path / "warm.lsi"
    libsubst.Image.from_program("/bin/true").write(warm)
    guest = run_hidden(warm, [str(image)], empty_cache, tmp_path, stdin=sql)
    assert_same(native, guest)


def wait_for_port(port, proc):
    conftest_wait_for_port(port, proc, skip_status=77, skip_reason="cannot make a mount namespace here")


def test_redis_image_from_a_deleted_copy_in_a_hidden_host(tmp_path, empty_cache):
    binary = tmp_path / "redis-server"
    shutil.copy("/usr/bin/redis-server", binary)
    image = tmp_path / "redis.lsi"
    port = free_port()
    r = libsubst_cmd("pack", "--volume", "/data", str(binary), "--port", "6379", "--bind",
                     "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "/data",
                     "-o", str(image))
    assert r.returncode == 0, r.stderr
    os.unlink(binary)
    data = tmp_path / "data"
    data.mkdir()
    warm = tmp_path / "warm.lsi"
    libsubst.Image.from_program("/bin/true").write(warm)
    # The declared volume is bound; ARGS replace the recorded ones.
    proc = subprocess.Popen(hidden_cmd(warm, "--volume", f"{data}:/data", str(image), "--port",
                                       str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", "/data"),
                            cwd=tmp_path, env=empty_cache, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        assert redis_cli(port, "ping") == "PONG\n"
        assert redis_cli(port, "set", "greeting", "hello image") == "OK\n"
        assert redis_cli(port, "get", "greeting") == "hello image\n"
        assert redis_cli(port, "incrby", "n", "41") == "41\n"
        assert redis_cli(port, "config", "get", "dir") == "dir\n/data\n"
        assert redis_cli(port, "save") == "OK\n"
        assert (data / "dump.rdb").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert b"ready to exit" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- packing -------------------------------------------------------------------------

def test_packing_is_deterministic(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy("/usr/bin/sqlite3", src / "sqlite3")
    (src / "data.txt").write_text("some data\n")
    args = ["pack", "--env", "A=1", "--volume", "/data:ro", "--add", f"{src}/data.txt:/srv/data.txt",
            str(src / "sqlite3"), "-batch"]
    outs = []
    for name in ("one.lsi", "two.lsi"):
        r = libsubst_cmd(*args, "-o", str(tmp_path / name), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / name).read_bytes())
    api = libsubst.Image.from_program(str(src / "sqlite3"), ["-batch"], env={"A": "1"},
                                      volumes=["/data:ro"], add=[f"{src}/data.txt:/srv/data.txt"])
    api.write(tmp_path / "three.lsi")
    outs.append((tmp_path / "three.lsi").read_bytes())
    assert outs[0] == outs[1] == outs[2]
    assert api.size == len(outs[0])


def test_image_layout(hello):
    data, h, manifest = image_parts(hello)
    magic, version, hsize, isize, m_off, m_size, m_sha, k_off, k_size, k_sha, d_off, d_size, d_sha = h
    assert (magic, version, hsize, isize) == (b"\x89LSI\r\n\x1a\n", 1, 256, len(data))
    assert hashlib.sha256(data[m_off:m_off + m_size]).digest() == m_sha
    assert hashlib.sha256(data[k_off:k_off + k_size]).digest() == k_sha
    assert hashlib.sha256(data[d_off:d_off + d_size]).digest() == d_sha
    assert k_off % 4096 == d_off % 4096 == d_size % 4096 == 0
    assert data[m_off:m_off + m_size] == json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    assert data[k_off:k_off + 4] == b"\x7fELF"
    paths = [os.fsencode(f["path"]) for f in manifest["files"]]
    assert paths == sorted(paths) and len(set(paths)) == len(paths)
    for f in manifest["files"]:
        if f["kind"] == "file":
            blob = data[d_off + f["offset"]:d_off + f["offset"] + f["size"]]
            assert hashlib.sha256(blob).hexdigest() == f["sha256"]
            if blob[:4] == b"\x7fELF":
                assert f["offset"] % 4096 == 0
    libc = manifest["substitution"]["objects"]["/usr/lib/x86_64-linux-gnu/libc.so.6"]
    assert libc["substituted"] and libc["rewritten"] > 400
    assert manifest["env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert manifest["cwd"] == "/" and manifest["volumes"] == []


def test_inspect(hello):
    r = libsubst_cmd("inspect", str(hello))
    out = r.stdout.decode()
    assert r.returncode == 0
    assert "verified:  yes" in out and "build-id" in out
    assert "/usr/lib/x86_64-linux-gnu/libc.so.6:" in out and "rewritten to fastcalls" in out
    from libsubst.kernel import hostcalls
    assert f"sandbox:   seccomp allow-list of {len(hostcalls.allowed())} host calls" in out
    assert "Landlock, no_new_privs; namespaces: user, mount, pid, ipc, uts, cgroup\n" in out
    r = libsubst_cmd("inspect", "--json", str(hello))
    d = json.loads(r.stdout)
    assert d["verified"] and d["size"] == os.path.getsize(hello)
    assert d["size"] <= 1.05 * d["content_size"]
    assert any(f["path"].endswith("/hello") for f in d["manifest"]["files"])


# -- bad input -----------------------------------------------------------------------

def test_corrupted_file_is_named(hello, tmp_path):
    data, h, manifest = image_parts(hello)
    libc = next(f for f in manifest["files"] if f["path"].endswith("/libc.so.6"))
    bad = bytearray(data)
    bad[h[10] + libc["offset"] + 4321] ^= 0x40
    (tmp_path / "bad.lsi").write_bytes(bad)
    assert_clean_error(libsubst_cmd("run", str(tmp_path / "bad.lsi")), "corrupt",
                       "/usr/lib/x86_64-linux-gnu/libc.so.6")
    r = libsubst_cmd("inspect", str(tmp_path / "bad.lsi"))
    assert r.returncode == 0 and "NO: " in r.stdout.decode()
    for off, what in ((h[4] + 7, "manifest"), (h[7] + 100, "kernel"), (300, "manifest"),
                      (200, "reserved")):
        bad = bytearray(data)
        bad[off] ^= 1
        (tmp_path / "bad.lsi").write_bytes(bad)
        assert_clean_error(libsubst_cmd("run", str(tmp_path / "bad.lsi")), what)


def test_truncated_wrong_magic_newer_version(hello, tmp_path):
    data = open(hello, "rb").read()
    cases = {
        "truncated.lsi": (data[:len(data) - 5000], "truncated"),
        "tiny.lsi": (data[:100], "truncated"),
        "magic.lsi": (b"\x7fELF" + data[4:], "not a libsubst image"),
        "newer.lsi": (data[:8] + struct.pack("<I", 2) + data[12:], "newer libsubst"),
        "long.lsi": (data + b"\0", "trailing"),
    }
    for name, (content, word) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert_clean_error(libsubst_cmd("run", str(tmp_path / name)), word)
        assert_clean_error(libsubst_cmd("inspect", str(tmp_path / name)), word)


def test_volumes(hello, tmp_path):
    image = tmp_path / "vol.lsi"
    r = libsubst_cmd("pack", "--volume", "/srv/in:ro", "--volume", "/srv/out", "/bin/sh", "-c",
                     "read line < /srv/in/x.txt && echo \"$line\" && echo written > /srv/out/y.txt && "
                     "echo no > /srv/in/z.txt || echo read-only", "-o", str(image))
    assert r.returncode == 0, r.stderr
    assert_clean_error(libsubst_cmd("run", str(image)), "/srv/in", "--volume")
    assert_clean_error(libsubst_cmd("run", "--volume", f"{tmp_path}:/srv/in", str(image)),
                       "/srv/out")
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    dst.mkdir()
    (src / "x.txt").write_text("from the host\n")
    r = libsubst_cmd("run", "--volume", f"{src}:/srv/in", "--volume", f"{dst}:/srv/out", str(image))
    assert (r.stdout, r.returncode) == (b"from the host\nread-only\n", 0), r.stderr
    assert (dst / "y.txt").read_text() == "written\n" and not (src / "z.txt").exists()


def test_an_image_program_executes_another(tmp_path):
    """sh in an image runs cat: each cat a kernel booted by execve, which takes
    over the fds the kernel before handed it (the image's, the port relay's,
    the shared memory's) wherever they sit in its reserve; as natively."""
    image = tmp_path / "sh.lsi"
    script = "cat /etc/debian_version; cat /etc/debian_version | cat; echo $?"
    r = libsubst_cmd("pack", "--add", "/usr/bin/cat:/usr/bin/cat", "--add",
                     "/etc/debian_version:/etc/debian_version", "/bin/sh", "-c", script,
                     "-o", str(image))
    assert r.returncode == 0, r.stderr
    native = run_native(["/bin/sh", "-c", script], tmp_path)
    assert native.stdout.count(b"\n") == 3
    assert_same(native, libsubst_cmd("run", str(image), cwd=tmp_path))


def test_unwritable_output_and_bad_options(hello, tmp_path):
    (tmp_path / "file").write_text("x")
    for out in ("/proc/no/such.lsi", str(tmp_path / "file" / "x.lsi")):
        assert_clean_error(libsubst_cmd("pack", "/bin/true", "-o", out), "cannot write", out)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert_clean_error(libsubst_cmd("pack", "--volume", "rel/path", "/bin/true", "-o",
                                    str(tmp_path / "x.lsi")), "absolute")
    assert_clean_error(libsubst_cmd("pack", "--add", str(tmp_path / "nope"), "/bin/true", "-o",
                                    str(tmp_path / "x.lsi")), "nope")
    assert_clean_error(libsubst_cmd("run", "--no-subst", str(hello)), "--no-subst")
    # A program whose exec fails (a directory, a file that is neither an
    # ELF program nor a #! script, a #! line naming a missing program) is
    # refused by pack, as an image that could never start, and no image is left.
    (tmp_path / "text").write_text("echo not a program\n")
    (tmp_path / "text").chmod(0o755)
    (tmp_path / "script").write_text(f"#!{tmp_path}/nowhere/sh\n")
    (tmp_path / "script").chmod(0o755)
    for program in (tmp_path, tmp_path / "text", tmp_path / "script"):
        done = libsubst_cmd("pack", str(program), "-o", str(tmp_path / "never.lsi"))
        assert_clean_error(done, "cannot be executed")
        assert done.returncode == 127 and not (tmp_path / "never.lsi").exists(), done
    # ... where a program without substitution is packed (its layout lists
    # no objects to substitute), and runs as natively
    image = tmp_path / "echo.lsi"
    done = libsubst_cmd("pack", "--no-subst", "/bin/echo", "hi", "-o", str(image))
    assert done.returncode == 0, done.stderr
    assert_same(run_native(["/bin/echo", "hi"], tmp_path), libsubst_cmd("run", str(image),
                                                                        cwd=tmp_path))


def test_added_trees_keep_their_shape(tmp_path):
    """--add of a directory: files, modes, mtimes, symlinks kept as they are."""
    src = tmp_path / "site"
    (src / "sub").mkdir(parents=True)
    (src / "index.html").write_text("<p>hi</p>\n")
    (src / "sub" / "run.sh").write_text("echo\n")
    (src / "sub" / "run.sh").chmod(0o750)
    os.symlink("sub/run.sh", src / "link")
    os.utime(src / "index.html", ns=(1_000_000_000_123, 1_600_000_000_123_456_789))
    image = libsubst.Image.from_program("/bin/true", add=[f"{src}:/srv/www"])
    files = {f["path"]: f for f in image.manifest["files"]}
    assert files["/srv/www"]["kind"] == "dir" and files["/srv/www/sub"]["kind"] == "dir"
    assert files["/srv/www/index.html"]["mtime_ns"] == 1_600_000_000_123_456_789
    assert files["/srv/www/sub/run.sh"]["mode"] == 0o750
    assert files["/srv/www/link"] == {"path": "/srv/www/link", "kind": "symlink",
                                      "target": "sub/run.sh"}
    image.write(tmp_path / "t.lsi")
    r = libsubst_cmd("run", str(tmp_path / "t.lsi"))
    assert r.returncode == 0, r.stderr
