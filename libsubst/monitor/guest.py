"""Start the guest kernel on a boot spec and supervise it: stdio is the
guest's, signals sent to libsubst reach the guest, the exit status is the
guest's (128+N for a guest killed by signal N, as a shell shows it), and
the kernel's report channel is read for crash reports and ENOSYS counts."""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from importlib import resources

from ..errors import BuildError, LibsubstError
from . import bootinfo, identity, landlock, report
from .cgroup import RunCgroup

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Limits:
    """Resource limits of the whole guest, applied before its kernel runs
    (the README's sandbox section says how each is enforced)."""

    memory: int | None = None      # bytes of RAM: its processes, /tmp, /dev/shm, memfds
    cpus: int | None = None        # how many of the host's allowed CPUs it may run on
    pids: int | None = None        # processes and threads


def parse_size(text: str) -> int:
    """'512M', '2G', '65536' -> bytes (K, M, G, T: powers of 1024)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = int(float(num) * units[unit])
    except ValueError:
        raise LibsubstError(f"--memory {text!r}: expected a size such as 512M or 2G") from None
    if value < (16 << 20):
        raise LibsubstError(f"--memory {text}: the guest needs at least 16M")
    return value


def _cpu_list(cpus: int | None) -> list[int] | None:
    if not cpus:
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if cpus > len(allowed):
        raise LibsubstError(f"--cpus {cpus}: libsubst may use only {len(allowed)} CPUs here")
    return allowed[:cpus]


def limit_cgroup(limits: Limits) -> RunCgroup:
    """The run's cgroup: memory and CPUs for every caller; processes for a
    root caller, whose guest switches among 65536 host uids.  A caller that
    cannot make one gets an error, never an unenforced limit."""
    root = os.geteuid() == 0
    return RunCgroup(limits.memory, _cpu_list(limits.cpus), limits.pids if root else None)


def _child_setup(parent: int, limits: Limits, group: RunCgroup):
    """A preexec hook: the kernel process is SIGKILLed when the monitor dies,
    so a monitor killed by a signal it cannot forward (SIGKILL, SIGSEGV...)
    leaves no orphaned guest behind; it joins the run's cgroup and the
    per-process limits take effect."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook():
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:      # the monitor died before the prctl
            os.kill(os.getpid(), signal.SIGKILL)
        group.join()
        if limits.memory:               # one process's mmap past it: ENOMEM, before any OOM kill
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        if limits.cpus:
            os.sched_setaffinity(0, _cpu_list(limits.cpus))
        if limits.pids and os.geteuid() != 0:
            # A caller's guest is that one uid: RLIMIT_NPROC counts all of it.
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.pids, limits.pids))
    return hook


def kernel_path() -> str:
    """The installed guest kernel binary."""
    path = str(resources.files("libsubst") / "_bin" / "libsubst-kernel")
    if not os.access(path, os.X_OK):
        raise BuildError(f"the guest kernel is missing ({path}): reinstall libsubst with pip")
    return path


@dataclass
class Completed:
    """How a guest run ended."""

    returncode: int            # as a shell reports it: status, or 128+N when killed by N
    report: report.Report
    signal: int | None = None  # the signal that killed the guest, if any


def remove_scratch(dirs: list[str]) -> None:
    """Removes the guest's scratch directories, also what it made read-only."""
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


def run_spec(spec: bootinfo.BootSpec, *, trace=None,
             stdin=None, stdout=None, stderr=None, kernel: str | None = None,
             pass_fds: tuple[int, ...] = (), limits: Limits = Limits(),
             gdb=None, core: str | None = None) -> Completed:
    """Boot ``spec`` and wait for it.  ``trace`` is a file path, a host fd, a
    ``tracing.Trace``, or None for no trace; the ENOSYS summary and the
    --trace-summary table go to the trace too.  ``kernel``
    is the guest kernel to exec (default: the installed one); ``pass_fds``
    are more fds it inherits (``spec.image_fd`` is always passed); ``limits``
    bound the whole guest; ``gdb`` is a listening socket to serve a
    debugger on (libsubst.debug).  The spec's scratch directories and the
    run's cgroup are removed however it ends."""
    core_fd, core_path = _core_file(core, spec.exe) if core else (-1, None)
    spec.core_fd = core_fd
    group = None
    try:
        if spec.policy:
            landlock.check(spec.weaker_sandbox)
        group = limit_cgroup(limits)
        # Half of --memory each, so that together they fit in it: a full
        # /tmp is ENOSPC, which programs handle, not an OOM kill.
        half = limits.memory and limits.memory // 2
        spec.mounts = [replace(m, size=half) if m.scratch else m for m in spec.mounts]
        return _boot(spec, trace, stdin, stdout, stderr, kernel, pass_fds, limits, group, gdb)
    finally:
        if group:
            group.remove()
        remove_scratch(spec.scratch)
        if core_path:
            _keep_core(core_fd, core_path, spec.exe)


