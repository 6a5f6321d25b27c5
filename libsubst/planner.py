"""The one planning step: a program, or a packed image, and the options of
``run`` -> a :class:`~libsubst.plan.GuestPlan` the monitor boots.

A program is laid out from the host (image.layout: PATH, ``#!``, the
``DT_NEEDED`` closure by ld.so's rules, an interpreter's run-time trees,
the substitutes) and its volumes bound (:func:`plan_program`); an image's
root comes from its manifest (:func:`plan_image`).  Both end in
:func:`_finish`, which gives the guest its scratch directories and mount
points and writes the plan.  Packing (libsubst.image.pack) lays a program
out with the same image.layout and records the result in a manifest."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence

from . import planwatch
from .errors import ImageError, LibsubstError, VolumeError
from .image import rootfs
from .image.layout import layout_program
from .image.tree import Entry, Tree
from .plan import GuestPlan, Limits
from .volumes import Mount, bind, under


def _cwd() -> str:
    try:
        return os.getcwd()
    except FileNotFoundError:
        raise LibsubstError("the current directory has been deleted: run libsubst from "
                            "another one") from None


# The variables that name a file of trusted certificates (public data, no
# secret), which a program reads at start: one of these naming a host file
# brings that file into the guest's root.  Not every variable that names a
# file: a credentials file (GOOGLE_APPLICATION_CREDENTIALS, ...) stays out
# unless given as a volume, as every other host file does.
TRUST_STORES = ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                "GIT_SSL_CAINFO", "AWS_CA_BUNDLE")


def _data_file(value: str) -> bool:
    """The absolute path of a regular file the caller can read and no one can execute."""
    if not value.startswith("/"):
        return False
    try:
        st = os.stat(value)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and not st.st_mode & 0o111 and os.access(value, os.R_OK)


def env_files(env: Mapping[str, str], tree: Tree, mounts: Sequence[Mount]) -> None:
    """Brings into the root, at its own path, the host file each of the
    TRUST_STORES variables names, unless a mount or the root already holds
    that path: the environment passes unchanged, as to a plain command, so
    a program reads the certificates it names as natively (node's
    NODE_EXTRA_CA_CERTS, which it warns about when it is missing).  A path
    the root's tree cannot take (a file in the way) is left out, and so is
    one that is or leads into the guest's own trees: /tmp and /dev/shm, its
    scratch directories (rootfs.scratch_mounts), which a file of the root
    there would replace, and the synthetic /proc, /sys and /dev.  Each
    variable is read, so its value is a dependency of a cached plan."""
    own = ("/tmp/", "/dev/", "/proc/", "/sys/")
    for name in TRUST_STORES:
        value = env.get(name)
        if not value or not _data_file(value):
            continue
        path = os.path.normpath(value)
        if tree.get(path) is not None or any(under(path, m) for m in mounts) or \
                path.startswith(own) or os.path.realpath(path).startswith(own):
            continue
        try:
            tree.add_host_path(path)
        except (LibsubstError, OSError):
            continue


def plan_program(program: str, args: Sequence[str] = (), *,
                 env: Mapping[str, str] | None = None, volumes: Sequence[str | Mount] = (),
                 workdir: str | None = None, mount_cwd: bool = True, subst: bool = True,
                 net: str = "host", add: Sequence[str] = (), policy: bool = True,
                 limits: Limits | None = None, deny_calls: frozenset[int] = frozenset(),
                 weaker_sandbox: bool = False, read_only: bool = False,
                 init: bool = False, user: str | None = None) -> GuestPlan:
    """The plan for running ``program`` with ``args``: libsubst.api.prepare's
    (``read_only``: no writable layer over the root; ``init``: the program
    runs as the child of a small init, pid 1)."""
    cwd = _cwd()
    env = planwatch.watched(dict(os.environ if env is None else env))
    lay = layout_program(program, args, env, lookup=env.get("PATH"),
                         hostname=os.uname().nodename, add=add, subst=subst)
    mounts = bind(volumes)
    if mount_cwd and cwd != "/" and not any(m.guest == cwd for m in mounts):
        mounts.append(Mount(guest=cwd, host=cwd))
    mounts += [m for m in lay.runtime_mounts if not any(m.guest == o.guest for o in mounts)]
    for s in lay.scripts:
        if not any(under(s, m) for m in mounts):
            lay.tree.add_host_path(s)
    env_files(env, lay.tree, mounts)
    if workdir is None:
        workdir = cwd if mount_cwd and cwd != "/" else "/"
    return _finish(lay.tree, mounts, lay.state_dirs, exe=lay.exe, execfn=lay.execfn,
                   argv=lay.argv, env=[f"{k}={v}" for k, v in env.items()], cwd=workdir,
                   hostname=os.uname().nodename, net=net, objects=lay.objects, policy=policy,
                   limits=limits, deny_calls=deny_calls, weaker_sandbox=weaker_sandbox,
                   read_only=read_only, init=init, user=user)


def plan_image(image, args: Sequence[str] | None = None, *,
               env: Mapping[str, str] | None = None, volumes: Sequence[str | Mount] = (),
               workdir: str | None = None, net: str | None = None,
               limits: Limits | None = None, deny_calls: frozenset[int] = frozenset(),
               weaker_sandbox: bool = False, read_only: bool = False,
               init: bool = False, user: str | None = None) -> GuestPlan:
    """The plan for running an opened packed image (lsi.Image); the options
    are libsubst.api.run's for an image (``init``: an init even if the
    image was packed without one)."""
    m = image.meta
    if image.fd < 0 or image.header is None:
        raise ImageError("write the image and open it to run it")
    net = net or m.net
    argv = list(m.argv) if args is None else m.argv[:m.keep_argc] + list(args)
    envl = list(m.env)
    for k, v in (env or {}).items():
        envl = [e for e in envl if e.split("=", 1)[0] != k] + [f"{k}={v}"]

    bound = bind(volumes)
    mounts = []
    for decl in m.volumes:
        match = [b for b in bound if b.guest == decl.guest]
        if not match:
            raise VolumeError(f"the image expects a volume at {decl.guest}: bind one with "
                              f"--volume HOST:{decl.guest}")
        b = match[-1]
        mounts.append(Mount(guest=b.guest, host=b.host, readonly=b.readonly or decl.readonly))
    declared = {d.guest for d in m.volumes}
    mounts += [b for b in bound if b.guest not in declared]

    d_off = image.header["data"]["offset"]
    tree = Tree(Entry(f.path, "image", f.mode, size=f.size, mtime=f.mtime_ns,
                      offset=d_off + f.offset) if f.kind == "file" else
                Entry(f.path, f.kind, f.mode, target=f.target) for f in m.files)
    if net == "host" and tree.get("/etc/resolv.conf") is not None and \
            os.path.isfile("/etc/resolv.conf"):
        # The name servers of the host it runs on, not of the one it was packed on.
        try:
            with open("/etc/resolv.conf", "rb") as fh:
                data = fh.read()
            tree.set_entry(Entry("/etc/resolv.conf", "data", 0o644, data=data, size=len(data)))
        except OSError:
            pass
    state_dirs = rootfs.image_state_dirs({e.path: e for e in tree})
    plan = _finish(tree, mounts, state_dirs, exe=m.exe, execfn=m.execfn, argv=argv, env=envl,
                   cwd=workdir or m.cwd, hostname=m.hostname, net=net, objects=[],
                   policy=True, limits=limits, deny_calls=deny_calls,
                   weaker_sandbox=weaker_sandbox, image=image.path or "", read_only=read_only,
                   init=init or m.init, user=user)
    plan.image_fd = image.fd
    return plan


def _finish(tree: Tree, mounts: list[Mount], state_dirs: list[str], *, policy: bool,
            limits: Limits | None, read_only: bool, user: str | None = None,
            **plan) -> GuestPlan:
    """What every guest gets whatever its root: its scratch directories
    (/tmp, /dev/shm, the packages' state directories), the writable layer
    over its root unless ``read_only``, and a directory at each mount
    point; then the plan, run as ``user`` (--user) or as the caller."""
    files = [e.path for e in tree if e.kind != "dir"]
    added, scratch = rootfs.scratch_mounts(mounts, files, state_dirs, private=policy)
    mounts = mounts + [m for m in added if not (read_only and m == rootfs.ROOT_LAYER)]
    for m in mounts:
        tree.add_dir(m.guest)
    uid, gid = user_ids(user, tree) if user is not None else (os.getuid(), os.getgid())
    return GuestPlan(entries=tree.entries(), mounts=mounts, scratch=scratch,
                     uid=uid, gid=gid, policy=policy,
                     limits=limits or Limits(), **plan)


def _etc_table(tree: Tree, path: str) -> list[list[str]]:
    """The guest's /etc/passwd or /etc/group as rows of fields (none where
    the root holds no such file as data: names are then not known)."""
    e = tree.get(path)
    if e is None or e.kind != "data":
        return []
    return [line.split(":") for line in e.data.decode(errors="replace").splitlines()
            if line.count(":") >= 3]


def user_ids(user: str, tree: Tree) -> tuple[int, int]:
    """``--user USER[:GROUP]`` as the guest's (uid, gid): names are the
    guest's own /etc/passwd and /etc/group, numbers are taken as they are;
    a user's group is its passwd entry's (gid = uid for a number the guest
    does not know).  The guest's user namespace has ids for every user only
    when the caller is root: an unprivileged caller's guest is the caller."""
    name, _, group = user.partition(":")
    passwd, groups = _etc_table(tree, "/etc/passwd"), _etc_table(tree, "/etc/group")

    def number(text, rows, what, file):
        if text.isdigit():
            return int(text)
        for row in rows:
            if row[0] == text and row[2].isdigit():
                return int(row[2])
        raise LibsubstError(f"--user {user}: no {what} {text!r} in the guest's /etc/{file}")

    if not name:
        raise LibsubstError(f"--user {user}: expected USER[:GROUP] (names or numbers)")
    uid = number(name, passwd, "user", "passwd")
    if group:
        gid = number(group, groups, "group", "group")
    else:
        gid = next((int(r[3]) for r in passwd if r[2] == str(uid) and r[3].isdigit()), uid)
    from .monitor.identity import IDS

    if max(uid, gid) >= IDS:
        raise LibsubstError(f"--user {user}: ids from {IDS} on are outside the guest's user "
                            "namespace")
    if os.getuid() != 0 and (uid, gid) != (os.getuid(), os.getgid()):
        raise LibsubstError(f"--user {user}: only a root caller's guest has other users "
                            "(an unprivileged caller's guest runs as the caller)")
    return uid, gid


