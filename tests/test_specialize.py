"""`libsubst pack --specialize`: an image whose kernel serves only the calls
the analysis found, linked without the other handlers, under a host
allow-list cut to the calls that kernel makes; it still runs its program's
workload as the native program does, and a call it left out is answered
ENOSYS and reported, never a kill."""

import json
import os
import random
import re
import signal
import struct
import subprocess
import textwrap

import pytest

from conftest import LIBSUBST, build_c, free_port, redis_cli, run_native
from libsubst.elf import ElfFile
from libsubst.kernel import hostcalls, syscalls
from libsubst.monitor.executables import kernel_path
from test_servers import nginx_conf, redis_argv, server

SQL = (b"create table t(k text, v int); insert into t values ('a', 3), ('b', 1), ('c', 2);"
       b"select k, v * 10 from t order by v desc; select count(*), sum(v) from t;")
PY = textwrap.dedent("""\
    import hashlib, json, sqlite3, zlib
    db = sqlite3.connect(":memory:")
    db.execute("create table t(x)")
    db.executemany("insert into t values (?)", [(i,) for i in range(100)])
    rows = db.execute("select sum(x), count(*) from t").fetchone()
    blob = zlib.compress(json.dumps({"rows": rows}).encode())
    print(rows, hashlib.sha256(blob).hexdigest(), len(zlib.decompress(blob)))
    """)


def pack(tmp_path, name, *argv, opts=()):
    image = tmp_path / f"{name}.lsi"
    r = subprocess.run([*LIBSUBST, "pack", "--specialize", *opts, "-o", str(image), *argv],
                       capture_output=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    return image


def manifest(image):
    r = subprocess.run([*LIBSUBST, "inspect", "--json", str(image)], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)["manifest"]


def run_image(image, cwd, stdin=b"", opts=()):
    return subprocess.run([*LIBSUBST, "run", *opts, str(image)], cwd=cwd, input=stdin,
                          capture_output=True, timeout=120)


def functions(kernel: bytes) -> set[str]:
    elf = ElfFile(kernel, "kernel")
    return {name for _v, size, info, name in elf.symbols() if size and info & 0xF == 2}


KERNEL_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "c_src", "kernel")


def source_host_calls() -> set[str]:
    """The calls c_src/kernel names in the number argument of a host call
    (hsysN, host_call_blocking, ls_host_clone): a check of the binary's
    reading made from the source instead."""
    names = set()
    first_arg = re.compile(r"\b(?:hsys\d|host_call_blocking|ls_host_clone)\(([^,]*),")
    for root, _dirs, files in os.walk(KERNEL_SRC):
        for f in files:
            if f.endswith(".c"):
                text = open(os.path.join(root, f), encoding="utf-8").read()
                for arg in first_arg.findall(text):
                    names.update(re.findall(r"__NR_(\w+)", arg))
    return names


def test_host_calls_read_from_the_kernel_cover_its_source():
    from libsubst.kernel import specialize

    f = specialize.full_facts()
    read = {n for n in f.host_nrs}
    policy = {h.name for h in hostcalls.allowed()} | set(hostcalls.BOOT_ONLY) | \
        {h.name for h in hostcalls.RELAY}
    # Every number read is a call the policy data knows (no misread constant).
    assert read <= {hostcalls.number(n) for n in policy}
    # Every call the source makes after the filter is in the derived allow-list.
    allowed = {h.name for h in f.allowed()}
    named = source_host_calls()
    assert len(named) > 80
    assert named & {h.name for h in hostcalls.allowed()} <= allowed
    # ... read from the code itself: every site of the full kernel is read (an
    # unread one would keep every KERNEL_OWN call in every specialised filter).
    assert not f.unresolved, f"host-call sites whose number is not read: {f.unresolved}"
    assert {n for n in named if hostcalls.number(n) not in read} == set()


@pytest.fixture(scope="module")
def left_out(tmp_path_factory):
    """tests/c/left_out.c and its specialised image."""
    d = tmp_path_factory.mktemp("left_out")
    exe = build_c("left_out", str(d))
    return exe, pack(d, "left_out", exe)


def test_specialised_kernel_is_smaller_and_its_filter_a_subset(left_out, tmp_path):
    exe, image = left_out
    m = manifest(image)
    k = m["kernel"]
    sp = k["specialized"]
    served = set(sp["syscalls"])
    implemented = {s.name for s in syscalls.implemented()}
    assert served < implemented and "getppid" not in served
    assert sp["text"] < sp["full"]["text"] and sp["functions"] < sp["full"]["functions"]
    assert sp["full"]["allowed"] == len(hostcalls.allowed())
    allowed = set(k["seccomp"]["calls"])
    assert allowed < {h.name for h in hostcalls.allowed()} and len(allowed) == k["seccomp"]["allowed"]
    # A left-out host-level call is not allowed to reach the host either.
    assert "timerfd_create" not in served and "timerfd_create" not in allowed
    # The handler of a left-out kernel-level call is not in the kernel at all.
    data = open(image, "rb").read()
    k_off, k_size = struct.unpack_from("<QQ", data, 72)     # docs/image-format.md
    kernel = data[k_off:k_off + k_size]
    ours, full = functions(kernel), functions(open(kernel_path(), "rb").read())
    assert "sys_getppid" in full and "sys_getppid" not in ours
    assert {f"sys_{n}" for n in served if syscalls.by_name(n).level == "kernel"} <= ours
    # Packing stays deterministic: the kernel linked again is the same bytes.
    again = pack(tmp_path, "again", exe)
    assert open(again, "rb").read() == data
    text = subprocess.run([*LIBSUBST, "inspect", str(image)], capture_output=True, timeout=60)
    line = next(l for l in text.stdout.decode().splitlines() if l.startswith("syscalls:"))
    assert f"{len(served)} of the {len(implemented)} libsubst serves" in line
    assert f"host allow-list {len(allowed)} of {len(hostcalls.allowed())} calls" in line


