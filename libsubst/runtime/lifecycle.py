"""create, start, kill, delete: a container's life, as engines drive runc.

``create`` reads the bundle, prepares the guest (its program's closure
resolved in the container's root, glibc substituted: every error is
create's), makes the state directory, and forks the container's
*monitor*: the process whose pid goes to --pid-file.  The monitor starts
a session of its own, blocks opening exec.fifo for writing, and once
``start`` opens it for reading boots the guest and supervises it: the
forwarded signals (monitor/signals.py) reach the guest, SIGKILL of the
monitor kills the whole guest (the kernel process's parent-death signal),
and the monitor exits with the guest's status (128+N for a signal N, as
runc's container shows it to an engine).  Engines wait on that pid: conmon
and containerd's shim are subreapers, so the monitor is theirs to reap."""

from __future__ import annotations

# What only create (and exec) needs is imported where it is used: every
# engine call is a new process, and start, kill and delete need little.
import contextlib
import json
import os
import select
import signal
import sys
import time

from ..errors import LibsubstError
from .state import Container

_CLONE_NEWNET = 0x40000000


def _load_config(bundle: str) -> dict:
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            return json.load(f)
    except OSError as e:
        raise LibsubstError(f"bundle {bundle}: config.json: {e.strerror}") from None
    except ValueError as e:
        raise LibsubstError(f"bundle {bundle}: config.json is not JSON: {e}") from None


def _console(socket_path: str, size) -> int:
    """A pty whose master goes to the engine's console socket (SCM_RIGHTS,
    as runc sends it); returns the slave."""
    import array
    import fcntl
    import socket
    import struct
    import termios
    master, slave = os.openpty()
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(socket_path)
            s.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                        array.array("i", [master]))])
    except OSError as e:
        raise LibsubstError(f"--console-socket {socket_path}: {e.strerror}") from None
    finally:
        os.close(master)
    return slave


def _join_netns(path: str) -> None:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LibsubstError(f"cannot join the network namespace {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _apply(plan) -> None:
    """What create sets on itself for the monitor, and so the guest, to
    inherit: set here, its errors are create's."""
    import resource
    for kind, soft, hard in plan.rlimits:
        try:
            resource.setrlimit(kind, (soft, hard))
        except (OSError, ValueError) as e:
            raise LibsubstError(f"process.rlimits: cannot set {_rlimit_name(kind)} to "
                                f"{soft}:{hard} here ({e}); the engine's --ulimit can set "
                                "it lower") from None
    if plan.umask is not None:
        os.umask(plan.umask)
    if plan.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(plan.oom_score_adj))
    if plan.netns:
        _join_netns(plan.netns)


def _rlimit_name(kind: int) -> str:
    import resource
    return next((n for n in dir(resource) if n.startswith("RLIMIT_")
                 and getattr(resource, n) == kind), str(kind))


def _monitor(c: Container, plan, slave: int | None, main: bool = True,
             preserve: int = 0) -> int:
    """The container's process (``main``: it waits for start and, once its
    guest has ended, ends the exec'd ones, as the end of a runc container's
    pid namespace would), or an exec'd process's: boots the guest with the
    engine's fds 3 .. 3+``preserve``-1 (--preserve-fds), supervises it,
    returns its status."""
    from ..monitor import signals
    from ..monitor.guest import Guest

    os.setsid()
    if slave is not None:
        import fcntl
        import termios
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.close(slave)
    try:
        with signals.before_start():
            if main:
                with open(c.fifo, "wb") as f:     # blocks until start opens it
                    f.write(b"0")
            passed = tuple(range(3, 3 + preserve))
            guest = Guest(plan.spec, stdin=0, stdout=1, stderr=2,   # the plan's limits
                          pass_fds=passed)
            for fd in passed:       # the guest's now: a pipe's reader sees the program's close
                os.close(fd)
            with open(c.cgroups, "a") as f:       # for delete, should this process be killed
                f.write("".join(d + "\n" for d in guest.cgroups))
        with guest:
            try:
                return signals.supervise(guest, 24 * 3600)   # the engine sends SIGKILL itself
            finally:
                if main:
                    c.end_execs()
    except signals.Stopped as e:
        return 128 + e.signo
    except LibsubstError as e:
        sys.stderr.write(f"libsubst: {e}\n")
        return e.exit_code
    except Exception as e:                        # no traceback into the container's stderr
        sys.stderr.write(f"libsubst: the container's monitor failed: {e!r}\n")
        return 125


