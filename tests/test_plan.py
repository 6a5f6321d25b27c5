"""The guest plan (libsubst.plan): the one value both `run PROGRAM` and
`run IMAGE` produce and the monitor boots.  A plan that went through JSON
boots the same guest, compared with the program run natively; its digest
follows its inputs; the facts it checks (--net, --workdir, a volume at /)
are refused the same way by every way of making one; the image format reads
without the planning or ELF code."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import libsubst
from conftest import LIBSUBST, assert_same, children, run_native
from libsubst.errors import LibsubstError, VolumeError
from libsubst.monitor.guest import run_spec
from libsubst.plan import GuestPlan


def boot(plan, tmp_path, kernel=None, pass_fds=()):
    """Boot ``plan``; (stdout, stderr, status) as a CompletedProcess, like run_native's."""
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        done = run_spec(plan, stdout=o, stderr=e, kernel=kernel, pass_fds=pass_fds)
    return subprocess.CompletedProcess([], done.returncode, out.read_bytes(), err.read_bytes())


def through_json(plan):
    return GuestPlan.from_json(json.loads(json.dumps(plan.to_json())))


def test_a_program_plan_survives_json_and_boots_the_same(tmp_path):
    (tmp_path / "notes.txt").write_text("some notes\n")
    argv = ["/usr/bin/sha256sum", "notes.txt", "/etc/os-release"]
    plan = libsubst.prepare(argv[0], argv[1:], volumes=[f"{tmp_path}:{tmp_path}"],
                            workdir=str(tmp_path), mount_cwd=False,
                            add=["/etc/os-release"])
    again = through_json(plan)
    assert again.to_json() == plan.to_json() and again.digest() == plan.digest()
    native = run_native(argv, tmp_path)
    assert native.returncode == 0
    assert_same(native, boot(again, tmp_path))


def test_an_image_plan_survives_json_and_boots_the_same(tmp_path):
    from libsubst.planner import kernel_executable, plan_image

    image = tmp_path / "echo.lsi"
    libsubst.Image.from_program("/bin/echo", ["packed", "words"]).write(image)
    native = run_native(["/bin/echo", "run", "words"], tmp_path)
    with libsubst.Image.open(image) as img:
        plan = plan_image(img, ["run", "words"])
        assert plan.image == str(image) and plan.image_fd == img.fd
        again = through_json(plan)
        assert again.digest() == plan.digest() and again.image_fd == -1
        again.image_fd = img.fd                 # the monitor opens what the plan names
        kernel, kfd, tmp = kernel_executable(img.kernel)
        try:
            guest = boot(again, tmp_path, kernel, (kfd,) if kfd >= 0 else ())
        finally:
            os.close(kfd) if kfd >= 0 else os.unlink(tmp)
    assert_same(native, guest)


def test_the_digest_follows_what_decides_the_guest(tmp_path):
    a = libsubst.prepare("/bin/true", mount_cwd=False)
    b = libsubst.prepare("/bin/true", mount_cwd=False)
    assert a.digest() == b.digest()
    assert libsubst.prepare("/bin/true", mount_cwd=False, net="none").digest() != a.digest()
    assert libsubst.prepare("/bin/true", ["x"], mount_cwd=False).digest() != a.digest()
    assert libsubst.prepare("/bin/true", mount_cwd=False, subst=False).digest() != a.digest()
    # What the monitor fills at boot is no part of it.
    b.trace_fd, b.report_fd = 7, 8
    assert b.digest() == a.digest()


@pytest.mark.parametrize("bad, words", [
    ({"net": "moon"}, "--net moon: expected host or none"),
    ({"workdir": "rel"}, "--workdir rel: expected an absolute path"),
    ({"volumes": ["/tmp:/"]}, "a volume cannot be mounted at / (the guest's root is its image)"),
])
def test_run_and_pack_refuse_the_same_values_in_the_same_words(bad, words):
    with pytest.raises(LibsubstError) as run_err:
        libsubst.prepare("/bin/true", mount_cwd=False, **bad)
    with pytest.raises(LibsubstError) as pack_err:
        libsubst.Image.from_program("/bin/true", **bad)
    assert str(run_err.value) == str(pack_err.value) == words


