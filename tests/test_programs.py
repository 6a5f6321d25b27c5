"""Debian's own programs under libsubst, compared with a native run byte for
byte: stdout, stderr and exit status."""

import gzip
import os
import time

import pytest

from conftest import assert_same, run_guest, run_native

TEXT = b"pear\napple\nfig\napple\nbanana\nfig\napple\n"

SIMPLE = [
    (["echo", "hello", "world"], b""),
    (["printf", "%s-%05d|%x\\n", "abc", "42", "255"], b""),
    (["seq", "1", "100000"], b""),
    (["sort"], TEXT),
    (["sort", "-r", "-n"], b"3\n10\n2\n"),
    (["uniq", "-c"], b"a\na\nb\nc\nc\nc\n"),
    (["wc"], TEXT),
    (["tr", "a-z", "A-Z"], TEXT),
    (["cut", "-d", "p", "-f", "1"], TEXT),
    (["head", "-n", "3"], TEXT),
    (["tail", "-n", "2"], TEXT),
    (["tac"], TEXT),
    (["nl"], TEXT),
    (["od", "-c"], TEXT),
    (["base64"], TEXT * 10),
    (["sha256sum"], TEXT),
    (["md5sum"], TEXT),
    (["grep", "-E", "^(ap|fi)"], TEXT),
    (["sed", "-e", "s/p/P/g;2d"], TEXT),
    (["mawk", "{ n[$1]++ } END { for (k in n) s += n[k]; print s, NR }"], TEXT),
    (["date", "-u", "-d", "@0"], b""),
    (["expr", "6", "*", "7"], b""),
    (["factor", "1234567890"], b""),
    (["false"], b""),
    (["cat", "/nonexistent/file"], b""),
    (["/usr/bin/python3", "-c", "print(sum(range(10**6)), 2**100)"], b""),
    (["/usr/bin/python3", "-c", "import json,sys; print(json.dumps({'a': [1, 2.5, None]}, sort_keys=True)); print(sys.argv)", "x", "y"], b""),
    (["/usr/bin/python3", "-c", "raise ValueError('boom')"], b""),
    # libtinfo's terminal database (rootfs.TERMINFO_DIRS)
    (["tput", "-T", "xterm", "cols"], b""),
    (["clear", "-T", "xterm-256color"], b""),
    (["infocmp", "-1", "xterm"], b""),
    (["perl", "-e", "my %h = (a => 1, b => 2); print join(',', map { \"$_=$h{$_}\" } sort keys %h), \"\\n\"; print 7**5, \"\\n\""], b""),
]


@pytest.mark.parametrize("argv,stdin", SIMPLE, ids=[" ".join(a)[:40] for a, _ in SIMPLE])
def test_same_as_native(argv, stdin, work):
    assert_same(run_native(argv, work, stdin), run_guest(argv, work, stdin))


@pytest.mark.parametrize("argv", [["sha256sum", "notes.txt"], ["md5sum", "notes.txt"],
                                  ["cat", "notes.txt"], ["ls", "-la", "sub"], ["ls", "-l", "-R"],
                                  ["wc", "-l", "notes.txt", "sub/a.txt"], ["xz", "-c", "notes.txt"]])
def test_files_in_cwd(argv, work):
    assert_same(run_native(argv, work), run_guest(argv, work))


def test_cp_mv_rm_mkdir(work):
    for argv in (["mkdir", "made"], ["cp", "notes.txt", "made/copy.txt"],
                 ["mv", "made/copy.txt", "made/moved.txt"], ["rm", "sub/b.txt"]):
        r = run_guest(argv, work)
        assert r.returncode == 0, r.stderr
    assert (work / "made" / "moved.txt").read_bytes() == (work / "notes.txt").read_bytes()
    assert not (work / "made" / "copy.txt").exists()
    assert not (work / "sub" / "b.txt").exists()
    r = run_guest(["rm", "sub/b.txt"], work)
    n = run_native(["rm", "sub/b.txt"], work)
    assert_same(n, r)


