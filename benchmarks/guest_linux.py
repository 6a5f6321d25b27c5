"""Runs a program natively on a Linux built as the guest answers: socket(2)
refused as the sandbox refuses it — the netlink protocols it refuses (all but
NETLINK_ROUTE, hostcalls.py's pin) answer EPROTONOSUPPORT, as Linux does for
a protocol it was built without (netlink_create) and as the guest kernel does
(net/socket.c); the other families and types hostcalls.py's pins leave out
(raw and packet sockets) EPERM, the filter's answer, as a Linux without
CAP_NET_RAW gives.  The sweep's native runs go through it, so a program that
opens nf_tables' netlink (the iptables, arptables and ebtables front ends),
sock_diag's or a raw socket (mtr-packet, which then tries ICMP datagram
sockets) is compared with how it runs on such a Linux, not on a host that
has them.

    python -m libsubst.benchmarks.guest_linux PROG [ARG...]
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

from ..kernel import hostcalls
from ..kernel.seccomp import (AUDIT_ARCH_X86_64, EPERM, JA, JEQ, LD_ABS_W, RET, RET_ALLOW,
                              RET_ERRNO, _arg, _pin, _Prog)

NR_SOCKET = 41
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def program() -> bytes:
    """The filter, as struct sock_filter bytes: socket's pins compiled as
    the guest's filter compiles them (seccomp.py), every other call allowed."""
    (sock,) = [h for h in hostcalls.allowed() if h.name == "socket"]
    p = _Prog()
    allow, not_netlink = p.label(), p.label()
    p.emit(LD_ABS_W, k=4)                               # seccomp_data.arch
    p.emit(JEQ, 0, allow, AUDIT_ARCH_X86_64)
    p.emit(LD_ABS_W, k=0)                               # seccomp_data.nr
    p.emit(JEQ, 0, allow, NR_SOCKET)
    p.emit(LD_ABS_W, k=_arg(0))                         # the family
    p.emit(JEQ, 0, not_netlink, hostcalls.AF_NETLINK)
    p.emit(LD_ABS_W, k=_arg(2))                         # the protocol
    p.emit(JEQ, allow, 0, hostcalls.NETLINK_ROUTE)
    p.emit(RET, k=RET_ERRNO | errno.EPROTONOSUPPORT)
    p.here(not_netlink)
    for pin in sock.pins:
        nxt = p.label()
        for cond in (pin, *pin.also):
            _pin(p, {}, cond, nxt)
        p.emit(JA, k=allow)
        p.here(nxt)
    p.emit(RET, k=RET_ERRNO | EPERM)
    p.here(allow)
    p.emit(RET, k=RET_ALLOW)
    return b"".join(struct.pack("<HBBI", *ins) for ins in p.resolve())


def confine() -> None:
    """Installs the filter on this process (and what it execs)."""
    code = program()
    buf = ctypes.create_string_buffer(code)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = SockFprog(len(code) // 8, ctypes.addressof(buf))
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        # without CAP_SYS_ADMIN a filter needs no_new_privs
        if ctypes.get_errno() != errno.EACCES or prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 \
                or prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "seccomp")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    usage = "usage: python -m libsubst.benchmarks.guest_linux PROG [ARG...]"
    if argv[:1] in (["-h"], ["--help"]):
        print(usage + "\n\n" + __doc__.split("\n\n")[0])
        return 0
    if not argv or argv[0].startswith("-"):     # an option of its own: it has none
        print(f"libsubst: {usage}", file=sys.stderr)
        return 2
    try:
        confine()
        os.execvp(argv[0], argv)
    except OSError as e:
        print(f"libsubst: {argv[0]}: {e.strerror}", file=sys.stderr)
        return 127 if e.errno == errno.ENOENT else 126


if __name__ == "__main__":
    sys.exit(main())
