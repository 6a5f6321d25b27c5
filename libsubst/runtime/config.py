"""An OCI bundle's config.json as a libsubst guest: the boot spec, its
limits and what its monitor process applies before booting it.

Every field of config.json is in FIELDS, with what libsubst does with it:
``honoured``, ``superseded`` (libsubst's own mechanism does that job) or
``refused`` (a create that sets it fails, saying so).  A field not in the
table is refused too: nothing is silently ignored.  docs/oci-runtime.md
shows the table (tests/test_oci_runtime.py checks they agree).

The container's root (``root.path``, the engine's: podman's overlay) is a
volume at the guest's "/", read-write unless ``root.readonly``: its writes
persist, as with runc.  The kernel resolves that volume's symlinks itself,
an absolute one from the guest's root (fs/path.c), and keeps /proc, /sys
and /dev its synthetic trees.  The program's closure is resolved with
ld.so's rules inside the root, and each object with syscall sites (the
container's own glibc and ld.so) is served, at its real path, by its
substitute."""

from __future__ import annotations

import math
import os
import resource
import stat
from dataclasses import dataclass, field

from ..errors import LibsubstError
from ..image.rootfs import SCRATCH_ROOT
from ..image.tree import Tree
from ..monitor.bootinfo import BootSpec, Mount
from ..plan import Limits

H, S, R = "honoured", "superseded", "refused"
FIELDS = {
    "ociVersion": (H, "read; any 1.x"),
    "root.path": (H, "the guest's root: a read-write volume at /, its writes persist"),
    "root.readonly": (H, "the root volume is mounted read-only"),
    "process.args": (H, "found on the container's PATH inside its root; #! followed; a file "
                        "the engine binds in (`podman run --init`'s catatonit at "
                        "/run/podman-init) runs from its mount, and the program after its "
                        "`--` is the one whose libraries are substituted"),
    "process.env": (H, "the guest's whole environment"),
    "process.cwd": (H, "the guest's working directory"),
    "process.user.uid": (H, "the guest's uid; its user namespace maps host ids 0-65535 to "
                            "themselves, as runc's containers without one"),
    "process.user.gid": (H, "the guest's gid"),
    "process.user.umask": (H, "set in the monitor before boot; the guest inherits it"),
    "process.user.additionalGids": (S, "the guest kernel gives no supplementary groups"),
    "process.rlimits": (H, "set on the guest kernel's process (setrlimit) before boot"),
    "process.terminal": (H, "a pty whose master goes to --console-socket"),
    "process.consoleSize": (H, "the pty's size"),
    "process.capabilities": (S, "the guest holds no host capability; its root is root of "
                                "its own user namespace, under libsubst's seccomp filter"),
    "process.noNewPrivileges": (S, "always: seccomp and Landlock need no_new_privs"),
    "process.apparmorProfile": (S, "Landlock and seccomp confine the guest"),
    "process.selinuxLabel": (S, "Landlock and seccomp confine the guest"),
    "process.oomScoreAdj": (H, "written to the monitor's oom_score_adj; the guest inherits it"),
    "hostname": (H, "the guest's hostname (UTS namespace of its own); without it the "
                    "host's, as runc's new UTS namespace starts with"),
    "domainname": (S, "the guest's domain name is (none)"),
    "mounts": (H, "see the mount rows"),
    "mounts[bind dir]": (H, "a volume (ro with the ro option)"),
    "mounts[bind file]": (H, "an image file of the guest's, read-only (/etc/hosts, "
                             "/etc/resolv.conf, /etc/hostname, /run/.containerenv)"),
    "mounts[tmpfs]": (H, "a tmpfs of the guest's own (size= honoured); at /dev: the kernel's /dev"),
    "mounts[proc sysfs devpts mqueue cgroup]": (S, "the guest kernel's synthetic /proc, "
                                                   "/sys, /dev and its own mqueue and devpts"),
    "mounts[other types]": (R, "only bind, tmpfs and the kernel's own file systems"),
    "hooks": (R, "a hook runs in the container's namespaces, which a libsubst guest's are not"),
    "annotations": (H, "kept in the state"),
    "linux.namespaces[network].path": (H, "the monitor joins it (setns) before boot"),
    "linux.namespaces[network]": (H, "without a path: a network namespace of the guest's own "
                                     "(loopback only); absent: the host's"),
    "linux.namespaces[pid ipc uts mount cgroup user]": (S, "libsubst always makes its own"),
    "linux.namespaces[* with path]": (R, "only a network namespace can be joined"),
    "linux.uidMappings": (S, "libsubst maps the guest's ids itself"),
    "linux.gidMappings": (S, "libsubst maps the guest's ids itself"),
    "linux.resources.memory.limit": (H, "--memory"),
    "linux.resources.memory.swap": (S, "the guest gets no swap: its memory and swap are held "
                                       "to the memory limit, as libsubst's --memory"),
    "linux.resources.pids.limit": (H, "--pids"),
    "linux.resources.cpu.quota": (H, "--cpus ceil(quota/period): the guest runs on that many "
                                     "CPUs (its affinity), not a CFS quota"),
    "linux.resources.cpu.period": (H, "with quota"),
    "linux.resources.cpu.cpus": (H, "--cpus (how many of them)"),
    "linux.resources.cpu.shares": (H, "1024, the default weight, which the guest has; "
                                      "any other is refused (libsubst sets no weight)"),
    "linux.resources.devices": (S, "the guest reaches only the kernel's own devices"),
    "linux.resources[other]": (R, "only memory, pids and cpu"),
    "linux.cgroupsPath": (S, "the guest runs in libsubst's own cgroup for its limits"),
    "linux.sysctl": (S, "the guest's /proc/sys is its kernel's own; nothing is written to "
                        "the engine's network namespace"),
    "linux.seccomp": (S, "libsubst's own seccomp allow-list, under its guest kernel"),
    "linux.maskedPaths": (S, "the guest's /proc and /sys are synthetic: nothing of the host's"),
    "linux.readonlyPaths": (S, "the guest's /proc and /sys are synthetic and read-only"),
    "linux.rootfsPropagation": (S, "the guest's mounts are the kernel's own"),
    "linux.mountLabel": (S, "Landlock and seccomp confine the guest"),
    "linux.devices": (R, "the guest reaches only the kernel's own devices"),
    "linux.personality": (R, "not set by libsubst"),
    "linux.intelRdt": (R, "not set by libsubst"),
    "process.ioPriority": (R, "not set by libsubst"),
    "process.scheduler": (R, "not set by libsubst"),
    "process.execCPUAffinity": (R, "not set by libsubst"),
}
_KERNEL_FS = ("proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2")
_RESOURCES = {"memory": ("limit", "swap"), "pids": ("limit",), "cpu": ("quota", "period", "cpus", "shares"),
              "devices": None}
