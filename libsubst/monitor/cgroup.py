"""The per-run cgroup that makes --memory, --cpus and --pids bind the whole
guest, whatever uids its processes switch among and whatever affinity they
ask for.  Each controller is used where the host has it: in the unified
(v2) hierarchy when it is enabled there, else in the v1 hierarchy it is
mounted on.  The cgroup is a child of the monitor's own cgroup in each
hierarchy, named after the monitor's pid; the relay joins it before it
makes the guest (so the guest cannot start outside it) and the guest gets a
cgroup namespace rooted there, with no cgroupfs in its mount namespace and
no mount(2) past its boot (hostcalls.BOOT_ONLY), so it cannot leave.  It is
removed when the run ends; one left by a monitor that was killed is removed
by the next run that finds it.  See cgroups(7)."""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass

from ..errors import LibsubstError

PREFIX = "libsubst-"
_serial = itertools.count()


@dataclass(frozen=True)
class Hierarchy:
    """Where a controller lives: the monitor's own cgroup directory in the
    hierarchy that holds it, whether that is the unified one, and where the
    hierarchy is mounted."""

    path: str
    v2: bool
    top: str = "/"


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root within the hierarchy, type, super options) of each cgroupfs."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            head, _, tail = line.partition(" - ")
            fields, tfields = head.split(), tail.split()
            if tfields and tfields[0] in ("cgroup", "cgroup2"):
                opts = set(tfields[2].split(",")) if len(tfields) > 2 else set()
                out.append((fields[4], fields[3], tfields[0], opts))
    return out


def _own_cgroups() -> dict[str, str]:
    """Controller name ('' for the unified hierarchy) -> the monitor's cgroup path."""
    own = {}
    with open("/proc/self/cgroup", encoding="utf-8") as fh:
        for line in fh:
            _id, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                own[c] = path
    return own


def _join(mount: str, root: str, path: str) -> str:
    rel = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
    return os.path.normpath(os.path.join(mount, rel))


def locate(controller: str) -> Hierarchy | None:
    """Where the monitor's cgroup for ``controller`` is, or None when the
    host has the controller in no hierarchy this process can see."""
    own, mounts = _own_cgroups(), _mounts()
    for mount, root, kind, opts in mounts:
        if kind == "cgroup2" and "" in own:
            path = _join(mount, root, own[""])
            try:
                with open(os.path.join(path, "cgroup.controllers"), encoding="utf-8") as fh:
                    if controller in fh.read().split():
                        return Hierarchy(path, True, mount)
            except OSError:
                continue
    for mount, root, kind, opts in mounts:
        if kind == "cgroup" and controller in opts and controller in own:
            return Hierarchy(_join(mount, root, own[controller]), False, mount)
    return None


