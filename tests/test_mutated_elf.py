"""Mutated ELF files fed to `libsubst run`: it runs them, or fails with a
clear error, or reports the guest's crash — libsubst itself never crashes."""

import os
import signal
import subprocess

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import LIBSUBST

TRUE = open("/bin/true", "rb").read()
HEADERS = 0x400   # ELF header and program headers of /bin/true, and more


def run_libsubst(path, cwd):
    proc = subprocess.Popen([*LIBSUBST, "run", str(path)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:       # a mutant may loop forever, as it would natively
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    return proc.returncode, err.decode(errors="replace")


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
    result = run_libsubst(exe, d)
    if result is None:
        return
    rc, err = result
    assert "Traceback" not in err, err
    # libsubst's own refusals are one clear line; anything else is the
    # guest's (ld.so's message, a crash report), as a native run would show.
    if err.startswith("libsubst: ") and not err.startswith("libsubst: the guest crashed"):
        assert err.count("\n") == 1 and rc != 0, err