def kernel_executable(kernel: bytes) -> tuple[str, int, str | None]:
    """An executable copy of an image's own kernel: (path to exec, fd the
    child must inherit or -1, temporary file to remove or None).  A sealed
    memfd normally; a private temporary file where the host forbids
    executing memfds (vm.memfd_noexec = 2)."""
    import fcntl
    import tempfile

    try:
        try:
            fd = os.memfd_create("libsubst-kernel", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | 0x10)
        except OSError:           # MFD_EXEC (Linux 6.3) unknown: exec is allowed anyway
            fd = os.memfd_create("libsubst-kernel", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        _write_all(fd, kernel)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK |
                    fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
        return f"/proc/self/fd/{fd}", fd, None
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix="libsubst-kernel-")
    try:
        _write_all(fd, kernel)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return tmp, -1, tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def deny_numbers(names: Sequence[str]) -> frozenset[int]:
    """``--enosys`` names -> syscall numbers, with a clear error for an unknown one."""
    if not names:       # the table's import is for --enosys only
        return frozenset()
    from .kernel.syscalls import by_name

    out = set()
    for name in names:
        try:
            out.add(by_name(name).nr)
        except KeyError:
            raise LibsubstError(f"--enosys {name}: no such x86-64 system call") from None
    return frozenset(out)