def create(root: str, cid: str, bundle: str, pid_file: str | None,
           console_socket: str | None, preserve_fds: int = 0) -> None:
    import datetime

    from ..monitor.caller import check_passable
    from .config import plan as make_plan

    check_passable(range(3, 3 + preserve_fds), "--preserve-fds", 2 + preserve_fds)

    bundle = os.path.abspath(bundle)
    c = Container(root, cid)
    plan = make_plan(bundle, _load_config(bundle), cid)
    if plan.terminal and not console_socket:
        raise LibsubstError("process.terminal is set but no --console-socket was given")
    os.makedirs(root, mode=0o700, exist_ok=True)
    try:
        os.mkdir(c.dir, 0o700)
    except FileExistsError:
        raise LibsubstError(f"container {cid} exists already") from None
    try:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        c.save(bundle=bundle, rootfs=plan.spec.mounts[0].host, created=now,
               annotations=_load_config(bundle).get("annotations") or {})
        os.mkfifo(c.fifo, 0o600)
        pid = fork_monitor(c, plan, console_socket, preserve=preserve_fds)
        c.save(pid=pid, pid_start=_start_time_of_child(pid))
        if pid_file:
            write_pid_file(pid_file, pid)
    except BaseException:
        _remove(c)
        raise


def fork_monitor(c: Container, plan, console_socket: str | None, main: bool = True,
                 preserve: int = 0) -> int:
    """Applies the plan's process settings and forks the process's monitor
    (``main``: the container's own process, else one of ``exec``'s), which
    passes fds 3 .. 3+``preserve``-1 on; its pid.  The console's slave
    end, if any, is the monitor's alone."""
    _apply(plan)
    slave = _console(console_socket, plan.console_size) if plan.terminal else None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = _monitor(c, plan, slave, main=main, preserve=preserve)
        finally:
            os._exit(status)
    if slave is not None:
        os.close(slave)
    os.closerange(3, 3 + preserve)      # the monitor's, then the guest's (exec may wait long)
    return pid


def write_pid_file(path: str, pid: int) -> None:
    """--pid-file, replaced whole: a reader never sees it half written."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def _start_time_of_child(pid: int) -> int:
    from .state import start_time
    t = start_time(pid)
    if t is None:
        raise LibsubstError("the container's monitor ended before it started")
    return t


def start(root: str, cid: str) -> None:
    c = Container(root, cid)
    status = c.status()
    if status != "created":
        raise LibsubstError(f"container {cid} is {status}, not created: it cannot start")
    fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + 30
        while True:                                # bounded: the monitor may have died
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready and os.read(fd, 1):
                break
            if not c.alive() or time.monotonic() > deadline:
                raise LibsubstError(f"container {cid}: its monitor did not take the start")
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(c.fifo)


def parse_signal(text: str) -> int:
    t = text.upper()
    if t.isdigit():
        n = int(t)
    else:
        try:
            n = signal.Signals[t if t.startswith("SIG") else "SIG" + t]
        except KeyError:
            raise LibsubstError(f"kill: unknown signal {text!r}") from None
    if n not in signal.valid_signals():
        raise LibsubstError(f"kill: unknown signal {text!r}")
    return int(n)


def kill(root: str, cid: str, sig: int) -> None:
    """Signals the guest: one of the forwarded signals is passed on to its
    first process; SIGKILL kills the monitor and with it the whole guest."""
    from ..monitor.signals import FORWARDED

    c = Container(root, cid)
    if c.status() not in ("created", "running"):
        raise LibsubstError(f"container {cid} is not running")
    if sig != signal.SIGKILL and sig not in FORWARDED:
        raise LibsubstError(f"{signal.Signals(sig).name} is not passed to a guest; these are: "
                            + ", ".join(s.name for s in FORWARDED) + " and SIGKILL")
    os.kill(c.state["pid"], sig)


def _remove(c: Container) -> None:
    """The state and the guest's cgroups (left when its monitor was killed)."""
    import shutil
    from ..monitor.cgroup import RunCgroup
    c.end_execs()
    with contextlib.suppress(FileNotFoundError):
        with open(c.cgroups) as f:
            RunCgroup.remove_dirs(f.read().split())
    shutil.rmtree(c.dir, ignore_errors=True)


def delete(root: str, cid: str, force: bool) -> None:
    c = Container(root, cid)
    if not c.exists():
        if force:
            return
        raise LibsubstError(f"container {cid} does not exist")
    if c.alive():
        if not force:
            raise LibsubstError(f"container {cid} is {c.status()}: delete --force kills it")
        pid = c.state["pid"]
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            pidfd = None
        if pidfd is not None:
            try:
                if c.alive():                      # still the same process
                    os.kill(pid, signal.SIGKILL)
                if not select.select([pidfd], [], [], 10)[0]:
                    raise LibsubstError(f"container {cid}: its monitor {pid} did not end "
                                        "within 10 s of SIGKILL")
            finally:
                os.close(pidfd)
    _remove(c)