@pytest.mark.parametrize("change", [{"net": "moon"}, {"cwd": "rel"},
                                    {"trace_fd": 3}])
def test_a_bad_plan_is_refused_when_read(change):
    good = libsubst.prepare("/bin/true", mount_cwd=False).to_json()
    with pytest.raises(LibsubstError):
        GuestPlan.from_json({**good, **change})


def test_a_mount_at_the_root_is_refused_however_it_is_made(tmp_path):
    for guest in ("/", "/usr/.."):
        mount = libsubst.Mount(guest=guest, host=str(tmp_path))
        for make in (lambda: libsubst.prepare("/bin/true", volumes=[mount]),
                     lambda: libsubst.Image.from_program("/bin/true", volumes=[mount])):
            with pytest.raises(VolumeError, match="cannot be mounted at /"):
                make()
    for cmd in (["run", "-v", f"{tmp_path}:/", "true"],
                ["pack", "-v", "/", "-o", str(tmp_path / "x.lsi"), "true"]):
        r = subprocess.run(LIBSUBST + cmd, capture_output=True, cwd=tmp_path, timeout=120)
        assert (r.returncode, r.stderr) == (
            2, b"libsubst: a volume cannot be mounted at / (the guest's root is its image)\n")


def test_the_image_format_reads_without_planning_or_elf_code():
    code = textwrap.dedent("""\
        import sys
        import libsubst.image.lsi
        print(sorted(m for m in sys.modules if m.startswith("libsubst")))
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert eval(r.stdout) == ["libsubst", "libsubst.errors", "libsubst.image",
                              "libsubst.image.lsi", "libsubst.image.magic",
                              "libsubst.image.manifest", "libsubst.volumes"]


@pytest.mark.parametrize("net", ["host", "none"])
def test_the_namespaces_an_image_records_are_those_a_guest_gets(net):
    """hostcalls.NAMESPACES (what the tender makes and `inspect` shows) against the namespaces of a
    running guest's first process, read from the host: the C side makes
    them, this list only says so, and this test keeps the two equal."""
    from libsubst.kernel.hostcalls import NAMESPACES

    proc_name = {"mount": "mnt"}                 # /proc/PID/ns's names for them
    want = {proc_name.get(n, n) for n in NAMESPACES} | ({"net"} if net == "none" else set())
    kinds = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
    with libsubst.Popen("/bin/sleep", ["60"], net=net, mount_cwd=False) as guest:
        deadline = time.monotonic() + 30
        while not children(guest.pid):
            assert guest.poll() is None and time.monotonic() < deadline, "no guest process"
            time.sleep(0.02)
        (first,) = children(guest.pid)
        got = {k for k in kinds
               if os.readlink(f"/proc/{first}/ns/{k}") != os.readlink(f"/proc/self/ns/{k}")}
        guest.kill()
    assert got == want


def test_the_files_the_environment_names(tmp_path):
    """planner.env_files: the host file a trust-store variable names is in the root at its
    path (read as natively: test_interpreters, test_plan_cache); a file another variable
    names (credentials), a program, a file in the guest's scratch /tmp or in /proc, and a
    path that is no file, are not."""
    from libsubst import planner

    data = tmp_path / "data.crt"                 # under /tmp: the guest's scratch
    data.write_text("x\n")
    env = {"PATH": os.environ["PATH"], "SSL_CERT_FILE": "/etc/issue",
           "GOOGLE_APPLICATION_CREDENTIALS": "/etc/issue.net",
           "AWS_CA_BUNDLE": "/bin/sh", "NODE_EXTRA_CA_CERTS": "/proc/cpuinfo",
           "CURL_CA_BUNDLE": str(data), "REQUESTS_CA_BUNDLE": "/etc",
           "GIT_SSL_CAINFO": "etc/os-release"}
    assert set(env) - {"PATH", "GOOGLE_APPLICATION_CREDENTIALS"} <= set(planner.TRUST_STORES)
    plan = planner.plan_program("/bin/true", env=env, mount_cwd=False)
    files = {e.path for e in plan.entries if e.kind != "dir"}
    assert "/etc/issue" in files
    assert not {"/etc/issue.net", "/bin/sh", "/usr/bin/dash", "/proc/cpuinfo",
                str(data)} & files
