"""Mutated input fed to `libsubst run` — ELF files and option values: it
runs them, or fails with a clear error, or reports the guest's crash —
libsubst itself never crashes, and never hangs."""

import os
import signal
import subprocess

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import LIBSUBST

TRUE = open("/bin/true", "rb").read()
HEADERS = 0x400   # ELF header and program headers of /bin/true, and more


def run_libsubst(argv, cwd):
    """(status, stderr) of `libsubst ARGV`; an AssertionError if it has not
    ended within 60 s (every guest it started is killed either way)."""
    proc = subprocess.Popen([*LIBSUBST, *argv], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"libsubst {' '.join(map(str, argv))} did not end within 60 s") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err.decode(errors="replace")


def assert_clean(rc, err):
    assert "Traceback" not in err, err
    # libsubst's own refusals are one clear line; anything else is the
    # guest's (ld.so's message, a crash report), as a native run would show.
    if err.startswith("libsubst: ") and not err.startswith("libsubst: the guest crashed"):
        assert err.count("\n") == 1 and rc != 0, err


mutation = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, HEADERS - 1), st.integers(0, 255)),
                                         min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, len(TRUE) - 1)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutation)
def test_mutated_binaries_never_crash_libsubst(tmp_path_factory, m):
    data = bytearray(TRUE)
    if m[0] == "flip":
        for off, val in m[1]:
            data[off] = val
    else:
        data = data[:m[1]]
    d = tmp_path_factory.mktemp("mutant")
    exe = d / "mutant"
    exe.write_bytes(bytes(data))
    exe.chmod(0o755)
    assert_clean(*run_libsubst(["run", str(exe)], d))


# Options whose value is only checked (no host file is written or added).
OPTIONS = ["--memory", "--cpus", "--pids", "--workdir", "--env", "--volume", "--net",
           "--stop-timeout"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(OPTIONS),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               max_size=24))
def test_any_option_value_runs_or_gets_one_line(tmp_path_factory, option, value):
    rc, err = run_libsubst(["run", option, value, "true"], tmp_path_factory.mktemp("opt"))
    assert_clean(rc, err)
    assert rc == 0 or err.startswith("libsubst: "), err
