"""Debugging a guest: a gdb remote-protocol server (``libsubst run --gdb``)."""

from __future__ import annotations

import os
import sys
import threading
import time


def _guest_pid(kernel_pid: int, sandboxed: bool, timeout: float = 30.0) -> int:
    """The guest's first process: the relay's child (or the kernel process
    itself when it boots without the sandbox)."""
    if not sandboxed:
        return kernel_pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{kernel_pid}/task/{kernel_pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.001)
    raise TimeoutError("the guest's first process did not appear")


def start_server(sock, kernel_pid: int, sandboxed: bool, program: str, go_fd: int,
                 kernel: str):
    """Serves gdb on ``sock`` for the guest started as ``kernel_pid``, in a
    thread of its own (the tracer of every guest thread)."""
    from .gdbserver import GdbServer

    def log(msg: str) -> None:
        sys.stderr.write(f"libsubst: {msg}\n")

    def work():
        server = GdbServer(sock, program, kernel, log)
        try:
            server.attach(_guest_pid(kernel_pid, sandboxed), go_fd)
        except (OSError, TimeoutError) as e:
            log(f"gdb: cannot attach to the guest: {e}")
            try:
                os.close(go_fd)
            except OSError:
                pass
            return
        host, port = sock.getsockname()[:2]
        log(f"gdb: the guest waits at its first instruction; connect with "
            f"`gdb {program} -ex 'target remote {host}:{port}'`")
        try:
            server.serve()
        except OSError as e:
            log(f"gdb: connection lost: {e}")
            server._kill()
        finally:
            sock.close()

    t = threading.Thread(target=work, name="libsubst-gdb", daemon=True)
    t.start()
    return t
