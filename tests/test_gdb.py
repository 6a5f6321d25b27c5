"""libsubst run --gdb against Debian's gdb in batch mode: the program's and
its libraries' symbols at their load addresses, breakpoints, stepping over
a fastcall, threads (their names, their backtraces through the calls they
wait in), `catch syscall`, watchpoints, signals and the exit status."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import LIBSUBST, build_c, free_port
from gdbdrive import GDB as GDB_NATIVE, as_local, debug, native, read_line

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gdb")
    return {"hello": build_c("gdb_hello", str(d), "-g", "-O0"),
            "threads": build_c("gdb_threads", str(d), "-g", "-O0", "-pthread"),
            "blocked": build_c("gdb_blocked", str(d), "-g", "-O0", "-pthread"),
            "rawcall": build_c("gdb_rawcall", str(d), "-g", "-O0"),
            "user": build_c("gdb_user", str(d), "-g", "-O0", "-ldl"),
            "names": build_c("gdb_names", str(d), "-g", "-O0", "-pthread"), "dir": d}


def test_breakpoint_in_libc_backtrace_through_main_and_exit_status(progs):
    out, rc, *_ = debug(progs["hello"], "break write", "continue", "bt", "delete", "continue",
                       cwd=progs["dir"])
    # gdb starts at ld.so's first instruction, as natively under gdbserver.
    assert re.search(r"in _start \(\) from (target:)?/lib64/ld-linux-x86-64.so.2", out), out
    assert re.search(r"Breakpoint 1, (__GI___libc_write|write) \(fd=1", out), out
    assert re.search(r"#1\s+0x[0-9a-f]+ in main \(\) at .*gdb_hello.c:13", out), out
    assert "exited with code 03" in out, out
    assert rc == 3


def test_libraries_and_the_kernel_at_their_load_addresses(progs):
    out, rc, *_ = debug(progs["hello"], "break work", "continue", "info sharedlibrary",
                       "info symbol ls_fastcall_entry", "delete", "continue", cwd=progs["dir"])
    out = as_local(out)
    libs = {m.group(2): m.group(1) for m in
            re.finditer(r"^(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+Yes\s+(\S+)$", out, re.M)}
    assert "/lib/x86_64-linux-gnu/libc.so.6" in libs, out
    assert "/lib64/ld-linux-x86-64.so.2" in libs, out
    assert any(p.endswith("/libsubst-kernel") for p in libs), out
    assert re.search(r"ls_fastcall_entry in section \.text of .*libsubst-kernel", out), out
    assert "Breakpoint 1, work (n=10)" in out and rc == 3


def test_stepping_over_a_rewritten_syscall_site(progs):
    # Step instruction by instruction through write(): the site's jmp into
    # its stub steps over the whole call, as a syscall instruction does.
    cmds = ["break write", "continue"]
    cmds += ["stepi", "printf \"pc %#lx rax %ld\\n\", $pc, $rax"] * 4
    cmds += ["delete", "continue"]
    out, rc, *_ = debug(progs["hello"], *cmds, cwd=progs["dir"])
    steps = [(int(pc, 16), int(rax)) for pc, rax in re.findall(r"pc (0x[0-9a-f]+) rax (-?\d+)", out)]
    assert len(steps) == 4, out
    # The call's result (6 bytes written) appears after one step, and every
    # step stays in libc's write (never in a stub or the kernel).
    assert any(rax == 6 for _pc, rax in steps), out
    assert all(abs(pc - steps[0][0]) < 0x100 for pc, _ in steps), out
    assert rc == 3


def test_threads_watchpoint_and_a_signal(progs):
    out, rc, *_ = debug(progs["threads"], "break gdb_threads.c:23", "continue", "info threads",
                       "delete", "watch watched", "continue", "delete", "continue", "continue",
                       cwd=progs["dir"])
    assert len(re.findall(r"^\*?\s+\d+\s+Thread \d+", out, re.M)) == 3, out
    assert re.search(r"Hardware watchpoint 2: watched\s+Old value = 0\s+New value = 42", out), out
    assert "received signal SIGUSR1" in out, out
    assert rc == 128 + 10


def test_hardware_breakpoint(progs):
    out, rc, *_ = debug(progs["hello"], "hbreak work", "continue", "info registers rip", "delete",
                       "continue", cwd=progs["dir"])
    assert "Hardware assisted breakpoint 1" in out and "work (n=10)" in out, out
    assert rc == 3


def test_gdb_refuses_other_addresses_and_bad_ports(progs):
    for spec, words in (("0.0.0.0:1234", "not a loopback"), ("nope", "expected [HOST:]PORT"),
                        ("127.0.0.1:99999", "expected [HOST:]PORT")):
        done = subprocess.run([*LIBSUBST, "run", "--gdb", spec, progs["hello"]],
                              capture_output=True, timeout=60)
        err = done.stderr.decode()
        assert done.returncode != 0 and err.startswith("libsubst: ") and words in err, err
        assert len(err.splitlines()) == 1, err


def test_attach_to_a_running_guest_and_detach(progs, tmp_path):
    import time
    from conftest import guest_pid

    loop = build_c("gdb_loop", str(progs["dir"]), "-g", "-O0")
    guest = subprocess.Popen([*LIBSUBST, "run", loop], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    attacher = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                guest_pid(guest.pid)
                break
            except (ValueError, OSError):
                assert time.monotonic() < deadline, "the guest never started"
                time.sleep(0.05)
        port = free_port()
        attacher = subprocess.Popen([*LIBSUBST, "attach", "--gdb", f"127.0.0.1:{port}",
                                     str(guest.pid)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        line = read_line(attacher.stderr)
        assert "is stopped; connect with" in line and "gdb_loop" in line, line
        # info proc as soon as it is stopped, wherever (the guest's calls
        # for gdb's files are made by a thread stopped anywhere).
        out = subprocess.run(["gdb", "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{port}",
                              "-ex", "info proc", "-ex", "break tick", "-ex", "continue",
                              "-ex", "bt", "-ex", "delete", "-ex", "detach", loop],
                             capture_output=True, timeout=120).stdout.decode()
        assert f"exe = '{loop}'" in out, out
        assert "Breakpoint 1, tick () at" in out, out
        assert re.search(r"#1\s+0x[0-9a-f]+ in main \(\) at .*gdb_loop.c", out), out
        assert "detached" in out, out
        assert attacher.wait(timeout=30) == 0
        time.sleep(0.2)
        assert guest.poll() is None, "the guest must go on after gdb detaches"
    finally:
        for p in (attacher, guest):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_attach_refuses_what_is_not_a_guest():
    done = subprocess.run([*LIBSUBST, "attach", "--gdb", f"127.0.0.1:{free_port()}",
                           str(os.getpid())], capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode != 0 and err.startswith("libsubst: ") and "not a libsubst guest" in err


def _thread_frames(out):
    """{thread name: [function of each frame]} from `thread apply all bt`."""
    found = {}
    for name, frames in re.findall(r'^Thread \d+ \(Thread [^"\n]*"([^"]+)"\):\n((?:#.*\n)+)', out,
                                   re.M):
        found[name] = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", frames, re.M)
    return found


@pytest.mark.parametrize("extra", [(), ("--trace-file", "trace.txt")],
                         ids=["direct", "dispatched"])
def test_waiting_threads_names_and_backtraces(progs, extra):
    # Threads named with pthread_setname_np wait in read, poll and a futex:
    # `info threads` names them, and above the guest kernel's frames (its
    # fastcall entry: the host call made there, or, every call dispatched
    # when traced, the kernel's handler) each backtrace is the native one.
    setup, after = ["break all_waiting"], ["info threads", "thread apply all bt", "delete",
                                           "continue"]
    n_out, n_stdout = native(progs["blocked"], setup, after, cwd=progs["dir"])
    out, rc, _err, stdout = debug(progs["blocked"], *setup, "continue", *after,
                                  cwd=progs["dir"], extra=extra)
    n_frames, frames = _thread_frames(n_out), _thread_frames(out)
    assert set(n_frames) == {"gdb_blocked", "reader", "poller", "sleeper"}, n_out
    assert set(frames) == set(n_frames), out
    for name in ("reader", "poller", "sleeper"):
        # The entry's frame: a signal frame when the kernel's handler (on
        # the kernel's stack) serves the call.
        kernel = frames[name].index("<signal" if extra else "ls_fastcall_entry")
        assert frames[name][kernel + 1:] == n_frames[name], out
    assert frames["gdb_blocked"] == n_frames["gdb_blocked"], out
    assert stdout == n_stdout == "done\n" and rc == 0, out


def test_a_thread_named_by_another_in_info_threads(progs):
    # pthread_setname_np of another thread writes its /proc/self/task/TID/comm:
    # `info threads` names both threads as natively, and the call succeeds.
    setup, after = ["break named"], ["info threads", "delete", "continue"]
    n_out, n_stdout = native(progs["names"], setup, after, cwd=progs["dir"])
    out, rc, _err, stdout = debug(progs["names"], *setup, "continue", *after, cwd=progs["dir"])
    names = sorted(re.findall(r'^\*?\s+\d+\s+Thread [^"\n]*"([^"]+)"', out, re.M))
    n_names = sorted(re.findall(r'^\*?\s+\d+\s+Thread [^"\n]*"([^"]+)"', n_out, re.M))
    assert n_names == ["main-thread", "named-by-main"], n_out
    assert names == n_names, out
    assert stdout == n_stdout == "setname 0\n" and rc == 0, out


def _catches(out):
    """`catch syscall` stops in order, and the backtrace printed after each
    one, less the guest kernel's frames (up to its fastcall entry)."""
    found = []
    for what, frames in re.findall(r"^Catchpoint \d+ \((.+?)\),.*\n(?:.*\n)*?((?:#\d+.*\n)+)",
                                   out, re.M):
        names = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", frames, re.M)
        if "ls_fastcall_entry" in names:
            names = names[names.index("ls_fastcall_entry") + 1:]
        found.append((what, names))
    return found