_SUPERSEDED_NS = ("pid", "ipc", "uts", "mount", "cgroup", "user")


@dataclass
class Plan:
    """What create prepares and the container's monitor applies."""

    spec: BootSpec
    limits: Limits
    rlimits: list[tuple[int, int, int]] = field(default_factory=list)
    netns: str | None = None
    terminal: bool = False
    console_size: tuple[int, int] | None = None
    umask: int | None = None
    oom_score_adj: int | None = None


def _refuse(name: str, why: str):
    raise LibsubstError(f"config.json: {name} is not supported by libsubst-runtime: {why}")


def _check_keys(obj: dict, prefix: str, allowed):
    for key in obj:
        if key not in allowed:
            name = f"{prefix}.{key}" if prefix else key
            disp = FIELDS.get(name)
            _refuse(name, disp[1] if disp else "unknown to libsubst (docs/oci-runtime.md)")


def _resources(res: dict) -> Limits:
    for key in res:
        subkeys = _RESOURCES.get(key)
        if key not in _RESOURCES:
            if res[key]:
                _refuse(f"linux.resources.{key}", FIELDS["linux.resources[other]"][1])
            continue
        if subkeys is not None:
            _check_keys({k: v for k, v in res[key].items() if v not in (None, 0, "")},
                        f"linux.resources.{key}", subkeys)
    memory = (res.get("memory") or {}).get("limit")
    pids = (res.get("pids") or {}).get("limit")
    cpu = dict(res.get("cpu") or {})
    if cpu.pop("shares", None) not in (None, 0, 1024):
        _refuse("linux.resources.cpu.shares", "libsubst sets no weight; only the default, 1024")
    cpus = None
    if cpu.get("quota") and cpu.get("quota") > 0:
        cpus = math.ceil(cpu["quota"] / (cpu.get("period") or 100000))
    if cpu.get("cpus"):
        cpus = min(cpus or 1 << 30, _cpu_count(cpu["cpus"]))
    return Limits(memory if memory and memory > 0 else None, cpus,
                  pids if pids and pids > 0 else None)