def _core_file(folder: str, exe: str) -> tuple[int, str]:
    """An empty file in ``folder`` for the guest's core dump: core.PROGRAM.PID."""
    path = os.path.join(folder, f"core.{os.path.basename(exe)}.{os.getpid()}")
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
    except OSError as e:
        raise LibsubstError(f"--core {folder}: cannot create {path}: {e.strerror}") from None


def _keep_core(fd: int, path: str, exe: str) -> None:
    """A core file the guest wrote stays (and is named); an empty one goes."""
    size = os.fstat(fd).st_size
    os.close(fd)
    if size:
        sys.stderr.write(f"libsubst: core file written to {path} (gdb {exe} {path})\n")
    else:
        os.unlink(path)


def _boot(spec, trace, stdin, stdout, stderr, kernel, pass_fds, limits, group,
          gdb=None) -> Completed:
    kernel = kernel or kernel_path()
    trace_fd, own_trace, sum_fd = -1, False, -1
    if trace is not None:
        from . import tracing
        trace = tracing.as_trace(trace)
        spec.trace_calls, spec.trace_summary = trace.calls, trace.summary
        spec.trace_json = trace.fmt == "json"
        if isinstance(trace.dest, str):
            trace_fd = os.open(trace.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        else:
            trace_fd = os.dup(trace.dest)   # the kernel moves it: never hand over the caller's fd
        own_trace = True
    if os.geteuid() == 0:
        spec.host_ids = identity.host_ids()
    rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC) if gdb is not None else (-1, -1)
    boot_fd = os.memfd_create("libsubst-bootinfo", os.MFD_CLOEXEC)
    try:
        spec.trace_fd = trace_fd if trace is not None and trace.lines else -1
        spec.report_fd, spec.debug_fd = rep_w, go_r
        if trace is not None and trace.summary:
            sum_fd = spec.trace_sum_fd = tracing.counters_fd()
        os.write(boot_fd, bootinfo.encode(spec, limits))
        passed = tuple(fd for fd in (boot_fd, rep_w, trace_fd, spec.image_fd, go_r, spec.core_fd,
                                     sum_fd, *pass_fds) if fd >= 0)
        proc = subprocess.Popen([kernel, str(boot_fd)], pass_fds=passed, close_fds=True,
                                stdin=stdin, stdout=stdout, stderr=stderr,
                                preexec_fn=_child_setup(os.getpid(), limits, group))
        os.close(rep_w)
        rep_w = -1
        debugger = None
        if gdb is not None:
            os.close(go_r)
            from ..debug import start_server
            debugger = start_server(gdb, proc.pid, spec.policy, spec.exe, go_w, kernel)
        old = {s: signal.signal(s, lambda n, _f: proc.send_signal(n)) for s in FORWARDED}
        old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the tty sends it to the guest too
        try:
            chunks = []
            while chunk := os.read(rep_r, 65536):
                chunks.append(chunk)
            rc = proc.wait()
            if debugger is not None:
                # gdb hears of the exit from the server's thread: let it say so
                # before this process ends (bounded: a gdb that went away).
                debugger.join(10)
            rows = tracing.read_counters(sum_fd) if sum_fd >= 0 else None
            oom = group.oom_kills()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
    finally:
        for fd in (rep_r, rep_w, boot_fd, sum_fd) + ((trace_fd,) if own_trace else ()):
            if fd >= 0:
                os.close(fd)
    rep = report.parse(b"".join(chunks).decode("utf-8", "replace"))
    err = sys.stderr
    if rep.crash:
        err.write(report.format_crash(rep))
    if trace is not None:
        _trace_epilogue(trace, rep, rows)
    if oom:
        err.write(f"libsubst: the guest reached --memory {limits.memory >> 20}M: the memory "
                  f"cgroup's OOM killer ended {oom} of its processes\n")
    if rc == -signal.SIGSYS and not rep.crash:
        # The guest kernel catches every SIGSYS of the trap path itself; one
        # that kills is seccomp's answer to a call outside its allow-list.
        err.write("libsubst: the guest was killed by SIGSYS: it made a host call the sandbox's "
                  "seccomp filter does not allow (libsubst/kernel/hostcalls.py lists those it does)\n")
    if rc < 0:
        return Completed(128 - rc, rep, -rc)
    return Completed(rc, rep)


def _trace_epilogue(trace, rep: report.Report, rows) -> None:
    """After the run, in the trace: the summary table, the ENOSYS list."""
    from . import tracing
    text = ""
    if rows is not None:
        text += tracing.format_summary(rows, trace.fmt)
    if rep.enosys:
        text += tracing.format_enosys(rep.enosys, trace.fmt)
    if not text:
        return
    if isinstance(trace.dest, str):
        with open(trace.dest, "a", encoding="utf-8") as fh:
            fh.write(text)
    else:
        os.write(trace.dest, text.encode())
