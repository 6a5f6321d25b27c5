"""What is done once a guest has ended, by the Python monitor (Guest) and by
the native supervisor's epilogue (monitor/epilogue.py) alike: what is said
on stderr and in the trace (report_end), the core file kept or removed, the
scratch directories removed.  The core file is made here too, before the
guest runs, so that it is kept only while its path still names it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from ..errors import LibsubstError
from . import report


def remove_scratch(dirs: list[str]) -> None:
    """Removes the guest's scratch directories, also what it made read-only."""
    if not dirs:
        return
    import shutil       # here: a run that made no such directory pays nothing for it

    def writable_and_retry(func, path, _exc):
        try:
            os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass
    for d in dirs:
        shutil.rmtree(d, onerror=writable_and_retry)


def core_file(folder: str, exe: str) -> tuple[int, str]:
    """An empty file in ``folder`` for the guest's core dump: core.PROGRAM.PID."""
    path = os.path.join(folder, f"core.{os.path.basename(exe)}.{os.getpid()}")
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
    except OSError as e:
        raise LibsubstError(f"--core {folder}: cannot create {path}: {e.strerror}") from None


def keep_core(fd: int, path: str, exe: str) -> None:
    """A core file the guest wrote stays (and is named); an empty one goes.
    Either only while ``path`` still names the file made for it: in a volume,
    the guest may have removed or replaced it by then."""
    made = os.fstat(fd)
    os.close(fd)
    try:
        now = os.lstat(path)
    except OSError:
        return
    if (now.st_dev, now.st_ino) != (made.st_dev, made.st_ino):
        return
    if made.st_size:
        sys.stderr.write(f"libsubst: core file written to {path} (gdb {exe} {path})\n")
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _trace_epilogue(trace, rep: report.Report, rows) -> None:
    """After the run, in the trace: the summary table, the ENOSYS list."""
    from . import tracing
    text = ""
    if rows is not None:
        text += tracing.format_summary(rows, trace.fmt)
    if rep.enosys:
        text += tracing.format_enosys(rep.enosys, trace.fmt)
    data = text.encode()
    while data:              # trace.dest is an fd: a path was opened before the guest ran
        data = data[os.write(trace.dest, data):]


def report_end(rc: int, rep: report.Report, *, oom: int, memory: int | None, entries,
               trace, sum_fd: int) -> None:
    """What is said on stderr (and in the trace) once a guest has ended with
    ``rc`` (a returncode: -N for signal N): an OOM kill, the crash report,
    the trace's summary and ENOSYS list, a SIGSYS, the programs the guest
    tried to run that its root lacks and the host has (for --add).  Guest._finish and the
    native supervisor's epilogue (monitor/epilogue.py) both say it here."""
    stderr = sys.stderr
    if oom:
        stderr.write(f"libsubst: the guest reached --memory {(memory or 0) >> 20}M: "
                     f"the memory cgroup's OOM killer ended {oom} of its processes\n")
    if rep.crash:
        stderr.write(report.format_crash(rep, entries))
    if rep.missing and rc > 0:          # a run that went on without one and succeeded says nothing
        stderr.write(report.format_missing(rep, rc))
    if trace is not None:
        from . import tracing
        rows = tracing.read_counters(sum_fd) if sum_fd >= 0 else None
        _trace_epilogue(trace, rep, rows)
    if rc == -signal.SIGSYS and not rep.crash:
        # The guest kernel catches every SIGSYS of the trap path itself; one
        # that kills is seccomp's answer to a call outside its allow-list.
        stderr.write("libsubst: the guest was killed by SIGSYS: it made a host call the "
                     "sandbox's seccomp filter does not allow (libsubst/kernel/hostcalls.py "
                     "lists those it does)\n")

