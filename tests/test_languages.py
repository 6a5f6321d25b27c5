"""Other language runtimes and toolchains of a Debian machine, run as a user
runs them, natively and in the guest, compared byte for byte: Lua and
LuaJIT, Ruby, PHP, Erlang, the go tool, rustc and cargo.  Each finds its own
tree by its package (packages.py's *trees*: /usr/lib/ruby, /usr/lib/php,
/usr/lib/rustlib, /usr/lib/erlang); the programs a run execs of other
packages (the C compiler rustc links with) are given with --add, as a user
gives them; the shell their popen, system or proc_open runs comes with them
(image/layout.py)."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import assert_same, run_guest, run_native

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "langs")
# Debian's toolchains, not a rustup or pyenv shim earlier on the caller's PATH.
ENV = dict(os.environ, PATH="/usr/local/bin:/usr/bin:/bin")


def needs(*programs):
    missing = [p for p in programs if not os.path.exists(p)]
    return pytest.mark.skipif(bool(missing), reason=f"{missing} not installed (tests/run.sh)")


def copy(name, where):
    src = os.path.join(HERE, name)
    if os.path.isdir(src):
        shutil.copytree(src, where / name)
    else:
        shutil.copy(src, where)


def same(argv, cwd, opts=(), env=ENV):
    native = run_native(argv, cwd, env=env)
    assert native.returncode == 0, native.stderr
    assert_same(native, run_guest(argv, cwd, opts=opts, env=env))


@needs("/usr/bin/lua5.4", "/usr/bin/luajit")
@pytest.mark.parametrize("lua", ["lua5.4", "luajit"])
def test_lua_as_native(lua, tmp_path):
    """Hot loops (LuaJIT's machine code, mapped writable then executable),
    coroutines, files, io.popen and LuaJIT's FFI calls into libc."""
    copy("work.lua", tmp_path)
    same([lua, "work.lua"], tmp_path)


@needs("/usr/bin/ruby")
@pytest.mark.parametrize("argv", [
    ["ruby", "work.rb"],
    ["ruby", "-rjson", "-rset", "-e", "puts $LOAD_PATH, JSON.dump(Set[3, 1].to_a.sort)"],
    # gems Debian packages apart (ruby-webrick...), by RubyGems' default path
    ["gem", "list"],
    ["ruby", "-rwebrick", "-rnet/telnet", "-e", "puts WEBrick::VERSION, Gem.path.sort"],
], ids=["threads-fork-popen-sockets", "load-path", "gem-list", "packaged-gems"])
def test_ruby_as_native(argv, tmp_path):
    """Ruby's library is /usr/lib/ruby and its multiarch twin (libruby3.1's
    trees): without them it starts without RubyGems and cannot require; its
    packaged gems are where RubyGems' default path says (ruby.py)."""
    copy("work.rb", tmp_path)
    same(argv, tmp_path)


@needs("/usr/bin/ruby")
def test_a_script_run_through_env_brings_its_program(tmp_path):
    """#!/usr/bin/env ruby: env runs the ruby PATH finds, which comes with
    its trees as one added at its own path does."""
    script = tmp_path / "tool"
    script.write_text("#!/usr/bin/env ruby\nrequire 'digest'\nputs Digest::MD5.hexdigest(ARGV[0])\n")
    script.chmod(0o755)
    same(["./tool", "unikernel"], tmp_path)


@needs("/usr/bin/php")
@pytest.mark.parametrize("argv", [
    ["php", "work.php"],
    # the extensions its postinst enabled (conf.d links to mods-available)
    ["php", "-m"],
    # its default time zone is read from tzdata's database
    ["php", "-r", 'echo date_default_timezone_get(), " ", date("r", 1e9), "\\n";'],
], ids=["procs-sockets-fork", "modules", "time-zone"])
def test_php_as_native(argv, tmp_path):
    """php.ini and the conf.d links that enable extensions are made by
    PHP's maintainer scripts (ucf, phpenmod): no file list names them."""
    copy("work.php", tmp_path)
    same(argv, tmp_path, opts=["--add", "/usr/bin/tr"])


ERL_ADD = [o for p in ("/usr/bin/dirname", "/usr/bin/basename", "/bin/sh", "/bin/echo")
           for o in ("--add", p)]


@needs("/usr/bin/erl", "/usr/bin/erlc")
def test_erlang_compiles_and_runs_as_native(tmp_path):
    """erl is a shell script in erlang's own /usr/lib/erlang/bin (its
    runtime beside it: erts-*/bin/beam.smp, lib/, start.boot); erlc runs
    erl as PATH finds it."""
    copy("ping.erl", tmp_path)
    native = run_native(["erlc", "ping.erl"], tmp_path, env=ENV)
    assert native.returncode == 0, native.stderr
    beam = (tmp_path / "ping.beam").read_bytes()
    (tmp_path / "ping.beam").unlink()
    assert_same(native, run_guest(["erlc", "ping.erl"], tmp_path, opts=ERL_ADD, env=ENV))
    assert (tmp_path / "ping.beam").read_bytes() == beam
    same(["erl", "-noshell", "-s", "ping", "main", "-s", "init", "stop"], tmp_path, opts=ERL_ADD)


@needs("/usr/bin/guile")
def test_guile_as_native(tmp_path):
    """Guile's compiled modules (/usr/lib/x86_64-linux-gnu/guile, its
    package's tree) and its threads (par-map)."""
    same(["guile", "-c", "(use-modules (ice-9 threads) (srfi srfi-1) (ice-9 popen) (ice-9 rdelim))"
          " (display (par-map (lambda (i) (fold + 0 (iota (* i 1000)))) (iota 4))) (newline)"
          " (let ((p (open-input-pipe \"echo from a pipe\"))) (display (read-line p)) (newline)"
          " (display (status:exit-val (close-pipe p)))) (newline)"], tmp_path)


@needs("/usr/bin/go")
@pytest.mark.parametrize("argv", [
    ["go", "run", "."],
    ["go", "vet", "."],
    ["go", "test", "-count=1", "."],
    ["sh", "-c", "go build -o sums . && ./sums"],
], ids=["run", "vet", "test", "build"])
def test_go_tool_as_native(argv, tmp_path):
    """The go tool execs its compiler and linker (GOROOT/pkg/tool), and its
    own test binary, and keeps a build cache: each run starts with an empty
    one."""
    copy("gomod", tmp_path)
    work = tmp_path / "gomod"
    env = dict(ENV, GOCACHE=str(tmp_path / "cache"), GOPATH=str(tmp_path / "path"))
    guest = run_guest(argv, work, opts=["--add", "/usr/bin/go"], env=env)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    native = run_native(argv, work, env=env)
    assert native.returncode == 0, native.stderr

    def timeless(out):      # go test says how long the package's tests took
        return re.sub(rb"\t\d+\.\d+s\n", b"\tTs\n", out)
    assert timeless(guest.stdout) == timeless(native.stdout)
    assert (guest.stderr, guest.returncode) == (native.stderr, native.returncode)


@needs("/usr/bin/rustc", "/usr/bin/cc")
def test_rustc_links_the_same_program(tmp_path):
    """rustc's sysroot is /usr/lib/rustlib (libstd-rust-dev's, found from
    its own path); it runs cc to link, given with --add."""
    (tmp_path / "t.rs").write_text(
        'fn main() { let h: Vec<_> = (1..5u32).map(|i| std::thread::spawn(move || i * i)).collect();'
        ' println!("{}", h.into_iter().map(|t| t.join().unwrap()).sum::<u32>()); }\n')
    argv = ["/usr/bin/rustc", "-o", "t", "t.rs"]
    native = run_native(argv, tmp_path, env=ENV)
    assert native.returncode == 0, native.stderr
    built = (tmp_path / "t").read_bytes()
    (tmp_path / "t").unlink()
    assert_same(native, run_guest(argv, tmp_path, opts=["--add", "/usr/bin/cc"], env=ENV))
    assert (tmp_path / "t").read_bytes() == built
    assert subprocess.run(["./t"], cwd=tmp_path, capture_output=True).stdout == b"30\n"


@needs("/usr/bin/cargo", "/usr/bin/rustc", "/usr/bin/cc")
def test_cargo_builds_the_same_crate(tmp_path):
    """cargo --offline runs rustc (given with --add, as cc is), which runs cc."""
    copy("crate", tmp_path)
    work = tmp_path / "crate"
    env = dict(ENV, CARGO_HOME=str(tmp_path / "cargo-home"))
    argv = ["cargo", "build", "--offline", "-q"]
    native = run_native(argv, work, env=env)
    assert native.returncode == 0, native.stderr
    built = (work / "target" / "debug" / "tiny").read_bytes()
    shutil.rmtree(work / "target")
    guest = run_guest(argv, work, opts=["--add", "/usr/bin/rustc", "--add", "/usr/bin/cc"], env=env)
    assert_same(native, guest)
    assert (work / "target" / "debug" / "tiny").read_bytes() == built
    out = subprocess.run([str(work / "target" / "debug" / "tiny")], capture_output=True).stdout
    assert out == b"[500500, 2001000, 4501500, 8002000]\n"
