"""The sandbox: the host-call allow-list (seccomp) the guest kernel runs under."""

import errno
import os
import re
import resource
import struct
import subprocess
import sys
import time

import pytest

from libsubst.kernel import hostcalls, seccomp, syscalls
from libsubst.monitor import bootinfo

from conftest import assert_same, build_c, guest_pid, run_guest, run_native, wait_for_guest

KERNEL_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "c_src", "kernel")


# Per-boot constants as a kernel at an arbitrary address would fill them in.
KTEXT, KTEXT_LEN, SUD_IP = 0x7F12_3456_7000, 0x2_1000, 0x1_2345
RESOLVE_HOW, RESOLVE_IP = KTEXT + 0xF0, 53     # an open_how, and its call's distance past it
OPEN_RO_HOW, OPEN_RO_IP = RESOLVE_HOW - 24, 53 + 24   # the others
OPEN_NB_HOW, OPEN_NB_IP = RESOLVE_HOW - 48, 53 + 48
OPEN_RD_HOW, OPEN_RD_IP = RESOLVE_HOW - 72, 53 + 72


def bpf_run(nr, args=(0,) * 6, arch=seccomp.AUDIT_ARCH_X86_64, allowed=None, ip=0,
            sealed=True):
    """A small classic-BPF interpreter for the compiled filter (seccomp_data layout)."""
    ins, slots = seccomp.compile_filter(allowed)
    value = {hostcalls.KTEXT_LEN: KTEXT_LEN, hostcalls.SUD_IP: SUD_IP,
             hostcalls.RESOLVE_IP: RESOLVE_IP, hostcalls.OPEN_RO_IP: OPEN_RO_IP,
             hostcalls.OPEN_RD_IP: OPEN_RD_IP, hostcalls.OPEN_NB_IP: OPEN_NB_IP,
             hostcalls.HOW_SIZE: 24 if sealed else 0}
    boot = {i: value[name] for name, where in slots.items() for i in where}
    args = tuple(args) + (0,) * (6 - len(args))
    data = struct.pack("<IIQ6Q", nr, arch, ip, *[a & (2 ** 64 - 1) for a in args])
    acc, x, mem, pc = 0, 0, [0] * 16, 0
    for _ in range(len(ins) + 1):
        code, jt, jf, k = ins[pc]
        k = boot.get(pc, k)
        if code == seccomp.LD_ABS_W:
            acc, pc = struct.unpack_from("<I", data, k)[0], pc + 1
        elif code == seccomp.AND:
            acc, pc = acc & k, pc + 1
        elif code == seccomp.ADD:
            acc, pc = (acc + k) & 0xFFFFFFFF, pc + 1
        elif code == seccomp.SUB_X:
            acc, pc = (acc - x) & 0xFFFFFFFF, pc + 1
        elif code == seccomp.ST:
            mem[k], pc = acc, pc + 1
        elif code == seccomp.LD_MEM:
            acc, pc = mem[k], pc + 1
        elif code == seccomp.LDX_MEM:
            x, pc = mem[k], pc + 1
        elif code == seccomp.JEQ:
            pc += 1 + (jt if acc == k else jf)
        elif code == seccomp.JEQ_X:
            pc += 1 + (jt if acc == x else jf)
        elif code == seccomp.JGE:
            pc += 1 + (jt if acc >= k else jf)
        elif code == seccomp.JGE_X:
            pc += 1 + (jt if acc >= x else jf)
        elif code == seccomp.JA:
            pc += 1 + k
        elif code == seccomp.RET:
            return k
        else:
            raise AssertionError(f"unknown BPF code {code:#x}")
    raise AssertionError("the filter loops")


def test_every_host_call_the_kernel_makes_is_allowed():
    made = set()
    for root, _dirs, files in os.walk(KERNEL_SRC):
        for f in files:
            if f.endswith((".c", ".h")):
                made |= set(re.findall(r"hsys\d\(__NR_(\w+)", open(os.path.join(root, f)).read()))
    allowed = {h.name for h in hostcalls.allowed()}
    assert made - allowed - set(hostcalls.BOOT_ONLY) == set()


def test_filter_allows_the_list_and_kills_the_rest():
    allowed = {hostcalls.number(h.name): h for h in hostcalls.allowed()}
    for s in syscalls.TABLE:
        verdict = bpf_run(s.nr)
        if s.nr in allowed and not allowed[s.nr].pins:
            assert verdict == seccomp.RET_ALLOW, s.name
        elif s.nr not in allowed:
            assert verdict == seccomp.RET_KILL_PROCESS, s.name
    for name in ("ptrace", "mount", "kexec_load", "bpf", "init_module", "unshare", "setns",
                 "keyctl", "process_vm_writev", "process_vm_readv", "pivot_root", "chroot",
                 "reboot", "tkill", "clone3"):
        assert bpf_run(syscalls.by_name(name).nr) == seccomp.RET_KILL_PROCESS, name
    assert bpf_run(syscalls.by_name("read").nr, arch=0x40000003) == seccomp.RET_KILL_PROCESS
    assert bpf_run(0x40000000 | 0) == seccomp.RET_KILL_PROCESS      # x32


def test_linux_caches_every_unpinned_call():
    """Linux's seccomp action cache (seccomp.cached, its emulation) lets
    every unpinned call skip the filter, with the per-boot constants filled
    in: nothing on their way reads more than the number and the arch.  The
    cache is no looser than the filter (every cached number is allowed
    whatever its arguments), and an instruction-pointer load put first,
    as a filter standing in for Syscall User Dispatch needs, caches nothing."""
    ins, slots = seccomp.compile_filter()
    boot = {i: KTEXT_LEN for where in slots.values() for i in where}
    filled = [(c, jt, jf, boot.get(i, k)) for i, (c, jt, jf, k) in enumerate(ins)]
    allowed = {hostcalls.number(h.name): h for h in hostcalls.allowed()}
    cached = seccomp.cached(filled)
    assert cached == {nr for nr, h in allowed.items() if not h.pins}
    for nr in cached:
        assert bpf_run(nr, args=(-1, 7, 0o4000, 0o6000, 1 << 40, 3), ip=1) == seccomp.RET_ALLOW
    assert seccomp.cached([(seccomp.LD_ABS_W, 0, 0, seccomp.IP_LO), *filled]) == set()
    relay, _ = seccomp.compile_filter(hostcalls.RELAY)
    assert seccomp.cached(relay) == {hostcalls.number(h.name) for h in hostcalls.RELAY
                                     if not h.pins}


def test_the_relay_filter_allows_only_waiting_signals_and_ports():
    relay = {hostcalls.number(h.name) for h in hostcalls.RELAY}
    for s in syscalls.TABLE:
        want = seccomp.RET_ALLOW if s.nr in relay else seccomp.RET_KILL_PROCESS
        args = (hostcalls.RELAY_STATUS_FD,) if s.name == "pread64" else (0,)
        assert bpf_run(s.nr, args, allowed=hostcalls.RELAY) == want, s.name
    assert bpf_run(syscalls.by_name("bind").nr, allowed=hostcalls.RELAY) == seccomp.RET_ALLOW
    for name in ("openat", "execve", "connect", "socket", "ptrace", "setns"):
        assert bpf_run(syscalls.by_name(name).nr, allowed=hostcalls.RELAY) == seccomp.RET_KILL_PROCESS


