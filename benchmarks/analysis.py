"""Static against dynamic system-call sets, and the kernels specialised to
them: ``python -m libsubst.benchmarks.analysis``.

For each program: the calls ``libsubst analyze`` finds reachable, how many
of them the guest kernel serves (itself or by passing them to the host),
the calls a run under libsubst made (``analyze --dynamic``; a server with
``--workload``: a few client requests, then SIGTERM), and how many of
those the run needs: answered ENOSYS one at a time (``--enosys``), its
exit status or output (a server's: the workload's, and its own status
after SIGTERM) changes.
Then the kernel ``pack --specialize`` links for the static set
(``kernel.specialize``): its text bytes and functions and its host
allow-list, against the full kernel's."""

from __future__ import annotations

import argparse
import os
import socket
import tempfile

from .rounds import main_command

PROGRAMS = [
    ("hello world (echo)", ["/bin/echo", "hello"]),
    ("sqlite3", ["/usr/bin/sqlite3", ":memory:",
                 "create table t(x); insert into t values (1); select * from t;"]),
    ("python3", ["/usr/bin/python3", "-c", "import json; print(json.dumps([1]))"]),
    ("redis-server", ["/usr/bin/redis-server"]),
    ("nginx", ["/usr/sbin/nginx"]),
]
NGINX_CONF = """master_process off; daemon off; error_log stderr; pid {d}/nginx.pid;
events {{ worker_connections 16; }}
http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d};
        fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
        server {{ listen 127.0.0.1:{port}; root {d}; }} }}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(label: str, tmp: str) -> tuple[list[str], str]:
    """A server's command line and its client workload (a shell command)."""
    port = _free_port()
    if label == "redis-server":
        cli = f"redis-cli -p {port}"
        return (["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                 "", "--appendonly", "no"],
                f"{cli} ping && {cli} set k v && {cli} get k && {cli} incr n && {cli} del k")
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(NGINX_CONF.format(d=tmp, port=port))
    with open(os.path.join(tmp, "index.html"), "w", encoding="utf-8") as f:
        f.write("hello\n")
    url = f"http://127.0.0.1:{port}"
    return ["/usr/sbin/nginx", "-c", conf, "-p", tmp], f"curl -sf {url}/ && curl -s {url}/nope"


def main() -> int:
    # No option: the parser answers --help with this page's docstring and
    # refuses anything else, instead of running the benchmark.
    argparse.ArgumentParser(prog="python -m libsubst.benchmarks.analysis", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from libsubst.analyze import analyze
    from libsubst.analyze.cli import dynamic
    from libsubst.kernel import hostcalls, specialize, syscalls

    full = specialize.full_facts()
    n_full = len(hostcalls.allowed())
    print("| program | reachable (static) | served of those | used in a run | needed "
          "| used but not found statically | kernel text, bytes | kernel functions "
          "| host allow-list |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    failed = 0
    devnull = os.open(os.devnull, os.O_WRONLY)
    for label, argv in PROGRAMS:
        if not os.path.exists(argv[0]):
            print(f"| {label} | not installed | | | | | | | |")
            continue
        r = analyze(argv[0], argv[1:])
        c = r["counts"]
        static = {row["name"] for row in r["syscalls"]}
        with tempfile.TemporaryDirectory() as tmp:
            workload = None
            if label in ("redis-server", "nginx"):
                argv, workload = _server(label, tmp)
            old_err, old_cwd = os.dup(2), os.getcwd()
            os.dup2(devnull, 2)
            os.chdir(tmp)
            try:
                d = dynamic(argv[0], argv[1:], r, workload=workload)
            finally:
                os.dup2(old_err, 2)
                os.chdir(old_cwd)
            if d["status"] != 0:
                failed += 1
            used, needed = d["used"], str(len(d["needs"]))
        missing = ", ".join(n for n in used if n not in static) or "none"
        built = specialize.build(static)
        k = built.facts
        print(f"| {label} | {c['reachable']} | {c['kernel'] + c['host']} | {len(used)} | "
              f"{needed} | {missing} | {k.text} of {full.text} | {k.functions} of "
              f"{full.functions} | {len(k.allowed())} of {n_full} |")
    print(f"\nx86-64 has {len(syscalls.TABLE)} system calls; libsubst serves "
          f"{len(syscalls.implemented())}. Kernel text: the bytes of its executable sections.")
    return 1 if failed else 0


if __name__ == "__main__":
    main_command(main)
