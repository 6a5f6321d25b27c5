"""The plan's limits as the host enforces them on a guest: the run's cgroup
(memory, CPUs, processes), the kernel process's own limits (affinity,
RLIMIT_NPROC), the scratch tmpfs sizes that fit in --memory, and
the parsing of the sizes run's options give."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from dataclasses import replace

from ..errors import LibsubstError
from ..plan import ADDRESS_SPACE, Limits, cpu_list
from . import caller
from .cgroup import RunCgroup
from .signals import FORWARDED, SIG_FORWARD

PR_SET_PDEATHSIG = 1
ADDR_NO_RANDOMIZE = 0x0040000


def scratch_sizes(mounts: list, limits: Limits) -> list:
    """The guest's tmpfs mounts (/tmp, /dev/shm, the writable root's layer)
    sized so that together they fit in --memory: a full one is ENOSPC, which
    programs handle, not an OOM kill (the program's own pages share --memory,
    so a guest that fills them and its heap can still meet the OOM killer).
    The root's layer is --scratch-size when given, the others share the rest."""
    scratch = [m for m in mounts if m.scratch]
    if not scratch:
        return mounts
    root = limits.scratch if any(m.guest == "/" for m in scratch) else None
    each = None
    if limits.memory and root:
        each = (limits.memory - root) // max(len(scratch) - 1, 1)
    elif limits.memory:
        each = limits.memory // len(scratch)
    return [replace(m, size=(root if root and m.guest == "/" else each)) if m.scratch else m
            for m in mounts]


def parse_size(text: str, option: str = "--memory", least: int = 16 << 20) -> int:
    """'512M', '2G', '65536' -> bytes (K, M, G, T: powers of 1024), at
    least ``least`` (the guest needs 16M; a scratch layer 1M)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = int(float(num) * units[unit])
    except (ValueError, OverflowError):
        raise LibsubstError(f"{option} {text!r}: expected a size such as 512M or 2G") from None
    if value < least:
        raise LibsubstError(f"{option} {text}: at least {least >> 20}M")
    if value > ADDRESS_SPACE:
        raise LibsubstError(f"{option} {text}: more than the 128T address space of x86-64")
    return value


def limit_cgroup(limits: Limits, init: bool = False) -> RunCgroup:
    """The run's cgroup: memory and CPUs for every caller; processes for a
    root caller, whose guest switches among 65536 host uids (an --init's
    one more: the program keeps its N).  A caller that cannot make one gets
    an error, never an unenforced limit."""
    root = os.geteuid() == 0
    pids = limits.pids + (1 if init else 0) if root and limits.pids else None
    return RunCgroup(limits.memory, cpu_list(limits.cpus), pids)


def child_setup(parent: int, limits: Limits, group: RunCgroup, no_randomize: bool = False):
    """A preexec hook: the kernel process is SIGKILLed when the monitor dies,
    so a monitor killed by a signal it cannot forward (SIGKILL, SIGSEGV...)
    leaves no orphaned guest behind; the forwarded signals are blocked (the
    tender unblocks them once its handlers forward them: never their default
    action on the relay in between, c_src/tender/tender.h); the caller's
    ignored signals are ignored again (caller.py); it joins the
    run's cgroup and the per-process limits take effect.  --memory is the
    cgroup's alone, as a container's: an RLIMIT_AS of it would refuse the
    address space runtimes reserve beyond what they use (a JVM's heap and
    class space, V8's code range: neither starts under one of 512M).
    With ``no_randomize`` (--gdb) the guest starts with the personality
    ADDR_NO_RANDOMIZE, as gdb and gdbserver start a program: no ASLR."""
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl

    def hook():
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:      # the monitor died before the prctl
            os.kill(os.getpid(), signal.SIGKILL)
        signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, SIG_FORWARD))
        caller.restore_ignored()
        group.join()
        if limits.cpus:
            os.sched_setaffinity(0, cpu_list(limits.cpus))
        if no_randomize:
            libc.personality(libc.personality(0xFFFFFFFF) | ADDR_NO_RANDOMIZE)
        if limits.pids and os.geteuid() != 0:
            # A caller's guest is that one uid: RLIMIT_NPROC counts all of it.
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.pids, limits.pids))
    return hook