def test_the_relay_reads_no_fd_but_its_status_file(tmp_path):
    """The relay's pread64 reads only the fd its /proc/PID/status is kept
    at (hostcalls.RELAY_STATUS_FD): in the filter's program, and in a
    process the host runs under that filter (tests/c/relay_filter.c), where
    seccomp refuses another fd's (EPERM) and lets the status file's read."""
    pread = syscalls.by_name("pread64").nr
    assert bpf_run(pread, (hostcalls.RELAY_STATUS_FD,), allowed=hostcalls.RELAY) == \
        seccomp.RET_ALLOW
    for fd in (1, 2, 3, -1):
        assert bpf_run(pread, (fd,), allowed=hostcalls.RELAY) == seccomp.RET_ERRNO | seccomp.EPERM
    ins, _ = seccomp.compile_filter(hostcalls.RELAY)
    (tmp_path / "relay.bpf").write_bytes(b"".join(struct.pack("<HBBI", *i) for i in ins))
    exe = build_c("relay_filter", tmp_path)
    out = subprocess.run([exe, str(tmp_path / "relay.bpf"), str(hostcalls.RELAY_STATUS_FD)],
                         capture_output=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, b"status fd: read\nother fd: -1 EPERM\n"), out


def test_no_set_id_modes():
    for name, index in (("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("mknodat", 2), ("openat", 3)):
        nr = syscalls.by_name(name).nr
        for mode in (0o4755, 0o2755, 0o6755):
            args = [0] * 6
            args[index] = mode
            assert bpf_run(nr, args) == seccomp.RET_ERRNO | seccomp.EPERM, (name, oct(mode))
        args = [0] * 6
        args[index] = 0o1777
        assert bpf_run(nr, args) == seccomp.RET_ALLOW, name


def test_no_file_capability_sized_xattr_values():
    """The guest kernel sets user.* attributes only, but the filter cannot
    see names: it refuses every set(l)xattr of a size security.capability
    takes (seccomp stops a guest that calls the host itself), and nothing
    sets them by fd."""
    for name in ("setxattr", "lsetxattr"):
        nr = syscalls.by_name(name).nr
        for size in (20, 24):
            assert bpf_run(nr, (0, 0, 0, size, 0, 0)) == seccomp.RET_ERRNO | seccomp.EPERM, (name, size)
        assert bpf_run(nr, (0, 0, 0, 12, 0, 0)) == seccomp.RET_ALLOW, name
    assert bpf_run(syscalls.by_name("fsetxattr").nr) == seccomp.RET_KILL_PROCESS


SET_ID_PROBE = """
import os
open('f', 'w').close()
for what, act in (("chmod", lambda: os.chmod('f', 0o4755)),
                  ("setgid chmod", lambda: os.chmod('f', 0o2755)),
                  ("capability", lambda: os.setxattr('f', 'security.capability', b'\\x01' * 20))):
    try:
        act(); print(what, "done")
    except OSError as e:
        print(what, e.strerror)
os.close(os.open('g', os.O_CREAT | os.O_WRONLY, 0o4755))
print("created", oct(os.stat('g').st_mode & 0o7777))
"""


def test_no_set_id_files_or_capabilities_on_the_host(tmp_path):
    """A root caller's guest writes a read-write volume as host root: it must
    not leave a set-user-ID or capability-carrying file for the host's
    users to run."""
    r = run_guest(["/usr/bin/python3", "-c", SET_ID_PROBE], tmp_path)
    assert r.stdout.decode().splitlines() == [
        "chmod Operation not permitted", "setgid chmod Operation not permitted",
        "capability Operation not permitted", "created 0o755"], r.stderr
    for f in ("f", "g"):
        assert not os.stat(tmp_path / f).st_mode & 0o6000
        assert "security.capability" not in os.listxattr(tmp_path / f)


def test_no_typing_into_the_terminal():
    ioctl = syscalls.by_name("ioctl").nr
    assert bpf_run(ioctl, (0, hostcalls.TIOCSTI)) == seccomp.RET_ERRNO | seccomp.EPERM
    assert bpf_run(ioctl, (0, hostcalls.TIOCLINUX)) == seccomp.RET_ERRNO | seccomp.EPERM
    assert bpf_run(ioctl, (0, 0x5401)) == seccomp.RET_ALLOW              # TCGETS


TIOCSTI_PROBE = """
import fcntl, termios
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"X"); print("typed")
except OSError as e:
    print("refused:", e.strerror)
"""


def _on_a_terminal(argv, cwd):
    """Runs argv with a new pty as its controlling terminal; (result, what
    the terminal echoed: the input typed into it)."""
    import fcntl
    import termios

    master, slave = os.openpty()

    def take_terminal():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    r = subprocess.run(argv, stdin=slave, capture_output=True, preexec_fn=take_terminal,
                       cwd=cwd, timeout=60)
    os.close(slave)
    os.set_blocking(master, False)
    try:
        echoed = os.read(master, 4096)
    except (BlockingIOError, OSError):
        echoed = b""
    os.close(master)
    return r, echoed


def test_the_guest_cannot_type_into_the_terminal_it_shares(tmp_path):
    """TIOCSTI would push input to the shell that started libsubst, to run
    after the guest has gone (bubblewrap's CVE-2017-5226)."""
    from conftest import LIBSUBST

    native, _ = _on_a_terminal(["/usr/bin/python3", "-c", TIOCSTI_PROBE], tmp_path)
    if native.stdout != b"typed\n":
        pytest.skip("this host refuses TIOCSTI to everyone (dev.tty.legacy_tiocsti = 0)")
    guest, echoed = _on_a_terminal([*LIBSUBST, "run", "/usr/bin/python3", "-c", TIOCSTI_PROBE],
                                   tmp_path)
    assert guest.stdout == b"refused: Operation not permitted\n", guest.stderr
    assert b"X" not in echoed


OWN_PTYS_PROBE = """
import fcntl, os, sys, termios
print(sorted(os.listdir("/dev/pts")))
try:
    os.open("/dev/pts/" + sys.argv[1], os.O_RDWR | os.O_NOCTTY); print("opened the host's")
except OSError as e:
    print("host's:", e.strerror)
m, s = os.openpty()
print(sorted(os.listdir("/dev/pts")), os.ttyname(s))
try:
    fcntl.ioctl(s, termios.TIOCSTI, b"X"); print("typed")
except OSError as e:
    print("TIOCSTI:", e.strerror)
"""


def test_the_guest_has_pseudo_terminals_of_its_own(tmp_path):
    """The guest's /dev/pts is a devpts instance of its own (the tender's
    mount namespace, c_src/tender/root.c): it lists and opens only the
    terminals the guest made, never the host's, whose path it names here
    (Landlock grants only the guest's /dev/pts besides).  TIOCSTI stays
    refused on its own terminals too: the seccomp filter's pin on ioctl."""
    master, slave = os.openpty()
    try:
        host_n = os.ttyname(slave).rsplit("/", 1)[1]
        r = run_guest(["/usr/bin/python3", "-c", OWN_PTYS_PROBE, host_n], tmp_path)
    finally:
        os.close(master)
        os.close(slave)
    assert r.stdout.decode().splitlines() == [
        "['ptmx']", "host's: No such file or directory", "['0', 'ptmx'] /dev/pts/0",
        "TIOCSTI: Operation not permitted"], r.stderr


def test_pinned_arguments():
    eperm = seccomp.RET_ERRNO | seccomp.EPERM
    nr = lambda n: syscalls.by_name(n).nr
    # Syscall User Dispatch may be turned on (new threads), never off, and
    # only for the kernel's text, by the one call that does it.
    sud = lambda *a, ip=KTEXT + SUD_IP: bpf_run(nr("prctl"), (hostcalls.PR_SET_SYSCALL_USER_DISPATCH, *a), ip=ip)
    assert sud(1, KTEXT, KTEXT_LEN, 0) == seccomp.RET_ALLOW
    assert sud(0, 0, 0, 0) == eperm
    assert sud(1, 1, 2 ** 47 - 2, 0) == eperm                       # the whole address space
    assert sud(1, KTEXT, KTEXT_LEN + 4096, 0) == eperm
    assert sud(1, KTEXT + 2 ** 32, KTEXT_LEN, 0) == eperm
    assert sud(1, KTEXT, KTEXT_LEN, 0, ip=KTEXT + 0x40) == eperm      # another call site
    assert sud(1, KTEXT, KTEXT_LEN, 0x5555_0000) == eperm             # a selector byte
    assert sud(1 + 2 ** 32, KTEXT, KTEXT_LEN, 0) == eperm
    # The carry from the low half: text starting just below a 4 GiB line.
    low = 2 ** 32 - SUD_IP // 2
    assert sud(1, low, KTEXT_LEN, 0, ip=low + SUD_IP) == seccomp.RET_ALLOW
    assert sud(1, low, KTEXT_LEN, 0, ip=(low + SUD_IP) & 0xFFFFFFFF) == eperm
    assert bpf_run(nr("prctl"), (hostcalls.PR_SET_NAME, 0)) == seccomp.RET_ALLOW
    # openat2 only with the open_hows in the sealed text, from its one
    # call, and never where the text could not be sealed.
    o2 = lambda how, size=24, ip=RESOLVE_HOW + RESOLVE_IP, sealed=True: bpf_run(
        nr("openat2"), (3, 0, how, size), ip=ip, sealed=sealed)
    assert o2(RESOLVE_HOW) == seccomp.RET_ALLOW
    assert o2(OPEN_RO_HOW) == seccomp.RET_ALLOW
    assert o2(OPEN_NB_HOW) == seccomp.RET_ALLOW
    assert o2(OPEN_RD_HOW) == seccomp.RET_ALLOW
    assert o2(RESOLVE_HOW + 24) == eperm                               # a struct elsewhere
    assert o2(OPEN_RD_HOW - 24) == eperm
    assert o2(RESOLVE_HOW + 2 ** 32) == eperm
    assert o2(RESOLVE_HOW, ip=RESOLVE_HOW + RESOLVE_IP + 0x40) == eperm   # another call site
    assert o2(RESOLVE_HOW + 2 * RESOLVE_IP) == eperm                   # past the call
    # The borrow into the high half: an open_how just below a 4 GiB line, its call above it.
    edge = 2 ** 32 - 8
    assert o2(edge, ip=edge + OPEN_NB_IP) == seccomp.RET_ALLOW
    assert o2(edge, ip=(edge + OPEN_NB_IP) & 0xFFFFFFFF) == eperm
    assert o2(edge + 2 ** 32, ip=edge + OPEN_NB_IP) == eperm
    assert o2(RESOLVE_HOW, size=32) == eperm
    assert o2(RESOLVE_HOW, sealed=False) == eperm
    assert o2(RESOLVE_HOW, size=0, sealed=False) == seccomp.RET_ALLOW  # the host's EINVAL
    assert bpf_run(nr("prctl"), (22, 2)) == eperm            # PR_SET_SECCOMP
    # No process's memory by pid, its own included: a crash report reads
    # the crashing process's own through /proc/self/mem (signal/crash.c).
    for pid in (0, 1, 2, 4242):
        assert bpf_run(nr("process_vm_readv"), (pid,)) == seccomp.RET_KILL_PROCESS
    # Threads and processes, never new namespaces.
    assert bpf_run(nr("clone"), (0x3D0F00,)) == seccomp.RET_ALLOW
    assert bpf_run(nr("clone"), (17,)) == seccomp.RET_ALLOW          # fork: SIGCHLD
    assert bpf_run(nr("clone"), (0x10000000 | 17,)) == eperm          # CLONE_NEWUSER
    assert bpf_run(nr("clone"), (0x40000000 | 17,)) == eperm          # CLONE_NEWNET
    assert bpf_run(nr("arch_prctl"), (hostcalls.ARCH_SET_FS,)) == seccomp.RET_ALLOW
    assert bpf_run(nr("arch_prctl"), (0x3001,)) == eperm
    # No executable memfd (MFD_CLOEXEC 1, MFD_NOEXEC_SEAL 8, MFD_EXEC 0x10).
    assert bpf_run(nr("memfd_create"), (0, 8 | 1)) == seccomp.RET_ALLOW
    for flags in (0, 1, 0x10, 0x18):
        assert bpf_run(nr("memfd_create"), (0, flags)) == eperm, flags
    # Sockets for servers and clients, no network administration.
    for family, type_, proto in ((1, 1, 0), (1, 5, 0), (2, 1, 0), (2, 2 | 0x80000, 0),
                                 (10, 1 | 0x800, 6), (16, 3, 0)):     # NETLINK_ROUTE
        assert bpf_run(nr("socket"), (family, type_, proto)) == seccomp.RET_ALLOW
    for family, type_, proto in ((2, 3, 1), (10, 3, 58),             # SOCK_RAW
                                 (17, 3, 0x300), (2, 10, 0),         # AF_PACKET, SOCK_PACKET
                                 (16, 3, 4), (16, 3, 12),            # SOCK_DIAG, NETFILTER
                                 (38, 5, 0)):                        # AF_ALG
        assert bpf_run(nr("socket"), (family, type_, proto)) == eperm, (family, type_, proto)


ESCAPE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/syscall.h>
/* Each attempt through a raw syscall instruction (the trap path) or through
 * libc's syscall() (a fastcall, once libc is substituted): the guest kernel
 * answers it, so the result shows which layer refused. */
static long raw(long nr, long a, long b, long c) {
    long r; register long r10 __asm__("r10") = 0, r8 __asm__("r8") = 0;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return r;
}
int main(int argc, char **argv) {
    long HOST_PID = atol(argv[1]);
    int via_libc = !strcmp(argv[2], "libc");
    static unsigned long low[2] = {16, 16};      /* RLIMIT_NOFILE's soft and hard limits */
    struct { const char *name; long nr, a, b, c; } tries[] = {
        {"ptrace", SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0},
        {"mount", SYS_mount, (long)"none", (long)"/", (long)"tmpfs"},
        {"kexec_load", SYS_kexec_load, 0, 0, 0},
        {"bpf", SYS_bpf, 0, 0, 0},
        {"init_module", SYS_init_module, 0, 0, 0},
        {"unshare", SYS_unshare, 0x10000000 /* CLONE_NEWUSER */, 0, 0},
        {"setns", SYS_setns, 0, 0, 0},
        {"keyctl", SYS_keyctl, 0, 0, 0},
        {"process_vm_writev", SYS_process_vm_writev, 1, 0, 0},
        {"process_vm_readv", SYS_process_vm_readv, 1, 0, 0},
        {"prctl SUD off", SYS_prctl, 59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 0},
        {"kill a host process", SYS_kill, HOST_PID, 0, 0},
        {"prlimit a host process", SYS_prlimit64, HOST_PID, 7 /* RLIMIT_NOFILE */, (long)low},
    };
    for (unsigned i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        long r = via_libc ? (syscall(tries[i].nr, tries[i].a, tries[i].b, tries[i].c, 0, 0) < 0 ? -errno : 0)
                          : raw(tries[i].nr, tries[i].a, tries[i].b, tries[i].c);
        printf("%s: %s\n", tries[i].name, r < 0 ? strerror(-r) : "ALLOWED");
    }
    return 0;
}
"""


@pytest.mark.parametrize("path", ["raw", "libc"])
def test_escape_attempts_are_refused(tmp_path, path):
    src = tmp_path / "escape.c"
    src.write_text(ESCAPE_C)
    exe = tmp_path / "escape"
    subprocess.run(["gcc", "-O1", "-o", exe, src], check=True)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    r = run_guest([*(["--no-subst"] if path == "raw" else []), str(exe), str(os.getpid()), path],
                  tmp_path)
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(": ", 1) for l in r.stdout.decode().splitlines())
    # The guest kernel implements none of these: ENOSYS, before the host is asked.
    for name in ("ptrace", "kexec_load", "bpf", "init_module", "unshare", "setns",
                 "keyctl", "process_vm_writev", "process_vm_readv"):
        assert lines[name] == "Function not implemented", (name, lines[name])
    # mount: the guest kernel answers as Linux answers a container's root
    # without CAP_SYS_ADMIN over the host, before the host is asked.
    assert lines["mount"] == "Operation not permitted"
    # The kernel does not let the guest turn the trap path off: Syscall User
    # Dispatch answers as an unknown option, as on a Linux built without it.
    assert lines["prctl SUD off"] == "Invalid argument"
    # A host pid (this test's) does not exist in the guest's pid namespace:
    # neither signalled nor given limits (prlimit64 is passed to the host for
    # the guest's own processes).
    assert lines["kill a host process"] == "No such process"
    assert lines["prlimit a host process"] == "No such process"
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == nofile != (16, 16)


GADGET_C = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
/* A hostile guest: it finds the kernel through %gs:0 (the fastcall entry),
 * looks for a `syscall; ret` in kernel text — which Syscall User Dispatch
 * lets through — and calls it with registers of its choosing. */
static unsigned char *find_gadget(void) {
    unsigned char *entry;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(entry));
    unsigned char *page = (unsigned char *)((unsigned long)entry & ~4095UL);
    for (long off = 0; off < 65536; off += 4096) {   /* text, from the entry on */
        unsigned char vec;
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "a"(27 /* mincore */), "D"(page + off), "S"(4096), "d"(&vec)
                         : "rcx", "r11", "memory");
        if (r != 0)
            break;
        for (int i = 0; i < 4094; i++)
            if (page[off + i] == 0x0f && page[off + i + 1] == 0x05 && page[off + i + 2] == 0xc3)
                return page + off + i;
    }
    return 0;
}
static long via5(unsigned char *g, long nr, long a, long b, long c, long d, long e) {
    long r;
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\tcall *%[g]\n\tlea 128(%%rsp), %%rsp"
                     : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), [g] "r"(g)
                     : "rcx", "r11", "memory");
    return r;
}
static long via(unsigned char *g, long nr, long a, long b, long c) {
    return via5(g, nr, a, b, c, 0, 0);
}
static const char *res(long r) { return r < 0 ? strerror(-r) : "ALLOWED"; }
int main(int argc, char **argv) {
    unsigned char *g = find_gadget();
    if (!g) { puts("no gadget"); return 2; }
    if (!strcmp(argv[1], "open")) {
        long r = via(g, 257 /* openat */, -100, (long)argv[2], 0);
        printf("openat %s: %s\n", argv[2], r < 0 ? strerror(-r) : "OPENED");
    } else if (!strcmp(argv[1], "sud-off")) {
        long r = via(g, 157 /* prctl */, 59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 0);
        printf("prctl SUD off: %s\n", r < 0 ? strerror(-r) : "ALLOWED");
    } else if (!strcmp(argv[1], "sud-wide")) {
        /* SUD on, but allowing the whole address space: every raw syscall
         * of the program would then reach the host. */
        long r = via5(g, 157 /* prctl */, 59, 1 /* ON */, 1, (1L << 47) - 2, 0);
        printf("prctl SUD on everywhere: %s\n", res(r));
    } else if (!strcmp(argv[1], "memfd-exec")) {
        /* A program copied into a memfd and executed: it would run on the
         * host as a plain process, outside the trap. */
        static char prog[1 << 22];
        FILE *f = fopen(argv[2], "rb");
        long n = fread(prog, 1, sizeof prog, f);
        char *args[] = {argv[2], 0};
        printf("memfd_create: %s\n", res(via(g, 319 /* memfd_create */, (long)"x", 0, 0)));
        printf("memfd_create MFD_EXEC: %s\n", res(via(g, 319, (long)"x", 0x10, 0)));
        long fd = via(g, 319, (long)"x", 8 /* MFD_NOEXEC_SEAL */, 0);
        printf("memfd_create MFD_NOEXEC_SEAL: %s\n", fd < 0 ? strerror(-fd) : "OK");
        printf("write: %s\n", via(g, 1 /* write */, fd, (long)prog, n) == n ? "OK" : "short");
        printf("fchmod 0755: %s\n", res(via(g, 91 /* fchmod */, fd, 0755, 0)));
        long r = via5(g, 322 /* execveat */, fd, (long)"", (long)args, (long)(args + 1),
                      0x1000 /* AT_EMPTY_PATH */);
        printf("execveat: %s\n", res(r));
    } else if (!strcmp(argv[1], "chmod")) {
        long r = via(g, 268 /* fchmodat */, -100 /* AT_FDCWD */, (long)argv[2], 04755);
        printf("fchmodat 04755: %s\n", r < 0 ? strerror(-r) : "ALLOWED");
    } else if (!strcmp(argv[1], "write-ro")) {
        /* Every way to change a file's bytes by its path, straight to the host. */
        long fd = via(g, 257 /* openat */, -100, (long)argv[2], 01000 /* O_RDONLY|O_TRUNC */);
        printf("openat O_TRUNC: %s\n", res(fd));
        fd = via(g, 257, -100, (long)argv[2], 1 /* O_WRONLY */);
        printf("openat O_WRONLY: %s\n", res(fd));
        printf("truncate: %s\n", res(via(g, 76 /* truncate */, (long)argv[2], 0, 0)));
    } else if (!strcmp(argv[1], "exec")) {
        char *args[] = {argv[2], 0};
        long r = via(g, 322 /* execveat */, -100 /* AT_FDCWD */, (long)argv[2], (long)args);
        printf("execveat %s: %s\n", argv[2], r < 0 ? strerror(-r) : "ALLOWED");
    } else if (!strcmp(argv[1], "call")) {
        long r = via(g, atol(argv[2]), atol(argv[3]), atol(argv[4]), 0);
        printf("call: %s\n", r < 0 ? strerror(-r) : "ALLOWED");
    } else if (!strcmp(argv[1], "bootinfo")) {
        /* The boot info every later execve boots from again (the kernel
         * passes its fd on): found among the kernel's fds by its magic
         * (argv[2]), its own first bytes written back. */
        int found = 0;
        for (long fd = 3; fd < 65536; fd++) {
            unsigned long magic = 0;
            if (via5(g, 17 /* pread64 */, fd, (long)&magic, 8, 0, 0) != 8 ||
                magic != strtoul(argv[2], 0, 0))
                continue;
            found++;
            long r = via(g, 8 /* lseek */, fd, 0, 0 /* SEEK_SET */);
            if (r == 0)
                r = via(g, 1 /* write */, fd, (long)&magic, 8);
            printf("write boot info: %s\n", r < 0 ? strerror(-r) : "ALLOWED");
        }
        printf("boot infos: %d\n", found);
    } else if (!strcmp(argv[1], "kcmp")) {
        /* Another guest process's fds compared from kernel text: which
         * numbers it has open, which are the same file. */
        int ready[2];
        pipe(ready);
        int child = fork();
        if (child == 0) {
            close(ready[0]);
            write(ready[1], "x", 1);
            pause();
            _exit(0);
        }
        char b;
        read(ready[0], &b, 1);
        long r = via5(g, 312 /* kcmp */, child, child, 0 /* KCMP_FILE */, 0, 1);
        printf("kcmp of another process: %s\n", res(r));
        kill(child, 9);
    } else if (!strcmp(argv[1], "ptrace")) {
        long r = via(g, 101 /* ptrace */, 16 /* PTRACE_ATTACH */, 1, 0);
        printf("ptrace: %s\n", r < 0 ? strerror(-r) : "ALLOWED");
    } else if (!strcmp(argv[1], "smash")) {
        /* Overwrite the guest kernel's memory after the gadget's page (its
         * read-only data, its state, its heap: the rest of its text is
         * sealed), then try the host through the gadget, which is all that
         * is left of the kernel. */
        static char out[512];
        int n = 0;
        unsigned char *p = (unsigned char *)((unsigned long)g & ~4095UL) + 4096, vec;
        long pages = 0;
        for (long seen = 0; seen < 1024 && pages < 512; seen++, p += 4096) {
            if (via(g, 27 /* mincore */, (long)p, 4096, (long)&vec) != 0)
                break;
            if (via(g, 10 /* mprotect */, (long)p, 4096, 3 /* RW */) != 0)
                continue;
            for (int i = 0; i < 4096; i++)
                p[i] = 0x41;
            pages++;
        }
        long r = via(g, 257 /* openat */, -100, (long)argv[2], 0);
        n += snprintf(out + n, sizeof out - n, "smashed %s pages\nopen %s: %ld\n",
                      pages > 0 ? "some" : "no", argv[2], r);
        r = via(g, 257, -100, (long)argv[3], 0101 /* O_WRONLY|O_CREAT */);
        n += snprintf(out + n, sizeof out - n, "create %s: %ld\n", argv[3], r);
        via(g, 1 /* write */, 1, (long)out, n);
        via(g, 231 /* exit_group */, 7, 0, 0);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def gadget(tmp_path_factory):
    d = tmp_path_factory.mktemp("gadget")
    (d / "gadget.c").write_text(GADGET_C)
    subprocess.run(["gcc", "-O1", "-o", d / "gadget", d / "gadget.c"], check=True)
    return d / "gadget"


def test_jumping_into_kernel_text_hits_the_host_layers(gadget, tmp_path):
    def run(*args):
        return run_guest(["--no-subst", str(gadget), *args], tmp_path)

    # Host files outside the image and volumes are not in the guest's mount
    # namespace at all, and its proc shows no host process; nor are the
    # image's own host files at their host paths (the tender binds each at
    # HOST_FILES/INDEX, handover.h's LS_HOST_FILE_FMT).
    libc = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")
    for path in ("/etc/shadow", "/root", "/usr/bin/python3.11", f"/proc/{os.getpid()}/environ",
                 "/home", "/boot", "/etc", libc):
        r = run("open", path)
        assert r.stdout.decode() == f"openat {path}: No such file or directory\n", (path, r.stdout)
    # What the mount namespace does hold, Landlock still narrows to the
    # image's own files: the directories made to hold them are refused.
    for path in ("/", bootinfo.HOST_FILES, "/usr", "/dev"):
        r = run("open", path)
        assert r.stdout.decode() == f"openat {path}: Permission denied\n", (path, r.stdout)
    # The image's own files stay readable, where the tender bound them: the
    # sandbox refuses only what it must.  An entry's index is its place in
    # the guest's plan, made here as run makes it.
    gadget_host = os.path.realpath(str(gadget))
    indexes = subprocess.run(
        [sys.executable, "-c", "import sys; from libsubst import api; "
         "paths = [e.host_path for e in api.prepare(sys.argv[1], subst=False).entries]; "
         "print(*(paths.index(p) for p in sys.argv[1:]))", gadget_host, libc],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    bound_gadget, bound_libc = (f"{bootinfo.HOST_FILES}/{i}" for i in indexes)
    r = run("open", bound_libc)
    assert r.stdout.decode() == f"openat {bound_libc}: OPENED\n", r.stdout
    # Executing a program of the image on the host, outside the trap (it
    # would run without the guest kernel): Landlock lets nothing but the
    # kernel binary execute.
    r = run("exec", bound_gadget)
    assert r.stdout.decode() == f"execveat {bound_gadget}: Permission denied\n"
    # A set-user-ID mode from kernel text: seccomp's pin answers EPERM.
    setid = tmp_path / "setid"
    setid.write_text("")
    r = run("chmod", str(setid))
    assert r.stdout.decode() == "fchmodat 04755: Operation not permitted\n", r.stdout
    assert not setid.stat().st_mode & 0o6000
    # Turning Syscall User Dispatch off: seccomp's pin answers EPERM.
    assert run("sud-off").stdout == b"prctl SUD off: Operation not permitted\n"
    # Turning it on for a range other than the kernel's text (here the whole
    # address space, which would let the program's own syscalls reach the
    # host): seccomp's pins on offset, length and call site answer EPERM.
    assert run("sud-wide").stdout == b"prctl SUD on everywhere: Operation not permitted\n"
    # A program written into a memfd and executed (Landlock does not govern
    # memfds): seccomp refuses any memfd but an MFD_NOEXEC_SEAL one, whose
    # seal keeps the host from making it executable and from executing it.
    static = tmp_path / "static-true"
    subprocess.run(["gcc", "-O1", "-static", "-o", static, "-x", "c", "-"],
                   input=b"int main(void) { return 0; }", check=True)
    r = run("memfd-exec", str(static))
    assert r.stdout.decode().splitlines() == [
        "memfd_create: Operation not permitted",              # seccomp
        "memfd_create MFD_EXEC: Operation not permitted",     # seccomp
        "memfd_create MFD_NOEXEC_SEAL: OK", "write: OK",
        "fchmod 0755: Operation not permitted",               # the host's F_SEAL_EXEC
        "execveat: Permission denied"], r.stderr              # the host: no exec bit
    # A call the allow-list does not have: seccomp kills the guest (SIGSYS).
    r = run("ptrace")
    assert r.returncode == 128 + 31 and r.stdout == b""


def test_read_only_files_stay_unchanged_from_kernel_text(gadget, tmp_path):
    """A read-only volume's file and an image file, opened for writing, truncated on open
    or truncated by path from kernel text: the read-only mount refuses each (EROFS) before
    Landlock is asked (Linux takes the mount's write access first), and the seccomp filter
    keeps the guest from remounting.  Landlock's read-only rules grant the optional
    truncate right for that reason: without it every open of such a file walked to the
    host's root looking for it (benchmarks/landlock_walk.py)."""
    vol = tmp_path / "ro"
    vol.mkdir()
    (vol / "f").write_text("kept")
    r = run_guest(["--no-subst", "--volume", f"{vol}:{vol}:ro", str(gadget), "write-ro",
                   str(vol / "f")], tmp_path)
    assert r.stdout.decode().splitlines() == [
        "openat O_TRUNC: Read-only file system", "openat O_WRONLY: Read-only file system",
        "truncate: Read-only file system"], r.stderr
    assert (vol / "f").read_text() == "kept"
    gadget_host = os.path.realpath(str(gadget))
    index = subprocess.run(
        [sys.executable, "-c", "import sys; from libsubst import api; "
         "print([e.host_path for e in api.prepare(sys.argv[1], subst=False).entries]"
         ".index(sys.argv[1]))", gadget_host],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    before = open(gadget_host, "rb").read()
    r = run_guest(["--no-subst", str(gadget), "write-ro", f"{bootinfo.HOST_FILES}/{index}"],
                  tmp_path)
    assert r.stdout.decode().splitlines() == [
        "openat O_TRUNC: Read-only file system", "openat O_WRONLY: Read-only file system",
        "truncate: Read-only file system"], r.stderr
    assert open(gadget_host, "rb").read() == before


def test_generated_files_stay_unchanged_from_kernel_text(gadget, tmp_path):
    """The image's generated /etc files, which the tender writes into the guest's
    read-only root (c_src/tender/root.c): opened for writing, truncated on open or by
    path from kernel text, each refused (EROFS), as the image's bound host files are;
    opened to read, as the kernel opens it, it opens (its read-only Landlock rule)."""
    index = subprocess.run(
        [sys.executable, "-c", "import sys; from libsubst import api; "
         "print([e.path for e in api.prepare(sys.argv[1], subst=False).entries]"
         ".index('/etc/passwd'))", str(gadget)],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    where = f"{bootinfo.HOST_FILES}/{index}"
    r = run_guest(["--no-subst", str(gadget), "write-ro", where], tmp_path)
    assert r.stdout.decode().splitlines() == [
        "openat O_TRUNC: Read-only file system", "openat O_WRONLY: Read-only file system",
        "truncate: Read-only file system"], r.stderr
    r = run_guest(["--no-subst", str(gadget), "open", where], tmp_path)
    assert r.stdout.decode().splitlines() == [f"openat {where}: OPENED"], r.stderr


def test_the_guests_proc_is_written_as_an_unprivileged_containers(gadget, tmp_path):
    """Landlock lets the guest write its own /proc (its pid namespace's), so a
    thread's comm and oom_score_adj are written as Linux lets a process
    (tests/conformance/procwrite.c); from kernel text, the host's machine-wide
    settings stay refused by the host's own checks of the guest's credentials."""
    for path in ("/proc/sys/vm/overcommit_memory", "/proc/sys/net/core/somaxconn",
                 "/proc/sys/kernel/hostname"):
        before = open(path).read()
        r = run_guest(["--no-subst", str(gadget), "write-ro", path], tmp_path)
        assert r.stdout.decode().splitlines() == [
            "openat O_TRUNC: Permission denied", "openat O_WRONLY: Permission denied",
            "truncate: Permission denied"], (path, r.stderr)
        assert open(path).read() == before
    r = run_guest(["--no-subst", str(gadget), "write-ro", "/proc/1/comm"], tmp_path)
    assert "openat O_WRONLY: ALLOWED" in r.stdout.decode().splitlines(), r.stderr


@pytest.mark.parametrize("name,args", [
    ("ptrace", (16, 1)), ("mount", (0, 0)), ("kexec_load", (0, 0)), ("bpf", (0, 0)),
    ("init_module", (0, 0)), ("unshare", (0x10000000, 0)), ("setns", (0, 0)), ("keyctl", (0, 0)),
    ("process_vm_writev", (1, 0)), ("process_vm_readv", (1, 0)), ("process_vm_readv", (2, 0)),
    ("pivot_root", (0, 0)), ("umount2", (0, 0)), ("fsetxattr", (0, 0))])
def test_dangerous_host_calls_from_kernel_text_are_killed_by_seccomp(gadget, tmp_path, name, args):
    """The same calls made from inside kernel text, where the guest kernel
    is not asked: seccomp's allow-list does not have them (mount and
    unshare only at boot, before the filter) and kills the guest."""
    from libsubst.kernel import syscalls

    nr = syscalls.by_name(name).nr
    r = run_guest(["--no-subst", str(gadget), "call", str(nr), *map(str, args)], tmp_path)
    assert r.returncode == 128 + 31 and r.stdout == b"", (name, r.stdout, r.stderr)
    assert b"seccomp filter does not allow" in r.stderr


def test_another_processs_fds_from_kernel_text_are_killed_by_seccomp(gadget, tmp_path):
    """kcmp of another guest process's fds (KCMP_FILE: which numbers it has
    open, whether two are one file) from kernel text, its child here: the
    allow-list has no kcmp (the kernel finds copies of a refused directory
    fd with F_DUPFD_QUERY, which compares the caller's own fds only), so
    seccomp kills the guest.  A process outside the guest is not even
    named: its pid namespace holds only the guest's."""
    assert "kcmp" not in {h.name for h in hostcalls.allowed()}
    r = run_guest(["--no-subst", str(gadget), "kcmp"], tmp_path)
    assert r.returncode == 128 + 31 and r.stdout == b"", (r.stdout, r.stderr)
    assert b"seccomp filter does not allow" in r.stderr


FRONTEND = os.path.join(os.path.dirname(sys.executable), "libsubst")


@pytest.mark.parametrize("path", ["planned", "served"])
def test_the_boot_info_a_guest_execve_boots_from_is_sealed(gadget, tmp_path, path):
    """A guest's execve boots the next kernel from the same boot-info memfd
    (proc/execve.c), which every process of the guest holds: a guest
    writing into it from kernel text (the guest kernel is not asked) is
    refused by the host's memfd seals, so no guest process can change how
    another one's next program boots.  Whether the Python monitor made the
    memfd (planned) or the native front end from a cached plan (served,
    c_src/frontend/boot.c)."""
    from libsubst.monitor import bootinfo

    magic = bootinfo._abi()[1].LS_BOOTINFO_MAGIC          # bootinfo.h's, through cffi
    argv = ["--no-subst", str(gadget), "bootinfo", hex(magic)]
    if path == "planned":
        r = run_guest(argv, tmp_path)
    else:
        if not os.access(FRONTEND, os.X_OK):
            pytest.skip("the front end is installed by pip beside the Python")
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
        plans = tmp_path / "cache" / "libsubst" / "plans"
        planned = run_guest(argv, tmp_path, env=env)          # stores the plan
        assert planned.returncode == 0, planned.stderr
        entries = {p.name: p.stat().st_ino for p in plans.iterdir()}
        r = subprocess.run([FRONTEND, "run", *argv], cwd=tmp_path, env=env,
                           capture_output=True, timeout=120)
        assert {p.name: p.stat().st_ino for p in plans.iterdir()} == entries   # served
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        "write boot info: Operation not permitted",           # the host's F_SEAL_WRITE
        "boot infos: 1"], r.stdout


def test_overwriting_the_guest_kernel_leaves_the_host_layers(gadget, tmp_path):
    """The guest kernel is not the boundary: a guest that overwrites its
    memory and calls the host itself is still held by the mount namespace,
    Landlock and seccomp."""
    planted = "/libsubst-escaped"
    r = run_guest(["--no-subst", str(gadget), "smash", "/etc/shadow", planted], tmp_path)
    assert r.returncode == 7, r.stderr
    assert r.stdout.decode().splitlines() == [
        "smashed some pages", f"open /etc/shadow: {-errno.ENOENT}",
        f"create {planted}: {-errno.EROFS}"]                  # the mount namespace's read-only root
    assert not os.path.exists(planted)


UNIX_PROBE = """
import socket, sys
c = socket.socket(socket.AF_UNIX)
try:
    c.connect(sys.argv[1]); print("connected:", c.recv(16).decode())
except OSError as e:
    print("refused:", e.strerror)
"""


def test_host_unix_sockets_only_through_volumes(tmp_path):
    import socket
    import threading

    sockdir = tmp_path / "sockets"
    sockdir.mkdir()
    path = str(sockdir / "host.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen()

    def serve():
        for _ in range(2):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.sendall(b"hello")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    work = tmp_path / "work"
    work.mkdir()
    try:
        # Not declared: the guest kernel does not find the path in its file system.
        r = run_guest(["--no-cwd", "/usr/bin/python3", "-c", UNIX_PROBE, path], work)
        assert r.stdout == b"refused: No such file or directory\n", r.stderr
        # Declared as a volume: reached at its guest path.
        r = run_guest(["--no-cwd", "--volume", f"{sockdir}:/run/app", "/usr/bin/python3", "-c",
                       UNIX_PROBE, "/run/app/host.sock"], work)
        assert r.stdout == b"connected: hello\n", r.stderr
    finally:
        srv.close()


def test_symlinks_in_a_volume_do_not_lead_out(tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    os.symlink("/etc/shadow", vol / "abs")
    os.symlink("../../../../../../etc/shadow", vol / "rel")
    # Absolute, into the volume itself: followed beneath it, as the guest's
    # walk would; unless the target is not a plain path (it goes through ..).
    os.symlink("/data/ok.txt", vol / "same")
    os.symlink("/data/../etc/shadow", vol / "dotdot")
    (vol / "ok.txt").write_text("inside\n")
    code = ("import sys\nfor p in sys.argv[1:]:\n    try:\n        print(p, open(p).read().strip())\n"
            "    except OSError as e:\n        print(p, e.strerror)\n")
    r = run_guest(["--no-cwd", "--volume", f"{vol}:/data", "/usr/bin/python3", "-c", code,
                   "/data/ok.txt", "/data/abs", "/data/rel", "/data/../etc/shadow",
                   "/data/../../root/.bashrc", "/data/same", "/data/dotdot"], tmp_path)
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "/data/ok.txt inside"
    # The guest kernel's walk beneath the volume (vol_open_beneath) never
    # lets the host follow a link: one leading out of the volume is followed
    # in the guest's own root, as Linux follows a link in a container's
    # volume, whose /etc has no shadow -- never the host's.
    assert lines[1] == "/data/abs No such file or directory"
    assert lines[2] == "/data/rel No such file or directory"
    # '..' above the volume is the guest's own root too.
    assert lines[3] == "/data/../etc/shadow No such file or directory"
    assert lines[4] == "/data/../../root/.bashrc No such file or directory"
    assert lines[5] == "/data/same inside"
    assert lines[6] == "/data/dotdot No such file or directory"


UNPRIV_CLI = ("import os; open('written', 'w').close(); "
              "print(os.getuid(), open('/proc/self/status').read().split('Uid:')[1].split()[0], "
              "os.getpid())")
UNPRIV_CODE = ("import os, socket; open('written', 'w').write('by the guest'); "
               "print(os.getuid(), [n for _, n in socket.if_nameindex()])")


@pytest.mark.parametrize("net", ["host", "none"])
def test_runs_as_an_unprivileged_user(net):
    """The guest kernel sets its sandbox up without privileges: Syscall User
    Dispatch, seccomp and Landlock need none, and a user namespace, where
    the caller is itself, owns the guest's other namespaces."""
    import shutil

    from libsubst import api
    from libsubst.monitor import bootinfo
    from libsubst.monitor.executables import kernel_path

    import pathlib
    import tempfile

    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="libsubst-unpriv-"))   # pytest's is root-only
    os.chmod(tmp_path, 0o755)
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, 65534, 65534)
    kernel = tmp_path / "libsubst-kernel"          # readable by nobody, unlike root's site-packages
    shutil.copy(kernel_path(), kernel)
    os.chmod(kernel, 0o755)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        spec = api.prepare("/usr/bin/python3", ["-c", UNPRIV_CODE], net=net, subst=False)
    finally:
        os.chdir(cwd)
    spec.uid = spec.gid = 65534
    for d in spec.scratch:                 # made for root by prepare(): the caller's own
        for top, dirs, _files in os.walk(d):
            for p in [top, *(os.path.join(top, x) for x in dirs)]:
                os.chown(p, 65534, 65534)
    fd = os.memfd_create("bootinfo")
    os.write(fd, bootinfo.encode(spec))

    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    r = subprocess.run([kernel, str(fd)], pass_fds=(fd,), preexec_fn=drop, capture_output=True,
                       cwd=work, timeout=60)
    os.close(fd)
    written = (work / "written").read_text() if (work / "written").exists() else None
    owner = os.stat(work / "written").st_uid if written else None
    for d in [*spec.scratch, tmp_path]:
        shutil.rmtree(d, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    uid, names = r.stdout.decode().split(" ", 1)
    assert uid == "65534"
    assert written == "by the guest" and owner == 65534

    if net == "none":
        assert names.strip() == "['lo']"


def test_the_cli_runs_as_an_unprivileged_user(as_nobody):
    """The whole `libsubst run`, Python side too (its own uklibc cache in its
    home), as nobody: the guest is nobody on the host and inside, in its own
    pid namespace, and what it writes in the working directory is nobody's."""
    r = as_nobody("/usr/bin/python3", "-c", UNPRIV_CLI)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"65534 65534 1\n"
    assert os.stat(os.path.join(as_nobody.home, "written")).st_uid == 65534


def test_namespaces_of_its_own(tmp_path):
    """A root caller's guest is root only of its own user namespace: on the
    host it is an unprivileged uid, in mount, pid, IPC and UTS namespaces of
    its own (cgroup too); its mount namespace holds the image's files and its volumes."""
    from conftest import LIBSUBST
    from libsubst.kernel import hostcalls
    from libsubst.monitor import identity

    secret = tmp_path / "root-only"
    secret.write_text("for root\n")
    os.chmod(secret, 0o600)
    code = ("import os, time; open('made', 'w').close(); "
            "print(os.getuid(), open('root-only').read(), end='', flush=True); time.sleep(30)")
    proc = subprocess.Popen([*LIBSUBST, "run", "/usr/bin/python3", "-c", code],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Root inside; a host-root-only file of a volume is its, as natively.
        assert proc.stdout.readline() == b"0 for root\n"
        guest = guest_pid(proc.pid)
        for ns in ("user", "mnt", "pid", "ipc", "uts", "cgroup"):
            assert os.readlink(f"/proc/{guest}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
        # Exactly those the tender is said to make (hostcalls.NAMESPACES,
        # which `inspect` shows): the host's network and time namespaces.
        own = {ns for ns in ("user", "mnt", "pid", "ipc", "uts", "cgroup", "net", "time")
               if os.readlink(f"/proc/{guest}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")}
        assert own == {{"mount": "mnt"}.get(n, n) for n in hostcalls.NAMESPACES}
        status = dict(line.split(":", 1) for line in open(f"/proc/{guest}/status"))
        uid, gid = identity.host_ids()
        assert status["Uid"].split() == [str(uid)] * 4
        assert status["Gid"].split() == [str(gid)] * 4
        assert status["NSpid"].split()[-1] == "1"
        # The guest's files in a volume are host root's (idmapped).
        assert os.stat(tmp_path / "made").st_uid == 0
        # Its root: only what holds the image's files (each bound at
        # HOST_FILES/INDEX, not at its host path), its volumes, devices and proc.
        root = f"/proc/{guest}/root"
        top = set(os.listdir(root))
        assert {bootinfo.HOST_FILES[1:], "dev", "proc", "tmp"} <= top, top
        assert not top & {"home", "boot", "var", "srv"}, top
        # /etc only as the way to a tree mounted from the host (python's
        # curses and readline modules load libtinfo: /etc/terminfo,
        # rootfs.LIBRARY_DATA), none of the host's own files there.
        if "etc" in top:
            from libsubst.image.rootfs import LIBRARY_DATA

            data = {d for dirs in LIBRARY_DATA.values() for d in dirs if d.startswith("/etc/")}
            for d in data:
                if os.path.isdir(f"{root}{d}"):
                    assert os.path.samefile(f"{root}{d}", d), d
            for name in os.listdir(f"{root}/etc"):
                # a tree's directory (/etc/terminfo) or the way to one (/etc/ssl)
                assert any(f"{d}/".startswith(f"/etc/{name}/") for d in data), name
                assert not {*os.listdir(f"{root}/etc/{name}")} - {
                    *os.listdir(f"/etc/{name}")}, name
            assert not os.path.lexists(f"{root}/etc/ssl/private")     # the host's keys
        python = os.path.realpath("/usr/bin/python3")
        bound = [os.path.join(root + bootinfo.HOST_FILES, n)
                 for n in os.listdir(root + bootinfo.HOST_FILES)]
        assert any(os.path.samefile(b, python) for b in bound)
        assert sorted(os.listdir(f"{root}/dev")) == ["full", "mqueue", "null", "ptmx", "pts",
                                                     "random", "tty", "urandom", "zero"]
        # Its pseudo-terminals: a devpts of its own, /dev/ptmx a link to its ptmx.
        assert os.readlink(f"{root}/dev/ptmx") == "pts/ptmx"
        assert os.listdir(f"{root}/proc/1/task") == ["1"]
    finally:
        proc.kill()
        proc.wait()


def test_a_packed_image_runs_as_the_guest_range_too(tmp_path):
    from conftest import LIBSUBST
    from libsubst.monitor import identity

    image = tmp_path / "sleep.lsi"
    subprocess.run([*LIBSUBST, "pack", "-o", str(image), "/bin/sleep"], check=True,
                   capture_output=True)
    proc = subprocess.Popen([*LIBSUBST, "run", str(image), "30"], cwd=tmp_path)
    try:
        # The guest's process switches to its mapped uid after it starts:
        # wait for that.
        host_uid = identity.host_ids()[0]
        guest, uid = wait_for_guest(proc), None
        deadline = time.monotonic() + 30
        while uid != host_uid and time.monotonic() < deadline:
            uid = int(open(f"/proc/{guest}/status").read().split("Uid:")[1].split()[0])
            time.sleep(0.02)
        assert uid == host_uid, f"guest {guest} runs as uid {uid}"
    finally:
        proc.kill()
        proc.wait()


def test_host_ids_come_from_subid_files(tmp_path):
    from libsubst.errors import LibsubstError
    from libsubst.monitor import identity

    f = tmp_path / "subuid"
    f.write_text("alice:100000:65536\nlibsubst:300000:65536\n")
    assert identity.subordinate_base(str(f)) == 300000
    f.write_text("alice:100000:65536\n")
    assert identity.subordinate_base(str(f)) == identity.DEFAULT_BASE
    assert identity.subordinate_base(str(tmp_path / "absent")) == identity.DEFAULT_BASE
    f.write_text("libsubst:300000:1000\n")
    with pytest.raises(LibsubstError, match="a guest needs 65536"):
        identity.subordinate_base(str(f))
    f.write_text("libsubst:0:65536\n")
    with pytest.raises(LibsubstError, match="must start at 65536 or above"):
        identity.subordinate_base(str(f))


NET_POWERS = ["raw IPv4 socket", "raw IPv6 socket", "packet socket", "netfilter netlink socket",
              "sock_diag netlink socket", "MTU of lo"]


@pytest.mark.parametrize("net", ["none", "host"])
def test_no_network_administration(tmp_path, net):
    """Natively, root of a fresh user and network namespace (what --net none
    gives the guest) holds CAP_NET_ADMIN and CAP_NET_RAW there; the guest
    holds neither, in any set, and its sockets are those servers use."""
    exe = build_c("netadmin", tmp_path)
    native = run_native(["unshare", "-rn", "sh", "-c", f"ip link set lo up && {exe}"], tmp_path)
    guest = run_guest([exe], tmp_path, opts=("--net", net))
    assert native.returncode == guest.returncode == 0, guest.stderr
    native, guest = native.stdout.decode().splitlines(), guest.stdout.decode().splitlines()
    assert native[:2] == [f"capability {c}: effective 1, permitted 1, bounding 1" for c in (12, 13)]
    assert native[2:8] == [f"{p}: OK" for p in NET_POWERS]
    # Dropped at boot from every set, the bounding set too (no execve regains them).
    assert guest[:2] == [f"capability {c}: effective 0, permitted 0, bounding 0" for c in (12, 13)]
    # Raw and packet sockets: seccomp's pins on socket() refuse them; the
    # MTU: the missing capability.  nf_tables and sock_diag (with --net host
    # it lists the host's Unix socket paths) netlink sockets: the guest
    # kernel answers as a Linux without them (net/socket.c) before the
    # host call, which seccomp's pins would refuse too (test_pinned_arguments).
    refused = {"netfilter netlink socket": "Protocol not supported",
               "sock_diag netlink socket": "Protocol not supported"}
    assert guest[2:8] == [f"{p}: {refused.get(p, 'Operation not permitted')}" for p in NET_POWERS]
    # What servers need is kept: NETLINK_ROUTE reads, TCP on loopback.
    assert guest[8:] == native[8:] == ["getifaddrs lists lo: yes", "TCP on loopback: ping"]


def test_no_addresses_or_mtu_with_debians_ip(tmp_path):
    """Debian's ip(8) changes a fresh namespace's addresses and MTU natively
    (as root of it); in the guest the kernel refuses for want of CAP_NET_ADMIN."""
    for args in (["addr", "add", "10.9.9.9/24", "dev", "lo"], ["link", "set", "lo", "mtu", "1280"]):
        native = run_native(["unshare", "-rn", "ip", *args], tmp_path)
        assert native.returncode == 0, native.stderr
        guest = run_guest(["/usr/sbin/ip", *args], tmp_path, opts=("--net", "none"))
        assert (guest.returncode, guest.stderr) == (2, b"RTNETLINK answers: Operation not permitted\n")


def test_device_nodes_are_read_only_for_metadata(tmp_path):
    """The host's device nodes are bound read-only: the guest cannot change
    /dev/null's times or mode on the host (the mount refuses: EROFS), while
    reading and writing the devices works as natively."""
    before = os.stat("/dev/null")
    r = run_guest(["touch", "-d", "2001-01-01", "/dev/null"], tmp_path)
    assert (r.returncode, r.stderr) == (1, b"touch: setting times of '/dev/null': Read-only file system\n")
    assert os.stat("/dev/null").st_mtime_ns == before.st_mtime_ns
    script = "echo hi > /dev/null && echo ok; read -r x < /dev/null; echo $?; echo x > /dev/full"
    assert_same(run_native(["sh", "-c", script], tmp_path), run_guest(["sh", "-c", script], tmp_path))


def test_a_rename_race_does_not_lead_out_of_a_volume(tmp_path):
    """The host swaps a directory of a volume with a symlink to a host
    directory outside it, as fast as it can, while the guest opens a file
    through that directory: the volume resolver opens each component from
    its parent's fd without following, and follows a link that leaves the
    volume in the guest's own root (which has no such directory: --no-cwd),
    so no open ever reads the outside file."""
    import ctypes
    import threading

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_text("outside\n")
    vol = tmp_path / "vol"
    (vol / "d").mkdir(parents=True)
    (vol / "d" / "f").write_text("inside\n")
    (vol / "e").symlink_to(tmp_path / "outside")
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = 316
    stop, swaps = threading.Event(), [0]

    def swap():
        a, b = str(vol / "d").encode(), str(vol / "e").encode()
        while not stop.is_set():      # RENAME_EXCHANGE: atomic, both names always exist
            assert libc.syscall(renameat2, -100, a, -100, b, 2) == 0, ctypes.get_errno()
            swaps[0] += 1

    exe = build_c("race_open", tmp_path)
    t = threading.Thread(target=swap)
    t.start()
    try:
        r = run_guest([exe, "/vol/d/f", "20000"], tmp_path,
                      opts=("--no-cwd", "-v", f"{vol}:/vol"))
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0, r.stderr
    inside, outside, failed = map(int, r.stdout.split()[1::2])
    assert outside == 0 and inside > 0 and failed > 0 and swaps[0] > 1000, (r.stdout, swaps)
