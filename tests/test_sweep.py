"""Every program on the machine, natively and in the guest
(benchmarks/sweep.py): --version and --help of each static or glibc ELF
program in /usr/bin, /usr/sbin, /usr/games, compared byte for byte.  The
default run takes SUBSET, programs of packages tests/run.sh installs; the
whole sweep is `long` (LIBSUBST_LONG_TESTS=1).  A program in KNOWN differs
for the reason it gives; any other difference fails."""

import os

import pytest

from libsubst.benchmarks import sweep

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sweep's native runs need root")

# 40 programs of coreutils, grep, sed, gawk, tar, gzip, xz-utils, bzip2,
# zstd, jq, diffutils, findutils, make, file (tests/run.sh's PKGS)
SUBSET = [
    "base64", "basename", "cat", "chmod", "cksum", "comm", "cp", "cut", "date", "df", "du",
    "env", "expand", "factor", "fmt", "head", "id", "join", "ln", "ls", "md5sum", "mkdir",
    "nl", "numfmt", "od", "seq", "sort", "stat", "tr", "wc",
    "grep", "sed", "gawk", "tar", "gzip", "xz", "zstd", "diff", "find", "make",
]

# program name -> why it differs in the guest: the sweep's class of the
# difference, for the programs up to llvm-cfi-verify-14 (`--limit 567`, the
# run of 2026-12-06; not yet triaged further); the programs after it are
# not yet swept to the end on this machine
KNOWN: dict[str, str] = {
    "FileCheck-14": "timeout in the guest",
    "anthoscli": "timeout in the guest",
    "arptables": "different status (native 0, guest 1)",
    "arptables-nft": "different status (native 0, guest 1)",
    "arptables-nft-restore": "different status (native 0, guest 1)",
    "arptables-restore": "different status (native 0, guest 1)",
    "bugpoint": "timeout in the guest",
    "bugpoint-14": "timeout in the guest",
    "buildah": "timeout in the guest",
    "cbt": "timeout in the guest",
    "chg": "different status (guest 255)",
    "chktest": "missing file in the guest's root: libfreeblpriv3.so (NSS's dlopen)",
    "compare-im6": "different status (native 0, guest 1)",
    "count-14": "timeout in the guest",
    "cpack": "timeout in the guest",
    "dsymutil": "timeout in the guest",
    "dsymutil-14": "timeout in the guest",
    "ebtables": "different status (native 0, guest 1)",
    "ebtables-nft": "different status (native 0, guest 1)",
    "ebtables-translate": "different status (native 0, guest 1)",
    "emacs": "different status (native 0, guest 1)",
    "erlc": "libsubst error: a program it execs is not in the guest's root",
    "filan": "different stderr",
    "fuse-overlayfs": "missing file in the guest's root: /proc/sys/kernel/overflowuid",
    "gcc-ar": "the binutils program it execs by PATH is not in the guest's root",
    "gcc-ar-12": "the binutils program it execs by PATH is not in the guest's root",
    "gcc-nm": "the binutils program it execs by PATH is not in the guest's root",
    "gcc-nm-12": "the binutils program it execs by PATH is not in the guest's root",
    "gcc-ranlib": "the binutils program it execs by PATH is not in the guest's root",
    "gcc-ranlib-12": "the binutils program it execs by PATH is not in the guest's root",
    "gcloud-crc32c": "timeout in the guest",
    "gdk-pixbuf-thumbnailer": "different stderr",
    "git-receive-pack": "missing file in the guest's root: man (git execs it for --help)",
    "git-upload-archive": "missing file in the guest's root: man (git execs it for --help)",
    "git-upload-pack": "missing file in the guest's root: man (git execs it for --help)",
    "gke-gcloud-auth-plugin": "timeout in the guest",
    "gpg": "different stdout",
    "gpg-connect-agent": "different stdout",
    "gpgcompose": "different stderr",
    "gpgsm": "different stdout",
    "groff": "missing file in the guest's root: troff (groff execs it)",
    "gsettings": "different status (native 0, guest 1)",
    "ip6tables": "different status (native 0, guest 1)",
    "ip6tables-nft": "different status (native 0, guest 1)",
    "ip6tables-restore-translate": "different stderr",
    "ip6tables-translate": "crash in the guest (signal 11)",
    "iptables": "different status (native 0, guest 1)",
    "iptables-nft": "different status (native 0, guest 1)",
    "iptables-restore-translate": "different stderr",
    "iptables-translate": "crash in the guest (signal 11)",
    "jshell": "different stderr",
    "kpt": "timeout in the guest",
    "kubectl": "timeout in the guest",
    "ldapexop": "different stderr",
    "lighttpd": "timeout in the guest",
    "lighttpd-angel": "timeout in the guest",
    "llc": "timeout in the guest",
    "llc-14": "timeout in the guest",
    "llvm-addr2line": "timeout in the guest",
    "llvm-addr2line-14": "timeout in the guest",
    "llvm-ar": "timeout in the guest",
    "llvm-ar-14": "timeout in the guest",
    "llvm-as": "timeout in the guest",
    "llvm-as-14": "timeout in the guest",
    "llvm-bcanalyzer": "timeout in the guest",
    "llvm-bcanalyzer-14": "timeout in the guest",
    "llvm-bitcode-strip-14": "timeout in the guest",
    "llvm-c-test": "timeout in the guest",
    "llvm-c-test-14": "timeout in the guest",
    "llvm-cat": "timeout in the guest",
    "llvm-cat-14": "timeout in the guest",
    "llvm-cfi-verify": "timeout in the guest",
    "llvm-cfi-verify-14": "timeout in the guest",
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