def test_gzip_roundtrip(work):
    packed = run_guest(["gzip", "-c", "notes.txt"], work)
    assert_same(run_native(["gzip", "-c", "notes.txt"], work), packed)
    assert gzip.decompress(packed.stdout) == (work / "notes.txt").read_bytes()
    # Debian's gunzip is a shell script that execs gzip -d: /bin/sh runs it in
    # the guest and execs gzip, which --add puts into the image.
    unpacked = run_guest(["gunzip", "-c"], work, stdin=packed.stdout, opts=["--add", "/usr/bin/gzip"])
    assert_same(run_native(["gunzip", "-c"], work, stdin=packed.stdout), unpacked)
    assert unpacked.stdout == (work / "notes.txt").read_bytes()


def test_xz_roundtrip(work):
    packed = run_guest(["xz", "-c", "notes.txt"], work)
    assert_same(run_native(["xz", "-c", "notes.txt"], work), packed)
    unpacked = run_guest(["xz", "-dc"], work, stdin=packed.stdout)
    assert_same(run_native(["xz", "-dc"], work, stdin=packed.stdout), unpacked)
    assert unpacked.stdout == (work / "notes.txt").read_bytes()


def test_python_files(work):
    code = ("import os\n"
            "open('out.txt', 'w').write('written by the guest\\n')\n"
            "print(sorted(os.listdir('.')))\n"
            "print(open('notes.txt').read().count('alpha'))\n")
    argv = ["/usr/bin/python3", "-c", code]
    native = run_native(argv, work)
    (work / "out.txt").unlink()
    guest = run_guest(argv, work)
    assert_same(native, guest)
    assert (work / "out.txt").read_text() == "written by the guest\n"


def test_sqlite3_database_in_cwd(work):
    sql = ("create table t(k text primary key, v integer);"
           "insert into t values ('a', 1), ('b', 2), ('c', 3);")
    r = run_guest(["sqlite3", "db.sqlite", sql], work)
    assert r.returncode == 0, r.stderr
    assert (work / "db.sqlite").exists()
    query = ["sqlite3", "db.sqlite", "select k, v * 10 from t order by v desc;"]
    assert_same(run_native(query, work), run_guest(query, work))
    assert run_guest(query, work).stdout == b"c|30\nb|20\na|10\n"


@pytest.mark.parametrize("argv,stdin", [(["sort"], TEXT), (["sha256sum", "notes.txt"], b""),
                                        (["/usr/bin/python3", "-c", "print('traced')"], b"")])
def test_same_with_trace(argv, stdin, work, tmp_path_factory):
    trace = tmp_path_factory.mktemp("trace") / "trace.txt"
    guest = run_guest(argv, work, stdin, opts=["--trace-file", str(trace)])
    assert_same(run_native(argv, work, stdin), guest)
    lines = trace.read_text().splitlines()
    assert any(line.startswith("fast openat(") for line in lines)
    assert any(line.startswith("fast exit_group(") for line in lines)


def test_execve_boots_the_next_program(work):
    """execve(2) in the guest: the kernel boots again on the new program, which
    must be in the guest's file system (--add puts it there)."""
    (work / "greet.sh").write_text("#!/usr/bin/dash\necho \"script $0 got $1\"\n")
    (work / "greet.sh").chmod(0o755)
    code = ("import os, sys\n"
            "try:\n    os.execv('/usr/bin/ls', ['ls'])\nexcept OSError as e:\n    print('ls:', e.strerror, flush=True)\n"
            "os.execv(sys.argv[1], [sys.argv[1], 'arg'])\n")
    for target in ("/usr/bin/echo", "./greet.sh"):
        argv = ["/usr/bin/python3", "-c", code, target]
        native = run_native(argv, work)
        guest = run_guest(argv, work, opts=["--add", "/usr/bin/echo", "--add", "/usr/bin/dash"])
        if target == "/usr/bin/echo":
            # natively ls exists; in the guest it is not in the image: ENOENT, as Linux says
            assert guest.stdout == b"ls: No such file or directory\narg\n", guest.stderr
        else:
            assert guest.stdout == b"ls: No such file or directory\nscript ./greet.sh got arg\n", guest.stderr
        assert guest.returncode == native.returncode == 0


