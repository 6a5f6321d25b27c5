"""Interpreters by their own rules: any CPython — Debian's, a build of its
own prefix (pyenv), a venv of either, with or without the system site
packages — finds its library in the guest as natively, and a package
pip-installed into a venv imports there."""

import glob
import os
import shutil
import subprocess

import pytest

from conftest import assert_same, run_guest, run_native
from libsubst.image import perl, python

PYENV = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
PYENV2 = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.*/bin/python2")))
SHOW = ("import sys, json, sqlite3, ssl, decimal; "
        "print(sys.prefix, sys.base_prefix, sys.exec_prefix); print(sys.path)")



@pytest.fixture(params=["debian", "pyenv"])
def base(request):
    if request.param == "debian":
        return "/usr/bin/python3"
    if not PYENV:
        pytest.skip("no pyenv build of CPython on this machine")
    return PYENV[-1]


def make_venv(base, where, *opts):
    subprocess.run([base, "-m", "venv", *opts, str(where)], check=True, timeout=300)
    return str(where / "bin" / "python")


def test_base_interpreter_as_native(base, tmp_path):
    argv = [base, "-c", SHOW]
    assert_same(run_native(argv, tmp_path), run_guest(argv, tmp_path))


@pytest.mark.parametrize("opts", [(), ("--system-site-packages",)])
def test_venv_outside_the_working_directory(base, opts, tmp_path):
    """The venv is not under the guest's working directory: its pyvenv.cfg
    and site-packages come by CPython's rules, not by the cwd volume."""
    exe = make_venv(base, tmp_path / "venv", "--without-pip", *opts)
    work = tmp_path / "work"
    work.mkdir()
    argv = [exe, "-c", SHOW]
    native = run_native(argv, work)
    assert str(tmp_path / "venv").encode() in native.stdout
    assert_same(native, run_guest(argv, work))


def test_pip_installed_package_imports(tmp_path):
    """A package installed from PyPI into a venv imports in the guest."""
    exe = make_venv("/usr/bin/python3", tmp_path / "venv")
    subprocess.run([exe, "-m", "pip", "install", "-q", "--disable-pip-version-check", "six"],
                   check=True, timeout=300)
    work = tmp_path / "work"
    work.mkdir()
    argv = [exe, "-c", "import six; print(six.__version__, six.__file__, six.PY3)"]
    native = run_native(argv, work)
    assert b"site-packages/six.py" in native.stdout
    assert_same(native, run_guest(argv, work))


def _wheel(where):
    """A pure-Python wheel made by hand (no build backend needed)."""
    import base64
    import hashlib
    import zipfile

    files = {"tinypkg/__init__.py": b"def hello():\n    return 'hello from tinypkg'\n",
             "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
             "tinypkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                             b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},"
                     f"{len(d)}\n" for n, d in files.items()) + "tinypkg-1.0.dist-info/RECORD,,\n"
    files["tinypkg-1.0.dist-info/RECORD"] = record.encode()
    path = where / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return path.name


