"""What `libsubst run` says after a guest the native supervisor
(c_src/tender/supervise.c) watched: the supervisor execs this module, in
the process that was the CLI's, only when there is something to say or
clean up that it leaves to Python (Guest.hand_over lists when), appending
the guest's wait status and the fd of the report lines it kept.  The words
are ending.report_end's, as when the Python monitor stays; the exit status
is the CLI's (the guest's, 128+N for signal N).

    python -m libsubst.monitor.epilogue --bootinfo FD [--cgroup DIR]...
        [--scratch DIR]... [--core-fd FD --core PATH] [--trace-fd FD]
        [--trace-format F] [--trace-summary-fd FD] STATUS REPORT_FD

Every fd is this process's, inherited through the supervisor."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import LibsubstError


def _read_all(fd: int) -> bytes:
    chunks, off = [], 0
    while chunk := os.pread(fd, 1 << 20, off):
        chunks.append(chunk)
        off += len(chunk)
    return b"".join(chunks)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="libsubst-epilogue")
    p.add_argument("--bootinfo", type=int, required=True)
    p.add_argument("--cgroup", action="append", default=[])
    p.add_argument("--scratch", action="append", default=[])
    p.add_argument("--core-fd", type=int, default=-1)
    p.add_argument("--core")
    p.add_argument("--trace-fd", type=int)
    p.add_argument("--trace-format", default="text")
    p.add_argument("--trace-summary-fd", type=int, default=-1)
    p.add_argument("status", type=int)
    p.add_argument("report_fd", type=int)
    a = p.parse_args(argv)

    from . import bootinfo, report
    from .cgroup import RunCgroup, oom_kills
    from .ending import keep_core, remove_scratch, report_end

    rc = os.waitstatus_to_exitcode(a.status)
    try:
        entries, exe, memory = bootinfo.decode(_read_all(a.bootinfo))
        rep = report.parse(_read_all(a.report_fd).decode("utf-8", "replace"))
        trace = None
        if a.trace_fd is not None:
            from .tracing import Trace
            trace = Trace(a.trace_fd, summary=a.trace_summary_fd >= 0, fmt=a.trace_format)
        report_end(rc, rep, oom=oom_kills(a.cgroup), memory=memory, entries=entries,
                   trace=trace, sum_fd=a.trace_summary_fd)
        if a.core_fd >= 0:
            keep_core(a.core_fd, a.core, exe)
    except LibsubstError as e:
        sys.stderr.write(f"libsubst: {e}\n")
    finally:
        RunCgroup.remove_dirs(a.cgroup)
        remove_scratch(a.scratch)
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stderr.flush()
    os._exit(status)
