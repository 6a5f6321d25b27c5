"""``libsubst run --profile OUT.svg``: sample the guest from outside the
sandbox and draw a flame graph of the program's, its libraries' and the
guest kernel's frames, with host time as its own frame.

Samples come from Linux's perf (Debian's linux-perf), a software clock
event (``cpu-clock``: no hardware PMU is needed) at 997 Hz, with DWARF
call graphs; the monitor attaches it to the guest's process while the
guest kernel waits to enter the program, so the program is sampled from
its first instruction, and the processes and threads it starts too (perf
follows them), and reads it back when the guest has ended.  Frames of the host kernel fold into one
``[host]`` frame, the guest kernel's are prefixed ``[guest kernel]``.  The
guest kernel runs on a stack of its own, so a sample taken there shows the
kernel's frames but not the program's that called it.  ``OUT.folded`` (the
folded stacks) is written beside the SVG, for other tools."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from ..errors import LibsubstError
from . import flamegraph

FREQUENCY = 997
_HEADER = re.compile(r"^\S.*\s[\d.]+:\s+\d+\s+\S+:")


def check(out: str) -> None:
    """Refuses --profile at start where it cannot work."""
    if shutil.which("perf") is None:
        raise LibsubstError("--profile needs perf (Debian's linux-perf package)")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise LibsubstError(f"--profile {out}: cannot write in {folder}")


def _wait_sampling(perf: subprocess.Popen, timeout: float = 30.0) -> None:
    """Returns once perf record has enabled its events: when its main
    thread first sleeps in poll(), its loop over the samples, which it
    enters after opening, synthesising and enabling them.  (perf 6.1's
    --control handshake fails on a target with threads: "Thread and
    evlist pollfd index mismatch".)"""
    deadline = time.monotonic() + timeout
    while perf.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{perf.pid}/syscall") as f:
                if f.read().split(" ", 1)[0] in ("7", "271"):    # poll, ppoll
                    return
        except OSError:
            return
        time.sleep(0.002)


class Profiler:
    def __init__(self, out: str, kernel: str, host_files: dict[str, str]):
        """host_files: {path in the guest's mount namespace: host path} of
        the files perf names by where the guest maps them (bootinfo's
        host_file_paths)."""
        self.out, self.kernel, self.host_files = out, os.path.realpath(kernel), host_files
        self.tmp = tempfile.mkdtemp(prefix="libsubst-profile-")
        self.data = os.path.join(self.tmp, "perf.data")
        self.perf: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None

    def start(self, kernel_pid: int, sandboxed: bool, go_fd: int, init: bool = False) -> None:
        """Starts perf on the guest's program (its first process, or under
        --init the init's child) once it exists, and then lets the guest
        kernel enter the program (one byte on ``go_fd``, which it waits
        for): a short program is sampled from its first instruction."""
        from . import _guest_pid

        def work():
            try:
                pid = _guest_pid(kernel_pid, sandboxed, timeout=30, init=init)
                self.perf = subprocess.Popen(
                    ["perf", "record", "-q", "-F", str(FREQUENCY), "-e", "cpu-clock",
                     "--call-graph", "dwarf,16384", "-p", str(pid), "-o", self.data],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                _wait_sampling(self.perf)
            except (TimeoutError, OSError):
                pass
            finally:
                if go_fd >= 0:
                    try:
                        os.write(go_fd, b"p")
                    except OSError:
                        pass
                    os.close(go_fd)
        self.thread = threading.Thread(target=work, name="libsubst-profile", daemon=True)
        self.thread.start()

    def finish(self) -> str:
        """After the guest: stops perf, folds its samples, writes the flame
        graph; a line for the user."""
        try:
            if self.thread is not None:
                self.thread.join(30)
            if self.perf is None:
                return "libsubst: --profile: the guest ended before it could be sampled"
            try:
                self.perf.wait(10)
            except subprocess.TimeoutExpired:
                self.perf.send_signal(signal.SIGINT)
                self.perf.wait(30)
            # --no-inline: perf hands addr2line the file's path without the
            # symfs, which it cannot read there, and dies of its pipe.
            script = subprocess.run(["perf", "script", "-i", self.data, "-F", "ip,sym,dso",
                                     "--symfs", self._symfs(), "--no-inline"],
                                    capture_output=True, timeout=600)
            stacks = list(self._stacks(script.stdout.decode("utf-8", "replace")))
            if not stacks:
                return ("libsubst: --profile: no samples (perf: "
                        f"{self.perf.stderr.read().decode(errors='replace').strip()[-200:]})")
            folded = flamegraph.fold(stacks)
            base = self.out[:-4] if self.out.endswith(".svg") else self.out
            flamegraph.write_folded(folded, base + ".folded")
            with open(self.out, "w", encoding="utf-8") as f:
                f.write(flamegraph.svg(folded, "libsubst guest profile"))
            return (f"libsubst: profile of {len(stacks)} samples written to {self.out} "
                    f"(folded stacks: {base}.folded)")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _symfs(self) -> str:
        """A root for perf to read the guest's files from once its mount
        namespace is gone: the host's, and each image file where the guest
        had it bound."""
        root = os.path.join(self.tmp, "symfs")
        os.mkdir(root)
        for name in os.listdir("/"):
            os.symlink(os.path.join("/", name), os.path.join(root, name))
        for where, host in self.host_files.items():
            link = os.path.join(root, where.lstrip("/"))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(host, link)
        return root

    def _stacks(self, text: str):
        """perf script's samples as frame lists, leaf first."""
        frames: list[str] = []
        for line in text.splitlines() + [""]:
            if not line.strip():
                if frames:
                    yield self._label(frames)
                frames = []
                continue
            parts = line.split(None, 1)
            if len(parts) < 2 or not re.fullmatch(r"[0-9a-f]+", parts[0]):
                continue
            m = re.match(r"(.*?)\s+\((.*)\)\s*$", parts[1])
            sym, dso = (m.group(1), m.group(2)) if m else (parts[1], "")
            frames.append(f"{sym}\t{dso}")

    def _label(self, frames: list[str]) -> list[str]:
        out: list[str] = []
        host = False
        for f in frames:
            sym, dso = f.split("\t")
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            if "kernel.kallsyms" in dso or dso.startswith("[kernel"):
                host = True
                continue
            if host and not out:
                out.append("[host]")
            if os.path.realpath(dso) == self.kernel:
                out.append(f"[guest kernel] {sym}")
            elif sym == "[unknown]":
                # An image file maps at its bind, /.libsubst-files/INDEX: name its host file.
                # perf names a mapping it cannot tell "[unknown]" too.
                name = os.path.basename(self.host_files.get(dso, dso)).strip("[]")
                out.append(f"[{name or 'unknown'}]")
            else:
                out.append(sym)
        if host and not out:
            out.append("[host]")
        return out or ["[unknown]"]
