"""Programs nobody listed, run as a user runs them: builds, runtimes with
threads and processes, system utilities, a debugger of its own kind,
plugins and preloaded libraries.  Each runs natively and under libsubst in
a fresh directory of the same path, with the programs it execs given with
--add; stdout, stderr, exit status and the names of the files made are
compared."""

import hashlib
import os
import shutil

import pytest

from conftest import free_port, run_guest, run_native

MAKEFILE = ("all: m\nlibab.a: a.o b.o\n\tar rcs $@ $^\nm: m.o libab.a\n\tgcc -o $@ m.o -L. -lab\n"
            "%.o: %.c\n\tgcc -O2 -c $< -o $@\n")
MP = """
import multiprocessing as mp
from multiprocessing import shared_memory
def square(x): return x * x
def poke(name, sem, v):
    s = shared_memory.SharedMemory(name=name); s.buf[0] = 42; s.close()
    with v.get_lock(): v.value += 1
    sem.release()
if __name__ == "__main__":
    for method in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(method)
        with ctx.Pool(2) as p:
            print(method, p.map(square, range(6)))
        sh = shared_memory.SharedMemory(create=True, size=16)
        sem, v = ctx.Semaphore(0), ctx.Value("i", 0)
        pr = ctx.Process(target=poke, args=(sh.name, sem, v)); pr.start(); sem.acquire(); pr.join()
        print(method, sh.buf[0], v.value, pr.exitcode); sh.close(); sh.unlink()
"""
PERL = r"""
use threads; use threads::shared;
my $n :shared = 0;
my @t = map { threads->create(sub { { lock($n); $n += $_[0] } $_[0] * $_[0] }, $_) } 1..4;
print join(",", map { $_->join } @t), " $n\n";
my $pid = fork(); if ($pid == 0) { exit 7 } waitpid($pid, 0); print $? >> 8, "\n";
open(my $p, "-|", "echo", "from a pipe") or die; print <$p>;
"""
NODE = r"""
const { Worker } = require("worker_threads"); const cp = require("child_process");
const w = new Worker("require('worker_threads').parentPort.postMessage(6 * 7)", { eval: true });
w.on("message", m => {
  console.log("worker", m);
  console.log(cp.execFileSync("echo", ["child"]).toString().trim());
  cp.spawn("sh", ["-c", "exit 3"]).on("exit", code => console.log("exit", code));
});
"""
LEAK = b"#include <stdlib.h>\nint main(void) { char *p = malloc(4); int r = p[4]; return r & 0; }\n"
# log exists before the watcher starts: the shell opens it only in the child
# (a killed job: wait says "Terminated" when the shell notices it, natively too)
INOTIFY = ("mkdir w; : > log; inotifywait -m -e create,modify,moved_to,delete --format '%e %f' -o ev.txt w "
           "2>log & p=$!; until grep -q established log; do sleep 0.05; done; "
           "touch w/a; echo x >> w/a; mv w/a w/b; rm w/b; touch w/stop; "
           "until grep -q stop ev.txt; do sleep 0.05; done; kill $p; wait $p 2>/dev/null; echo $?; cat ev.txt")
# The holder says it holds the lock before the others try it, and keeps it
# until the try is over (not for a second: a try later than that found it
# free, natively too).
FLOCK = ("flock l sh -c 'echo a1; touch held; until [ -e tried ]; do sleep 0.05; done; echo a2' & "
         "until [ -e held ]; do sleep 0.05; done; flock -n l true; echo busy $?; touch tried; "
         "flock l sh -c 'echo b'; wait; flock -n l true; echo free $?; "
         "(flock -x 9; flock -n l true; echo inner $?) 9>l")
HTTPD = ("mkdir www; echo hello > www/i.txt; busybox httpd -f -p 127.0.0.1:{port} -h www & p=$!; "
         "until busybox wget -q -O - http://127.0.0.1:{port}/i.txt 2>/dev/null; do sleep 0.1; done; "
         "kill $p; wait $p 2>/dev/null; echo $?; busybox sh -c 'for i in 1 2; do echo $i; done | busybox wc -l'")
GETENT = ("for db in passwd group hosts services protocols networks ethers shadow gshadow rpc "
          "netgroup aliases ahosts; do getent $db >/dev/null; echo $db $?; done; "
          "getent hosts localhost; getent services 22; getent protocols tcp; getent passwd root")

