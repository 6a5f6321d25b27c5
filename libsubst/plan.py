"""The guest plan: everything that decides one guest's boot, as one plain
value — its root file system, mounts and volumes, limits, argv and
environment, and sandbox policy.

Both ``run`` of a program and ``run`` of a packed image produce one
(libsubst.planner), and the monitor boots it (monitor.guest encodes it as
the boot-info block, monitor.bootinfo).  It is serialisable: ``to_json`` /
``from_json`` round-trip, and ``digest`` is a stable hash of that form, so a
plan can be cached and served again (a host file is named by its path: a
cache must key it by the file's identity too).  The fields marked ``BOOT``
are not part of the plan: the monitor fills them at each boot (fds it opens,
the trace it was asked for)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field, fields

from .errors import LibsubstError
from .image.tree import Entry
from .volumes import Mount

NETS = ("host", "none")            # --net: the host's network, or a loopback of its own
ADDRESS_SPACE = 1 << 47            # x86-64's user address space (4-level paging)
BOOT = {"boot": True}              # field metadata: filled by the monitor, not planned


def cpu_list(cpus: int | None) -> list[int] | None:
    """The first ``cpus`` of the CPUs this process may use."""
    if not cpus:
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= cpus <= len(allowed):
        raise LibsubstError(f"--cpus {cpus}: libsubst may use only {len(allowed)} CPUs here")
    return allowed[:cpus]


@dataclass(frozen=True)
class Limits:
    """Resource limits of the whole guest, applied before its kernel runs
    (the README's sandbox section says how each is enforced)."""

    memory: int | None = None      # RAM: processes, /tmp, /dev/shm, root's writes, memfds
    cpus: int | None = None        # how many of the host's allowed CPUs it may run on
    pids: int | None = None        # processes and threads
    scratch: int | None = None     # bytes of the writable root's layer (--scratch-size)

    def __post_init__(self):
        # The API takes sizes as the CLI writes them ("512M") or in bytes.
        for field, option, least in (("memory", "--memory", 16 << 20),
                                     ("scratch", "--scratch-size", 1 << 20)):
            if isinstance(getattr(self, field), str):
                from .monitor.limits import parse_size
                object.__setattr__(self, field, parse_size(getattr(self, field), option, least))
        for option, value in (("--memory", self.memory), ("--cpus", self.cpus),
                              ("--pids", self.pids), ("--scratch-size", self.scratch)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise LibsubstError(f"{option} {value!r}: expected a whole number")
        # A limit that would not bind is refused, never silently dropped.
        if self.memory is not None and not (16 << 20) <= self.memory <= ADDRESS_SPACE:
            raise LibsubstError(f"--memory {self.memory}: expected 16M to 128T (the x86-64 "
                                "address space)")
        if self.scratch is not None and not (1 << 20) <= self.scratch <= ADDRESS_SPACE:
            raise LibsubstError(f"--scratch-size {self.scratch}: expected 1M to 128T")
        # Its pages are the guest's memory, shared with /tmp and /dev/shm (at
        # least 1M each, scratch_sizes): past --memory it would be an OOM kill, not ENOSPC.
        if self.scratch is not None and self.memory is not None and \
                self.scratch > self.memory - (2 << 20):
            raise LibsubstError(f"--scratch-size {self.scratch}: more than --memory "
                                f"{self.memory} less 2M for /tmp and /dev/shm, which the root's "
                                "writes are counted in with")
        if self.cpus is not None:
            cpu_list(self.cpus)
        if self.pids is None:
            return
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        if not 1 <= self.pids <= pid_max:
            raise LibsubstError(f"--pids {self.pids}: expected 1 to {pid_max} (the host's pid_max)")


@dataclass
class GuestPlan:
    """Everything the kernel needs to boot one guest program."""

    exe: str                      # guest path the first exec opens (the kernel expands #!)
    execfn: str                   # the name it is exec'd by: AT_EXECFN, a #! interpreter's argv
    argv: list[str]
    env: list[str]                # "K=V" strings
    cwd: str
    entries: list                 # libsubst.image.tree.Entry, sorted by path
    mounts: list[Mount] = field(default_factory=list)
    hostname: str = "libsubst"
    uid: int = 0
    gid: int = 0
    net: str = "host"             # "host": the host's network; "none": loopback only
    limits: Limits = field(default_factory=Limits)
    policy: bool = True           # namespaces, seccomp, Landlock; False only to measure their cost
    trap: bool = True             # Syscall User Dispatch; False (policy False only) to measure its cost
    weaker_sandbox: bool = False  # run where Landlock lacks what the sandbox relies on
    deny_calls: frozenset[int] = frozenset()    # syscall numbers answered ENOSYS (--enosys)
    init: bool = False            # --init: a small init is pid 1, the program its child
    init_rule: bool = False       # pid 1 is spared signals it has no handler for (a container's)
    image: str = ""               # the packed image that "image" entries are in ("": none)
    objects: list[str] = field(default_factory=list)   # ELF objects considered for substitution
    # -- filled at boot ------------------------------------------------------------------
    scratch: list[str] = field(default_factory=list, metadata=BOOT)   # host dirs removed after
    image_fd: int = field(default=-1, metadata=BOOT)    # host fd of ``image``
    trace_fd: int = field(default=-1, metadata=BOOT)
    report_fd: int = field(default=-1, metadata=BOOT)
    core_fd: int = field(default=-1, metadata=BOOT)     # an empty file for a core dump (--core)
    debug_fd: int = field(default=-1, metadata=BOOT)    # the debugger's or perf's handshake (--gdb, --profile)
    # First host uid, gid of a root caller's guest; None: identity.host_ids() (run_spec).
    host_ids: tuple[int, int] | None = field(default=None, metadata=BOOT)
    trace_calls: frozenset[int] | None = field(default=None, metadata=BOOT)  # None: all
    trace_summary: bool = field(default=False, metadata=BOOT)
    trace_sum_fd: int = field(default=-1, metadata=BOOT)  # the summary's counters (trace.h)
    trace_json: bool = field(default=False, metadata=BOOT)
    closed_stdio: int = field(default=0, metadata=BOOT)   # bit n: fd n closed (monitor.stdio)

    def __post_init__(self):
        # Checked here, so every way of making a plan (a program, an image,
        # packing, from_json) refuses the same values with the same words.
        if self.net not in NETS:
            raise LibsubstError(f"--net {self.net}: expected {' or '.join(NETS)}")
        if not self.cwd.startswith("/"):
            raise LibsubstError(f"--workdir {self.cwd}: expected an absolute path")

    def to_json(self) -> dict:
        """The plan as JSON data (the fields filled at boot left out)."""
        out = {}
        for f in fields(self):
            if f.metadata.get("boot"):
                continue
            v = getattr(self, f.name)
            if f.name == "entries":
                v = [_entry_json(e) for e in v]
            elif f.name == "mounts":
                v = [{"guest": m.guest, "host": m.host, "readonly": m.readonly,
                      "scratch": m.scratch, "size": m.size, "mode": m.mode, "gid": m.gid}
                     for m in v]
            elif f.name == "limits":
                v = {"memory": v.memory, "cpus": v.cpus, "pids": v.pids, "scratch": v.scratch}
            elif f.name == "deny_calls":
                v = sorted(v)
            out[f.name] = v
        return out

    @classmethod
    def from_json(cls, d: dict) -> "GuestPlan":
        """The plan ``to_json`` gave; LibsubstError for anything else."""

        try:
            kw = dict(d)
            kw["entries"] = [Entry(*e[:5], None if e[5] is None else base64.b64decode(e[5]),
                                   *e[6:]) for e in d["entries"]]
            kw["mounts"] = [Mount(**m) for m in d["mounts"]]
            kw["limits"] = Limits(**d["limits"])
            kw["deny_calls"] = frozenset(d["deny_calls"])
            names = {f.name for f in fields(cls) if not f.metadata.get("boot")}
            if set(kw) != names:
                raise ValueError(f"fields {sorted(set(kw) ^ names)}")
            return cls(**kw)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise LibsubstError(f"not a guest plan: {e}") from None

    def digest(self) -> str:
        """sha256 of the plan's canonical JSON form: equal plans, equal digests."""
        import hashlib   # here: a run that never asks pays nothing for OpenSSL's load

        data = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True)
        return hashlib.sha256(data.encode()).hexdigest()


def _entry_json(e: Entry) -> list:
    """An Entry as a JSON list, in its field order; inline data as base64."""

    data = base64.b64encode(e.data).decode() if e.data is not None else None
    return [e.path, e.kind, e.mode, e.host_path, e.target, data, e.size, e.mtime, e.offset]
