"""Static against dynamic system-call sets: ``python -m libsubst.benchmarks.analysis``.

For each program: the calls ``libsubst analyze`` finds reachable, how many
of them the guest kernel serves (itself or by passing them to the host),
the calls a run under libsubst made (``analyze --dynamic``), which must
all be in the static set, and how many of those the run needs: answered
ENOSYS one at a time (``--enosys``), its exit status or output changes.
Servers are analysed statically only."""

from __future__ import annotations

import os
import sys
import tempfile

PROGRAMS = [
    ("hello world (echo)", ["/bin/echo", "hello"]),
    ("sqlite3", ["/usr/bin/sqlite3", ":memory:",
                 "create table t(x); insert into t values (1); select * from t;"]),
    ("python3", ["/usr/bin/python3", "-c", "import json; print(json.dumps([1]))"]),
    ("redis-server", ["/usr/bin/redis-server"]),
    ("nginx", ["/usr/sbin/nginx"]),
]
SERVERS = {"redis-server", "nginx"}


def main() -> int:
    from libsubst.analyze import analyze
    from libsubst.analyze.cli import dynamic
    from libsubst.kernel.syscalls import TABLE, implemented

    print(f"| program | reachable (static) | served of those | ENOSYS of those | used in a run "
          f"| needed (the run changes when it gets ENOSYS) | used but not found statically |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    failed = 0
    devnull = os.open(os.devnull, os.O_WRONLY)
    for label, argv in PROGRAMS:
        if not os.path.exists(argv[0]):
            print(f"| {label} | not installed | | | | |")
            continue
        r = analyze(argv[0], argv[1:])
        c = r["counts"]
        used, needed, missing = "—", "—", ""
        if label not in SERVERS:
            with tempfile.TemporaryDirectory() as tmp:
                old_err, old_cwd = os.dup(2), os.getcwd()
                os.dup2(devnull, 2)
                os.chdir(tmp)
                try:
                    d = dynamic(argv[0], argv[1:], r)
                finally:
                    os.dup2(old_err, 2)
                    os.chdir(old_cwd)
            if d["status"] != 0:
                failed += 1
            used, needed = str(len(d["used"])), str(len(d["needs"]))
            missing = ", ".join(d["not_static"]) or "none"
        print(f"| {label} | {c['reachable']} | {c['kernel'] + c['host']} | {c['enosys']} | "
              f"{used} | {needed} | {missing} |")
    print(f"\nx86-64 has {len(TABLE)} system calls; libsubst serves {len(implemented())}.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
