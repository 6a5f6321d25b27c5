"""--trace's strace options, each checked against strace itself on a native
run of the same program: the filter (names and classes), the summary
(strace -f -c), pid/tid tags across fork, threads and exec, and JSON lines
that say what the text lines say.

What must differ, and is normalised here: strace also counts and shows the
execve that starts the program (libsubst's kernel maps the first program
itself, no execve is made), and strace cannot see exit or exit_group return,
so it shows them but never counts them (neither does libsubst)."""

import collections
import json
import re
import shutil

import pytest

from conftest import build_c, run_guest, run_native

pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="strace is not installed (tests/run.sh installs it)")

# strace -o FILE -f: "PID name(args) = result"; libsubst: "[pid P tid T] path name(args) = result <t>".
_STRACE = re.compile(r"^(\d+)\s+(.*)$")
_OURS = re.compile(r"^(?:\[pid (\d+)(?: tid (\d+))?\] )?(fast|trap) (.*?)(?: <[\d.]+>)?$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+= (.*)$")


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    return build_c("trace_calls", str(tmp_path_factory.mktemp("trace")), "-pthread")


def _result(text: str) -> str:
    """'-1 ENOENT (No such file...)' -> '-1 ENOENT'; numbers as they are."""
    return " ".join(text.split()[:2]) if text.startswith("-1 ") else text.strip()


def _first_string(args: str) -> str | None:
    m = re.match(r'\s*(?:\w+, )?"((?:[^"\\]|\\.)*)"', args)
    return m.group(1) if m else None


def strace_calls(path) -> dict[str, list[tuple]]:
    """strace -f -o output: each task's calls as (name, first string argument,
    result), unfinished calls joined with their resumption."""
    tasks: dict[str, list[tuple]] = collections.defaultdict(list)
    pending: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = _STRACE.match(line)
        if not m:
            continue
        tid, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[tid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        r = re.match(r"<\.\.\. \w+ resumed>(.*)$", rest)
        if r:
            rest = pending.pop(tid) + r.group(1)
        c = _CALL.match(rest)
        if c:
            name, args, result = c.groups()
            tasks[tid].append((name, _first_string(args), _result(result)))
    return tasks


def guest_calls(text: str) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """libsubst's text trace: each task's calls as strace_calls gives them
    (a task is its tid; untagged lines are pid 1's), and each line's tag."""
    tasks: dict[str, list[tuple]] = collections.defaultdict(list)
    tags = []
    for line in text.splitlines():
        m = _OURS.match(line)
        if not m:
            continue
        pid, tid, _path, rest = m.groups()
        c = _CALL.match(rest)
        assert c, line
        name, args, result = c.groups()
        tags.append((pid, tid, name))
        tasks[tid or pid or "1"].append((name, _first_string(args), _result(result)))
    return tasks, tags


def _process_ids(seq):
    """Results that are pids or tids, or addresses, differ between runs: name them."""
    return [(n, s, "ID" if n in ("clone", "clone3", "fork", "vfork", "wait4") and r.isdigit()
             else "ADDR" if r.startswith("0x") else r) for n, s, r in seq]


def as_multiset(tasks: dict[str, list[tuple]]) -> list:
    """Tasks are numbered differently natively and in the guest, and run in
    any order: compare the sorted list of each task's call sequence.  The
    rt_sigreturn of a handler that a host call let in (kill to itself) is
    written before that call's own line in the guest, whose line is written
    when the call is back in the kernel: it is compared by count, not place."""
    out = []
    for seq in tasks.values():
        if seq:
            rest = [c for c in seq if c[0] != "rt_sigreturn"]
            out.append((_process_ids(rest), len(seq) - len(rest)))
    return sorted(out)


def parse_summary(text: str, ours: bool) -> dict[str, tuple[int, int]]:
    """A strace -c table (or libsubst's, with its fast, trap and served
    columns): {name: (calls, errors)}."""
    rows = {}
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("% time")) + 2
    for line in lines[start:]:
        if line.startswith("---"):
            break
        f = line.split()
        rows[f[-1]] = (int(f[3]), int(f[4]) if len(f) == (9 if ours else 6) else 0)
    return rows


def _timing_free(summary: dict) -> dict:
    # pthread_join waits on a futex only when the thread has not exited yet: a race, in both runs
    return {name: counts for name, counts in summary.items() if name != "futex"}


def _without_first_execve(native: dict) -> dict:
    calls, errors = native["execve"]
    out = dict(native)
    if calls == 1:
        del out["execve"]
    else:
        out["execve"] = (calls - 1, errors)
    return out