def _v2_parent(h: Hierarchy, ctrls) -> str:
    """Where in the unified hierarchy the run's cgroup can have ``ctrls``:
    under the monitor's own cgroup, or, where that one holds processes and
    does not hand them to children (v2's no-internal-process rule, which
    also keeps them from being enabled there: cgroups(7)), under its nearest
    ancestor that does or holds no process (a systemd slice), or the root."""
    p = h.path
    while p != h.top and p.startswith(h.top):
        if set(ctrls) <= set(_read(os.path.join(p, "cgroup.subtree_control")).split()) or \
                not _read(os.path.join(p, "cgroup.procs")):
            return p
        p = os.path.dirname(p)
    return h.top


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def _remove(path: str) -> None:
    """Ends what is left in the cgroup at path (the guest's processes only:
    nothing else was ever in it) and removes it; bounded."""
    for _ in range(200):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            pass
        try:
            for pid in _read(os.path.join(path, "cgroup.procs")).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        except OSError:
            return
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _remove_stale(parent: str) -> None:
    """Cgroups of earlier runs whose monitor was killed before it removed
    them: their guests died with it (PR_SET_PDEATHSIG), so they are empty.
    One that is not, or whose monitor lives, is left alone: it may be
    another pid namespace's."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        pid = name[len(PREFIX):].split("-", 1)[0]
        if name.startswith(PREFIX) and pid.isdigit() and not _alive(int(pid)):
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass


def oom_kills(dirs) -> int:
    """How many of a run's processes the memory cgroup's OOM killer ended
    (v2 memory.events, v1 memory.oom_control: "oom_kill N")."""
    for d in dirs:
        for name in ("memory.events", "memory.oom_control"):
            try:
                fields = dict(line.split() for line in _read(os.path.join(d, name)).splitlines())
            except (OSError, ValueError):
                continue
            return int(fields.get("oom_kill", 0))
    return 0


class RunCgroup:
    """The cgroups of one run, one per hierarchy that holds a limited
    controller.  ``join()`` runs in the child, before it execs the relay."""

    def __init__(self, memory: int | None, cpus: list[int] | None, pids: int | None):
        self.dirs: list[str] = []
        # The relay, outside the guest, is in the pids cgroup too: one more.
        values = {"memory": memory, "cpuset": ",".join(map(str, cpus or ())),
                  "pids": pids and pids + 1}
        groups: dict[Hierarchy, list[str]] = {}
        for ctrl in (c for c, v in values.items() if v):
            h = locate(ctrl)
            if h is None:
                raise LibsubstError(f"{_flag(ctrl)}: this host has no {ctrl} cgroup controller, "
                                    "so the limit cannot be enforced")
            groups.setdefault(h, []).append(ctrl)
        try:
            for h, ctrls in groups.items():
                self._make(h, {c: str(values[c]) for c in ctrls})
        except BaseException:
            self.remove()
            raise

    def _make(self, h: Hierarchy, values: dict[str, str]) -> None:
        flags = ", ".join(_flag(c) for c in values)
        try:
            parent = _v2_parent(h, values) if h.v2 else h.path
        except OSError as e:
            raise LibsubstError(f"{flags}: cannot read the cgroups of {h.path} ({e.strerror}), "
                                "so the limit cannot be enforced") from None
        _remove_stale(parent)
        path = os.path.join(parent, f"{PREFIX}{os.getpid()}-{next(_serial)}")
        try:
            os.mkdir(path, 0o755)
        except OSError as e:
            raise LibsubstError(f"{flags}: cannot make a cgroup for the guest in {parent} "
                                f"({e.strerror}), so the limit cannot be enforced; run as root "
                                "or from a cgroup delegated to you") from None
        self.dirs.append(path)
        try:
            if h.v2:
                control = os.path.join(parent, "cgroup.subtree_control")
                for c in values:
                    if c not in _read(control).split():
                        _write(control, f"+{c}")
            for c, value in values.items():
                for name, text in _FILES[c, h.v2]:
                    if name in _OPTIONAL and not os.path.exists(os.path.join(path, name)):
                        continue        # no swap accounting: no swap to get around the limit
                    if text is INHERIT:
                        text = _read(os.path.join(parent, name))
                    _write(os.path.join(path, name), value if text is None else text)
        except OSError as e:
            raise LibsubstError(f"{flags}: cannot set up the guest's cgroup {path} "
                                f"({e.strerror}), so the limit cannot be enforced") from None

    def join(self) -> None:
        """Moves the calling process (the relay, before it execs) into every one."""
        pid = str(os.getpid())
        for d in self.dirs:
            _write(os.path.join(d, "cgroup.procs"), pid)

    def oom_kills(self) -> int:
        return oom_kills(self.dirs)

    def remove(self) -> None:
        self.remove_dirs(self.dirs)
        self.dirs = []

    @staticmethod
    def remove_dirs(dirs) -> None:
        """Removes a run's cgroups, as ``remove`` does, from their paths
        (those of a run whose monitor was killed)."""
        for d in dirs:
            _remove(d)


# The files each limit is written to, by (controller, unified hierarchy),
# with what: None for the limit, INHERIT for the parent's value, or a fixed
# text.  Swap is held to the memory limit (v2: no swap at all; v1: memory +
# swap = memory).  A v1 cpuset takes no task before it has memory nodes.
INHERIT = object()
_FILES = {
    ("memory", True): (("memory.max", None), ("memory.swap.max", "0")),
    ("memory", False): (("memory.limit_in_bytes", None), ("memory.memsw.limit_in_bytes", None)),
    ("cpuset", True): (("cpuset.cpus", None),),
    ("cpuset", False): (("cpuset.mems", INHERIT), ("cpuset.cpus", None)),
    ("pids", True): (("pids.max", None),),
    ("pids", False): (("pids.max", None),),
}
_OPTIONAL = {"memory.swap.max", "memory.memsw.limit_in_bytes"}


def _flag(controller: str) -> str:
    return {"memory": "--memory", "cpuset": "--cpus", "pids": "--pids"}[controller]