@pytest.mark.parametrize("extra", [(), ("--no-subst",)], ids=["fastcall", "trap"])
def test_catch_syscall_stops_at_entry_and_return_as_natively(progs, extra):
    # A fastcall stops in the kernel's entry (its caller the program's site);
    # a trapped call at its SIGSYS, as natively.  The return has the result.
    setup = ["catch syscall write"]
    after = ["bt", "continue", "print $rax", "bt", "continue"]
    n_out, _ = native(progs["hello"], setup, after, cwd=progs["dir"])
    out, rc, *_ = debug(progs["hello"], *setup, "continue", *after, cwd=progs["dir"],
                        extra=extra)
    expected = [("call to syscall write", ["__GI___libc_write", "main"]),
                ("returned from syscall write", ["__GI___libc_write", "main"])]
    assert _catches(n_out) == expected, n_out
    assert _catches(out) == expected, out
    assert "$1 = 6" in out and "$1 = 6" in n_out, out
    assert "exited with code 03" in out and rc == 3, out


def test_catch_syscall_in_the_program_itself(progs):
    # The program's own `syscall`, rewritten in the program: the stop's
    # backtrace reaches main, relocated though the program's headers moved.
    setup = ["catch syscall getpid"]
    after = ["bt", "continue", "print $rax > 0", "continue"]
    n_out, n_stdout = native(progs["rawcall"], setup, after, cwd=progs["dir"])
    out, rc, _err, stdout = debug(progs["rawcall"], *setup, "continue", *after,
                                  cwd=progs["dir"])
    assert _catches(n_out) == [("call to syscall getpid", ["main"])], n_out
    assert _catches(out) == _catches(n_out), out
    assert "returned from syscall getpid" in out and "$1 = 1" in out, out
    assert stdout == n_stdout == "1\n" and rc == 0, out