@pytest.mark.parametrize("opts,calls", [
    # without substitution the guest runs the very same libc: every call counts the same
    (["--no-subst"], "all"),
    # the substitute libc has more PT_LOAD segments (its fastcall stubs), so
    # ld.so maps and protects more: memory calls differ, nothing else
    ([], "!%memory"),
])
def test_summary_counts_what_strace_counts(prog, tmp_path, opts, calls):
    native_out = tmp_path / "strace.txt"
    native = run_native(["strace", "-f", "-c", "-e", f"trace={calls}", "-o", str(native_out), prog],
                        tmp_path)
    trace = tmp_path / "trace.txt"
    guest = run_guest([*opts, "--trace-summary", "--trace-calls", calls, "--trace-file", str(trace),
                       prog], tmp_path)
    assert guest.returncode == native.returncode == 0, guest.stderr
    assert guest.stdout == native.stdout
    ours = parse_summary(trace.read_text(), ours=True)
    theirs = _without_first_execve(parse_summary(native_out.read_text(), ours=False))
    assert _timing_free(ours) == _timing_free(theirs)
    assert "wait4" in ours and "clone3" in ours and "socketpair" in ours   # fork, thread, socket


def test_summary_splits_calls_by_path(prog, tmp_path):
    trace = tmp_path / "trace.txt"
    guest = run_guest(["--trace-summary", "--trace-file", str(trace), prog], tmp_path)
    assert guest.returncode == 0, guest.stderr
    lines = trace.read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("% time")) + 2
    rows = {}
    for line in lines[start:]:
        if line.startswith("---"):
            break
        f = line.split()
        rows[f[-1]] = (int(f[3]), int(f[-4]), int(f[-3]), f[-2])
    for name, (calls, fast, trap, served) in rows.items():
        assert calls == fast + trap, name
    # glibc's write is rewritten; its clone and clone3 sites never are
    assert rows["write"][1] == rows["write"][0] and rows["write"][3] == "host"
    assert rows["clone"][2] == rows["clone"][0] == 1 and rows["clone"][3] == "kernel"
    assert not trace.read_text().count("Traceback")


@pytest.mark.parametrize("opts,calls", [
    ([], "%file,%process"), (["--no-subst"], "%file,%process"), ([], "%network,%signal,%ipc"),
    ([], "openat,write,mkdir"), (["--no-subst"], "%desc"), ([], "%creds,%clock"),
])
def test_filter_shows_what_strace_shows(prog, tmp_path, opts, calls):
    native_out = tmp_path / "strace.txt"
    native = run_native(["strace", "-f", "-e", f"trace={calls}", "-o", str(native_out), prog],
                        tmp_path)
    trace = tmp_path / "trace.txt"
    guest = run_guest([*opts, "--trace-calls", calls, "--trace-file", str(trace), prog], tmp_path)
    assert guest.returncode == native.returncode == 0, guest.stderr
    theirs = strace_calls(native_out)
    first = next(iter(theirs))
    if theirs[first][0][0] == "execve":
        theirs[first] = theirs[first][1:]      # the execve that started the program
    ours, _ = guest_calls(trace.read_text())
    assert as_multiset(ours) == as_multiset(theirs)
    assert sum(len(s) for s in ours.values()) >= 3


def test_json_lines_say_what_text_lines_say(prog, tmp_path):
    calls = "%file,%process,write"
    text, js = tmp_path / "trace.txt", tmp_path / "trace.json"
    for fmt, dest in (("text", text), ("json", js)):
        r = run_guest(["--trace-calls", calls, "--trace-format", fmt, "--trace-file", str(dest),
                       prog], tmp_path)
        assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in js.read_text().splitlines()]
    keys = {"name", "nr", "args", "ret", "errno", "path", "pid", "tid", "time", "duration"}
    assert objs and all(set(o) == keys for o in objs)

    def line(o):
        if o["ret"] is None:
            result = "?"
        elif o["errno"]:
            result = f"-1 {o['errno']}"
        elif o["name"] in ("mmap", "brk", "mremap"):
            result = hex(o["ret"])
        else:
            result = str(o["ret"])
        return f"{o['path']} {o['name']}({', '.join(o['args'])}) = {result}"

    def norm(s):   # addresses and ids differ from run to run
        s = re.sub(r"0x[0-9a-f]+", "0x_", s)
        return re.sub(r"^(\w+ (?:clone3?|wait4)\(.*\) = )\d+$", r"\1ID", s)

    from_json = sorted(norm(line(o)) for o in objs)
    from_text = sorted(norm(_OURS.match(l).group(3) + " " + _OURS.match(l).group(4))
                       for l in text.read_text().splitlines() if _OURS.match(l))
    assert from_json == from_text
    # tags: the thread is not its process's first task, the exec'd child is another process
    write_thread = [o for o in objs if o["name"] == "write" and o["args"][1] == '"thread\\n"']
    write_child = [o for o in objs if o["name"] == "write" and o["args"][1] == '"child\\n"']
    assert len(write_thread) == len(write_child) == 1
    assert write_thread[0]["pid"] == 1 and write_thread[0]["tid"] != 1
    assert write_child[0]["pid"] not in (1, write_thread[0]["tid"])
    assert all(o["duration"] is None or 0 <= o["duration"] < 60 for o in objs)


