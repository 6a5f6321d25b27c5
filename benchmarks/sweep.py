"""Every program on this machine, natively and as a unikernel: each ELF
executable in /usr/bin, /usr/sbin and /usr/games that is static or linked to
glibc runs ``PROG --version`` and ``PROG --help`` natively and under
``libsubst run``, stdin /dev/null, a fresh working directory (also HOME) of
the same path, the corpus's environment (corpus_run.ENV), 10 s each; exit
status, stdout and stderr are compared byte for byte.  The native run is on
a Linux built as the guest answers (guest_linux.py: no nf_tables or
sock_diag netlink).  Only clock times and dates are masked in both, and
libsubst's crash report left out when the native run crashed alike
(``_comparable``): a program's own path or name shown differently in the
guest is a difference.

    python -m libsubst.benchmarks.sweep [--only GLOB]... [--packages PKG,...] [--json]
                                        [--limit N] [--again FILE]

Safety.  This runs as root on a shared machine programs nobody chose, and a
program may ignore its arguments.  Two guards, both needed:

- DENY (below, a reason per group): programs that act on the system
  whatever their arguments, or whose native run could reach what the second
  guard does not cover: block devices and raw disks (a write to a device
  node is allowed on a read-only mount), the kernel's modules, clock and
  swap, the host's other namespaces (nsenter), daemons reached over a socket
  (systemctl, service), the users and packages databases.
- The native run happens in new mount, pid, network, uts and ipc namespaces
  (``unshare``) whose mounts are all remounted read-only, with a fresh tmpfs
  on /tmp holding the working directory: a program cannot write the host's
  files, reach the network (only its own loopback), signal a host process,
  set the host's name or reboot it (reboot(2) in a child pid namespace ends
  only that namespace), and whatever it starts dies with it (it is the
  namespace's pid 1).  The guest gets the same view: ``libsubst run
  --read-only --net none`` keeps its root read-only, its /tmp and its
  network (a loopback) are its own, and its working directory is mounted.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..elf import ElfFile
from ..errors import LibsubstError
from . import corpus_run
from .corpus_run import ENV, Outcome

DIRS = ("/usr/bin", "/usr/sbin", "/usr/games")
ARGS = ("--version", "--help")
TIMEOUT = 10
RETRIES = 2
GLIBC_INTERP = "/lib64/ld-linux-x86-64.so.2"
SCRATCH = "/tmp/libsubst-sweep"        # the working directory's parent, natively a fresh tmpfs

# glob -> why it is never run
DENY: dict[str, str] = {}
for _reason, _globs in {
    "stops, restarts or reconfigures the machine": (
        "shutdown", "reboot", "halt", "poweroff", "init", "telinit", "runlevel", "ctrlaltdel",
        "systemctl", "systemd", "systemd-*", "service", "invoke-rc.d", "update-rc.d",
        "policy-rc.d", "start-stop-daemon", "switch_root", "pivot_root", "kexec", "installkernel",
        "loginctl", "busctl", "dbus-send", "dbus-daemon", "dbus-update-activation-environment"),
    "writes disks or file systems through device nodes": (
        "mkfs*", "mke2fs", "mkswap", "mklost+found", "fdisk", "sfdisk", "cfdisk", "sgdisk",
        "parted", "wipefs", "dd", "shred", "blkdiscard", "blkzone", "blockdev", "badblocks",
        "e2fsck", "fsck*", "tune2fs", "resize2fs", "e2label", "e2undo", "e2image", "e4defrag",
        "e2scrub*", "debugfs", "fsfreeze", "fstrim", "losetup", "swapon", "swapoff",
        "swaplabel", "dmsetup", "dmstats", "blkdeactivate", "zramctl", "hdparm", "chmem",
        "chcpu", "hwclock", "rtcwake", "ldattach", "slattach", "setserial", "readprofile",
        "mount", "umount", "mount.*", "fusermount*"),
    "kills or signals processes": ("kill", "killall", "killall5", "pkill", "skill", "snice",
                                   "xkill", "fuser"),
    "enters other namespaces or runs a command with privileges": (
        "nsenter", "unshare", "chroot", "runuser", "su", "sudo", "setpriv", "capsh", "criu*",
        "runc", "containerd*", "ctr", "docker*", "podman"),
    "changes users, groups, passwords or login shells": (
        "passwd", "chpasswd", "chgpasswd", "gpasswd", "chsh", "chfn", "chage", "useradd",
        "userdel", "usermod", "adduser", "deluser", "addgroup", "delgroup", "groupadd",
        "groupdel", "groupmod", "groupmems", "newusers", "vipw", "vigr", "pwck", "grpck",
        "pwconv", "pwunconv", "grpconv", "grpunconv", "cppw", "cpgr", "add-shell",
        "remove-shell", "update-shells", "update-passwd", "shadowconfig", "mkhomedir_helper",
        "unix_chkpwd", "unix_update", "sulogin", "agetty", "getty", "login", "newgrp", "sg"),
    "installs, removes or reconfigures packages and system databases": (
        "dpkg*", "apt*", "add-apt-repository", "update-*", "debconf*", "locale-gen",
        "ldconfig", "pam-auth-update", "debootstrap", "select-default-*", "remove-default-*",
        "*-enable-mod", "*-disable-mod", "phpenmod", "phpdismod", "a2en*", "a2dis*",
        "make-ssl-cert", "install-sgmlcatalog", "aspell-autobuildhash",
        "ispell-autobuildhash", "pg_updatedicts", "libgvc6-config-update", "update_rubygems",
        "gtk-update-icon-cache", "fc-cache", "glib-compile-schemas"),
    "X servers and display clients": ("X", "Xorg", "Xvfb", "Xwayland", "X11"),
}.items():
    DENY.update(dict.fromkeys(_globs, _reason))


def denied(name: str) -> str | None:
    """Why the program called name is never run, or None."""
    for glob, reason in DENY.items():
        if fnmatch.fnmatchcase(name, glob):
            return reason
    return None


def kind(path: str) -> str | None:
    """'static' or 'glibc' for a program the sweep runs, else None."""
    try:
        with ElfFile.open(path, check_loads=False) as elf:
            if elf.e_type not in (2, 3):     # ET_EXEC, ET_DYN
                return None
            interp = elf.interp()
            if elf.is_static:
                return "static"
            return "glibc" if interp == GLIBC_INTERP else None
    except (LibsubstError, OSError):
        return None


def programs(dirs=DIRS) -> list[str]:
    """The paths of every program the sweep may run (before DENY), sorted by name."""
    found = {}
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if name in found or not os.path.isfile(path) or not os.access(path, os.X_OK):
                continue
            if kind(path):
                found[name] = path
    return [found[n] for n in sorted(found)]


# The native run's confinement (see the module's doc): $1 the working
# directory, then the program's argv.  Every mount of the new namespace is
# remounted read-only, then a tmpfs on SCRATCH's parent holds the directory;
# the network namespace has its loopback up, as the guest's of --net none.
# A mount point is mountinfo's field 5, octal-escaped (\040): one whose path
# is gone (a deleted directory's) is reached by no path.  A remount that
# fails, or a mount point still writable after (access(2) answers EROFS for
# a read-only mount's file or directory; a device node is written on a
# read-only mount anyway), stops the run before the program with
# CONFINE_FAILED: a baseline run on the host's writable files is no baseline.
CONFINE_FAILED = b"the native run's confinement failed: "
_CONFINE = r"""
set -ef
fail() { printf '%s\n' "$1" >&2; exit 125; }
mount --make-rprivate /
points=$(awk '{print $5}' /proc/self/mountinfo | sort -ru)
for m in $points; do
  m=$(printf '%b.' "$m"); m=${m%.}
  [ -e "$m" ] || continue
  err=$(mount -o remount,bind,ro "$m" 2>&1) || fail "@FAILED@$m: $err"