CASES = {
    # make -j2 driving gcc, ar and nm: many processes, pipes and temp files in one guest
    "make -j2 gcc ar": ("make -s -j2 && ./m && ar t libab.a && nm libab.a | sort",
                        ["make", "gcc", "ar", "nm", "sort"]),
    # every start method, shared memory and semaphores in the guest's /dev/shm
    "python3 multiprocessing": ("python3 mp.py", ["python3"]),
    "perl threads fork": ("perl p.pl", ["perl", "echo"]),
    "node workers children": ("node n.js", ["node", "echo", "sh"]),
    "sqlite3 wal two writers": (
        "sqlite3 t.db 'pragma journal_mode=wal; create table t(x);' && "
        "(for i in 1 2 3 4 5; do sqlite3 -cmd '.timeout 20000' t.db \"insert into t values($i)\"; done & "
        "for i in 6 7 8 9 10; do sqlite3 -cmd '.timeout 20000' t.db \"insert into t values($i)\"; done; wait)"
        " && sqlite3 t.db 'select count(*), sum(x) from t; pragma journal_mode;'", ["sqlite3"]),
    "inotifywait": (INOTIFY, ["inotifywait", "mkdir", "grep", "sleep", "touch", "mv", "rm", "cat"]),
    "flock": (FLOCK, ["flock", "sleep", "touch", "true"]),
    # xargs -P and GNU parallel (a Perl program that probes the longest command line with echo)
    "xargs -P parallel": ("seq 1 20 | xargs -P 4 -n 2 sh -c 'echo $(($1*$2))' _ | sort -n; "
                          "seq 5 | parallel -j2 'echo {}; exit {}' | sort; echo $?",
                          ["xargs", "seq", "sort", "parallel", "perl", "echo"]),
    "busybox httpd wget": (HTTPD, ["busybox", "mkdir", "sleep"]),
    "tar zstd -T2": ("mkdir d; seq 1 10000 > d/n; echo a > d/a; "
                     "tar -C d --sort=name --mtime=@0 --owner=0 --group=0 -cf - . | "
                     "zstd -q -T2 > a.tar.zst; zstd -dc a.tar.zst | tar -tvf - | wc -l; "
                     "zstd -t -q a.tar.zst; echo $?", ["tar", "zstd", "seq", "wc", "mkdir"]),
    # its signals: TERM, INT, KILL after -k, --preserve-status
    "timeout": ("timeout 0.5 sleep 5; echo $?; timeout -s INT 0.5 sleep 5; echo $?; "
                "timeout -k 0.3 0.3 sh -c 'trap \"\" TERM; sleep 5'; echo $?; timeout 5 true; "
                "echo $?; timeout --preserve-status 0.3 sleep 3; echo $?",
                ["timeout", "sleep", "sh", "true"]),
    "getent": (GETENT, ["getent"]),
    "locale": ("locale -a; LANG=C.UTF-8 locale; locale charmap", ["locale"]),
    "units dc bc": ("units -t '10 miles' km; units -t '1 gallon' liters; "
                    "echo '2 k 1 3 / p 2 100 ^ p' | dc; echo 'scale=20; 4*a(1)' | bc -l",
                    ["units", "dc", "bc"]),
    "nice taskset ionice chrt": ("nice -n 5 nice; taskset -c 0 taskset -p $$ | sed 's/.*: //'; "
                                 "ionice -c 3 ionice; chrt -b 0 true; echo $?",
                                 ["nice", "taskset", "ionice", "chrt", "sed", "true"]),
    "jq big input": ("python3 -c 'import json; print(json.dumps([{\"i\": i, \"s\": str(i) * 3} "
                     "for i in range(200000)]))' > big.json; "
                     "jq -c 'map(select(.i % 50000 == 0)) | length' big.json; "
                     "jq -S '.[199999]' big.json; jq --stream -c 'select(length == 2)' big.json | wc -l",
                     ["jq", "python3", "wc"]),
    # a package's own /usr/libexec tree (packages.py): the libstdbuf.so stdbuf preloads
    "stdbuf": ("stdbuf -oL -eL sh -c 'echo out; echo err >&2'; stdbuf -o0 seq 3", ["stdbuf", "sh", "seq"]),
    # plugins named as versioned libraries (libgvplugin_pango.so.6), their
    # libraries, and the fonts their libfontconfig reads (rootfs.LIBRARY_DATA)
    "graphviz dot": ("printf 'digraph { a -> b; b -> c; a -> c }' > g.dot && dot -Tsvg g.dot | md5sum && "
                     "dot -Tplain g.dot && dot -Tpng -o g.png g.dot && md5sum g.png",
                     ["dot", "md5sum"]),
    # libfaketime.so.1, which faketime preloads into the program it runs
    "faketime": ("faketime '2020-02-29 12:00:00' date -u +%F; "
                 "faketime -f '+2y' date -u +%Y | sed 's/[0-9]/N/g'", ["faketime", "date", "sed"]),
    # the dictionaries libhunspell reads, each another package's (rootfs.LIBRARY_DATA)
    "hunspell": ("echo 'helo wrold the' | hunspell -d en_US -l; echo speling | hunspell -d en_US -a",
                 ["hunspell"]),
    # python's curses module loads libtinfo, which reads the terminal database
    "python3 curses": ("/usr/bin/python3 -c 'import curses; "
                       "curses.setupterm(\"xterm-256color\", 1); "
                       "print(curses.tigetnum(\"colors\"), curses.tigetstr(\"bold\"))'",
                       ["/usr/bin/python3"]),
    # libaspell's: links in /usr/lib/aspell to the hashes built in /var/lib/aspell
    "aspell": ("echo 'helo wrold the' | aspell -l en list; echo speling | aspell -a -l en; "
               "aspell dump dicts | head -3", ["aspell", "head"]),
    # the certificates libcrypto trusts by default (rootfs.LIBRARY_DATA), read
    # by python's ssl module and named by osslsigncode's --version
    "python3 ssl": ("/usr/bin/python3 -c 'import ssl; "
                    "print(ssl.create_default_context().cert_store_stats()); "
                    "print(ssl.get_default_verify_paths())'; osslsigncode --version",
                    ["/usr/bin/python3", "osslsigncode"]),
    # Tcl's script library, another source's package (rootfs.LIBRARY_DATA):
    # wish finds init.tcl, then fails as natively without a display
    "wish": ("wish --version; echo status $?", ["wish"]),
    # alsa-lib's configuration, another package's (rootfs.LIBRARY_DATA): on
    # a machine without a sound card sox fails the same way, after the same
    # ALSA errors
    "sox play": ("play -q -n synth 0.1 sine 440; echo status $?", ["play"]),
    # SVG, PNG through cairo and pango (fonts), a terminal plot, its own arithmetic
    "gnuplot": ("gnuplot -e 'set terminal svg size 300,200; set output \"p.svg\"; plot sin(x)'; "
                "md5sum p.svg; gnuplot -e 'set terminal pngcairo; set output \"p.png\"; plot x*x'; "
                "gnuplot -e 'set terminal dumb 40 12; plot x'; gnuplot -e 'print 2**10, sqrt(2)'",
                ["gnuplot", "md5sum"]),
}
SETUP = {
    "mp.py": MP, "p.pl": PERL, "n.js": NODE, "leak.c": LEAK.decode(),
    "a.c": "int a(int x) { return x + 1; }\n", "b.c": "int b(int x) { return x * 2; }\n",
    "m.c": '#include <stdio.h>\nint a(int); int b(int);\nint main(void) { printf("%d\\n", a(b(20))); }\n',
    "Makefile": MAKEFILE,
}