def _namespaces(spaces: list) -> tuple[str, str | None]:
    """(net, netns path) of linux.namespaces."""
    net, path = "host", None
    for ns in spaces:
        kind = ns.get("type")
        if kind == "network":
            net, path = ("host", ns["path"]) if ns.get("path") else ("none", None)
        elif kind in _SUPERSEDED_NS:
            if ns.get("path"):
                _refuse(f"linux.namespaces[{kind}].path", FIELDS["linux.namespaces[* with path]"][1])
        else:
            _refuse(f"linux.namespaces[{kind}]", "an unknown namespace type")
    return net, path


def _tmpfs_size(text: str | None, dest: str) -> int | None:
    """tmpfs(5)'s size=: bytes, with k, m or g; a percentage of RAM is refused."""
    if not text:
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    try:
        return int(text[:-1]) * units[text[-1].lower()] if text[-1].isalpha() else int(text)
    except (KeyError, ValueError):
        raise LibsubstError(f"config.json: tmpfs {dest}: size={text}: expected bytes, "
                            "or a number with k, m or g") from None


def _cpu_count(cpus: str) -> int:
    """How many CPUs a cpuset list ("0-3,6") names."""
    n = 0
    for part in cpus.split(","):
        lo, _sep, hi = part.strip().partition("-")
        try:
            n += int(hi or lo) - int(lo) + 1
        except ValueError:
            raise LibsubstError(f"config.json: linux.resources.cpu.cpus {cpus!r}: "
                                "expected a list such as 0-3,6") from None
    return n


