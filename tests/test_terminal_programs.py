"""Interactive programs on a terminal, as a user runs them: the same
keystrokes on a pseudo-terminal of the same size, natively and under
``libsubst run``, and what the program wrote to the terminal (every byte:
the screen it drew) and its status compared."""

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import LIBSUBST

ROWS, COLS = 24, 80


def _needs(*programs):
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"tests/run.sh installs {', '.join(missing)}")


def on_a_terminal(argv, cwd, steps, env=None, timeout=60):
    """Runs argv on a new ROWS x COLS pseudo-terminal as its controlling
    terminal and foreground group, plays ``steps`` — ("wait", bytes regex
    the output must reach) or ("send", keys) — then reads to the end.
    Returns (everything it wrote, exit status); the session is killed
    whatever happens."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = dict(env if env is not None else os.environ, TERM="xterm", LANG="C.UTF-8")
    for v in ("COLUMNS", "LINES", "LESS", "PAGER", "MANPAGER", "EDITOR"):
        env.pop(v, None)

    def take():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, preexec_fn=take)
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout

    def read_some():
        nonlocal out
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            data = os.read(master, 65536)
        except OSError:           # EIO: every process holding the terminal ended
            return False
        out += data
        return bool(data)
    try:
        for what, arg in steps:
            if what == "wait":
                while not re.search(arg, out):
                    assert read_some(), f"{arg!r} not seen in {out[-600:]!r}"
            else:
                os.write(master, arg)
        while read_some():
            pass
        return out, proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        os.close(master)


def assert_same_screen(argv, cwd, steps, opts=(), prepare=None, env=None, canon=lambda out: out):
    """argv natively and in the guest, each after ``prepare()``: the same
    bytes on the terminal (as ``canon`` gives them) and the same status."""
    if prepare:
        prepare()
    native = on_a_terminal(argv, cwd, steps, env)
    assert native[1] == 0, native[0][-600:]
    if prepare:
        prepare()
    guest = on_a_terminal([*LIBSUBST, "run", *opts, *argv], cwd, steps, env)
    assert canon(guest[0]).decode(errors="replace") == canon(native[0]).decode(errors="replace")
    assert guest[1] == native[1]


def _paste_modes_apart(out):
    """The drawn bytes without bracketed-paste mode switches, then the
    switches in order. Where screen puts a switch among the bytes it draws
    depends on whether bash drew its prompt before the licence page was
    dismissed (redrawn from the window: the switch after the text) or after
    (passed through: before it), natively too when the key comes late."""
    return re.sub(rb"\x1b\[\?2004[hl]", b"", out) + b"\n--\n" + b"".join(re.findall(rb"\x1b\[\?2004[hl]", out))


def test_less_searches_and_quits(tmp_path):
    _needs("less")
    (tmp_path / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 2001)))
    assert_same_screen(["less", "long.txt"], tmp_path,
                       [("wait", rb"line 23"), ("send", b"/line 1500\r"), ("wait", rb"line 152"),
                        ("send", b"G"), ("wait", rb"\(END\)"), ("send", b"q")])


def test_nano_edits_and_saves_a_file(tmp_path):
    """nano in the working directory (a volume): typed text saved with ^O,
    then ^X; the screen and the file as natively."""
    _needs("nano")
    # Each key waits for what it draws: nano skips a redraw while more keys
    # are pending, so keys sent together draw what the read's timing says.
    steps = [("wait", rb"notes\.txt"), ("wait", rb"\^X"), ("send", b"hello \x1b[B"),
             ("wait", rb"hello first line"), ("send", b"again "), ("wait", rb"again"),
             ("send", b"\x0f"), ("wait", rb"File Name to Write"),
             ("send", b"\r"), ("wait", rb"Wrote"), ("send", b"\x18")]
    saved = []
    for argv in (["nano", "notes.txt"], [*LIBSUBST, "run", "nano", "notes.txt"]):
        (tmp_path / "notes.txt").write_text("first line\nsecond line\n")
        saved.append((*on_a_terminal(argv, tmp_path, steps), (tmp_path / "notes.txt").read_text()))
    native, guest = saved
    assert native[1] == 0 and native[2].startswith("hello first line\n"), native
    assert guest[0].decode(errors="replace") == native[0].decode(errors="replace")
    assert guest[1:] == native[1:]


def test_man_formats_and_pages(tmp_path):
    """man's pipeline: the page through zsoelim, preconv, tbl, groff (troff,
    grotty) and the pager, which man finds as `pager` (less); each program
    it execs and the page given with --add."""
    _needs("man", "groff", "less")
    page = "/usr/share/man/man1/ls.1.gz"
    if not os.path.exists(page):
        pytest.skip("ls's manual page is not installed")
    progs = [shutil.which(p) for p in ("nroff", "groff", "troff", "grotty", "preconv", "tbl",
                                       "less", "pager", "sed", "cat", "gzip", "sh", "locale")]
    opts = [o for p in [page, *filter(None, progs)] for o in ("--add", p)]
    assert_same_screen(["man", "ls"], tmp_path,
                       [("wait", rb"List\s+information"), ("send", b" "), ("wait", rb"--all"),
                        ("send", b"q")], opts=opts)


def test_screen_runs_a_shell_in_a_window(tmp_path):
    """screen's front end forks the session's server and waits for its
    signals; as a container's pid 1 it would wait for ever (natively too:
    `unshare -pf screen`), so the guest runs it under --init, as docker run
    --init runs such a program."""
    _needs("screen", "bash")
    assert_same_screen(["screen"], tmp_path,
                       [("wait", rb"Oliver Laumann"), ("send", b" "), ("wait", rb"Return to end"),
                        ("send", b" "), ("wait", rb"\x1b\[\?2004h"), ("send", b"echo hi-$((6*7))\r"),
                        ("wait", rb"hi-42\r\n\x1b\[\?2004h"), ("send", b"exit\r"), ("wait", rb"terminating")],
                       opts=["--init", "--add", shutil.which("bash")],
                       env=dict(os.environ, SHELL=shutil.which("bash")), canon=_paste_modes_apart)