def test_catch_syscall_group_of_a_debian_program(progs):
    # python3 makes a socket and binds it: `catch syscall group:network`
    # sees the same calls and returns, in the same order, as natively.
    code = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.close()"
    args = ["-c", code]
    cmds = ["catch syscall group:network"] + ["continue"] * 5
    argv = [*GDB_NATIVE, "-ex", cmds[0], "-ex", f'run -c "{code}"']
    n = subprocess.run([*argv, *(x for c in cmds[1:] for x in ("-ex", c)), "/usr/bin/python3"],
                       capture_output=True, timeout=120, cwd=progs["dir"])
    n_out = n.stdout.decode() + n.stderr.decode()
    out, rc, *_ = debug("/usr/bin/python3", *cmds, cwd=progs["dir"], args=args)
    stops = [re.findall(r"^Catchpoint \d+ \(((?:call to|returned from) syscall \w+)\)", o, re.M)
             for o in (n_out, out)]
    assert stops[0] == ["call to syscall socket", "returned from syscall socket",
                        "call to syscall bind", "returned from syscall bind"], n_out
    assert stops[1] == stops[0], out
    assert "exited normally" in out and rc == 0, out


LIBZ = ("--add", "/lib/x86_64-linux-gnu/libz.so.1")     # the library gdb_user dlopens