done
for m in $points; do
  m=$(printf '%b.' "$m"); m=${m%.}
  if [ -e "$m" ] && ! [ -b "$m" ] && ! [ -c "$m" ] && [ -w "$m" ]; then
    fail "@FAILED@$m is still writable"
  fi
done
mount -t tmpfs -o mode=1777 tmpfs /tmp
ip link set lo up
mkdir -p "$1"
cd "$1"
shift
exec "$@"
""".replace("@FAILED@", CONFINE_FAILED.decode())


@dataclass
class Result(corpus_run.Result):
    """A run of the program at ``name`` with ``arg``."""
    arg: str = ""

    @property
    def path(self) -> str:
        return self.name

    def reason(self) -> str:
        """The difference's class, in a few words ('' when the same)."""
        n, g = self.native, self.guest
        if self.same:
            return ""
        if b"libsubst: unimplemented syscalls" in g.stderr:
            return "ENOSYS reported: " + g.stderr.split(b"ENOSYS: ", 1)[1].split(b"\n")[0].decode()
        if g.status == -1 and n.status != -1:
            return "timeout in the guest"
        if 128 < g.status < 128 + 65 and g.status != n.status:
            return f"crash in the guest (signal {g.status - 128})"
        for line in g.stderr.splitlines():
            if line.startswith(b"libsubst:") and line not in n.stderr:
                return "libsubst error: " + line.decode(errors="replace")[:120]
        for what in ("stderr", "stdout"):
            for line in getattr(g, what).splitlines():
                if b"No such file or directory" in line and line not in getattr(n, what):
                    return "missing file in the guest's root: " + line.decode(errors="replace")[:120]
        if n.status != g.status:
            return f"different status (native {n.status}, guest {g.status})"
        return "different " + " and ".join(w for w in ("stdout", "stderr")
                                           if getattr(n, w) != getattr(g, w))

    def describe(self) -> str:
        diffs = super().describe().split("\n", 1)[1:]
        return "\n".join([f"{self.path} {self.arg}: {self.reason()}", *diffs])