# The terminal's number is the host's next free one natively, the guest's own
# in the guest: printed as N.
@pytest.mark.parametrize("command", ["echo hi; tty | sed 's/[0-9]*$/N/'; stty size; "
                                     "test -t 0 && echo stdin is a terminal",
                                     "printf 'a\\tb\\n' | cat -A; exit 3"])
def test_script_runs_a_command_in_a_pseudo_terminal(command, work):
    """bsdutils' script: a pseudo-terminal of the guest's own (openpty), a
    child in a session that takes it, its output through the master."""
    argv = ["script", "-qec", command, "/dev/null"]
    adds = [o for p in ("/usr/bin/bash", "/usr/bin/tty", "/usr/bin/stty", "/usr/bin/cat",
                        "/usr/bin/sed") for o in ("--add", p)]
    native = run_native(argv, work, env={"SHELL": "/usr/bin/bash", "PATH": "/usr/bin:/bin"})
    guest = run_guest(argv, work, opts=adds, env={"SHELL": "/usr/bin/bash", "PATH": "/usr/bin:/bin",
                                                  **_libsubst_env()})
    assert native.returncode in (0, 3) and native.stdout, native.stderr
    assert_same(native, guest)


def _libsubst_env():
    """What a guest's libsubst needs of the test's environment (its cache)."""
    import os
    return {k: v for k, v in os.environ.items() if k in ("XDG_CACHE_HOME", "HOME")}


C_PROGRAM = b'#include <stdio.h>\n#include <math.h>\nint sq(int);\n' \
            b'int main(void) { printf("%d %.3f\\n", sq(7), sqrt(2.0)); return 0; }\n'
CXX_PROGRAM = b"""#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>
int main() {
    std::map<std::string, int> m{{"a", 1}, {"b", 2}};
    std::vector<std::thread> ts; int r[4] = {0};
    for (int i = 0; i < 4; i++) ts.emplace_back([&r, i] { r[i] = i * i; });
    for (auto &t : ts) t.join();
    for (auto &[k, v] : m) std::cout << k << "=" << v << "\\n";
    std::cout << r[3] << std::endl;
}
"""
CMAKE = b"cmake_minimum_required(VERSION 3.13)\nproject(t C)\nadd_library(sq STATIC sq.c)\n" \
        b"add_executable(t main.c)\ntarget_link_libraries(t sq m)\n"
BUILDS = {
    # the driver execs cc1, as, collect2 and ld (image/gcc.py); the program
    # and its bytes as natively
    "gcc": (["sh", "-c", "gcc -O2 -Wall -o t main.c sq.c -lm && ./t && md5sum t"], ["gcc", "md5sum"]),
    # make driving g++: C++ headers, libstdc++, threads
    "make g++": (["make", "-s"], ["g++"]),
    # cmake's compiler checks and a ninja build of a static library and a program
    "cmake ninja": (["sh", "-c", "cmake -S . -B b -G Ninja && ninja -j1 -C b && b/t"],
                    ["cmake", "ninja", "cc", "ar", "ranlib"]),
}


@pytest.mark.parametrize("name", list(BUILDS))
def test_a_build_with_gcc_as_native(name, tmp_path):
    """A C/C++ build: the GCC driver brings its toolchain by its own rule
    (image/gcc.py: its /usr/lib/gcc directory, as and ld, /usr/include and
    libc6-dev's files), given as the program or with --add."""
    import shutil

    argv, add = BUILDS[name]
    if any(shutil.which(p) is None for p in ["gcc", *add]):
        pytest.skip("tests/run.sh installs gcc, g++, cmake and ninja-build")
    (tmp_path / "main.c").write_bytes(C_PROGRAM)
    (tmp_path / "sq.c").write_bytes(b"int sq(int x) { return x * x; }\n")
    (tmp_path / "h.cc").write_bytes(CXX_PROGRAM)
    (tmp_path / "Makefile").write_bytes(b"all: h\n\t./h\nh: h.o\n\t$(CXX) -o $@ $^ -pthread\n"
                                        b"h.o: h.cc\n\t$(CXX) -O2 -c $<\n")
    (tmp_path / "CMakeLists.txt").write_bytes(CMAKE)
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout, native.stderr
    for built in ("t", "h", "h.o", "b"):
        if (tmp_path / built).is_dir():
            shutil.rmtree(tmp_path / built)
        elif (tmp_path / built).exists():
            (tmp_path / built).unlink()
    opts = [o for p in add for o in ("--add", shutil.which(p))]
    assert_same(native, run_guest(argv, tmp_path, opts=opts))