def _program_frames(out):
    """The frames of the first backtrace in out, less the guest kernel's:
    up to its fastcall entry, shown as a signal frame when the kernel's
    handler serves the call (the kernel's stack is not the program's)."""
    frames = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", out, re.M)
    first = frames.index("main") + 1 if "main" in frames else len(frames)
    frames = frames[:first]
    for mark in ("ls_fastcall_entry", "<signal"):
        if mark in frames and frames[0].startswith(("sys_", "ls_")):
            return frames[frames.index(mark) + 1:]
    return frames


def test_backtrace_from_a_call_the_kernel_serves(progs):
    # raise()'s tgkill is the kernel's: the stop is in sys_tgkill, on the
    # kernel's stack, and the backtrace goes on into raise and main.
    setup, after = [], ["bt", "kill"]
    n_out, _ = native(progs["user"], setup, after, cwd=progs["dir"])
    out, *_ = debug(progs["user"], "continue", *after, cwd=progs["dir"], extra=LIBZ)
    assert "received signal SIGUSR1" in out and "sys_tgkill" in out, out
    n_frames = _program_frames(n_out)
    assert n_frames[-2:] == ["__GI_raise", "main"], n_out
    assert _program_frames(out) == n_frames, out


def test_registers_siginfo_and_calls_as_natively(progs):
    # fs_base and orig_rax (a target description as for a Linux process),
    # $_siginfo, a call into the program that puts the siginfo back, finish.
    setup = ["break loop"]
    after = ["p $fs_base == (long)pthread_self()", "p $orig_rax", "p $_siginfo.si_signo",
             "p $_siginfo.si_code", "call add(3, 4)", "p $_siginfo.si_signo", "finish",
             "x/s message", "info registers eflags", "kill"]
    n_out, _ = native(progs["user"], setup, after, cwd=progs["dir"])
    out, *_ = debug(progs["user"], *setup, "continue", *after, cwd=progs["dir"], extra=LIBZ)
    values = [re.findall(r"^(\$\d+ = .*|Value returned .*|0x\w+ <message>:.*|eflags .*)$", o,
                         re.M) for o in (n_out, out)]
    assert values[0] == ["$1 = 1", "$2 = -1", "$3 = 5", "$4 = 128", "$5 = 7", "$6 = 5",
                         "Value returned is $7 = 10", values[0][7], values[0][8]], n_out
    assert '"hello world"' in values[0][7] and "[ " in values[0][8], n_out
    assert values[1] == values[0], out


def test_pending_breakpoint_in_a_library_loaded_later(progs):
    # A breakpoint on a function of a library the program dlopens later
    # (pending), hit once it is loaded; its backtrace and the library list.
    setup = ["set breakpoint pending on", "break zlibVersion",
             "handle SIGUSR1 nostop noprint pass"]
    after = ["bt", "info sharedlibrary", "delete", "continue"]
    n_out, n_stdout = native(progs["user"], setup, after, cwd=progs["dir"])
    out, rc, _err, stdout = debug(progs["user"], *setup, "continue", *after, cwd=progs["dir"],
                                  extra=LIBZ)
    out = as_local(out)
    hit = r"Breakpoint 1, 0x[0-9a-f]+ in zlibVersion \(\) from /lib/x86_64-linux-gnu/libz.so.1"
    assert re.search(hit, n_out) and re.search(hit, out), out
    assert _program_frames(out) == _program_frames(n_out) == ["zlibVersion", "main"], out
    libs = [set(re.findall(r"^0x\w+\s+0x\w+\s+Yes(?: \(\*\))?\s+(\S+)$", o, re.M)) - {""}
            for o in (n_out, out)]
    assert {p for p in libs[1] if not p.endswith("libsubst-kernel")} == libs[0], out
    assert stdout == n_stdout and rc == 0, out