def test_venv_made_and_pip_installed_in_the_guest(tmp_path):
    """python3 -m venv in the guest: ensurepip installs the wheels Debian
    keeps in sysconfig's WHEEL_PKG_DIR, and the venv's pip (a #! script
    whose interpreter is the venv's link to /usr/bin/python3, in the working
    directory's volume) installs a local wheel, which imports."""
    wheel = _wheel(tmp_path)
    argv = ["sh", "-c", f"/usr/bin/python3 -m venv v && v/bin/pip install -q --no-index ./{wheel} && "
            "v/bin/python -c 'import tinypkg; print(tinypkg.hello())' && "
            "v/bin/pip list --format=freeze"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and b"tinypkg==1.0" in native.stdout, native.stderr
    shutil.rmtree(tmp_path / "v")
    assert_same(native, run_guest(argv, tmp_path, opts=["--add", "/usr/bin/python3"]))


def test_layout_reads_pyvenv_cfg_not_a_list(tmp_path):
    """A made-up prefix with only the landmark, reached through a venv's
    home: found by the landmark, not at Debian's paths."""
    prefix = tmp_path / "opt" / "py"
    (prefix / "lib" / "python3.11").mkdir(parents=True)
    (prefix / "lib" / "python3.11" / "os.py").write_text("")
    (prefix / "bin").mkdir()
    os.symlink("/usr/bin/python3.11", prefix / "bin" / "python3.11")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {prefix}/bin\ninclude-system-site-packages = false\n")
    os.symlink(prefix / "bin" / "python3.11", venv / "bin" / "python")
    layout = python.find(str(venv / "bin" / "python"))
    assert (layout.prefix, layout.version, layout.venv) == (str(prefix), "3.11", str(venv))
    assert layout.trees == [str(prefix / "lib" / "python3.11")]
    assert layout.files == [str(venv / "pyvenv.cfg")]


def test_cpython_2_by_the_same_rule(tmp_path):
    """CPython 2 has the same landmark (lib/python2.7/os.py): a made-up
    prefix is found by it, and a pyenv build runs as natively."""
    prefix = tmp_path / "py2"
    (prefix / "lib" / "python2.7").mkdir(parents=True)
    (prefix / "lib" / "python2.7" / "os.py").write_text("")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "python2.7").write_text("")
    os.symlink("python2.7", prefix / "bin" / "python")
    layout = python.find(str(prefix / "bin" / "python"))
    assert (layout.prefix, layout.version) == (str(prefix), "2.7")
    assert layout.trees == [str(prefix / "lib" / "python2.7")]
    if not PYENV2:
        pytest.skip("no pyenv build of CPython 2 on this machine")
    argv = [PYENV2[-1], "-c", "import sys, json, ssl, sqlite3; print sys.prefix; print sys.path"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and b"/lib/python2.7" in native.stdout, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def test_perl_inc_is_perls_own():
    """The directories read from perl's strings are its @INC (those that
    exist), as perl itself prints it."""
    native = subprocess.run(["perl", "-e", 'print join("\\n", @INC), "\\n"'], capture_output=True,
                            text=True, check=True).stdout.split()
    assert sorted(perl.inc_dirs("/usr/bin/perl")) == sorted(d for d in native if os.path.isdir(d))


def test_perl_xs_modules_as_native(tmp_path):
    argv = ["perl", "-MPOSIX=floor", "-MStorable=dclone", "-MList::Util=sum", "-MDigest::MD5=md5_hex",
            "-MData::Dumper", "-e",
            '$Data::Dumper::Sortkeys = 1; print sum(1..10), " ", floor(2.5), " ", md5_hex("x"), "\\n";'
            'print Dumper(dclone({a => [1, 2], b => "c"}));']
    native = run_native(argv, tmp_path)
    assert native.returncode == 0, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def test_node_modules_by_nodes_rules(tmp_path):
    """A module in a node_modules above the working directory and one on
    NODE_PATH, required as natively."""
    (tmp_path / "node_modules" / "up").mkdir(parents=True)
    (tmp_path / "node_modules" / "up" / "index.js").write_text("module.exports = 'from above';\n")
    (tmp_path / "lib" / "onpath").mkdir(parents=True)
    (tmp_path / "lib" / "onpath" / "index.js").write_text("module.exports = 'from NODE_PATH';\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ["PATH"], "NODE_PATH": str(tmp_path / "lib"), "HOME": str(work)}
    argv = ["node", "-e", "console.log(require('up'), require('onpath'), 6 * 7)"]
    native = run_native(argv, work, env=env)
    assert native.stdout == b"from above from NODE_PATH 42\n", native.stderr
    assert_same(native, run_guest(argv, work, env=env))


CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"      # Debian's ca-certificates


@pytest.mark.skipif(shutil.which("node") is None or not os.access(CA_BUNDLE, os.R_OK),
                    reason="node or ca-certificates' bundle is not installed")
def test_a_file_the_environment_names_is_in_the_root(tmp_path):
    """NODE_EXTRA_CA_CERTS names a host file, which node reads at start and
    warns about when it cannot: the guest's root holds it (planner.env_files),
    so node loads it with no warning and reads it as natively."""
    env = {"PATH": os.environ["PATH"], "NODE_EXTRA_CA_CERTS": CA_BUNDLE}
    argv = ["node", "-e", "const fs = require('fs'); console.log("
            "fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS).length, 6 * 7)"]
    native = run_native(argv, tmp_path, env=env)
    assert native.returncode == 0 and native.stderr == b"", native.stderr
    assert native.stdout == b"%d 42\n" % os.path.getsize(CA_BUNDLE)
    assert_same(native, run_guest(argv, tmp_path, env=env))


def test_embedded_cpython_as_native(tmp_path):
    """A program embedding CPython (gdb links libpython3.11) finds the
    standard library in the guest as natively: python.find_embedded."""
    argv = ["gdb", "-nx", "-batch", "-ex",
            "python import sys, json, decimal; print(sys.prefix, json.dumps([decimal.Decimal(1) + 1], default=str))"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


JAVA = shutil.which("java")
needs_java = pytest.mark.skipif(JAVA is None, reason="tests/run.sh installs openjdk-17-jdk-headless")
HELLO = os.path.join(os.path.dirname(__file__), "java", "Hello.java")


@needs_java
def test_java_home_by_the_launchers_rule():
    from libsubst.image import java

    home = java.home(JAVA)
    assert home and os.path.realpath(JAVA) == os.path.join(home, "bin", "java")
    assert os.path.join(home, "lib", "server", "libjvm.so") in java.modules(home)
    assert java.home("/usr/bin/python3") is None
    # links the package ships into /etc are followed (Debian's cacerts)
    cacerts = "/etc/ssl/certs/java/cacerts"
    assert not os.path.isfile(cacerts) or cacerts in java.outside_files(home)


@needs_java
@pytest.mark.parametrize("argv,add", [
    (["java", "-version"], []),
    # the source launcher: javac's compiler in the VM, then the program's
    # thread pool, files and digest
    (["java", "Hello.java", "a", "b"], []),
    # the VM's own signal handlers (implicit null checks, stack guard pages),
    # under each collector
    (["java", "-XX:+UseG1GC", "-Xmx256m", "Stress.java"], []),
    (["java", "-XX:+UseParallelGC", "-Xmx256m", "Stress.java"], []),
    (["java", "-XX:+UseSerialGC", "-Xint", "Stress.java"], []),
    # the launchers of a JDK's other tools are the same program
    (["sh", "-c", "javac -d out Hello.java && java -cp out Hello && "
      "jar --create --file h.jar --main-class Hello -C out . && jar tf h.jar && java -jar h.jar"],
     ["javac", "java", "jar"]),
], ids=["version", "source", "g1", "parallel", "serial-interpreted", "javac-jar"])
def test_java_as_native(argv, add, tmp_path):
    """OpenJDK's launcher finds its home (lib/libjava.so, lib/server/libjvm.so,
    lib/modules, conf) by its real path: java.py mounts it."""
    shutil.copy(HELLO, tmp_path)
    shutil.copy(os.path.join(os.path.dirname(HELLO), "Stress.java"), tmp_path)
    (tmp_path / "notes.txt").write_text("alpha\nbeta\nalpha\n")
    native = run_native(argv, tmp_path)
    assert native.returncode == 0, native.stderr
    opts = [o for name in add for o in ("--add", shutil.which(name))]
    assert_same(native, run_guest(argv, tmp_path, opts=opts))


def _jar(path, class_path=None):
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = "Manifest-Version: 1.0\r\n"
    if class_path is not None:
        # The specification's 72-byte lines, continued by a leading space.
        line = "Class-Path: " + class_path
        manifest += "\r\n ".join(line[i:i + 70] for i in range(0, len(line), 70)) + "\r\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", manifest + "\r\n")


def test_a_jars_class_path_comes_with_it(tmp_path):
    """A jar brings the jars its manifest's Class-Path names, transitively,
    relative to the jar as named and to its real path (a package's link to
    it elsewhere), what exists below the root given (Debian's /usr), and
    no absolute URL: java.class_path_closure, which packages.contents
    applies to a program's packages' jars (tomcat10's jasper.jar names the
    JSP compiler, eclipse-jdt-core.jar: tests/test_go_jvm_servers.py)."""
    from libsubst.image import java

    lib = tmp_path / "share" / "java"
    _jar(lib / "a.jar", "sub/b.jar c%20d.jar missing.jar file:/etc/e.jar /etc/f.jar "
                        + " ".join(f"long-name-{i}.jar" for i in range(8)))
    _jar(lib / "sub" / "b.jar", "../e.jar")
    _jar(lib / "c d.jar")
    _jar(lib / "e.jar", "sub/b.jar")        # a cycle back
    _jar(lib / "long-name-7.jar")           # named across the manifest's continued lines
    _jar(tmp_path / "outside" / "g.jar")
    _jar(lib / "h.jar", "../../outside/g.jar")
    (tmp_path / "app" / "lib").mkdir(parents=True)
    os.symlink(lib / "a.jar", tmp_path / "app" / "lib" / "a.jar")
    found = java.class_path_closure([str(tmp_path / "app" / "lib" / "a.jar"), "notes.txt"],
                                    below=str(lib))
    assert sorted(found) == sorted(str(lib / n) for n in (
        "sub/b.jar", "c d.jar", "e.jar", "long-name-7.jar")), found
    assert java.class_path_closure([str(lib / "h.jar")], below=str(lib)) == []
    assert java.class_path_closure([str(lib / "c d.jar")], below=str(lib)) == []


def test_a_java_home_of_no_package_brings_no_etc_file_by_its_links(tmp_path):
    """A home by the launcher's rule that no package ships (a JDK unpacked
    from a tarball: bin/, lib/libjava.so, lib/jvm.cfg) with a link of its
    own into /etc: natively its program reads the host's file; in the guest
    the file is not there, as the home's links bring only what the home's
    packages ship (java.outside_files: the image builder's layer)."""
    from libsubst.image import java

    secret = "/etc/login.defs"          # readable by all, in no guest root of cat's
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "lib").mkdir()
    shutil.copy("/bin/cat", home / "bin" / "cat")
    shutil.copy(os.path.realpath("/lib/x86_64-linux-gnu/libz.so.1"), home / "lib" / "libjava.so")
    (home / "lib" / "jvm.cfg").write_text("-server KNOWN\n")
    os.symlink(secret, home / "lib" / "secret")
    assert java.home(str(home / "bin" / "cat")) == str(home)
    assert java.outside_files(str(home)) == []
    argv = [str(home / "bin" / "cat"), secret]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout, native.stderr
    guest = run_guest(argv, tmp_path)
    assert (guest.returncode, guest.stdout) == (1, b""), guest
    assert guest.stderr == f"{argv[0]}: {secret}: No such file or directory\n".encode(), guest.stderr