def test_left_out_call_answers_enosys_and_is_reported(left_out, tmp_path):
    exe, image = left_out
    native = run_native([exe], tmp_path)
    assert native.stdout == b"getppid: a pid\n"
    trace = tmp_path / "trace.json"
    r = run_image(image, tmp_path, opts=["--trace-file", str(trace), "--trace-format", "json"])
    assert r.returncode == native.returncode == 0, r.stderr.decode()
    assert r.stdout == b"getppid: ENOSYS\n"
    records = [json.loads(l) for l in trace.read_text().splitlines()]
    assert {"enosys": {"getppid": 1}} in records, records[-3:]
    # The same program on the full kernel gets its answer, and so does an
    # image that keeps the call (--keep-calls).
    full = subprocess.run([*LIBSUBST, "run", exe], capture_output=True, timeout=120, cwd=tmp_path)
    assert full.stdout == native.stdout
    kept = pack(tmp_path, "kept", exe, opts=["--keep-calls", "getppid"])
    assert "getppid" in manifest(kept)["kernel"]["specialized"]["syscalls"]
    assert run_image(kept, tmp_path).stdout == native.stdout


def test_hello_sqlite3_python3_images_run_as_natively(tmp_path):
    (tmp_path / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hello"); }\n')
    hello = str(tmp_path / "hello")
    subprocess.run(["gcc", "-O2", "-o", hello, str(tmp_path / "hello.c")], check=True)
    script = tmp_path / "app.py"
    script.write_text(PY)
    cases = [("hello", [hello], b""), ("sqlite3", ["/usr/bin/sqlite3", "-batch"], SQL),
             ("python3", ["/usr/bin/python3", str(script)], b"")]
    for name, argv, stdin in cases:
        opts = ["--add", str(script)] if name == "python3" else []
        image = pack(tmp_path, name, *argv, opts=opts)
        native = run_native(argv, tmp_path, stdin=stdin)
        guest = run_image(image, tmp_path, stdin=stdin)
        assert (guest.returncode, guest.stdout) == (native.returncode, native.stdout), \
            (name, guest.stderr.decode())
        assert native.stdout, name


VOLUME_PY = textwrap.dedent("""\
    import os
    os.chdir(os.environ.get("DATA", "/data"))
    os.mkdir("d"); open("d/a", "w").write("x" * 10)
    os.rename("d/a", "d/b"); os.link("d/b", "d/c"); os.symlink("b", "d/l")
    os.chmod("d/b", 0o640); os.utime("d/b", (1, 2))
    st = os.stat("d/b"); print(oct(st.st_mode), st.st_nlink, st.st_mtime, os.readlink("d/l"))
    print(sorted(os.listdir("d")), os.statvfs(".").f_bsize > 0)
    print(os.listxattr("f"), os.getxattr("f", "user.a"), os.listxattr("f", follow_symlinks=False))
    os.removexattr("f", "user.a"); print(os.listxattr("f"))
    os.unlink("d/c"); os.unlink("d/l"); os.unlink("d/b"); os.rmdir("d")
    if "DATA" not in os.environ:        # the guest: its root's layer (copy-up) too
        with open("/etc/passwd", "a") as f:
            f.write("x:1:1::/:/bin/false\\n")
        os.mkdir("/etc/specialised"); os.rename("/etc/hostname", "/etc/specialised/h")
        assert open("/etc/passwd").read().endswith("/bin/false\\n")
    """)


def test_calls_the_kernel_makes_itself_pass_the_cut_filter(tmp_path):
    """On a volume and in its root's writable layer the kernel makes host
    calls of its own (mkdirat, renameat2, linkat, xattrs, copy-up...): the
    allow-list read from the specialised kernel's code lets every one
    through (a miss would kill the guest)."""
    script = tmp_path / "vol.py"
    script.write_text(VOLUME_PY)
    image = pack(tmp_path, "vol", "/usr/bin/python3", str(script),
                 opts=["--add", str(script), "--volume", "/data"])
    outs = []
    for name in ("native", "guest"):
        data = tmp_path / name
        data.mkdir()
        (data / "f").write_text("f")
        try:
            os.setxattr(data / "f", "user.a", b"1")
        except OSError:
            pytest.skip("no user xattrs on this file system")
        if name == "native":
            outs.append(run_native(["/usr/bin/python3", str(script)], tmp_path,
                                   env=dict(os.environ, DATA=str(data))))
        else:
            outs.append(run_image(image, tmp_path, opts=["--volume", f"{data}:/data"]))
    native, guest = outs
    assert native.returncode == 0 and b"user.a" in native.stdout, native.stderr
    assert (guest.returncode, guest.stdout) == (native.returncode, native.stdout), \
        guest.stderr.decode()


def test_redis_image_answers_as_natively(tmp_path):
    port, native_port = free_port(), free_port()
    image = pack(tmp_path, "redis", *redis_argv(port))
    commands = [("ping",), ("set", "greeting", "hello specialised"), ("get", "greeting"),
                ("incrby", "n", "41"), ("rpush", "l", "a", "b"), ("lrange", "l", "0", "-1"),
                ("hset", "h", "f", "v"), ("hgetall", "h")]
    answers = {}
    for where, p, argv in (("guest", port, [*LIBSUBST, "run", str(image)]),
                           ("native", native_port, redis_argv(native_port))):
        with server(argv, p, tmp_path, guest=False) as proc:
            answers[where] = [redis_cli(p, *c) for c in commands]
            proc.send_signal(signal.SIGTERM)
            answers[where].append(proc.wait(timeout=30))
    assert answers["guest"] == answers["native"]
    assert answers["native"][0] == "PONG\n"


def test_nginx_image_serves_as_natively(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "blob.bin").write_bytes(random.Random(3).randbytes(200_000))
    (www / "index.html").write_text("<h1>specialised</h1>\n")
    port, native_port = free_port(), free_port()
    head = "master_process off;\nworker_processes 1;"
    conf = nginx_conf(tmp_path, head, f"127.0.0.1:{port}")
    # In the image: its state directory (the package's, writable) for what
    # the test's configuration puts in /tmp.
    conf.write_text(conf.read_text().replace("/tmp", "/var/lib/nginx"))
    image = pack(tmp_path, "nginx", "/usr/sbin/nginx", "-c", "/etc/nginx/test.conf", "-p",
                 "/var/lib/nginx", opts=["--add", f"{conf}:/etc/nginx/test.conf",
                                         "--volume", "/srv/www"])
    native_dir = tmp_path / "native"
    native_dir.mkdir()
    native_conf = nginx_conf(native_dir, head, f"127.0.0.1:{native_port}")
    native_conf.write_text(native_conf.read_text().replace("/srv/www", str(www))
                           .replace("/tmp/nginx.pid", str(native_dir / "nginx.pid"))
                           .replace("/tmp;", f"{native_dir};"))
    got = {}
    for where, p, argv in (
            ("guest", port, [*LIBSUBST, "run", "--volume", f"{www}:/srv/www:ro", str(image)]),
            ("native", native_port, ["/usr/sbin/nginx", "-c", str(native_conf), "-p",
                                     str(native_dir)])):
        with server(argv, p, tmp_path, guest=False):
            got[where] = [subprocess.run(["curl", "-s", "-w", "%{http_code}",
                                          f"http://127.0.0.1:{p}{path}"], capture_output=True,
                                         timeout=30).stdout
                          for path in ("/", "/blob.bin", "/nope")]
    assert got["guest"] == got["native"]
    assert got["native"][0].endswith(b"200") and got["native"][2].endswith(b"404")


def test_specialize_refuses_what_it_cannot_do(tmp_path):
    r = subprocess.run([*LIBSUBST, "pack", "--specialize", "--from-oci", str(tmp_path),
                        "/bin/true", "-o", str(tmp_path / "x.lsi")], capture_output=True,
                       timeout=60)
    err = r.stderr.decode()
    assert r.returncode != 0 and err.startswith("libsubst: ") and err.count("\n") == 1, err
    assert "--specialize" in err
    # Without a C compiler the kernel cannot be linked: said in one line.
    env = dict(os.environ, CC="/nonexistent/gcc")
    r = subprocess.run([*LIBSUBST, "pack", "--specialize", "/bin/true", "-o",
                        str(tmp_path / "y.lsi")], capture_output=True, timeout=300, env=env)
    err = r.stderr.decode()
    assert r.returncode != 0 and err.startswith("libsubst: ") and err.count("\n") == 1, err
    assert "gcc" in err and not (tmp_path / "y.lsi").exists()
    for opts, word in ((["--specialize", "--keep-calls", "nosuchcall"], "nosuchcall"),
                       (["--keep-calls", "getppid"], "--keep-calls")):
        r = subprocess.run([*LIBSUBST, "pack", *opts, "/bin/true", "-o",
                            str(tmp_path / "z.lsi")], capture_output=True, timeout=300)
        err = r.stderr.decode()
        assert r.returncode != 0 and err.startswith("libsubst: ") and err.count("\n") == 1, err
        assert word in err and not (tmp_path / "z.lsi").exists()