def test_until_software_watchpoint_and_signal_as_natively(progs):
    # `until` steps a line; a software watchpoint single-steps the program,
    # over its fastcalls too, and `signal SIGUSR1` runs the handler that
    # changes the watched value.
    setup = ["break loop"]
    after = ["finish", "until", "set can-use-hw-watchpoints 0", "watch counter", "continue",
             "signal SIGUSR1", "p counter", "kill"]
    n_out, _ = native(progs["user"], setup, after, cwd=progs["dir"])
    out, *_ = debug(progs["user"], *setup, "continue", *after, cwd=progs["dir"], extra=LIBZ)
    said = [re.findall(r"^(Value returned .*|Old value = .*|New value = .*|\$\d+ = .*|on_usr1 .*)$",
                       o, re.M) for o in (n_out, out)]
    assert said[0][:3] == ["Value returned is $1 = 10", "Old value = 13", "New value = 113"]
    assert said[0][3].startswith("on_usr1 (s=10)") and said[0][4:] == ["$2 = 113"], n_out
    assert said[1] == said[0], out
    until = "\n29\t    raise(SIGUSR1);\n"          # the line after loop()'s
    assert until in n_out and until in out, out
    assert "received signal SIGUSR1" in out, out


def test_a_debian_servers_threads_by_name_and_backtrace(progs):
    # redis-server's background threads name themselves and wait on their
    # condition variables: stopped in its event loop, each is named, and
    # each backtrace above the kernel's frames is the native one.  (The
    # fifth pass, some serverCron ticks in: the threads have started.)
    # It listens on a Unix socket of its own: a TCP port chosen before the
    # native session was, under load, sometimes taken by then (a client's
    # connection from that port), and redis exits 1 "Failed listening on
    # port" before its event loop.
    setup = ["break beforeSleep", "ignore 1 4"]
    after = ["info threads", "thread apply all bt", "kill"]
    n_out, _ = native("/usr/bin/redis-server",
                      ["set args --port 0 --unixsocket native.sock --save ''", *setup],
                      after, cwd=progs["dir"])
    out, _rc, err, stdout = debug("/usr/bin/redis-server", *setup, "continue", *after,
                                  cwd=progs["dir"],
                                  args=["--port", "0", "--unixsocket", "guest.sock", "--save", ""])
    n_frames, frames = _thread_frames(n_out), _thread_frames(out)
    # redis logs to its stdout: a failure shows why it stopped
    out += f"\n--- redis's stdout:\n{stdout}\n--- libsubst's stderr:\n{err}"
    assert {"redis-server", "bio_close_file", "bio_aof_fsync"} <= set(n_frames), n_out
    assert set(frames) == set(n_frames), out
    for name in set(n_frames) - {"redis-server"}:
        kernel = frames[name].index("ls_fastcall_entry")
        assert frames[name][kernel + 1:] == n_frames[name], out
    assert frames["redis-server"] == n_frames["redis-server"], out


def test_catch_syscall_while_other_threads_wait(progs):
    # The main thread's writes are caught (entry and return) while three
    # threads wait in read, poll and a futex; their wake-up and exit go by.
    setup, after = ["catch syscall write"], ["continue"] * 6
    n_out, n_stdout = native(progs["blocked"], setup, after, cwd=progs["dir"])
    out, rc, _err, stdout = debug(progs["blocked"], *setup, "continue", *after,
                                  cwd=progs["dir"])
    stops = [re.findall(r'^Thread 1 "gdb_blocked" hit Catchpoint \d+ \(((?:call to|returned '
                        r"from) syscall write)\)", o, re.M) for o in (n_out, out)]
    assert stops[0] == ["call to syscall write", "returned from syscall write"] * 3, n_out
    assert stops[1] == stops[0], out
    assert stdout == n_stdout == "done\n" and rc == 0, out
