"""Heavy programs a user runs, compared with a native run: compute with
threads and SIMD (ImageMagick with OpenMP, ghostscript, ffmpeg), a
GHC-compiled program (pandoc) and network clients against native loopback
servers (TLS with curl, wget and openssl s_client; git over git daemon and
http; rsync)."""

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import assert_same, free_port, run_guest, run_native, wait_for_port


def _needs(*programs):
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"tests/run.sh installs {', '.join(missing)}")


def _adds(*programs):
    return [o for p in programs for o in ("--add", shutil.which(p))]


MD = ("# Title\n\nSome *emph* and `code`, a [link](http://example.org).\n\n"
      "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n")


@pytest.mark.parametrize("to", ["latex", "html5", "native"])
def test_pandoc_as_native(to, tmp_path):
    """A GHC program: its runtime's timers, signals and reservations, and
    its code's info tables, which are data the rewriter must leave alone
    (uklibc's known code)."""
    _needs("pandoc")
    (tmp_path / "doc.md").write_text(MD)
    argv = ["pandoc", "-s", "--metadata", "title=t", "-t", to, "doc.md"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def test_imagemagick_loads_its_coders_as_native(tmp_path):
    """convert loads its coders (png, the gradient and plasma generators)
    from libMagickCore's module directory (packages.module_trees), with
    OpenMP's threads; --add'ed beside a shell as a user adds it."""
    _needs("convert-im6.q16", "identify-im6.q16", "md5sum")
    script = ("convert-im6.q16 -seed 7 -size 320x200 gradient:red-blue -swirl 90 -rotate 30 "
              "-define png:exclude-chunk=date,time png:out.png && md5sum out.png && "
              "identify-im6.q16 out.png && OMP_NUM_THREADS=2 convert-im6.q16 -seed 1 "
              "-size 640x480 plasma:fractal -blur 0x3 -resize 50% -format '%#\\n' info:")
    argv = ["sh", "-c", script]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.count(b"\n") == 3, native.stderr
    (tmp_path / "out.png").unlink()
    guest = run_guest(argv, tmp_path, opts=_adds("convert-im6.q16", "identify-im6.q16", "md5sum"))
    # identify's line ends with the CPU and elapsed time it took ("0.000u
    # 0:00.012"): timings, which differ between any two runs
    for r in (native, guest):
        r.stdout = re.sub(rb"\d+\.\d+u \d+:\d+\.\d+", b"Tu T", r.stdout)
    assert_same(native, guest)


PS = ("%!PS\n/Helvetica findfont 24 scalefont setfont\n72 720 moveto (Hello libsubst) show\n"
      "newpath 100 100 moveto 300 400 lineto 5 setlinewidth stroke\nshowpage\n")


def test_ghostscript_renders_as_native(tmp_path):
    """gs renders a page on the host's paper (/etc/papersize, rootfs.add_etc)
    with its fonts and resources."""
    _needs("gs")
    (tmp_path / "t.ps").write_text(PS)
    argv = ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=png16m", "-r50",
            "-sOutputFile=-", "t.ps"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.startswith(b"\x89PNG"), native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def test_ffmpeg_transcodes_as_native(tmp_path):
    """A generated test source transcoded with two threads; the frames'
    digests (the md5 muxer) and the status as natively."""
    _needs("ffmpeg")
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i",
            "testsrc=duration=2:size=320x240:rate=25", "-c:v", "mpeg4", "-threads", "2",
            "-f", "framemd5", "-"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.count(b"\n") > 50, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


@pytest.fixture
def tls_server(tmp_path):
    """openssl s_server on loopback serving tmp_path's files (-WWW) with a
    self-made P-256 certificate for localhost; (port, cert path)."""
    _needs("openssl")
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "index.txt").write_text("hello over tls\n" * 100)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-keyout", srv / "key.pem", "-out", srv / "cert.pem",
                    "-days", "2", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                             "cert.pem", "-key", "key.pem", "-WWW", "-quiet"], cwd=srv,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        yield port, str(srv / "cert.pem")
    finally:
        proc.kill()
        proc.wait()


