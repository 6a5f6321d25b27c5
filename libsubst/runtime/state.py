"""A container's state under the runtime's --root: ``ROOT/ID/state.json``
(bundle, pid and its start time, creation time, annotations) and
``ROOT/ID/exec.fifo``, which the container's monitor opens and blocks on
until ``start`` opens it too (runc's way of leaving a created container
stopped before its program).

The status is derived, never stored: ``created`` while the fifo exists and
the pid lives, ``running`` once it is gone and the pid lives, ``stopped``
when the pid has ended (a zombie, or a pid reused by another process: its
start time differs)."""

from __future__ import annotations

import json
import os
import re
import signal

from ..errors import LibsubstError

DEFAULT_ROOT = "/run/libsubst-runtime"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,1023}$")


def start_time(pid: int) -> int | None:
    """The process's start time (proc(5) stat field 22), None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


class Container:
    """One container's state directory."""

    def __init__(self, root: str, cid: str):
        if not _ID.match(cid):
            raise LibsubstError(f"container id {cid!r}: expected letters, digits, '_', '.', '-'")
        self.id, self.dir = cid, os.path.join(root, cid)
        self.fifo = os.path.join(self.dir, "exec.fifo")
        self.cgroups = os.path.join(self.dir, "cgroups")     # the guests', one a line
        self.execs = os.path.join(self.dir, "execs")         # exec'd monitors: PID holds its start
        self._state: dict | None = None

    @property
    def state(self) -> dict:
        if self._state is None:
            try:
                with open(os.path.join(self.dir, "state.json")) as f:
                    self._state = json.load(f)
            except FileNotFoundError:
                raise LibsubstError(f"container {self.id} does not exist") from None
        return self._state

    def save(self, **fields) -> None:
        self._state = {**(self._state or {}), **fields}
        tmp = os.path.join(self.dir, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self._state, f)
        os.replace(tmp, os.path.join(self.dir, "state.json"))

    def add_exec(self, pid: int, started: int) -> None:
        os.makedirs(self.execs, exist_ok=True)
        with open(os.path.join(self.execs, str(pid)), "w") as f:
            f.write(str(started))

    def end_execs(self) -> None:
        """SIGKILLs the exec'd processes' monitors still alive (their guests die with them)."""
        try:
            names = os.listdir(self.execs)
        except FileNotFoundError:
            return
        for name in names:
            try:
                with open(os.path.join(self.execs, name)) as f:
                    started = int(f.read())
                if start_time(int(name)) == started:
                    os.kill(int(name), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def exists(self) -> bool:
        return os.path.exists(os.path.join(self.dir, "state.json"))

    def alive(self) -> bool:
        pid = self.state.get("pid")
        return bool(pid) and start_time(pid) == self.state.get("pid_start")

    def status(self) -> str:
        if not self.state.get("pid"):
            return "creating"
        if not self.alive():
            return "stopped"
        return "created" if os.path.exists(self.fifo) else "running"

    def oci_state(self) -> dict:
        st = self.state
        status = self.status()
        return {"ociVersion": "1.0.2", "id": self.id, "status": status,
                "pid": st.get("pid", 0) if status != "stopped" else 0,
                "bundle": st["bundle"], "rootfs": st.get("rootfs", ""),
                "created": st["created"], "annotations": st.get("annotations", {})}
