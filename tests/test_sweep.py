"""Every program on the machine, natively and in the guest
(benchmarks/sweep.py): --version and --help of each static or glibc ELF
program in /usr/bin, /usr/sbin, /usr/games, compared byte for byte.  The
default run takes SUBSET, programs of packages tests/run.sh installs; the
whole sweep is `long` (LIBSUBST_LONG_TESTS=1).  A program in KNOWN differs
for the reason it gives; any other difference fails."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import assert_same, run_guest, run_native
from libsubst.benchmarks import sweep
from libsubst.benchmarks.corpus_run import Outcome

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sweep's native runs need root")

# 40 programs of coreutils, grep, sed, gawk, tar, gzip, xz-utils, bzip2,
# zstd, jq, diffutils, findutils, make, file (tests/run.sh's PKGS)
SUBSET = [
    "base64", "basename", "cat", "chmod", "cksum", "comm", "cp", "cut", "date", "df", "du",
    "env", "expand", "factor", "fmt", "head", "id", "join", "ln", "ls", "md5sum", "mkdir",
    "nl", "numfmt", "od", "seq", "sort", "stat", "tr", "wc",
    "grep", "sed", "gawk", "tar", "gzip", "xz", "zstd", "diff", "find", "make",
]

# Members of the classes the sweep's comparison once reported and that are
# the same on an honest baseline (benchmarks/sweep.py), run by default:
# class -> programs (packages of tests/run.sh's PKGS)
TRIAGED = {
    # nf_tables' netlink refused: as on a Linux built without it, the native
    # run's (iptables-translate crashes so natively too: its own NULL handle)
    "netfilter front ends": ["iptables", "iptables-nft", "ip6tables-nft", "arptables",
                             "ebtables", "ebtables-translate", "iptables-translate",
                             "ip6tables-restore-translate", "iptables-nft-save", "xtables-monitor"],
    # raw sockets refused as the sandbox refuses them (guest_linux.py):
    # mtr-packet then tries ICMP datagram sockets, refused by a fresh
    # network namespace's ping_group_range both ways (mtr-tiny)
    "raw sockets refused": ["mtr-packet"],
    # HOME printed: both runs' working directory has the same path
    "their HOME shown": ["gpg", "gpgsm", "gpg-connect-agent", "gpgcompose"],
    # a clock time on stderr, masked in both
    "a clock time shown": ["filan"],
    # the network's interfaces read: both runs have a loopback of their own
    "the network seen": ["mailq", "newaliases", "mariadbd"],
    # a library dlopened by a name its opener holds (ldso/search.py's
    # DLOPEN_NAME): NSS's softoken and freebl (libnss3-tools, poppler-utils)
    "a library dlopened by name": ["chktest", "signtool", "pdfsig"],
    # a program of a package its package depends on, run by a name it holds
    # or a path it or its libraries hold (layout.py's _holds_name): binutils'
    # ar, nm and ranlib for GCC's wrappers, fuse3's fusermount3 that libfuse3 runs
    "a program run by name": ["gcc-ar", "gcc-nm-12", "x86_64-linux-gnu-gcc-ranlib",
                              "fuse-overlayfs"],
    # games' score files, made by bsdgames' postinst (packages.GAME_STATE)
    "games' state": ["atc", "battlestar", "cribbage", "phantasia", "snake"],
}

# program name -> why it differs in the guest: the sweep's class of the
# difference, or its cause where triaged (README, *Compatibility, measured*),
# for the programs up to llvm-cfi-verify-14 (`--limit 567`, the run of
# 2026-12-06), those after it up to m (`--only 'llvm-c[g-z]*' --only
# 'llvm-[d-z]*' --only 'l[m-z]*'`, 147), those named [m-z]* (`--only
# '[m-o]*'`, `--only 'p*'`, `--only '[q-z]*'`) and those of tests/run.sh's
# widened set (`--packages`, README); one installed after its range was
# swept may not be (691 programs sort before llvm-cfi-verify-14 now, 567 did
# then, 96 of those since the widened set's)
KNOWN: dict[str, str] = {
    "anthoscli": "timeout in the guest",
    "backgammon": "recurses at the end of its input until its stack overflows (SIGSEGV, natively "
                  "too): how much it prints first depends on where its stack starts, natively "
                  "another place in every run",
    "chg": "execs its command server hg (mercurial's) by PATH: named for --add",
    "erlc": "libsubst error: a program it execs is not in the guest's root",
    "git-receive-pack": "--help execs man (man-db's) by PATH: named for --add",
    "git-upload-archive": "--help execs man (man-db's) by PATH: named for --add",
    "git-upload-pack": "--help execs man (man-db's) by PATH: named for --add",
    "groff": "execs troff and grops by PATH in a forked child: named for --add",
    "gsettings": "No schemas installed: glib's gschemas.compiled is made by a trigger, no package's file",
    "kpt": "looks for git by PATH before it parses its arguments (\"kpt requires that `git` is "
           "installed\"): named for --add",
    "kubectl": "timeout in the guest",
    "local-extract": "timeout in the guest: a 50 MB static Go program whose first run searches "
                     "it for syscall sites for about 30 s (identical once its substitute is cached)",
    "lighttpd-angel": "its child's pid: 2 in the guest, natively after the confining shell's own processes",
    "memcparse": "prints a stack address, another in every run, natively too",
    "myisamlog": "--version prints its resource usage (page faults, context switches), natively different in every run",
    "stunnel": "its client limit, from RLIMIT_NOFILE, capped in the guest below its kernel's fds",
    "stunnel4": "its client limit, from RLIMIT_NOFILE, capped in the guest below its kernel's fds",
    "teachgammon": "recurses at the end of its input until its stack overflows, as backgammon",
}


def _params(names, long):
    for path in names:
        name = os.path.basename(path)
        marks = [pytest.mark.long] if long else []
        if name in KNOWN:
            # a guest slower than the timeout under load may also finish in time
            marks.append(pytest.mark.xfail(reason=KNOWN[name],
                                           strict=not KNOWN[name].startswith("timeout")))
        yield pytest.param(path, id=name, marks=marks)


def _all():
    subset = {"/usr/bin/" + n for n in SUBSET}
    return [p for p in sweep.select() if p not in subset]


@pytest.fixture(scope="module")
def sweeper():
    return sweep.Sweep()


def _same(sweeper, path):
    results = [sweeper.run(path, arg) for arg in sweep.ARGS]
    assert all(r.same for r in results), "\n".join(r.describe() for r in results if not r.same)


@pytest.mark.parametrize("path", list(_params(["/usr/bin/" + n for n in SUBSET], False)))
def test_program_same_as_native(path, sweeper):
    _same(sweeper, path)


@pytest.mark.parametrize("name", [n for names in TRIAGED.values() for n in names])
def test_triaged_class_same_as_native(name, sweeper):
    path = shutil.which(name, path="/usr/sbin:/usr/bin:/usr/games")
    assert path, f"{name} is not installed (tests/run.sh's PKGS)"
    _same(sweeper, path)


# NETLINK_ROUTE, NETLINK_SOCK_DIAG, NETLINK_AUDIT, NETLINK_NETFILTER,
# NETLINK_KOBJECT_UEVENT, NETLINK_GENERIC; then raw IPv4 and IPv6 ICMP, a
# packet socket, UDP
_OPEN_NETLINK = """
import socket, sys
for family, kind, proto in [(socket.AF_NETLINK, socket.SOCK_RAW, p) for p in (0, 4, 9, 12, 15, 16)] + [
        (socket.AF_INET, socket.SOCK_RAW, 1), (socket.AF_INET6, socket.SOCK_RAW, 58),
        (socket.AF_PACKET, socket.SOCK_RAW, 0), (socket.AF_INET, socket.SOCK_DGRAM, 0)]:
    try:
        socket.socket(family, kind, proto).close()
        print(proto, "opened")
    except OSError as e:
        print(proto, e.strerror)