def test_tls_clients_as_native(tls_server, tmp_path):
    """curl, wget and openssl s_client verify the server's certificate and
    fetch over TLS 1.3 as natively (libcrypto's P-256 in the guest)."""
    _needs("curl", "wget", "grep")
    port, cert = tls_server
    url = f"https://localhost:{port}/index.txt"
    for argv, add in ((["curl", "-sS", "--cacert", cert, url], ()),
                      (["wget", "-q", "-O", "-", f"--ca-certificate={cert}", url], ()),
                      (["sh", "-c", f"echo | openssl s_client -connect localhost:{port} -CAfile "
                        f"{cert} -verify_return_error -brief 2>&1 | grep -e Verif -e Protocol"],
                       ("openssl", "grep"))):
        native = run_native(argv, tmp_path)
        assert native.returncode == 0 and native.stdout, native.stderr
        assert_same(native, run_guest(argv, tmp_path, opts=_adds(*add)))


@pytest.fixture
def git_repo(tmp_path):
    """A repository of three commits with fixed dates under tmp_path/srv."""
    _needs("git")
    repo = tmp_path / "srv" / "repo"
    repo.mkdir(parents=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    subprocess.run(["git", "init", "-q", repo], check=True)
    for i in (1, 2, 3):
        with open(repo / "f.txt", "a") as f:
            f.write(f"line {i}\n")
        when = f"2023-01-0{i}T00:00:00Z"
        subprocess.run(["git", "-C", repo, "add", "f.txt"], check=True)
        subprocess.run(["git", "-C", repo, "commit", "-q", "-m", f"c{i}"], check=True,
                       env=dict(env, GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when))
    subprocess.run(["git", "-C", repo, "update-server-info"], check=True)
    return repo


def _clone_and_show(url):
    return ["sh", "-c", f"git clone -q {url} c && git -C c log --format='%H %s' && "
                        "git -C c fsck --no-progress && cat c/f.txt"]


def test_git_clone_over_git_daemon_as_native(git_repo, tmp_path):
    port = free_port()
    # in a session of its own: `git daemon` runs git-daemon as its child
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
                               f"--port={port}", f"--base-path={git_repo.parent}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        wait_for_port(port, daemon)
        argv = _clone_and_show(f"git://127.0.0.1:{port}/repo")
        work = tmp_path / "work"
        work.mkdir()
        native = run_native(argv, work)
        assert native.returncode == 0 and native.stdout.count(b"\n") == 6, native.stderr
        shutil.rmtree(work / "c")
        assert_same(native, run_guest(argv, work, opts=_adds("git", "cat")))
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()


def test_git_clone_over_http_as_native(git_repo, tmp_path):
    """git's dumb http transport: git execs its helper git-remote-http from
    its exec path, given with --add as a program the guest execs."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1"], cwd=git_repo.parent,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, server)
        argv = _clone_and_show(f"http://127.0.0.1:{port}/repo/.git")
        work = tmp_path / "work"
        work.mkdir()
        native = run_native(argv, work)
        assert native.returncode == 0 and native.stdout.count(b"\n") == 6, native.stderr
        shutil.rmtree(work / "c")
        assert_same(native, run_guest(argv, work, opts=[*_adds("git", "cat"), "--add",
                                                        "/usr/lib/git-core/git-remote-http"]))
    finally:
        server.kill()
        server.wait()


def test_rsync_as_native(tmp_path):
    _needs("rsync")
    (tmp_path / "src" / "d").mkdir(parents=True)
    for i in range(20):
        (tmp_path / "src" / "d" / f"f{i}").write_text(f"file {i}\n" * i)
        os.utime(tmp_path / "src" / "d" / f"f{i}", (1700000000, 1700000000))
    argv = ["rsync", "-a", "-i", "--checksum", "src/", "copy/"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout.count(b"\n") > 20, native.stderr
    shutil.rmtree(tmp_path / "copy")
    assert_same(native, run_guest(argv, tmp_path))
    # again: nothing left to transfer, as natively
    assert_same(run_native(argv, tmp_path), run_guest(argv, tmp_path))