GPG = ('export GNUPGHOME="$PWD/gh"; mkdir -m 700 gh; '
       'gpg --batch --quiet --passphrase "" --quick-gen-key "Test <t@example.org>" ed25519 sign never; '
       'gpg --batch --list-keys --with-colons | cut -d: -f1,2,4,10 | grep -v -e ^tru -e ^fpr; '
       'gpg --batch --yes -u t@example.org --detach-sign m.txt && '
       'gpg --batch --verify m.txt.sig m.txt 2>&1 | grep -c "Good signature"; '
       'gpg --batch --armor --export t@example.org | head -1; gpgconf --kill gpg-agent')
SSH = ("ssh-keygen -q -t ed25519 -N '' -C c -f k && head -1 k && cut -d' ' -f1,3 k.pub && "
       "ssh-keygen -y -f k | cut -d' ' -f1 && ssh-keygen -l -f k.pub | cut -d' ' -f1,3,4 && "
       "ssh-keygen -Y sign -q -f k -n file m.txt && "
       "ssh-keygen -Y check-novalidate -n file -f k.pub -s m.txt.sig < m.txt | cut -d: -f1")
MKE2FS = ("E2FSPROGS_FAKE_TIME=1700000000 mke2fs -F -q -U 01234567-89ab-cdef-0123-456789abcdef "
          "-E hash_seed=01234567-89ab-cdef-0123-456789abcdef -d d fs.img 4M && md5sum fs.img && "
          "debugfs -R 'ls -l /' fs.img && debugfs -R 'cat /m.txt' fs.img && e2fsck -fn fs.img")
TOOLS = {
    # keys the run makes are its own: what is compared is what does not
    # depend on them (the agent gpg starts, over its Unix socket in GNUPGHOME)
    "gpg": (GPG, ["gpg", "gpg-agent", "gpgconf", "gpg-connect-agent", "mkdir", "cut", "grep",
                  "head"]),
    "ssh-keygen": (SSH, ["ssh-keygen", "head", "cut"]),
    # a file system made in a file (fixed time, uuid and hash seed): its bytes
    "mke2fs": (MKE2FS, ["mke2fs", "md5sum", "debugfs", "e2fsck"]),
    # netlink: the host's network as natively (--net host)
    "ip": ("ip -brief addr && ip route && ip -brief link", ["ip"]),
}


@pytest.mark.parametrize("name", list(TOOLS))
def test_system_tools_as_native(name, tmp_path):
    import shutil

    script, add = TOOLS[name]
    if any(shutil.which(p) is None for p in add):
        pytest.skip("tests/run.sh installs gpg, gpg-agent, openssh-client and iproute2")

    def fresh():
        """The same files for both runs: what a run made is removed."""
        for made in ("gh", "k", "k.pub", "m.txt.sig", "fs.img"):
            if (tmp_path / made).is_dir():
                shutil.rmtree(tmp_path / made)
            elif (tmp_path / made).exists():
                (tmp_path / made).unlink()

    # mke2fs -d copies the tree's times, ctime included: the tree is made
    # once, so both runs see one ctime, and its atime lies ahead (relatime
    # then leaves it as it is when the native run reads the files).
    (tmp_path / "m.txt").write_text("a message\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "m.txt").write_text("in the image\n")
    ahead = int(time.time()) + 3600
    for p in (tmp_path / "d" / "m.txt", tmp_path / "d"):
        os.utime(p, (ahead, 1700000000))

    argv = ["sh", "-c", script]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout, native.stderr
    fresh()
    opts = [o for p in add for o in ("--add", shutil.which(p))]
    assert_same(native, run_guest(argv, tmp_path, opts=opts))