"""


def test_the_native_run_is_on_a_linux_like_the_guests(tmp_path):
    """guest_linux's filter answers as the guest kernel does: the netlink
    protocols the sandbox refuses are unsupported, NETLINK_ROUTE opens, raw
    and packet sockets are not permitted, UDP opens; and a plain run shows
    the host does have them (so the filter is what refuses)."""
    argv = ["/usr/bin/python3", "-c", _OPEN_NETLINK]
    native = run_native([sys.executable, "-m", "libsubst.benchmarks.guest_linux", *argv],
                        tmp_path)
    guest = run_guest(argv, tmp_path)
    assert_same(native, guest)
    assert native.stdout.splitlines()[0] == b"0 opened"
    assert b"12 Protocol not supported" in native.stdout
    assert native.stdout.splitlines()[6:] == [b"1 Operation not permitted",
                                              b"58 Operation not permitted",
                                              b"0 Operation not permitted", b"0 opened"]
    host = run_native(argv, tmp_path).stdout
    assert b"12 opened" in host and b"58 opened" in host


def test_clock_times_and_a_native_crash_are_compared_as_the_same():
    """What _comparable masks: a clock time, a date; libsubst's report of
    a crash the native run had too, but not of one it did not have."""
    report = (b"libsubst: the guest crashed: SIGSEGV (SEGV_MAPERR) at address 0x80\n"
              b"     rip 0000555555578a1f     rsp 00007f53e24590c0\nbacktrace:\n"
              b"  #0  0x0000555555578a1f in /usr/sbin/xtables-nft-multi+0x24a1f\n")
    native = Outcome(139, b"at 08:10:06.488 on 2026/12/06\n", b"failed\n")
    guest = Outcome(139, b"at 8:10:07.101 on 2026/12/07\n", b"failed\n" + report)
    n, g = sweep._comparable(native, guest)
    assert n == g
    n, g = sweep._comparable(Outcome(1, b"", b"failed\n"), guest)
    assert n != g and g.stderr.endswith(report)


@pytest.mark.parametrize("path", list(_params(_all(), True)))
def test_every_program_same_as_native(path, sweeper):
    _same(sweeper, path)


def test_the_subset_is_swept_and_none_of_it_is_known_to_differ():
    """The subset's programs (tests/run.sh installs them) are swept here; a
    program of KNOWN may be missing on another machine (KNOWN is this
    machine's sweep), so only the subset is checked for presence."""
    swept = {os.path.basename(p) for p in sweep.select()}
    assert set(SUBSET) <= swept
    assert not set(SUBSET) & set(KNOWN)


def test_a_difference_is_seen(sweeper):
    """The comparison itself: the guest's mount table is its own."""
    result = sweeper.run("/usr/bin/cat", "/proc/self/mountinfo")
    assert not result.same and result.reason() == "different stdout"


def test_a_native_run_cannot_write_the_host():
    """The native run's confinement: every mount read-only but its own
    working directory and /tmp."""
    target = "/var/tmp/libsubst-sweep-probe"
    out = sweep.Sweep().native("/usr/bin/mkdir", target)
    assert out.status == 1 and b"Read-only file system" in out.stderr, out
    assert not os.path.exists(target)


@pytest.mark.parametrize("remount", ["exit 32", "exit 0"], ids=["fails", "does-nothing"])
def test_a_confinement_that_fails_stops_the_sweep(remount, tmp_path, monkeypatch):
    """A remount read-only that fails, or leaves a mount writable, is an
    error before the program runs, never a native baseline on the host's
    writable files: `mount` on PATH made to do so."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "mount").write_text('#!/bin/sh\ncase " $* " in *remount*) %s;; esac\n'
                                'exec /usr/bin/mount "$@"\n' % remount)
    (fake / "mount").chmod(0o755)
    env = sweep.Sweep.env
    monkeypatch.setattr(sweep.Sweep, "env", lambda self, work: dict(
        env(self, work), PATH=f"{fake}:{os.environ['PATH']}"))
    with pytest.raises(sweep.LibsubstError, match="confinement failed: /.*") as e:
        sweep.Sweep().native("/usr/bin/echo", "ran")
    assert "ran" not in str(e.value)


@pytest.mark.parametrize("name", ["shutdown", "reboot", "mkfs.ext4", "wipefs", "dd", "shred",
                                  "kill", "pkill", "systemctl", "dpkg", "apt-get", "passwd",
                                  "useradd", "chsh", "Xorg", "update-alternatives", "nsenter"])
def test_what_acts_on_the_system_is_never_run(name):
    assert sweep.denied(name)
    assert not any(os.path.basename(p) == name for p in sweep.select())


def test_what_is_swept_is_static_or_glibc():
    assert sweep.kind("/usr/bin/ls") == "glibc"
    assert sweep.kind("/usr/bin/gunzip") is None          # a shell script
    assert not sweep.denied("ls")


def test_again_runs_what_differed_in_an_earlier_run(tmp_path):
    """--again: the programs an earlier run's --json lines show differing,
    each with each of ARGS; bad input is one libsubst: line."""
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text("".join(json.dumps({"program": p, "arg": "--help", "same": same,
                                           "reason": ""}) + "\n"
                               for p, same in (("/usr/bin/cat", False), ("/usr/bin/ls", True))))
    r = subprocess.run([sys.executable, "-m", "libsubst.benchmarks.sweep", "--json", "--again",
                        str(earlier)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted((x["program"], x["arg"]) for x in map(json.loads, r.stdout.splitlines())) == \
        [("/usr/bin/cat", "--help"), ("/usr/bin/cat", "--version")]
    earlier.write_text("not json\n")
    r = subprocess.run([sys.executable, "-m", "libsubst.benchmarks.sweep", "--again",
                        str(earlier)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("libsubst: --again ") and r.stderr.count("\n") == 1, r.stderr


def test_packages_selects_what_they_ship():
    """--packages: the programs dpkg lists for them (merged /usr's /bin as
    /usr/bin); a package not installed is one libsubst: line."""
    paths = sweep.select(packages=["coreutils", "grep"])
    assert "/usr/bin/ls" in paths and "/usr/bin/grep" in paths and "/usr/bin/sed" not in paths
    assert "/usr/bin/cat" in paths                  # coreutils lists /bin/cat
    r = subprocess.run([sys.executable, "-m", "libsubst.benchmarks.sweep", "--packages",
                        "grep,no-such-package"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("libsubst: --packages: not installed: no-such-package")