def _mounts(mounts: list, tree: Tree) -> list[Mount]:
    out = []
    for m in mounts:
        dest, kind = os.path.normpath(m.get("destination", "")), m.get("type") or ""
        opts = m.get("options") or []
        if not dest.startswith("/"):
            raise LibsubstError(f"config.json: mount destination {dest!r} is not absolute")
        if kind in _KERNEL_FS:
            continue                               # the guest kernel's own
        if kind == "tmpfs" or (kind == "" and m.get("source") == "tmpfs"):
            if dest == "/dev" or dest.startswith("/dev/") and dest != "/dev/shm":
                continue
            size = next((o[5:] for o in opts if o.startswith("size=")), None)
            out.append(Mount(guest=dest, host=SCRATCH_ROOT + dest, scratch=True,
                             size=_tmpfs_size(size, dest)))
            continue
        if kind not in ("bind", "") and "bind" not in opts and "rbind" not in opts:
            _refuse(f"mounts[{kind}] at {dest}", FIELDS["mounts[other types]"][1])
        src = m.get("source", "")
        try:
            st = os.stat(src)
        except OSError as e:
            raise LibsubstError(f"config.json: mount source {src} of {dest}: {e.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            out.append(Mount(guest=dest, host=os.path.realpath(src), readonly="ro" in opts))
        elif stat.S_ISREG(st.st_mode):
            tree.add_host_file(dest, os.path.realpath(src), stat.S_IMODE(st.st_mode))
        else:
            _refuse(f"mounts[bind] of {src}", "only directories and regular files can be bound")
    return out


def _bound_files(mounts: list) -> set[str]:
    """The destinations of the mounts that bind a regular file."""
    return {os.path.normpath(m.get("destination", "")) for m in mounts
            if m.get("source") and os.path.isfile(m["source"]) and
            (m.get("type") in ("bind", "") or "bind" in (m.get("options") or []) or
             "rbind" in (m.get("options") or []))}


def plan(bundle: str, cfg: dict, container_id: str) -> Plan:
    """The Plan of the bundle at ``bundle`` whose config.json is ``cfg``."""
    from ..ldso.program import find_program, interpreters, mapped_program
    from ..ldso.search import in_root, realpath, resolve
    from ..uklibc.cache import substitute

    _check_keys(cfg, "", ("ociVersion", "root", "process", "hostname", "domainname", "mounts",
                          "annotations", "linux", "hooks"))
    if not str(cfg.get("ociVersion", "")).startswith("1."):
        raise LibsubstError(f"config.json: ociVersion {cfg.get('ociVersion')!r}: expected 1.x")
    if cfg.get("hooks") and any(cfg["hooks"].values()):
        _refuse("hooks", FIELDS["hooks"][1])
    proc, rootcfg, linux = cfg.get("process") or {}, cfg.get("root") or {}, cfg.get("linux") or {}
    _check_keys(proc, "process", ("args", "env", "cwd", "user", "rlimits", "terminal",
                                  "consoleSize", "capabilities", "noNewPrivileges",
                                  "apparmorProfile", "selinuxLabel", "oomScoreAdj"))
    _check_keys(linux, "linux", ("namespaces", "uidMappings", "gidMappings", "resources",
                                 "cgroupsPath", "sysctl", "seccomp", "maskedPaths",
                                 "readonlyPaths", "rootfsPropagation", "mountLabel"))
    if not proc.get("args"):
        raise LibsubstError("config.json: process.args is empty")
    root = os.path.realpath(os.path.join(bundle, rootcfg.get("path", "rootfs")))
    if not os.path.isdir(root):
        raise LibsubstError(f"config.json: root.path {root} is not a directory")

    env = dict(kv.split("=", 1) for kv in proc.get("env") or () if "=" in kv)
    args = list(proc["args"])
    search = env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    if os.path.normpath(args[0]) in _bound_files(cfg.get("mounts") or []):
        # A program the engine binds in (podman --init's catatonit at
        # /run/podman-init): the kernel execs it from its mount; the root's
        # objects substituted are those of the program it runs (`init -- PROG`).
        path = os.path.normpath(args[0])
        prog = args[args.index("--", 1) + 1] if "--" in args[1:-1] else None
        try:                    # one it cannot find is the init's to report
            runs = find_program(prog, search, root) if prog else None
            binary = mapped_program(interpreters(runs, root, proc.get("cwd") or "/"), root) \
                if runs else None
        except LibsubstError:
            binary = None
    else:
        path = find_program(args[0], search, root)
        binary = mapped_program(interpreters(path, root, proc.get("cwd") or "/"), root)
    # No ELF at the end of its #! lines: the kernel's first exec says why.
    loaded = resolve(binary, env, root).host_paths() if binary else []
    tree = Tree()
    for guest in dict.fromkeys(realpath(p, root) for p in loaded):
        sub = substitute(root + guest)
        if sub != root + guest:
            tree.add_host_file(guest, sub, 0o755)
    mounts = [Mount(guest="/", host=root, readonly=bool(rootcfg.get("readonly")))]
    mounts += _mounts(cfg.get("mounts") or [], tree)
    if not any(m.guest == "/dev/shm" for m in mounts):
        mounts.append(Mount(guest="/dev/shm", host=SCRATCH_ROOT + "/dev/shm", scratch=True))
    net, netns = _namespaces(linux.get("namespaces") or [])
    user = proc.get("user") or {}
    cwd = proc.get("cwd") or "/"
    if not cwd.startswith("/"):
        raise LibsubstError(f"config.json: process.cwd {cwd!r} is not absolute")
    # As runc: a working directory the root lacks is made (the root's, as root's).
    try:
        os.makedirs(in_root(cwd, root), mode=0o755, exist_ok=True)
    except OSError as e:
        raise LibsubstError(f"config.json: process.cwd {cwd}: {e.strerror}") from None
    limits = _resources(linux.get("resources") or {})
    # The guest kernel expands #! at this first exec as at any execve.
    spec = BootSpec(exe=realpath(path, root), execfn=args[0] if "/" in args[0] else path,
                    argv=args,
                    env=list(proc.get("env") or ()), cwd=cwd, entries=tree.entries(),
                    mounts=mounts, hostname=cfg.get("hostname") or os.uname().nodename,
                    uid=int(user.get("uid", 0)), gid=int(user.get("gid", 0)), net=net,
                    objects=[root + realpath(p, root) for p in loaded],
                    # Host root's ids, as a runc container's without a user namespace: an
                    # engine's overlay root cannot be idmapped, and its files are host
                    # root's.  The guest still holds no host capability (its own userns).
                    host_ids=(0, 0), limits=limits,
                    # The container's process is its pid namespace's init, as under
                    # runc: a signal it has no handler for (podman stop's SIGTERM to a
                    # sleep) is dropped, and the engine's SIGKILL ends it.
                    init_rule=True)
    rlimits = []
    for rl in proc.get("rlimits") or ():
        name = rl.get("type", "")
        if not name.startswith("RLIMIT_") or not hasattr(resource, name):
            raise LibsubstError(f"config.json: process.rlimits: unknown {name!r}")
        rlimits.append((getattr(resource, name), int(rl["soft"]), int(rl["hard"])))
    size = proc.get("consoleSize")
    return Plan(spec, limits, rlimits, netns,
                bool(proc.get("terminal")),
                (size["height"], size["width"]) if size else None,
                user.get("umask"), proc.get("oomScoreAdj"))
