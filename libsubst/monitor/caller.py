"""What the caller gave libsubst that the Python interpreter changes as it
starts, put back for the guest, whose program starts as the caller's execve
would have started it: the signals the caller ignores (Python ignores
SIGPIPE and SIGXFSZ itself and gives its children their defaults) and an
environment without the LC_CTYPE that Python's C locale coercion (PEP 538)
adds.  The native front end says what they were in LIBSUBST_CALLER_STATE
(c_src/frontend/main.c); without it (libsubst-py started directly) the
guest gets Python's defaults for its children.  And the caller's fds the
user passes (--preserve-fds, socket activation), as runc and podman pass
them: no other fd above stdio reaches the guest."""

import os
import signal
import stat
from dataclasses import dataclass

from ..errors import LibsubstError

_ignored: frozenset[int] = frozenset()
_as_exec = False        # the CLI's run stands for an execve (not the API's, the runtime's)
_fds: tuple[int, ...] = ()     # those the program inherits (pass_fds)
_preserved = 0          # of those, run --preserve-fds's
_listen = 0             # and socket activation's


def take() -> None:
    """Reads and drops the front end's variable; drops the LC_CTYPE Python
    added.  Called once as the CLI starts, before anything reads the
    environment."""
    global _ignored, _as_exec
    _as_exec = True
    # "PID:IGNORED:CTYPE", PID the front end's, which is this process after
    # its execve: one the caller set (another pid's) is not ours.
    pid, _, rest = os.environ.pop("LIBSUBST_CALLER_STATE", "").partition(":")
    ignored, _, ctype = rest.partition(":")
    if pid != str(os.getpid()):
        return
    try:
        mask = int(ignored, 16)
    except ValueError:
        return
    _ignored = frozenset(s for s in range(1, 65) if mask >> (s - 1) & 1)
    if ctype == "0":
        os.environ.pop("LC_CTYPE", None)


def socket_activation() -> int:
    """How many fds the caller passed this process by systemd's socket
    activation (sd_listen_fds(3): LISTEN_FDS, when LISTEN_PID is this
    process's, which is the front end's after its execve), else 0."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return 0
    try:
        return max(0, int(os.environ.get("LISTEN_FDS", "")))
    except ValueError:
        raise LibsubstError(f"LISTEN_FDS={os.environ['LISTEN_FDS']!r} is not a number "
                            "(socket activation, sd_listen_fds(3))") from None


def pass_fds(preserve: int) -> int:
    """Passes the caller's fds 3 .. 3+K-1 to the program, as runc does: K
    the socket-activated fds and ``preserve`` (run --preserve-fds) more
    (check_passable).  How many of them socket activation passed."""
    global _fds, _preserved, _listen
    listen = socket_activation()
    check_passable(range(3, 3 + listen), "socket activation's LISTEN_FDS", 2 + listen + preserve)
    check_passable(range(3 + listen, 3 + listen + preserve), "--preserve-fds",
                   2 + listen + preserve)
    _fds = tuple(range(3, 3 + listen + preserve))
    _preserved, _listen = preserve, listen
    return listen


def check_passable(fds: range, what: str, last: int) -> None:
    """Refuses, naming it, a passed fd (of ``what``, fds 3 to ``last``)
    that this process's caller did not give it open (every fd Python opens
    is close-on-exec; the caller's survived an execve without it) or that
    is a directory: the guest resolves every path in its own root, where a
    host directory's fd names nothing."""
    for fd in fds:
        try:
            given = os.get_inheritable(fd)
        except OSError:
            given = False
        if not given:
            raise LibsubstError(f"fd {fd} is not open (passed by {what}: fds 3 to {last})")
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise LibsubstError(f"fd {fd} (passed by {what}) is a directory: a passed fd "
                                "cannot be one (the guest resolves paths in its own root; "
                                "mount the directory with --volume)")


