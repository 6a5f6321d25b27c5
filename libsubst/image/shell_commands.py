"""The programs a shell script names: a guest's root holds only what
planning brings, so a script (`lsb_release`, `sh -c 'ls | head'`) whose
commands come from other packages would end "not found" where natively it
runs.  The words in command position of the script's text (and of the
scripts they name, a few levels down) that PATH finds are brought as if
given with --add.

This is a reading of the text, not a shell: it finds the words a command
can start with (at a line's start, after ``;``, ``|``, ``&``, ``(``,
``$(``, a backquote, ``then``, ``do``, ``exec``, ``xargs``...), outside
single quotes, comments and here-documents; a command that the script
makes at run time (``$cmd``, ``eval``) is not seen, and the guest's
"not found" hint names it then (monitor/report.py).  What it brings that
the script never runs costs planning time, nothing else."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping

from ..errors import LibsubstError

SHELLS = frozenset({"sh", "dash", "bash", "ash", "ksh", "ksh93", "mksh", "zsh"})

_SCRIPT_MAX = 4 << 20           # a configure script is ~1 MiB
_SCRIPTS_MAX = 64               # scripts read per plan, the named ones included
_TEXT_MAX = 8 << 20             # and their bytes in all
_DEPTH_MAX = 3

# The shells' own commands: no program is looked up for them.
_BUILTINS = frozenset("""
. : [ alias bg bind break builtin caller cd command compgen complete continue declare dirs
disown echo enable eval exec exit export false fc fg getopts hash help history jobs kill let local
logout mapfile popd printf pushd pwd read readarray readonly return set shift shopt source
suspend test times trap true type typeset ulimit umask unalias unset wait
case esac for select function in fi done then do else elif if while until ! { } [[ ]] time
""".split())
# Words after which the next word is a command again.
_LEADS = frozenset("then do else elif if while until ! { time exec command nohup nice "
                   "xargs env builtin sudo chroot setsid stdbuf timeout".split())
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")
_PATH = re.compile(r"/[A-Za-z0-9_./+-]+\Z")
_SUBSTITUTION = re.compile(r"\$\((?!\()|`")
_NESTING_MAX = 8                # substitutions within substitutions read
_SCAN_MIN = 1 << 20
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")


class _OutOfBudget(Exception):
    pass


def command_words(text: str, depth: int = 0, budget: list | None = None) -> Iterator[str]:
    """The words of ``text`` (a shell script) that stand where a command
    starts, quotes removed; function names it defines are left out.
    ``depth``: how many substitutions ``text`` is nested in; past
    _NESTING_MAX their commands are not read.  The search for what closes
    a substitution reads at most a few times the text in all (``budget``):
    unclosed ones would make it quadratic; past it, the words found so far."""
    words, functions = [], set()
    top = budget is None
    if top:
        budget = [max(_SCAN_MIN, 8 * len(text))]

    def inner(start: int, end: int) -> None:
        # A substitution's commands, when it is closed and not nested too deep.
        if end < len(text) and depth < _NESTING_MAX:
            words.extend(command_words(text[start:end], depth + 1, budget))

    def closing(at: int) -> int:
        end = _closing(text, at)
        budget[0] -= end - at
        if budget[0] < 0:
            raise _OutOfBudget
        return end

    try:
        _read(text, depth, words, functions, inner, closing, budget)
    except _OutOfBudget:
        if not top:
            raise
    return (w for w in words if w not in functions)


def _read(text, depth, words, functions, inner, closing, budget) -> None:
    """command_words' pass over ``text``."""
    at_command = True
    redirect = False            # the next word is a redirection's file
    heredocs: list[tuple[str, bool, bool]] = []    # (delimiter, <<- strips tabs, quoted) pending
    word, quoted = [], False
    i, n = 0, len(text)
    prev = None                 # the last word ended: a function's name before "()"

    def end_word():
        nonlocal word, quoted, at_command, redirect, prev
        if not word and not quoted:
            return None
        w, word, quoted = "".join(word), [], False
        prev = w
        if redirect:
            redirect = False
            return None
        if at_command:
            if _ASSIGNMENT.match(w) or w.startswith("-"):
                return None     # VAR=value cmd; an option of a leading command
            words.append(w)
            at_command = w in _LEADS
        return w

    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                word.append(text[i + 1])
            i += 2
            continue
        if c == "'":
            j = text.find("'", i + 1)
            j = n if j < 0 else j
            word.append(text[i + 1:j])
            quoted = True
            i = j + 1
            continue
        if c == '"':
            # Double quotes keep command substitutions live: scan them as text.
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                elif text.startswith("$(", j) and not text.startswith("$((", j) or text[j] == "`":
                    inner_end = closing(j)
                    inner(j + (1 if text[j] == "`" else 2), inner_end)
                    word.append("$")            # a word with a substitution is no name
                    if inner_end >= n:
                        j += 1                  # unclosed: the rest is read as text
                        continue
                    j = inner_end
                else:
                    word.append(text[j])
                j += 1
            quoted = True
            i = j + 1
            continue
        if c == "#" and not word and not quoted:
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "$" and text.startswith("${", i):
            j = text.find("}", i)
            word.append("$")
            i = n if j < 0 else j + 1
            continue
        if c == "$" and text.startswith("$(", i) or c == "`":
            end = closing(i)
            if not text.startswith("$((", i):
                inner(i + (1 if c == "`" else 2), end)
            word.append("$")
            i = end + 1 if end < n else i + (1 if c == "`" else 2)     # unclosed: read on
            continue
        if c == "<" and text.startswith("<<", i) and not text.startswith("<<<", i):
            end_word()
            strip = text.startswith("<<-", i)
            i += 3 if strip else 2
            m = re.match(r"[ \t]*(['\"]?)(\\?)([^\s'\";&|<>()\\]+)\1", text[i:])
            if m:
                heredocs.append((m.group(3), strip, bool(m.group(1) or m.group(2))))
                i += m.end()
            continue
        if c in "<>":
            end_word()
            redirect = True
            i += 1
            while i < n and text[i] in "<>&|":
                i += 1
            continue
        if c == "\n":
            end_word()
            at_command, redirect = True, False
            i += 1
            for delim, strip, literal in heredocs:
                body = i
                while i < n:
                    j = text.find("\n", i)
                    line = text[i:n if j < 0 else j]
                    i = n if j < 0 else j + 1
                    if (line.lstrip("\t") if strip else line) == delim:
                        break
                if not literal and depth < _NESTING_MAX:   # an unquoted delimiter's body expands $(...)
                    words.extend(_substitutions(text[body:i], depth + 1, budget))
            heredocs = []
            continue
        if c in ";&|()":
            end_word()
            if text.startswith("()", i) and prev is not None:
                functions.add(prev)     # name() { ...; }: its calls are no programs
            at_command, redirect = True, False
            i += 1
            continue
        if c in " \t":
            end_word()
            i += 1
            continue
        word.append(c)
        i += 1
    end_word()


def _substitutions(text: str, depth: int, budget: list) -> list[str]:
    """The command words of the $(...) and backquoted commands in ``text``
    (a here-document's body, where nothing else is a command)."""
    found, i = [], 0
    while (m := _SUBSTITUTION.search(text, i)) is not None:
        start = m.start()
        end = _closing(text, start)
        budget[0] -= end - start
        if budget[0] < 0:
            raise _OutOfBudget
        if end >= len(text):
            break               # unclosed: nothing more to read
        found += command_words(text[start + (1 if text[start] == "`" else 2):end], depth, budget)
        i = end + 1
    return found


def _closing(text: str, i: int) -> int:
    """The index of what closes the substitution opening at ``i`` (``$(``
    or a backquote), nested parentheses and quotes counted; len(text) if
    nothing does."""
    if text[i] == "`":
        j = i + 1
        while j < len(text) and text[j] != "`":
            j += 2 if text[j] == "\\" else 1
        return min(j, len(text))
    depth, j = 0, i + 1
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            k = text.find("'", j + 1)
            j = len(text) if k < 0 else k + 1
            continue
        if c == '"':
            j += 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return len(text)


def is_shell(path: str) -> bool:
    return os.path.basename(path) in SHELLS


def command_string(args: list[str]) -> str | None:
    """The command string of a shell's ``-c`` in ``args`` (its arguments):
    the first operand when an option cluster holds ``c``."""
    c = False
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a == "--":
            continue
        elif a in ("-o", "+o", "-O", "+O"):
            skip = True
        elif len(a) > 1 and a[0] in "-+" and a != "-":
            c = c or (a[0] == "-" and "c" in a[1:])
        else:
            return a if c else None
    return None


def script_operand(args: list[str]) -> str | None:
    """The script file a shell without ``-c`` runs: its first operand."""
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in ("-o", "+o", "-O", "+O"):
            skip = True
        elif a == "--" or (len(a) > 1 and a[0] in "-+"):
            continue
        else:
            return a
    return None


def programs(scripts: list[str], texts: list[str], env: Mapping[str, str]) -> list[str]:
    """The host programs PATH finds for the command words of ``scripts``
    (files) and ``texts`` (command strings), and of the shell scripts among
    those programs, a few levels down; each once, none of ``scripts``."""
    from ..ldso.program import find_program, interpreters

    path_env = env.get("PATH")
    found: dict[str, None] = {}
    seen = set(scripts)
    level = [(None, t) for t in texts] + [(s, None) for s in scripts]
    read = nbytes = 0
    for _depth in range(_DEPTH_MAX):
        nxt = []
        for script, text in level:
            if text is None:
                if read >= _SCRIPTS_MAX or nbytes >= _TEXT_MAX:
                    continue
                read += 1
                text = _read_text(script)
                if text is None:
                    continue
                nbytes += len(text)
            for word in dict.fromkeys(command_words(text)):
                if word in _BUILTINS or not (_NAME.match(word) or _PATH.match(word)):
                    continue
                try:
                    prog = find_program(word, path_env)
                except LibsubstError:
                    continue
                if prog in seen or not os.path.isfile(prog) or not os.access(prog, os.X_OK):
                    continue
                seen.add(prog)
                found[prog] = None
                try:
                    chain = interpreters(prog)
                except LibsubstError:
                    continue
                if len(chain) > 1 and is_shell(chain[-1]):
                    nxt.append((prog, None))
        level = nxt
    return list(found)


def _read_text(path: str) -> str | None:
    from ..elf import open_regular

    try:
        fd = open_regular(path)         # a FIFO named as the script is not waited on
    except LibsubstError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(_SCRIPT_MAX)
    if b"\0" in data[:4096]:
        return None             # not a script's text
    # A self-extracting archive's script ends where its payload begins.
    return data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
