"""Whether this host's Landlock can hold the sandbox's promises, asked
before the guest starts (the tender asks again and refuses the same way:
c_src/tender/landlock.c).  ABI 6 is what the sandbox relies
on: file access (ABI 1), scoped signals and abstract Unix sockets (ABI 6).
Below it a run is refused unless the caller lowers the guarantee with
--allow-weaker-sandbox, and then libsubst says what is lost."""

from __future__ import annotations

import ctypes
import sys

from .._abi import ffi
from ..errors import LibsubstError
from ..kernel import syscalls

NEEDED = ffi.dlopen(None).LS_LANDLOCK_ABI           # bootinfo.h's, the tender's too
NR_LANDLOCK_CREATE_RULESET = syscalls.by_name("landlock_create_ruleset").nr
LANDLOCK_CREATE_RULESET_VERSION = 1
FLAG = "--allow-weaker-sandbox"


def abi() -> int:
    """The host's Landlock ABI version, 0 where it has none."""
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    version = syscall(ctypes.c_long(NR_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
                      ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(0, version)


def lost(version: int) -> str:
    """What the sandbox lacks under Landlock ``version``."""
    if version < 1:
        return ("no Landlock: the guest's host file access is bounded by its mount namespace "
                "alone, and it may signal host processes of its uid and reach the host's "
                "abstract Unix sockets (with --net host)")
    return (f"Landlock ABI {version}: the guest may signal host processes of its uid and reach "
            "the host's abstract Unix sockets (with --net host)")


def check(allow_weaker: bool) -> None:
    """Raises unless Landlock is complete here or the caller accepted less;
    when accepted, says on stderr what the sandbox lacks."""
    version = abi()
    if version >= NEEDED:
        return
    if not allow_weaker:
        have = f"Landlock ABI {version}" if version else "no Landlock"
        raise LibsubstError(f"this host has {have}; the sandbox needs ABI {NEEDED} (Linux 6.12) "
                            f"to confine the guest's files, signals and abstract sockets. "
                            f"{FLAG} runs it without that")
    sys.stderr.write(f"libsubst: warning: {FLAG}: {lost(version)}\n")