_LISTEN = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def listen_env(env: list[str], init: bool) -> list[str]:
    """The guest's environment ("K=V"s) with socket activation's variables
    as podman gives them: LISTEN_FDS and LISTEN_FDNAMES the caller's,
    LISTEN_PID the program's pid in the guest (1, or 2 under an init);
    added to an image's recorded environment.  A LISTEN_PID the caller
    set for another process (not this one's) would match the program's pid
    in the guest (natively, by chance only): the CLI's caller's LISTEN_PID,
    LISTEN_FDS and LISTEN_FDNAMES are dropped (sd_listen_fds(3) ignores a
    LISTEN_FDS without LISTEN_PID: kept, as natively).  Else unchanged."""
    if not _listen:
        if not _as_exec or "LISTEN_PID" not in os.environ:
            return env          # the API's and libsubst-runtime's env is their caller's
        theirs = {f"{k}={os.environ[k]}" for k in _LISTEN if k in os.environ}
        return [kv for kv in env if kv not in theirs]
    want = {"LISTEN_FDS": str(_listen), "LISTEN_PID": "2" if init else "1"}
    if "LISTEN_FDNAMES" in os.environ:
        want["LISTEN_FDNAMES"] = os.environ["LISTEN_FDNAMES"]
    out = [f"{name}={want[name]}" if (name := kv.split("=", 1)[0]) in want else kv
           for kv in env]
    have = {kv.split("=", 1)[0] for kv in env}
    return out + [f"{k}={v}" for k, v in want.items() if k not in have]


def inherited_fds() -> tuple[int, ...]:
    """The fds the program inherits at their numbers (pass_fds)."""
    return _fds


def preserved() -> int:
    """run --preserve-fds's N, which a plan cache entry keeps (plancache.h)."""
    return _preserved


def drop_fds() -> None:
    """Closes this process's copies once the guest has its own: a pipe's
    reader sees its end when the program closes its copy, not libsubst's.
    A file this process holds a lock on stays open, or closing it would
    drop the lock (fcntl(2): a POSIX lock is the process's, released at any
    close of the file), and so does LIBSUBST_TIMES_FD, which the supervisor
    writes to; c_src/frontend/fds.c does the same."""
    global _fds
    times = os.environ.get("LIBSUBST_TIMES_FD", "")
    for fd in _fds:
        with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
            if not any(line.startswith("lock:") for line in info) and str(fd) != times:
                os.close(fd)
    _fds = ()


def restore_ignored() -> None:
    """In the guest's first process, before its execve: the caller's
    ignored signals ignored again (subprocess gave SIGPIPE and SIGXFSZ
    their defaults)."""
    for s in _ignored:
        if s not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(s, signal.SIG_IGN)


@dataclass(frozen=True)
class ExecState:
    """The part of this process's state an execve keeps that libsubst's own
    guest start would lose (bootinfo.h's caller_*, itimers, groups): its
    signal mask, the blocked signals pending for it, its interval timers
    and its supplementary groups."""
    blocked: frozenset[int] = frozenset()
    pending: frozenset[int] = frozenset()
    itimers: tuple[tuple[int, int], ...] = ((0, 0),) * 3   # value, interval in µs
    groups: tuple[int, ...] = ()


_TIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)


def take_exec_state() -> ExecState:
    """This process's ExecState, as the guest's first boot puts it back:
    the pending signals and the timers are taken from this process (a
    signal is never the program's and libsubst's both; a timer expires in
    the program, not in libsubst).  Only for the CLI's run: the API's
    guest starts as before, and libsubst-runtime's as config.json says
    (its groups; runc starts a container with no signal blocked); the
    embedding program keeps its signals and timers."""
    if not _as_exec:
        return ExecState()
    blocked = frozenset(signal.pthread_sigmask(signal.SIG_BLOCK, ()))
    pending = frozenset(s for s in signal.sigpending() if s in blocked
                        and signal.sigtimedwait((s,), 0) is not None)
    timers = tuple(signal.setitimer(w, 0) for w in _TIMERS)
    return ExecState(blocked, pending, tuple((round(v * 1e6), round(i * 1e6)) for v, i in timers),
                     tuple(os.getgroups()))
