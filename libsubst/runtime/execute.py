"""exec: another process in a running container, as a second guest.

A host process cannot join a running guest (its processes live in its
kernel's own pid namespace, fd table and memory), so ``exec`` boots a
second guest on the same container: the same root (the same files, live),
the same volumes and bound files, the same network namespace (so it
reaches the container's servers on localhost) and limits, with the
process of ``--process`` (runtime-spec's process object, as podman and
containerd pass it).  What differs from runc: the two guests do not see
each other's processes or share /dev/shm, /tmp mounts or SysV IPC.  Its
monitor's pid goes to ``--pid-file``; with ``--detach`` exec returns at
once, else it waits and exits with the process's status.  The container's
end (its main guest's, or delete --force) ends the exec'd ones too."""

from __future__ import annotations

import json
import os

from ..errors import LibsubstError
from .state import Container, start_time


def exec_process(root: str, args) -> int:
    from ..monitor.caller import check_passable
    from . import lifecycle
    from .config import plan as make_plan

    c = Container(root, args.id)
    if c.status() != "running":
        raise LibsubstError(f"container {args.id} is {c.status()}, not running: nothing to "
                            "exec in")
    if args.process:
        try:
            with open(args.process) as f:
                process = json.load(f)
        except OSError as e:
            raise LibsubstError(f"--process {args.process}: {e.strerror}") from None
        except ValueError as e:
            raise LibsubstError(f"--process {args.process} is not JSON: {e}") from None
    elif args.args:
        process = {**(lifecycle._load_config(c.state["bundle"]).get("process") or {}),
                   "args": list(args.args), "terminal": False}
    else:
        raise LibsubstError("exec: expected --process FILE or a command")
    cfg = lifecycle._load_config(c.state["bundle"])
    cfg["process"] = process
    plan = make_plan(c.state["bundle"], cfg, args.id)
    plan.spec.init_rule = False       # runc's exec'd process is not the container's init
    if plan.terminal and not args.console_socket:
        raise LibsubstError("process.terminal is set but no --console-socket was given")
    check_passable(range(3, 3 + args.preserve_fds), "--preserve-fds", 2 + args.preserve_fds)
    pid = lifecycle.fork_monitor(c, plan, args.console_socket, main=False,
                                 preserve=args.preserve_fds)
    started = start_time(pid)
    if started is not None:
        c.add_exec(pid, started)
    if args.pid_file:
        lifecycle.write_pid_file(args.pid_file, pid)
    if args.detach:
        return 0
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) % 256