def _run(argv: list[str], cwd: str, env: dict) -> Outcome:
    # its own session: no terminal, and a timed-out run's whole group
    # (unshare, or libsubst and its tender) is killed
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Outcome(-1, out, b"timed out after %d s" % TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Outcome(status, out, err)


class Sweep:
    """Runs programs; one scratch directory per run, removed after it."""

    def __init__(self, libsubst=(sys.executable, "-m", "libsubst")):
        self.libsubst = list(libsubst)
        os.makedirs(SCRATCH, exist_ok=True)

    def env(self, work: str) -> dict:
        # XDG_CACHE_HOME is libsubst's plan cache (else HOME's, fresh in
        # every run), given to both runs as in the corpus
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        env = dict(ENV, HOME=work, XDG_CACHE_HOME=cache)
        if "LIBSUBST_TEST_RUN" in os.environ:
            env["LIBSUBST_TEST_RUN"] = os.environ["LIBSUBST_TEST_RUN"]
        return env

    @staticmethod
    def _empty(work: str) -> None:
        for name in os.listdir(work):
            p = os.path.join(work, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)

    def _done(self, work: str, own: bool) -> None:
        if own:
            shutil.rmtree(work, ignore_errors=True)
        else:
            self._empty(work)

    def native(self, path: str, arg: str, work: str | None = None) -> Outcome:
        """On a Linux built as the guest answers (guest_linux.py)."""
        own = work is None
        work = tempfile.mkdtemp(dir=SCRATCH) if own else work
        try:
            # the filter is inherited by the namespace's whole tree
            argv = [sys.executable, "-m", "libsubst.benchmarks.guest_linux",
                    "unshare", "--mount", "--pid", "--net", "--uts", "--ipc", "--fork",
                    "--kill-child", "--mount-proc", "sh", "-c", _CONFINE, "sh", work, path, arg]
            out = _run(argv, "/", self.env(work))
            if out.status == 125 and out.stderr.startswith(CONFINE_FAILED):
                raise LibsubstError(out.stderr.decode(errors="replace").strip())
            return out
        finally:
            self._done(work, own)

    def guest(self, path: str, arg: str, work: str | None = None) -> Outcome:
        own = work is None
        work = tempfile.mkdtemp(dir=SCRATCH) if own else work
        try:
            return _run([*self.libsubst, "run", "--read-only", "--net", "none", path, arg], work,
                        self.env(work))
        finally:
            self._done(work, own)

    def run(self, path: str, arg: str) -> Result:
        # both runs in a directory of the same path (a program may print its
        # HOME: gpg's), emptied after each
        work = tempfile.mkdtemp(dir=SCRATCH)
        try:
            native = self.native(path, arg, work)
            guest = self.guest(path, arg, work)
            for _ in range(RETRIES):
                if guest.status != -1 or native.status == -1:
                    break
                # The first run of a program plans and rewrites its libraries
                # (cached after, a library at a time): a guest that timed out
                # gets another run.
                guest = self.guest(path, arg, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return Result(path, *_comparable(native, guest), arg)


# A clock time or date a program prints (a log line's stamp: filan's,
# GLib's warnings', java.util.logging's) differs between any two runs,
# natively too.
_CLOCK = re.compile(rb"\b(\d\d\d\d[-/]\d\d[-/]\d\d|\d?\d:\d\d:\d\d(\.\d+)?)\b")
_CRASH = b"libsubst: the guest crashed: "


def _comparable(native: Outcome, guest: Outcome) -> tuple[Outcome, Outcome]:
    """The two runs with the clock times they print masked, and libsubst's
    report of a crash the native run had too (the same signal) left out of
    the guest's stderr: the report is libsubst's, the crash the program's."""
    def mask(o: Outcome, stderr: bytes) -> Outcome:
        return Outcome(o.status, _CLOCK.sub(b"<clock>", o.stdout), _CLOCK.sub(b"<clock>", stderr))
    stderr = guest.stderr
    if 128 < guest.status < 128 + 65 and guest.status == native.status and _CRASH in stderr:
        head, report = stderr.split(_CRASH, 1)
        lines = report.split(b"\n")[1:]
        # its register, "backtrace:" and frame lines follow it
        while lines and (lines[0].startswith(b" ") or lines[0] == b"backtrace:"):
            lines.pop(0)
        stderr = head + b"\n".join(lines)
    return mask(native, native.stderr), mask(guest, stderr)


def select(only: str | list[str] | None = None, limit: int | None = None,
           packages: list[str] | None = None) -> list[str]:
    """The programs to run: not denied, named as one of the ``only`` globs matches, shipped
    by one of ``packages`` (dpkg's file lists; merged /usr's /bin is /usr/bin)."""
    paths = [p for p in programs() if not denied(os.path.basename(p))]
    if only:
        globs = [only] if isinstance(only, str) else only
        paths = [p for p in paths
                 if any(fnmatch.fnmatchcase(os.path.basename(p), g) for g in globs)]
    if packages is not None:
        from ..image.dpkg import list_files

        shipped = {"/usr" + f if f.startswith(("/bin/", "/sbin/")) else f
                   for pkg in packages for f in list_files(pkg)}
        paths = [p for p in paths if p in shipped]
    return paths[:limit] if limit else paths


def sweep(paths: list[str], jobs: int = 2, progress=None) -> list[Result]:
    """Each path with each of ARGS; the results in the order of paths."""
    s = Sweep()
    work = [(p, a) for p in paths for a in ARGS]

    def one(item):
        result = s.run(*item)
        if progress:
            progress(result)
        return result
    pool = ThreadPoolExecutor(jobs)
    try:
        return list(pool.map(one, work))
    finally:                            # a run's error (a failed confinement) ends the rest
        pool.shutdown(cancel_futures=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m libsubst.benchmarks.sweep",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", metavar="GLOB", action="append",
                    help="only the programs whose name matches (repeatable: any of them)")
    ap.add_argument("--limit", type=int, metavar="N", help="only the first N programs")
    ap.add_argument("--packages", metavar="PKG,...",
                    help="only the programs these Debian packages ship")
    ap.add_argument("--jobs", "-j", type=int, default=2, metavar="N", help="runs at once")
    ap.add_argument("--json", action="store_true", help="one JSON object per run")
    ap.add_argument("--again", metavar="FILE",
                    help="only the programs that differed in FILE, an earlier run's --json lines")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("libsubst: the sweep's native runs need root (their namespaces)", file=sys.stderr)
        return 2
    pkgs = [p for p in args.packages.split(",") if p] if args.packages is not None else None
    if pkgs is not None:
        from ..image.dpkg import list_files

        absent = [p for p in pkgs if not list_files(p)]
        if absent or not pkgs:
            print(f"libsubst: --packages: not installed: {', '.join(absent) or '(none named)'}",
                  file=sys.stderr)
            return 2
    paths = select(args.only, args.limit, pkgs)
    if args.again:
        try:
            with open(args.again, encoding="utf-8") as f:
                differed = {r["program"] for r in map(json.loads, filter(str.strip, f))
                            if not r["same"]}
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"libsubst: --again {args.again}: not a sweep's --json lines ({e})",
                  file=sys.stderr)
            return 2
        paths = [p for p in paths if p in differed]
    start = time.monotonic()

    def progress(r: Result):
        if args.json:
            print(json.dumps({"program": r.path, "arg": r.arg, "same": r.same,
                              "reason": r.reason()}), flush=True)
        elif not r.same:
            print(r.describe(), flush=True)
    results = sweep(paths, args.jobs, progress)
    same = sum(r.same for r in results)
    programs_same = len(paths) - len({r.path for r in results if not r.same})
    if not args.json:
        print(f"programs identical:  {programs_same} / {len(paths)}   "
              f"(runs {same} / {len(results)}, {time.monotonic() - start:.0f} s)")
        classes: dict[str, int] = {}
        for r in results:
            if not r.same:
                key = r.reason().split(":")[0]
                classes[key] = classes.get(key, 0) + 1
        for key, n in sorted(classes.items(), key=lambda kv: -kv[1]):
            print(f"  {n:5}  {key}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LibsubstError as e:
        print(f"libsubst: {e}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:             # its reader stopped (| head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
