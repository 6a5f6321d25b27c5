"""Debugging a guest: a gdb remote-protocol server (``libsubst run --gdb``)."""

from __future__ import annotations

import os
import sys
import threading
import time


def _guest_pid(kernel_pid: int, sandboxed: bool, timeout: float = 30.0,
               init: bool = False) -> int:
    """The guest's program: the relay's child (or the kernel process itself
    when it boots without the sandbox); with ``init`` (--init), that child's
    child."""
    if not sandboxed:
        return kernel_pid
    deadline = time.monotonic() + timeout
    pid = kernel_pid
    for _ in range(2 if init else 1):
        pid = _first_child(pid, deadline)
    return pid


def _first_child(pid: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.001)
    raise TimeoutError("the guest's first process did not appear")


def start_server(sock, kernel_pid: int, sandboxed: bool, program: str, go_fd: int,
                 kernel: str, init: bool = False):
    """Serves gdb on ``sock`` for the guest started as ``kernel_pid``, in a
    thread of its own (the tracer of every guest thread: with
    PTRACE_O_EXITKILL, the guest dies with it, and with the monitor); the
    server, whose ``end`` the monitor calls with the signals it is sent."""
    from .gdbserver import GdbServer

    def log(msg: str) -> None:
        sys.stderr.write(f"libsubst: {msg}\n")

    server = GdbServer(sock, program, kernel, log)

    def work():
        try:
            server.attach(_guest_pid(kernel_pid, sandboxed, init=init), go_fd)
        except (OSError, TimeoutError) as e:
            log(f"gdb: cannot attach to the guest: {e}")
            try:
                os.close(go_fd)           # the guest kernel, reading EOF, stops with a message
            except OSError:
                pass
            server.close()
            sock.close()
            return
        host, port = sock.getsockname()[:2]
        log(f"gdb: the guest waits at its first instruction; connect with "
            f"`gdb {program} -ex 'target remote {host}:{port}'`")
        try:
            server.serve()
        except Exception as e:        # noqa: BLE001 - one line, and the guest is not left stopped
            log(f"gdb: connection lost: {e}")
            server.kill()
        finally:
            server.close()
            sock.close()

    server.thread = threading.Thread(target=work, name="libsubst-gdb", daemon=True)
    server.thread.start()
    return server


def attach(pid: int, sock, kernel: str) -> None:
    """``libsubst attach``: serves gdb for the running guest process ``pid``
    (a guest's process, or the ``libsubst run`` or relay process above it)
    until gdb detaches; the guest goes on."""
    from ..errors import LibsubstError
    from .gdbserver import GdbServer

    target = _guest_process(pid, kernel)
    server = GdbServer(sock, "", kernel, lambda m: sys.stderr.write(f"libsubst: {m}\n"))
    try:
        server.attach_running(target)
    except OSError as e:
        raise LibsubstError(f"cannot attach to process {target}: {e.strerror or e}") from None
    host, port = sock.getsockname()[:2]
    sys.stderr.write(f"libsubst: gdb: guest process {target} ({server.program}) is stopped; "
                     f"connect with `gdb {server.program} -ex 'target remote {host}:{port}'`\n")
    sys.stderr.flush()
    try:
        server.serve()
    except Exception as e:            # noqa: BLE001 - one line, never a traceback
        # Whatever went wrong, the guest goes on without gdb's int3s.
        server.detach()
        raise LibsubstError(f"gdb: connection lost: {e}") from None
    finally:
        server.close()
        sock.close()


def _guest_process(pid: int, kernel: str) -> int:
    """The guest process to debug for a pid the user gave: walks down from a
    `libsubst run` (monitor) or relay process to the guest's first process."""
    from ..errors import LibsubstError

    real = os.path.realpath(kernel)
    for _ in range(3):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            raise LibsubstError(f"no process {pid} (or it is not yours to debug)") from None
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
        if exe == real and not _is_relay(pid):
            return pid
        if not kids:
            break
        pid = int(kids[0])
    raise LibsubstError(f"process {pid} is not a libsubst guest of this installation's kernel "
                        "(a packed image's guest runs the kernel packed with it: attach, like "
                        "--gdb, serves only guests run from a program)")


def _is_relay(pid: int) -> bool:
    """The relay stays in the host's namespaces; the guest has its own pid namespace."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid") and \
            bool(open(f"/proc/{pid}/task/{pid}/children").read().split())
    except OSError:
        return False
