"""The host calls the guest kernel may make: the seccomp allow-list, as data.

The guest's own `syscall` instructions never reach the host: Syscall User
Dispatch turns them into traps the guest kernel serves.  Only kernel text
makes host calls, and the seccomp filter installed at the end of boot lets
through exactly these, default-deny (anything else kills the guest).  A call
with pinned arguments that match none of its pins fails with EPERM instead.

``gentable`` compiles this table into the kernel (``seccomp_filter.c``; a
specialised kernel carries only the entries its code can call, ``specialize``);
``allowed()`` is what ``libsubst inspect`` reports.  Every entry says why it
is needed.  Pin values are numbers, or a per-boot constant the kernel fills
in (``BOOT_SLOTS``).

This module imports only the standard library (setup.py loads it)."""

from __future__ import annotations

from dataclasses import dataclass

try:
    from . import syscalls
except ImportError:  # setup.py imports this folder's modules by name, before libsubst is built
    import syscalls

# Per-boot constants: the tender writes their values into the filter's slots
# before installing it (c_src/tender/seccomp.c).  They are the same for
# every boot of one kernel binary (the last one for every boot on one host),
# so the filter a guest inherits across its own execve still holds for the
# kernel that execve boots (which seals its text again).  (No slot can be a
# process's own pid: the filter every process of the guest inherits is the
# first one's, and a filter cannot tell which process calls it.)
KTEXT_LEN = "KTEXT_LEN"    # the length of the kernel's text
SUD_IP = "SUD_IP"          # where, in the text, the one call that turns SUD on returns
RESOLVE_IP = "RESOLVE_IP"  # how far before openat2's one call's return its directory open_how lies
OPEN_RO_IP = "OPEN_RO_IP"  # ... and its read-only file open_hows (O_CLOEXEC,
OPEN_RD_IP = "OPEN_RD_IP"  # none, O_NONBLOCK)
OPEN_NB_IP = "OPEN_NB_IP"
HOW_SIZE = "HOW_SIZE"      # sizeof(struct open_how) when that text is sealed, else 0
BOOT_SLOTS = (KTEXT_LEN, SUD_IP, RESOLVE_IP, OPEN_RO_IP, OPEN_RD_IP, OPEN_NB_IP, HOW_SIZE)


@dataclass(frozen=True)
class BeforeIP:
    """The value (instruction pointer of the call - ``slot``): an address
    pinned relative to the instruction that makes the call, so a per-boot
    address (the kernel is a randomly placed static PIE) becomes a constant."""

    slot: str


@dataclass(frozen=True)
class Pin:
    """Allows the call when (arg[index] & mask) is one of ``values`` and every
    pin of ``also`` holds too (with ``deny``: refuses it then, and allows
    every other call).  Only the low 32 bits of the argument are compared,
    unless ``wide``: then its one value is compared in full (a slot or a
    ``BeforeIP``, or a number), or its ``BeforeIP`` values are."""

    index: int
    values: tuple
    mask: int = 0xFFFFFFFF
    comment: str = ""
    deny: bool = False
    wide: bool = False
    also: tuple = ()


@dataclass(frozen=True)
class HostCall:
    name: str
    reason: str
    pins: tuple[Pin, ...] = ()     # any one pin matching allows the call


# Constants, named as in the UAPI headers.
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_SET_NAME, PR_GET_NAME, PR_CAPBSET_READ, PR_SET_NO_NEW_PRIVS = 15, 16, 23, 38
PR_GET_NO_NEW_PRIVS, PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 39, 41, 42
PR_SET_TIMERSLACK, PR_GET_TIMERSLACK, PR_SET_VMA = 29, 30, 0x53564D41
PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON = 59, 1
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 7, 8, 24, 47
PR_GET_SECUREBITS, PR_SET_SECUREBITS = 27, 28
MFD_NOEXEC_SEAL, MFD_EXEC = 0x0008, 0x0010
F_DUPFD_QUERY = 1024 + 3   # F_LINUX_SPECIFIC_BASE + 3 (Linux 6.10)
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_TYPE_MASK = 1, 2, 5, 0xF
NETLINK_ROUTE = 0
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
AT_EMPTY_PATH = 0x1000
S_ISUID, S_ISGID = 0o4000, 0o2000


def _no_set_id(index: int) -> tuple[Pin, ...]:
    """Refuses a mode argument with the set-user/group-ID bits: a root
    caller's guest writes its volumes as host root (they are idmapped)."""
    return (Pin(index, (S_ISUID, S_ISGID, S_ISUID | S_ISGID), mask=S_ISUID | S_ISGID,
                deny=True, comment="no set-user/group-ID file on the host"),)
