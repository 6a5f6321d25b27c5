"""Start the guest kernel on a boot spec and supervise it: stdio is the
guest's, the exit status is the guest's (128+N for a guest killed by signal
N, as a shell shows it), and the kernel's report channel is read for crash
reports and ENOSYS counts.  Signals sent to ``libsubst run`` reach the guest
through monitor/signals.py; the plan's limits are limits.py's, what is done
after the guest ending.py's."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, replace

from ..errors import GuestError, LibsubstError
from ..plan import GuestPlan
from . import bootinfo, caller, identity, landlock, report, stdio
from .ending import core_file, keep_core, remove_scratch, report_end
from .executables import epilogue_command, kernel_path, supervisor_path
from .limits import child_setup, limit_cgroup, scratch_sizes
from .signals import FORWARDED, ask_relay, guest_starting, signals_blocked, stop_message


@dataclass
class Completed:
    """How a guest run ended (subprocess.CompletedProcess's fields)."""

    returncode: int            # as a shell reports it: status, or 128+N when killed by N
    report: report.Report
    signal: int | None = None  # the signal that killed the guest, if any
    args: list[str] | None = None          # the guest's argv
    stdout: bytes | str | None = None      # what it wrote to a stdout=PIPE
    stderr: bytes | str | None = None

    def check_returncode(self) -> None:
        """Raises GuestError if the guest did not exit with status 0."""
        if self.returncode:
            raise GuestError(self.returncode, self.args or [], self.stdout, self.stderr)


def chrooted(mountinfo: str = "/proc/self/mountinfo") -> bool:
    """Whether this process is in a chroot: no mount of its mount namespace
    is at its "/" (mountinfo(5) leaves out the mounts outside a process's
    root, the namespace's root mount among them).  A chroot whose directory
    is itself a mount point, or no /proc, is not told apart."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            points = [line.split()[4:5] for line in fh]
    except OSError:
        return False
    return bool(points) and ["/"] not in points


SYNTHETIC = ("/proc", "/sys", "/dev")    # trees the guest kernel serves itself


def _check_workdir(spec: GuestPlan) -> None:
    """The guest's working directory is refused here, in words, where it
    cannot be: neither in a volume nor a directory of the image."""
    cwd = os.path.normpath(spec.cwd)     # absolute: GuestPlan checks it
    if any(cwd == s or cwd.startswith(s + "/") for s in SYNTHETIC):
        return
    for m in sorted(spec.mounts, key=lambda m: -len(m.guest)):
        if m.guest == "/" and m.scratch:
            continue                        # the writable root's layer: the image's directories
        if cwd == m.guest or cwd.startswith(m.guest.rstrip("/") + "/"):
            # A scratch tmpfs is made at boot: only a bound host directory can be looked at.
            if m.host and not m.scratch and not os.path.isdir(m.host + cwd[len(m.guest.rstrip("/")):]):
                raise LibsubstError(f"--workdir {spec.cwd}: not a directory of the volume "
                                    f"{m.host}")
            return
    kind = next((e.kind for e in spec.entries if e.path == cwd), None)
    if kind is None or kind in ("file", "data", "image"):
        raise LibsubstError(f"--workdir {spec.cwd}: not a directory in the guest")


class Guest:
    """A running guest, with subprocess.Popen's interface: ``pid`` (of the
    relay, the process started outside the guest), ``stdin``/``stdout``/
    ``stderr`` (file objects for what was given as PIPE), ``poll``,
    ``wait``, ``communicate``, ``send_signal``, ``terminate``, ``kill``,
    ``returncode``; ``completed`` once it has ended.

    ``trace`` is a file path, a host fd, or None for no trace; the ENOSYS
    summary goes to the trace too.  ``kernel`` is the guest kernel to exec
    (default: the installed one); ``pass_fds`` are more fds it inherits;
    the plan's ``limits`` bound it; ``gdb`` is a listening socket to serve a debugger on
    (libsubst.debug); ``cleanup`` runs once the guest has ended, as do the
    removal of the plan's scratch directories and the crash report (written
    to this process's stderr).  ``hand_over`` prepares for ``hand_over()``
    (the CLI's): no thread of this process reads the report channel.

    Unlike a subprocess.Popen, the handle owns the guest: closing it (the
    end of a ``with`` block, ``close()``, or its garbage collection) kills
    a guest still running, and the guest is killed with the thread that
    started it (PR_SET_PDEATHSIG)."""

    def __init__(self, spec: GuestPlan, *, trace: str | int | None = None,
                 stdin=None, stdout=None, stderr=None, text: bool | None = None,
                 encoding: str | None = None, errors: str | None = None,
                 kernel: str | None = None, pass_fds: tuple[int, ...] = (),
                 cleanup=None, gdb=None, core: str | None = None,
                 profile: str | None = None, hand_over: bool = False):
        stdio.hold()                    # before any fd of ours is made
        limits = spec.limits
        self.spec, self.completed, self._trace, self._sum_fd = spec, None, None, -1
        # Python stays for a debugger's server and the profiler, which run beside the guest.
        self.can_hand_over = hand_over and gdb is None and not profile
        self._boot_fd, self._core = -1, None
        self.limits, self._debugger, self._profiler = limits, None, None
        if profile:
            from ..debug.profile import Profiler, check
            check(profile)
            self._profiler = Profiler(profile, kernel or kernel_path(),
                                      bootinfo.host_file_paths(spec))
        self.proc: subprocess.Popen | None = None
        self._cleanup = contextlib.ExitStack()
        if cleanup:
            self._cleanup.callback(cleanup)
        self._cleanup.callback(remove_scratch, spec.scratch)
        self._group = None
        try:
            if spec.policy:
                landlock.check(spec.weaker_sandbox)
            self._group = limit_cgroup(limits, spec.init)
            self._cleanup.callback(self._group.remove)
            spec.mounts = scratch_sizes(spec.mounts, limits)
            if core:
                core_fd, core_path = core_file(core, spec.exe)
                spec.core_fd = core_fd
                self._core = (core_fd, core_path)
                self._cleanup.callback(keep_core, core_fd, core_path, spec.exe)
            self._start(trace, kernel, pass_fds, limits, gdb, dict(
                stdin=stdin, stdout=stdout, stderr=stderr, text=text, encoding=encoding,
                errors=errors))
        except BaseException:
            self.close()
            raise

    def _start(self, trace, kernel, pass_fds, limits, gdb, stdio_args):
        _check_workdir(self.spec)
        # Linux refuses a user namespace to a process whose root is not its
        # mount namespace's (user_namespaces(7)): the kernel could only
        # report EPERM.
        if chrooted():
            raise LibsubstError("cannot make a guest inside a chroot: Linux refuses a user "
                                "namespace to a chrooted process. Run libsubst outside the chroot, "
                                "or enter the root file system with a mount namespace and "
                                "pivot_root instead of chroot (e.g. unshare --mount, "
                                "mount --bind ROOT ROOT, pivot_root)")
        kernel = kernel or kernel_path()
        self.spec.closed_stdio = stdio.closed(stdio_args["stdin"], stdio_args["stdout"],
                                              stdio_args["stderr"])
        fds = []                              # the child's copies; closed here once it has them
        try:
            self.spec.trace_fd = -1
            if trace is not None:
                self._open_trace(trace, fds)
            if os.geteuid() == 0 and self.spec.host_ids is None:
                self.spec.host_ids = identity.host_ids()
            rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
            fds.append(rep_w)
            if self.can_hand_over:          # read by the native supervisor, or its epilogue
                self._reader, self._rep_r = None, rep_r
                self._cleanup.callback(os.close, rep_r)
            else:
                self._reader = report.Reader(rep_r)
            self.spec.report_fd = rep_w
            if gdb is not None or self._profiler:  # the kernel waits on go_r for gdb or perf
                go_r, go_w = os.pipe2(os.O_CLOEXEC)
                fds.append(go_r)
                self.spec.debug_fd = go_r
            self.spec.env = caller.listen_env(self.spec.env, self.spec.init)
            # what a plan cache entry keeps, with what this process's
            # execve would keep for the program
            self.bootinfo = bootinfo.encode(self.spec, caller.take_exec_state())
            boot_fd = bootinfo.memfd(self.bootinfo)
            fds.append(boot_fd)
            if self.can_hand_over:          # the epilogue reads it back
                self._boot_fd = os.dup(boot_fd)
                self._cleanup.callback(os.close, self._boot_fd)
            passed = tuple(fd for fd in (*fds, self.spec.image_fd, self.spec.core_fd,
                                         self._sum_fd, *pass_fds, *caller.inherited_fds())
                           if fd >= 0)
            guest_starting()
            try:
                self.proc = subprocess.Popen([kernel, str(boot_fd)], pass_fds=passed,
                                             close_fds=True, **stdio_args,
                                             preexec_fn=child_setup(os.getpid(), limits, self._group,
                                                                     no_randomize=gdb is not None))
            except (OSError, subprocess.SubprocessError) as e:
                if gdb is not None or self._profiler:
                    os.close(go_w)
                raise LibsubstError(f"cannot start the guest kernel {kernel}: {e}") from None
            caller.drop_fds()
            if gdb is not None:
                from ..debug import start_server
                with signals_blocked():      # its thread never takes the process's signals
                    self._debugger = start_server(gdb, self.proc.pid, self.spec.policy,
                                                  self.spec.exe, go_w, kernel,
                                                  init=self.spec.init)
            if self._profiler is not None:
                with signals_blocked():
                    # Under --gdb too, the debugger releases the guest.
                    self._profiler.start(self.proc.pid, self.spec.policy,
                                         go_w if gdb is None else -1, self.spec.init)
        finally:
            for fd in fds:
                os.close(fd)

    def _open_trace(self, trace, fds: list) -> None:
        """Opens what --trace writes to: the spec's trace fields set, the
        kernel's copy of the trace fd added to ``fds``, the summary's
        counters kept for after the run."""
        from . import tracing
        trace = self._trace = tracing.as_trace(trace)
        self.spec.trace_calls, self.spec.trace_summary = trace.calls, trace.summary
        self.spec.trace_json = trace.fmt == "json"
        out = trace.dest
        if isinstance(trace.dest, str):
            # O_NONBLOCK: a FIFO nobody reads is an error (ENXIO), not a wait.
            try:
                out = os.open(trace.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                              | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
            except OSError as e:
                raise LibsubstError(f"--trace-file {trace.dest}: {e.strerror}") from None
            os.set_blocking(out, True)
            # The summary is appended through this file, never by its path:
            # a guest with a volume there could have replaced the path by then.
            self._cleanup.callback(os.close, out)
            self._trace = replace(trace, dest=out)
        if trace.lines:               # only then the kernel's: else no fd of the guest
            fds.append(os.dup(out))   # the kernel moves it: never the caller's fd
            self.spec.trace_fd = fds[-1]
        if trace.summary:             # read after the run: kept until then
            self._sum_fd = self.spec.trace_sum_fd = tracing.counters_fd()
            self._cleanup.callback(os.close, self._sum_fd)

    def hand_over(self, stop_timeout: float):
        """Ends this Python process's part in a running guest: the process
        becomes the native supervisor (c_src/tender/supervise.c), which
        forwards signals as signals.supervise does, removes the run's
        cgroups and ends with the guest's status; when there is something to
        say after the guest (a crash, ENOSYS for the trace, an OOM kill,
        SIGSYS, a trace summary or core file, scratch directories) it execs
        monitor/epilogue.py to say it with report_end.  Returns only where
        the supervisor cannot be executed (a packed image's run where
        libsubst's own files are hidden): this process then supervises."""
        supervisor = supervisor_path()
        if not os.access(supervisor, os.X_OK):
            self._reader = report.Reader(os.dup(self._rep_r))
            return
        epilogue = [*epilogue_command(), "--bootinfo", str(self._boot_fd)]
        keep = [self._rep_r, self._boot_fd]
        for d in self.cgroups:
            epilogue += ["--cgroup", d]
        for d in self.spec.scratch:
            epilogue += ["--scratch", d]
        if self._core:
            epilogue += ["--core-fd", str(self._core[0]), "--core", self._core[1]]
            keep.append(self._core[0])
        trace = self._trace
        if trace is not None:
            epilogue += ["--trace-format", trace.fmt, "--trace-summary-fd", str(self._sum_fd)]
            epilogue += ["--trace-fd", str(trace.dest)]
            keep += [self._sum_fd, trace.dest]
        always = trace is not None or self._core is not None or bool(self.spec.scratch)
        argv = [supervisor, str(self.pid), str(self._rep_r),
                str(int(stop_timeout * 1000)), stop_message(stop_timeout), "1" if always else "0",
                *self.cgroups, "--", *epilogue]
        for fd in keep:
            if fd >= 0:
                os.set_inheritable(fd, True)
        for f in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):   # None: fd closed
                f.flush()
        # The supervisor keeps stderr alone (its words, the epilogue's): the
        # guest's stdin and stdout are the guest's to close, and their other
        # end then sees it as natively.
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        os.execv(argv[0], argv)

    pid = property(lambda self: self.proc.pid)
    # The run's cgroup directories (libsubst-runtime removes them if the monitor is killed).
    cgroups = property(lambda self: list(self._group.dirs) if self._group else [])
    stdin = property(lambda self: self.proc.stdin)
    stdout = property(lambda self: self.proc.stdout)
    stderr = property(lambda self: self.proc.stderr)
    args = property(lambda self: list(self.spec.argv))

    @property
    def returncode(self) -> int | None:
        return self.completed.returncode if self.completed else None

    def poll(self) -> int | None:
        """The guest's status if it has ended, else None."""
        if self.completed is None and self.proc.poll() is not None:
            self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the guest to end; subprocess.TimeoutExpired after timeout s."""
        if self.completed is None:
            self.proc.wait(timeout)
            self._finish()
        return self.returncode

    def communicate(self, input=None, timeout: float | None = None):
        """subprocess.Popen.communicate: sends input, reads stdout and stderr
        to their end, waits for the guest; (stdout, stderr)."""
        out, err = self.proc.communicate(input, timeout)
        self._finish(out, err)
        return out, err

    def send_signal(self, sig: int) -> None:
        """Sends a signal to the guest's first process (one of the forwarded
        signals, monitor/signals.py; SIGKILL kills the whole guest)."""
        if sig == signal.SIGKILL:
            return self.kill()
        if sig not in FORWARDED:
            raise LibsubstError(f"{signal.Signals(sig).name} is not passed to a guest; these are: "
                                + ", ".join(s.name for s in FORWARDED))
        if self.completed is None and not (self._debugger and self._debugger.end(sig)):
            self.proc.send_signal(sig)

    def forward(self, sig: int) -> None:
        """Passes on a forwarded signal libsubst itself was sent: the relay
        drops it when a process group's kill reached the guest too
        (monitor/signals.py)."""
        if self.completed is None and not (self._debugger and self._debugger.end(sig)):
            ask_relay(self.proc.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Kills the whole guest: SIGKILL of the relay kills the guest's
        first process (its parent-death signal), and with it every process of
        its pid namespace — once its debugger, if any, lets it go (--gdb)."""
        if self.completed is None:
            if self._debugger is not None:
                self._debugger.end(signal.SIGKILL)
            self.proc.kill()

    def close(self) -> None:
        """Kills the guest if it still runs, waits for it, frees what it held."""
        if self.proc is not None and self.completed is None:
            if self.proc.poll() is None:
                self.kill()
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()
            self.wait()
        self._cleanup.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    def _finish(self, out=None, err=None) -> None:
        rc = self.proc.wait()
        if self._debugger is not None:
            # gdb hears of the exit from the server's thread: let it say so
            # before this process ends (bounded: a gdb that went away).
            self._debugger.thread.join(10)
            if self._debugger.ended:
                rc = -self._debugger.ended      # the run ended for it, as if the guest got it
        if self._reader is None:            # prepared for a hand-over that did not happen
            self._reader = report.Reader(os.dup(self._rep_r))
        rep = self._reader.report()
        if self._profiler is not None:
            sys.stderr.write(self._profiler.finish() + "\n")
        try:
            report_end(rc, rep, oom=self._group.oom_kills(), memory=self.limits.memory,
                       entries=self.spec.entries, trace=self._trace, sum_fd=self._sum_fd)
        finally:
            self.completed = Completed(128 - rc if rc < 0 else rc, rep, -rc if rc < 0 else None,
                                       self.args, out, err)
            self._cleanup.close()


def run_spec(spec: GuestPlan, **kw) -> Completed:
    """Boot ``spec`` and wait for it (Guest's keyword arguments)."""
    with Guest(spec, **kw) as guest:
        guest.wait()
    return guest.completed
