"""Compatibility measured broadly (issue 14): the corpus of Debian programs
(benchmarks/corpus.py) and CPython's own regression tests
(benchmarks/pytests.py), each natively and under libsubst, compared.  The
default run takes the corpus's fast subset and two regression modules; the
whole is `long` (LIBSUBST_LONG_TESTS=1)."""

import os
import subprocess

import pytest

from libsubst.benchmarks import corpus, corpus_run, pytests

def _executables(pkg):
    listed = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    assert listed.returncode == 0, f"tests/run.sh installs {pkg}"
    return {os.path.basename(p) for p in listed.stdout.split()
            if os.path.dirname(p) in ("/usr/bin", "/bin") and os.access(p, os.X_OK)
            and not os.path.isdir(p)}


def test_corpus_follows_its_rule():
    """Every executable of the packages is run or excluded with a reason;
    at least 150 programs; --version and --help at most a third."""
    covered = {p.name.split(" ")[0] for p in corpus.PROGRAMS}
    for pkg in corpus.PACKAGES:
        missing = _executables(pkg) - covered - set(corpus.EXCLUDED)
        assert not missing, f"{pkg}: neither run nor excluded: {sorted(missing)}"
    assert not covered & set(corpus.EXCLUDED)
    assert len(covered) >= 150
    trivial = [p for p in corpus.PROGRAMS if {"--version", "--help", "-h", "-v"} & set(p.args())]
    assert len(trivial) * 3 <= len(corpus.PROGRAMS)
    assert {p.norm for p in corpus.PROGRAMS} - {None} <= set(corpus_run.NORMS)


@pytest.fixture(scope="module")
def runner():
    with corpus_run.Corpus() as c:
        yield c


def _params():
    for p in corpus.PROGRAMS:
        marks = [] if p.fast else [pytest.mark.long]
        if p.name in corpus.FAILING:
            marks.append(pytest.mark.xfail(reason=corpus.FAILING[p.name], strict=True))
        yield pytest.param(p, id=p.name, marks=marks)


@pytest.mark.parametrize("program", list(_params()))
def test_program_same_as_native(program, runner):
    result = runner.run(program)
    assert result.same, result.describe()


def test_a_difference_is_seen(runner):
    """The comparison itself: a run whose output depends on where it runs
    (the guest's /proc/self/exe is the program, natively too; its mount
    table is the guest's own) differs."""
    result = runner.run(corpus.P("differs", "cat /proc/self/mountinfo"))
    assert not result.same and result.native.stdout != result.guest.stdout


def _check_python(modules):
    native = pytests.run(modules)
    guest = pytests.run(modules, guest=True)
    assert native.passed, "no test passed natively"
    lost = pytests.lost(native, guest)
    unexplained = lost - set(pytests.KNOWN)
    assert not unexplained, f"pass natively, not in the guest: {sorted(unexplained)}"
    return native, lost


def test_python_regression_modules_fast():
    _check_python(pytests.FAST)


@pytest.mark.long
def test_python_regression_modules():
    native, lost = _check_python(pytests.MODULES)
    assert len(pytests.KNOWN) * 50 <= len(native.passed), "the known list is over 2 %"
