"""The standard fds (stdin, stdout, stderr) that were closed when libsubst
started: the guest sees them closed, as the program would natively.

libsubst holds each such number with /dev/null from its start, so that none
of its own fds (pipes, the boot block, the report channel) takes the number
and reaches the guest, or the supervisor, as its stdio; the guest's first
boot closes the held ones just before the program starts (bootinfo.h's
LS_BOOT_CLOSED_STDIN).  The native front end holds them before the Python
CLI starts and names them in LIBSUBST_HELD_STDIO (c_src/frontend/main.c)."""

import os
import stat

_held = 0          # bit n: fd n is held


def hold() -> None:
    """Holds every standard fd closed now; takes over the front end's."""
    global _held
    # "HELD:PID", PID the front end's, which is this process after its
    # execve: one the caller set (the API's, another pid's) is not ours.
    held, _, pid = os.environ.pop("LIBSUBST_HELD_STDIO", "").partition(":")
    if pid == str(os.getpid()) and held.isdigit():
        _held |= int(held) & 7
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.set_inheritable(os.open(os.devnull, os.O_RDWR), True)   # the lowest free: fd
            _held |= 1 << fd


def _still_held(fd: int) -> bool:
    """Whether fd is still /dev/null, not a file the caller (an embedding
    program) put there since."""
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat(os.devnull).st_rdev


def closed(stdin, stdout, stderr) -> int:
    """Which standard fds a guest started with these (subprocess's
    arguments: None inherits this process's) sees closed: bit n for fd n."""
    return sum(1 << fd for fd, arg in enumerate((stdin, stdout, stderr))
               if arg is None and _held & (1 << fd) and _still_held(fd))