def _fresh(d):
    for name in os.listdir(d):
        path = os.path.join(d, name)
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    for name, text in SETUP.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


def _made(d):
    """The names of the files below d, the regular ones' with their size."""
    out = []
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            out.append((os.path.relpath(path, d), os.path.getsize(path) if os.path.isfile(path) else -1))
    return out


def _same_as_native(script, add, d, opts=(), env=None, made=True):
    missing = [p for p in add if shutil.which(p) is None]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (tests/run.sh installs them)")
    argv = ["sh", "-c", script]
    _fresh(d)
    native = run_native(argv, d, env=env)
    native_made = _made(d)
    _fresh(d)
    adds = [o for p in add for o in ("--add", shutil.which(p))]
    guest = run_guest(argv, d, opts=[*opts, *adds], env=env)
    assert guest.stderr.decode(errors="replace") == native.stderr.decode(errors="replace")
    assert guest.stdout == native.stdout
    assert guest.returncode == native.returncode
    if made:
        assert _made(d) == native_made
    return native


@pytest.mark.parametrize("name", list(CASES))
def test_as_native(name, tmp_path):
    script, add = CASES[name]
    if "{port}" in script:
        script = script.replace("{port}", str(free_port()))
    native = _same_as_native(script, add, tmp_path,
                             made=name not in ("sqlite3 wal two writers",))
    assert native.stdout, native.stderr