# The value sizes security.capability takes from setxattr: v2's and v3's, all
# that Linux's cap_convert_nscap lets through (validheader, commoncap.c) since
# namespaced file capabilities (4.14).
XATTR_CAPS_SZ = (20, 24)


def _no_capability_sizes() -> tuple[Pin, ...]:
    """Pins for set(l)xattr's size (argument 3): a value security.capability
    could take is refused, so no name the guest writes in memory can give a
    host file capabilities."""
    return (Pin(3, XATTR_CAPS_SZ, deny=True,
                comment="no value the size of a file capability (any name)"),)


ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_GET_XCOMP_SUPP, ARCH_GET_XCOMP_PERM, ARCH_REQ_XCOMP_PERM = 0x1011, 0x1021, 0x1022, 0x1023
CLONE_THREAD = 0x00010000
# CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
CLONE_NEW_ANY = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | \
    0x10000000 | 0x20000000 | 0x40000000

# What the kernel calls for itself, beyond what it passes through for the guest.
KERNEL_OWN: tuple[HostCall, ...] = (
    HostCall("openat", "image files, volumes (beneath their roots), synthetic sources in /proc",
             _no_set_id(3)),
    HostCall("openat2", "a volume path in one call, beneath the volume's root, following no "
             "symlink (fs/beneath.c)", (
        Pin(3, (HOW_SIZE,), comment="sizeof(struct open_how), 0 (EINVAL) where the text that "
                                    "holds it could not be sealed", also=(
            Pin(2, tuple(BeforeIP(ip) for ip in (RESOLVE_IP, OPEN_RO_IP, OPEN_RD_IP, OPEN_NB_IP)),
                wide=True,
                comment="one of the open_hows in the sealed text (arch/x86_64/entry.S): an "
                        "O_PATH directory, so no file made and no mode, set-user-ID or other; "
                        "a file opened O_RDONLY | O_CLOEXEC, O_RDONLY or O_RDONLY | O_NONBLOCK, "
                        "no mode (one pin: the filter takes the distance from the call once)"),)),)),
    HostCall("mseal", "seals the kernel's text on a boot by a guest's execve (its filter is "
             "already in force): it only takes rights away"),
    HostCall("close", "fds of the guest and the kernel's own"),
    HostCall("pidfd_send_signal", "the guest's, with its pidfd or one for a /proc/<pid> fd"),
    HostCall("close_range", "guest close_range, cut below the kernel's reserved fds"),
    HostCall("dup", "fd table: dup"), HostCall("dup2", "fd table: dup2"),
    HostCall("dup3", "fd table: dup3; moving the kernel's fds to the reserved range"),
    HostCall("fcntl", "fd table: F_DUPFD and flags; memfd seals; F_DUPFD_QUERY: the copies "
                      "another thread made of a refused directory fd that a message brought, "
                      "found among the caller's own fds and closed (net/recvmsg.c)"),
    HostCall("lseek", "files and directory cursors"),
    HostCall("fstat", "stat of host-backed fds"), HostCall("newfstatat", "stat beneath volumes"),
    HostCall("statx", "statx beneath volumes"), HostCall("fstatfs", "statfs of volumes"),
    HostCall("getdents64", "volume directories"), HostCall("getdents", "volume directories"),
    HostCall("readlinkat", "symlinks in volumes, /proc/self/fd of host objects, whether "
                           "/proc/self/cwd was removed"),
    HostCall("fchdir", "the guest's working directory in a volume or the writable root's "
                       "layer, which \".\" names once it is removed"),
    HostCall("mkdirat", "volumes"), HostCall("mknodat", "FIFOs in volumes", _no_set_id(2)),
    HostCall("unlinkat", "volumes"), HostCall("renameat2", "volumes"),
    HostCall("linkat", "volumes"), HostCall("symlinkat", "volumes"),
    HostCall("fchmodat", "volumes", _no_set_id(2)), HostCall("fchmodat2", "volumes", _no_set_id(2)),
    HostCall("chmod", "volumes", _no_set_id(1)), HostCall("fchmod", "volumes", _no_set_id(1)), HostCall("fchownat", "volumes"), HostCall("fchown", "volumes"),
    HostCall("utimensat", "volumes"), HostCall("faccessat2", "access(2) beneath volumes"),
    HostCall("ftruncate", "volumes"),
    HostCall("truncate", "volume files by their O_PATH fd's /proc/self/fd link: no open, so "
                         "no inotify open/close events (Landlock's truncate right applies)"),
    HostCall("getxattr", "xattrs of volume files"), HostCall("lgetxattr", "xattrs"),
    # The names of setxattr and lsetxattr are in memory, where the filter cannot
    # refuse security.capability (a root caller's volume is host root's): it
    # refuses the sizes that name takes instead (the kernel sets user.* only).
    HostCall("setxattr", "user.* xattrs of volume files, by /proc/self/fd links",
             _no_capability_sizes()),
    HostCall("lsetxattr", "user.* xattrs, not following the last link", _no_capability_sizes()),
    HostCall("fgetxattr", "xattrs"), HostCall("listxattr", "xattrs"), HostCall("llistxattr", "xattrs"),
    HostCall("flistxattr", "xattrs"), HostCall("removexattr", "xattrs"),
    HostCall("lremovexattr", "xattrs"), HostCall("fremovexattr", "xattrs"),
    HostCall("memfd_create", "generated files (/etc, /proc), image directory placeholders, the "
             "guest's memfds", (
        Pin(1, (MFD_NOEXEC_SEAL,), mask=MFD_NOEXEC_SEAL | MFD_EXEC,
            comment="never executable: execveat of a memfd would run a program outside the "
                    "trap (Landlock does not govern memfds)"),)),
    HostCall("mmap", "guest memory, the kernel heap and stacks"),
    HostCall("munmap", "guest memory, the kernel heap"), HostCall("mprotect", "guest memory, guard pages"),
    HostCall("mremap", "guest memory"), HostCall("mincore", "crash reports: is an address mapped"),
    HostCall("brk", "never the host's brk: listed so a stray call fails visibly, not fatally"),
    HostCall("rt_sigaction", "the kernel owns every host handler"),
    HostCall("rt_sigprocmask", "signal masks of the guest and around interruptible calls"),
    HostCall("rt_sigsuspend", "the guest's waits under a mask, SIGSYS unblocked (signal/waits.c)"),
    HostCall("ppoll", "likewise"), HostCall("pselect6", "likewise"),
    HostCall("epoll_pwait", "likewise"), HostCall("epoll_pwait2", "likewise"),
    HostCall("rt_sigreturn", "return from the kernel's own handlers"),
    HostCall("sigaltstack", "each thread's trap stack"),
    HostCall("arch_prctl", "%fs for the guest's TLS, %gs for the kernel's thread block", (
        Pin(0, (ARCH_SET_FS, ARCH_GET_FS, ARCH_SET_GS, ARCH_GET_GS, ARCH_GET_CPUID,
                ARCH_GET_XCOMP_SUPP, ARCH_GET_XCOMP_PERM, ARCH_REQ_XCOMP_PERM),
            comment="thread pointer and CPU feature queries only"),)),
    HostCall("prctl", "Syscall User Dispatch on for new threads; the guest's harmless prctls", (
        Pin(0, (PR_SET_SYSCALL_USER_DISPATCH,), also=(
            Pin(1, (PR_SYS_DISPATCH_ON,), wide=True, comment="on, never off"),
            Pin(2, (BeforeIP(SUD_IP),), wide=True,
                comment="the allowed region starts at the kernel's text: the call is made by the "
                        "one instruction at SUD_IP past that start (arch/x86_64/entry.S)"),
            Pin(3, (KTEXT_LEN,), wide=True, comment="... and is the kernel's text, no more"),
            Pin(4, (0,), wide=True, comment="no selector byte the guest could flip"))),
        Pin(0, (PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE,
                PR_SET_NAME, PR_GET_NAME, PR_CAPBSET_READ, PR_SET_NO_NEW_PRIVS,
                PR_GET_NO_NEW_PRIVS, PR_SET_THP_DISABLE, PR_GET_THP_DISABLE,
                PR_SET_TIMERSLACK, PR_GET_TIMERSLACK, PR_SET_VMA, PR_SET_CHILD_SUBREAPER,
                PR_GET_CHILD_SUBREAPER)),
        Pin(0, (PR_GET_KEEPCAPS, PR_SET_KEEPCAPS, PR_CAPBSET_DROP, PR_GET_SECUREBITS,
                PR_SET_SECUREBITS, PR_CAP_AMBIENT),
            comment="the caller's own capabilities, which are the guest's user namespace's: "
                    "a server that drops root keeps or drops some (dnsmasq, ntpd)"),
    )),
    HostCall("clone", "guest threads and processes, never new namespaces", (
        Pin(0, (0,), mask=CLONE_NEW_ANY, comment="no CLONE_NEW* flag"),)),
    HostCall("exit", "thread exit"), HostCall("exit_group", "guest exit"),
    HostCall("shmat", "guest System V shared memory (never over kernel memory)"),
    HostCall("remap_file_pages", "the host's emulation of it, a new mmap of a shared "
                                 "mapping's file (never over kernel memory)"),
    HostCall("name_to_handle_at", "a handle of the file the guest opened (O_PATH) and named", (
        Pin(4, (AT_EMPTY_PATH,), comment="only by that fd: fs/handle.c"),)),
    HostCall("inotify_add_watch", "guest watches, on the file it resolved (/proc/self/fd/N)"),
    HostCall("restart_syscall", "the host resumes a sleep or poll the kernel made, after the "
                                "guest was stopped and continued (SIGSTOP, SIGCONT)"),
    HostCall("execveat", "the guest's execve boots the kernel binary again, by its fd"
                         " (Landlock lets it execute nothing else)"),
    HostCall("set_tid_address", "the guest's clear-child-tid address (glibc's thread exit)"),
    HostCall("getpid", "identity, cached"), HostCall("getppid", "identity, cached"),
    HostCall("gettid", "thread identity"),
    # The guest's identity changes, made by proc/creds.c (within the guest's user
    # namespace), which compares the ids a change clears the parent-death signal on.
    *(HostCall(name, "the guest's identity changes (proc/creds.c)")
      for name in ("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                   "setfsuid", "setfsgid")),
    HostCall("geteuid", "proc/creds.c: the ids before and after a change"),
    HostCall("getegid", "likewise"),
    # Signals to processes outside the guest are refused by Landlock's signal
    # scope (ABI 6): a pin on the pid would also refuse the guest's children.
    HostCall("tgkill", "crash reports re-raise; dead-thread checks; the guest's threads"),
    HostCall("kill", "crash reports re-raise the signal; the guest's processes"),
    HostCall("uname", "uname(2), with the image's hostname"),
    HostCall("prlimit64", "RLIMIT_NOFILE capped below the kernel's fds; other processes' "
                          "limits (psutil's rlimit): the guest's pid namespace holds only its own"),
    HostCall("socket", "guest sockets: what servers and clients use, no packet, raw or "
                       "network-administration sockets", (
        Pin(0, (AF_UNIX,), comment="Unix sockets (paths are the guest's: connect, bind)"),
        Pin(0, (AF_INET, AF_INET6), also=(
            Pin(1, (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET), mask=SOCK_TYPE_MASK,
                comment="no SOCK_RAW, no SOCK_PACKET"),)),
        Pin(0, (AF_NETLINK,), also=(
            Pin(2, (NETLINK_ROUTE,), comment="getifaddrs, if_nameindex; not NETLINK_SOCK_DIAG "
                "(it lists the host's Unix socket paths), not NETLINK_NETFILTER (nf_tables)"),)),
    )),
    HostCall("connect", "guest sockets; Unix paths translated into volumes"),
    HostCall("bind", "guest sockets; Unix paths translated into volumes"),
    HostCall("getsockname", "guest sockets; Unix paths translated back to the guest's"),
    HostCall("getpeername", "guest sockets; Unix paths translated back to the guest's"),
    HostCall("sendmsg", "guest sockets; the sockets a message carries noted first"),
    HostCall("sendmmsg", "guest sockets; the sockets a message carries noted first"),
    HostCall("recvmsg", "guest sockets; the directory fds a message brings closed after"),
    HostCall("recvmmsg", "guest sockets; the directory fds a message brings closed after"),
    HostCall("ioctl", "guest ioctls on its fds (its own pseudo-terminals' TIOCGPTN, "
                      "TIOCSPTLCK, TIOCGPTPEER, TIOCSCTTY among them); isatty for /dev/tty", (
        Pin(1, (TIOCSTI, TIOCLINUX), deny=True,
            comment="not typing into the terminal it shares with the host's shell (nor "
                    "into its own: the filter cannot tell them apart)"),)),
    HostCall("clock_gettime", "trace timestamps"), HostCall("getrandom", "AT_RANDOM; where execve puts the program and its break (ASLR)"),
    HostCall("personality", "execve reads ADDR_NO_RANDOMIZE (setarch -R, gdb): no ASLR"),
    HostCall("read", "boot info, synthetic sources"), HostCall("write", "trace, report channel"),
    HostCall("pread64", "ELF headers; image files"), HostCall("readv", "image files"),
    HostCall("preadv", "image files"), HostCall("preadv2", "image files"),
    HostCall("sendfile", "copying synthetic sources"), HostCall("splice", "copying"),
    HostCall("copy_file_range", "copying"),
)


# Host calls the kernel makes only before the filter is installed.
BOOT_ONLY = {"seccomp": "installs this filter",
             "unshare": "the guest's own fd table, at boot",
             "getuid": "the user namespace's map, at boot", "getgid": "likewise",
             "setgroups": "becoming root of the guest's user namespace, at boot",
             "setresgid": "likewise", "setresuid": "likewise",
             "mount": "the guest's mount namespace, at boot", "open_tree": "likewise",
             "move_mount": "likewise", "mount_setattr": "likewise", "fsopen": "likewise",
             "fsconfig": "likewise", "fsmount": "likewise", "pivot_root": "likewise",
             "umount2": "likewise", "mkdirat": "likewise",
             "chdir": "likewise",
             "landlock_create_ruleset": "Landlock, at boot", "landlock_add_rule": "Landlock, at boot",
             "landlock_restrict_self": "Landlock, at boot"}

# The relay: the process the monitor started, outside the guest's
# namespaces and still the caller (host root for a root caller).  After the
# guest starts it only waits, forwards signals and binds ports for the guest
# (c_src/tender/relay.c, ports.c); its own filter allows
# just that.
# The fd number the relay keeps the guest's first process's /proc/PID/status
# at (c_src/tender/relay.c): its stdin's, which it closes before the filter,
# so no fd it receives later (a port request's) can take it.
RELAY_STATUS_FD = 0

RELAY = (
    HostCall("ppoll", "waits for the guest's first process or a port request"),
    HostCall("wait4", "the guest's first process's status"),
    HostCall("recvmsg", "a port request: the socket and a reply socket"),
    HostCall("getsockopt", "the requested socket is IPv4 or IPv6 (SO_DOMAIN)"),
    HostCall("bind", "a port below 1024 for the guest"),
    HostCall("sendto", "the answer, never waiting"), HostCall("write", "a diagnostic"),
    HostCall("close", "the request's fds"),
    HostCall("kill", "forwards signals to the guest; ends by the guest's signal"),
    HostCall("pread64", "the guest's first process's signal dispositions, from its "
                        "/proc/PID/status opened before the filter: a stop it takes by "
                        "default is SIGSTOP (Linux spares a pid namespace's init others)",
             (Pin(0, (RELAY_STATUS_FD,), comment="that file's fd, no other"),)),
    HostCall("rt_sigqueueinfo", "forwards signals to the guest's init (--init), queued: "
                                "how it tells them from a process group's"),
    HostCall("getpid", "ends by the guest's signal"),
    HostCall("rt_sigaction", "ends by the guest's signal"),
    HostCall("rt_sigprocmask", "likewise"), HostCall("rt_sigreturn", "forwarding handlers"),
    HostCall("restart_syscall", "an interrupted wait"),
    HostCall("exit_group", "ends with the guest's status"),
)

# Host calls newer than the table (the build headers' Linux 6.1): number by name.
EXTRA_NR = {"fchmodat2": 452, "mseal": 462}
# The namespaces the tender makes for every guest (c_src/tender/namespaces.c,
# as host_constants.h's LS_GUEST_NAMESPACES), by the name `libsubst inspect`
# shows and the clone flag; --net none adds a network namespace too.
NAMESPACES = {"user": "CLONE_NEWUSER", "mount": "CLONE_NEWNS", "pid": "CLONE_NEWPID",
              "ipc": "CLONE_NEWIPC", "uts": "CLONE_NEWUTS", "cgroup": "CLONE_NEWCGROUP"}

# Constants newer than the build headers, for the kernel too: gentable writes
# them and EXTRA_NR into host_constants.h (as __NR_NAME), where the headers
# lack them.  tests/test_hostcalls_constants.py checks every hand-typed
# constant here against the headers, or the running kernel where they are older.
NEWER_THAN_HEADERS = {"MFD_NOEXEC_SEAL": MFD_NOEXEC_SEAL, "MFD_EXEC": MFD_EXEC,
                      "F_DUPFD_QUERY": F_DUPFD_QUERY}


def number(name: str) -> int:
    return EXTRA_NR[name] if name in EXTRA_NR else syscalls.by_name(name).nr


def allowed() -> tuple[HostCall, ...]:
    """Every host call the filter allows, sorted by name."""
    calls = {h.name: h for h in KERNEL_OWN}
    for s in syscalls.TABLE:
        if s.level == syscalls.HOST and s.name not in calls:
            calls[s.name] = HostCall(s.name, "passed through for the guest")
    return tuple(sorted(calls.values(), key=lambda h: h.name))