def test_pipeline_tags_each_process(tmp_path):
    """A shell pipeline: sh forks a subshell (echo is a builtin) and two
    children that exec tr and wc; every process's calls carry its pid."""
    script = "echo a b c | tr a-z A-Z | wc -c"
    calls = "execve,write"
    native_out = tmp_path / "strace.txt"
    native = run_native(["strace", "-f", "-e", f"trace={calls}", "-o", str(native_out),
                         "/bin/sh", "-c", script], tmp_path)
    trace = tmp_path / "trace.txt"
    guest = run_guest(["--add", "/usr/bin/tr", "--add", "/usr/bin/wc", "--trace-calls", calls,
                       "--trace-file", str(trace), "/bin/sh", "-c", script], tmp_path)
    assert guest.returncode == native.returncode == 0, guest.stderr
    assert guest.stdout == native.stdout == b"6\n"
    theirs = strace_calls(native_out)
    first = next(iter(theirs))
    theirs[first] = theirs[first][1:]          # the execve that started sh
    ours, tags = guest_calls(trace.read_text())
    assert as_multiset(ours) == as_multiset(theirs)
    assert len(as_multiset(ours)) == 3          # the echo subshell, tr, wc (sh: neither call)
    # once sh has forked, every line is tagged, and tr's and wc's execs are theirs
    execs = {t[0] for t in tags if t[2] == "execve"}
    assert None not in execs and "1" not in execs and len(execs) == 2
    assert all(pid is not None for pid, _tid, _name in tags)


@pytest.mark.parametrize("bad", ["no_such_call", "%nonsense", "open,", "!"])
def test_bad_filter_is_one_line(tmp_path, bad):
    r = run_guest(["--trace-calls", bad, "/bin/true"], tmp_path)
    err = r.stderr.decode()
    assert r.returncode != 0
    assert err.startswith("libsubst: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_json_summary_counts_the_json_lines(prog, tmp_path):
    """With --trace and --trace-summary in JSON, the summary object at the
    end counts, name by name and path by path, the lines before it (exit and
    exit_group are shown but, as by strace -c, not counted)."""
    trace = tmp_path / "trace.json"
    r = run_guest(["--trace", "--trace-summary", "--trace-format", "json", "--trace-file",
                   str(trace), prog], tmp_path)
    assert r.returncode == 0, r.stderr
    *calls, last = [json.loads(line) for line in trace.read_text().splitlines()]
    summary = last["summary"]
    seen = collections.Counter((o["name"], o["path"]) for o in calls
                               if o["name"] not in ("exit", "exit_group"))
    errors = collections.Counter(o["name"] for o in calls if o["errno"])
    assert {(n, p) for n, p in seen} == {(n, p) for n, row in summary.items()
                                         for p in ("fast", "trap") if row[p]}
    for name, row in summary.items():
        assert row["fast"] == seen[(name, "fast")] and row["trap"] == seen[(name, "trap")], name
        assert row["calls"] == row["fast"] + row["trap"] and row["errors"] == errors[name], name


def test_json_reports_unimplemented_calls(tmp_path):
    # syslog (103) is not implemented: its line says ENOSYS, the end says how often
    r = run_guest(["--trace-format", "json", "--trace-calls", "syslog", "/usr/bin/python3", "-c",
                   "import ctypes; l = ctypes.CDLL(None); l.syscall(103, 0, 0); l.syscall(103, 0, 0)"],
                  tmp_path)
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stderr.decode().splitlines()]
    assert [(o.get("name"), o.get("errno")) for o in objs[:-1]] == [("syslog", "ENOSYS")] * 2
    assert objs[-1] == {"enosys": {"syslog": 2}}


def test_unreadable_buffer_prints_as_its_address(tmp_path):
    """The tracer reads guest memory only where the guest could: a write from
    an unmapped address fails with EFAULT as natively, and its line shows
    the address, as strace does, instead of faulting in the guest kernel."""
    code = ("import ctypes; l = ctypes.CDLL(None, use_errno=True); "
            "print(l.write(1, ctypes.c_void_p(4096), 5), ctypes.get_errno())")
    native = run_native(["/usr/bin/python3", "-c", code], tmp_path)
    r = run_guest(["--trace-calls", "write", "/usr/bin/python3", "-c", code], tmp_path)
    assert r.returncode == native.returncode == 0, r.stderr
    assert r.stdout == native.stdout == b"-1 14\n"
    assert "fast write(1, 0x1000, 5) = -1 EFAULT" in r.stderr.decode()


def test_summary_counts_a_process_that_a_signal_kills(tmp_path):
    """Every guest process adds to one set of counters as it goes: a shell
    that kills itself has its kill (and getpid) counted, as strace does."""
    argv = ["/bin/sh", "-c", 'sh -c "kill -TERM \\$\\$"; true']
    calls = "kill,getpid"
    native_out = tmp_path / "strace.txt"
    native = run_native(["strace", "-f", "-c", "-e", f"trace={calls}", "-o", str(native_out),
                         *argv], tmp_path)
    trace = tmp_path / "trace.txt"
    guest = run_guest(["--trace-summary", "--trace-calls", calls, "--trace-file", str(trace),
                       *argv], tmp_path)
    assert guest.returncode == native.returncode == 0, guest.stderr
    ours = parse_summary(trace.read_text(), ours=True)
    assert ours == parse_summary(native_out.read_text(), ours=False)
    assert ours["kill"] == (1, 0)