def test_valgrind_memcheck_with_debug_symbols(tmp_path):
    """valgrind loads its client itself (its own ELF loader and JIT), so the
    client never gets the guest kernel's fastcall entry: it runs with
    --no-subst, every call the trap path.  memcheck must find ld.so's strlen
    in libc6-dbg's detached symbols, which the guest gets by the loaded
    objects' build-ids (layout.DEBUG_BUILD_IDS); its tools come from its
    package's /usr/libexec/valgrind."""
    from libsubst.image.layout import DEBUG_BUILD_IDS

    if not os.path.isdir(DEBUG_BUILD_IDS) or shutil.which("valgrind") is None:
        pytest.skip("tests/run.sh installs valgrind and libc6-dbg")
    (tmp_path / "leak.c").write_bytes(LEAK)
    assert run_native(["gcc", "-g", "-O0", "-o", "leak", "leak.c"], tmp_path).returncode == 0
    # the client's pid is each run's own
    script = ("valgrind -q --error-exitcode=9 ./leak 2>&1 | sed 's/^==[0-9]*==/==P==/'; "
              "valgrind -q --error-exitcode=9 /usr/bin/true; echo $?")
    argv = ["sh", "-c", script]
    native = run_native(argv, tmp_path)
    assert b"Invalid read of size 1" in native.stdout, native.stdout
    adds = [o for p in ("valgrind", "sed", "true") for o in ("--add", shutil.which(p))]
    guest = run_guest(argv, tmp_path, opts=["--no-subst", *adds])
    assert (guest.stdout, guest.stderr, guest.returncode) == \
        (native.stdout, native.stderr, native.returncode)


def test_a_package_file_that_is_no_program_brings_no_trees(tmp_path):
    """--add of a data file a package ships in a directory beside many
    others (libc6-dbg's /usr/lib/debug/.build-id/xx/…) brings that file,
    not its package's directories as a program's own trees: the guest boots
    and reads it as natively."""
    from libsubst.image.layout import DEBUG_BUILD_IDS

    if not os.path.isdir(DEBUG_BUILD_IDS):
        pytest.skip("tests/run.sh installs libc6-dbg")
    files = sorted(os.path.join(r, f) for r, _d, fs in os.walk(DEBUG_BUILD_IDS) for f in fs
                   if f.endswith(".debug") and not os.path.islink(os.path.join(r, f)))
    path = files[0]
    want = hashlib.sha256(open(path, "rb").read()).hexdigest()
    guest = run_guest(["sha256sum", path], tmp_path, opts=["--add", path])
    assert guest.returncode == 0, guest.stderr
    assert guest.stdout.decode().split()[0] == want


def test_unshare_fails_clearly(tmp_path):
    """unshare(2) is not served (ENOSYS, reported): util-linux's unshare
    says so in one line and exits 1 at once, never hangs; nsenter finds no
    namespace files in the guest's /proc/<pid>/ns."""
    if shutil.which("unshare") is None:
        pytest.skip("util-linux is not installed")
    guest = run_guest(["unshare", "-U", "true"], tmp_path, opts=["--add", shutil.which("true")])
    assert (guest.returncode, guest.stdout) == (1, b"")
    assert guest.stderr == b"unshare: unshare failed: Function not implemented\n"


@pytest.mark.parametrize("preload,script", [
    # by path: its object in every program of the guest, the shell's and grep's
    ("/usr/libexec/coreutils/libstdbuf.so", "grep -o 'libstdbuf.so$' /proc/self/maps | sort -u"),
    # libfaketime, with the libraries it needs (libm, which date does not)
    ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "date -u +%F; sh -c 'date -u +%Y'"),
])
def test_the_callers_ld_preload_is_in_the_guest(preload, script, tmp_path):
    """The guest's environment is the caller's: the objects its LD_PRELOAD
    names, and their libraries, are in the root (ldso.search.resolve_preload)."""
    if not os.path.isfile(preload):
        pytest.skip(f"{preload} is not installed (tests/run.sh installs faketime)")
    env = {**os.environ, "LD_PRELOAD": preload, "FAKETIME": "@2000-01-01 00:00:00"}
    argv = ["sh", "-c", script]
    native = run_native(argv, tmp_path, env=env)
    assert native.returncode == 0 and native.stdout and not native.stderr, native
    adds = [o for p in ("grep", "sort", "date") for o in ("--add", shutil.which(p))]
    guest = run_guest(argv, tmp_path, opts=adds, env=env)
    assert (guest.stdout, guest.stderr, guest.returncode) == \
        (native.stdout, native.stderr, native.returncode)
