"""The reading of a shell script's text for the programs it names
(libsubst/image/shell_commands.py): what stands in command position, and
what does not."""

import pytest

from libsubst.image.shell_commands import _BUILTINS, command_string, command_words, script_operand


@pytest.mark.parametrize("text, named", [
    ("ls -l | head -1; wc && tr || cut & sort", ["ls", "head", "wc", "tr", "cut", "sort"]),
    ("x=$(date +%s) y=`uname`; LC_ALL=C grep a", ["date", "uname", "grep"]),
    ('echo "$(od -c) and `expr 1`"', ["od", "expr"]),
    ("printf 'ls | head' # cat here\n", []),                         # quoted, a comment
    ("if ! test -f x; then sed q; elif true; then :; else awk 1; fi", ["sed", "awk"]),
    ("while read l; do nl; done < in > out 2>&1", ["nl"]),
    ("cat <<EOF\nls $(basename x)\nEOF\ncat <<'Q'\n$(rev)\nQ\ntac", [
        "cat", "basename", "cat", "tac"]),                         # a literal body names nothing
    ("f() { sort; }\ng () { uniq; }\nf; g", ["sort", "uniq"]),    # functions left out
    ("exec env -i A=1 xargs -0 nice rm", ["env", "xargs", "nice", "rm"]),
    # The patterns of a case's items but the first are taken for commands:
    # a program of such a name would come for nothing.
    ("case $1 in a) join ;; b|c) paste ;; esac", ["join", "b", "c", "paste"]),
    ("a \\\n b; \"md5sum\" x", ["a", "md5sum"]),                    # a continued line, quotes
    ("echo $(( 1 + 2 )) ${x:-y}; seq", ["seq"]),
    ('v=$(cut "a(b" | sed "s/(.*//"); tr', ["cut", "sed", "tr"]),   # a parenthesis quoted
])
def test_command_words(text, named):
    assert [w for w in command_words(text) if w not in _BUILTINS] == named


@pytest.mark.parametrize("args, string, operand", [
    (["-c", "ls"], "ls", "ls"),
    (["-ec", "ls", "name"], "ls", "ls"),
    (["-o", "errexit", "-c", "ls"], "ls", "ls"),
    (["script.sh", "-c"], None, "script.sh"),
    (["-e", "--", "script.sh"], None, "script.sh"),
    (["-x"], None, None),
])
def test_a_shells_command_string_and_script(args, string, operand):
    assert command_string(args) == string
    assert script_operand(args) == operand


@pytest.mark.parametrize("text", [
    "$(" * 1500 + "ls", '"$(' * 1500, "$(`" * 700, "a $(b\n" * 20000, "cat <<E\n" * 20000,
    "${" * 100000, "`" + "x" * 100000,
])
def test_unbalanced_text_is_read_without_failing(text):
    # Unclosed or deeply nested substitutions: what is found, never an
    # error (nothing is brought for them, and the run goes on as natively).
    assert isinstance(list(command_words(text)), list)
