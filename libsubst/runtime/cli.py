"""``libsubst-runtime``: the OCI runtime command line, as podman (conmon)
and containerd (its runc shim) call runc (runtime-spec's runtime.md and
runc's own flags).  docs/oci-runtime.md says what each flag does here.

Global flags come before the command: ``--root DIR`` (the state, default
/run/libsubst-runtime), ``--log FILE`` and ``--log-format text|json``
(errors are written there too: containerd's shim reads them from there),
and flags accepted with no effect, each for a reason:
``--systemd-cgroup`` (the guest runs in libsubst's own cgroup),
``--debug`` (nothing more to say), ``--rootless`` (libsubst decides from
its caller).  An error is one ``libsubst: ...`` line and exit status 2."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from ..errors import LibsubstError
from .state import DEFAULT_ROOT, Container


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise LibsubstError(message)


def _count(text: str) -> int:
    """A number of fds: 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of fds")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="libsubst-runtime", description="An OCI runtime whose containers run as "
                "libsubst unikernels.")
    p.add_argument("--root", default=DEFAULT_ROOT)
    p.add_argument("--log")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    for flag in ("--systemd-cgroup", "--debug", "--rootless"):
        p.add_argument(flag, nargs="?", const="true", default=None)
    p.add_argument("--version", "-v", action="store_true")
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("create")
    c.add_argument("--bundle", "-b", default=".")
    c.add_argument("--pid-file")
    c.add_argument("--console-socket")
    # runc's: no pivot_root, no keyring: libsubst makes its own root and keyring.  The fds
    # 3 .. 3+N-1 are passed on (podman's socket activation and --preserve-fds).
    c.add_argument("--no-pivot", action="store_true")
    c.add_argument("--no-new-keyring", action="store_true")
    c.add_argument("--preserve-fds", type=_count, default=0)
    c.add_argument("id")
    for name in ("start", "state"):
        sub.add_parser(name).add_argument("id")
    k = sub.add_parser("kill")
    k.add_argument("--all", "-a", action="store_true")   # the monitor's SIGKILL takes all of it
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    d = sub.add_parser("delete")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")
    sub.add_parser("features")
    e = sub.add_parser("exec")
    e.add_argument("--process", "-p")
    e.add_argument("--pid-file")
    e.add_argument("--console-socket")
    e.add_argument("--detach", "-d", action="store_true")
    e.add_argument("--tty", "-t", action="store_true")    # process.terminal says it
    e.add_argument("--preserve-fds", type=_count, default=0)
    e.add_argument("id")
    e.add_argument("args", nargs=argparse.REMAINDER)
    return p


def features() -> dict:
    """runtime-spec's features.md: what this runtime accepts."""
    return {"ociVersionMin": "1.0.0", "ociVersionMax": "1.1.0",
            "hooks": [], "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev",
                                          "noexec", "rprivate", "private", "size", "mode"],
            "linux": {"namespaces": ["network", "pid", "ipc", "uts", "mount", "cgroup", "user"],
                      "capabilities": [], "cgroup": {"v1": False, "v2": True, "systemd": False},
                      "seccomp": {"enabled": False}, "apparmor": {"enabled": False},
                      "selinux": {"enabled": False}},
            "annotations": {"org.libsubst.runtime": "libsubst unikernel guests"}}


def _log(args, message: str) -> None:
    if not args or not args.log:
        return
    try:
        with open(args.log, "a") as f:
            if args.log_format == "json":
                now = datetime.datetime.now(datetime.timezone.utc).isoformat()
                f.write(json.dumps({"level": "error", "msg": message, "time": now}) + "\n")
            else:
                f.write(f"libsubst: {message}\n")
    except OSError:
        pass                                      # stderr has it already


def run(argv: list[str]) -> int:
    from . import lifecycle

    args = _parser().parse_args(argv)
    if args.version:
        from .. import __version__
        print(f"libsubst-runtime {__version__}\nspec: 1.0.2")
        return 0
    if args.command is None:
        raise LibsubstError("expected a command: create, start, state, kill, delete, "
                            "features, exec")
    root = args.root
    if args.command == "create":
        lifecycle.create(root, args.id, args.bundle, args.pid_file, args.console_socket,
                         args.preserve_fds)
    elif args.command == "start":
        lifecycle.start(root, args.id)
    elif args.command == "state":
        print(json.dumps(Container(root, args.id).oci_state(), indent=2))
    elif args.command == "kill":
        lifecycle.kill(root, args.id, lifecycle.parse_signal(args.signal))
    elif args.command == "delete":
        lifecycle.delete(root, args.id, args.force)
    elif args.command == "features":
        print(json.dumps(features(), indent=2))
    elif args.command == "exec":
        from .execute import exec_process
        return exec_process(root, args)
    return 0


def main() -> None:
    args = None
    try:
        args = _parser().parse_known_args(sys.argv[1:])[0]
    except LibsubstError:
        pass
    try:
        sys.exit(run(sys.argv[1:]))
    except LibsubstError as e:
        sys.stderr.write(f"libsubst: {e}\n")
        _log(args, str(e))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
