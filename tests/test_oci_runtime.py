"""libsubst-runtime driven as an engine drives it, without the engine: a
bundle made by `runc spec` (runc's own default config.json) on the Debian
11 root, run through create, start, kill and delete by runc and by
libsubst-runtime, from a subreaper that waits on the pid in the pid file
as conmon and containerd's shim do.  Bad input gets one line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from containers import rootfs_tar
from engines import need, runtime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runc and the guest's root need root")

HERE = os.path.dirname(os.path.abspath(__file__))

# The engine's side: a subreaper (so the container's pid is its child) that
# runs the lifecycle ACTION and prints what it saw, as JSON.
REAPER = r"""
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)               # PR_SET_CHILD_SUBREAPER
rt, root, bundle, cid, action = sys.argv[1:6]
seen = {}
def call(*args, **kw):
    return subprocess.run([rt, "--root", root, *args], **kw)
def state():
    r = call("state", cid, capture_output=True, text=True)
    return json.loads(r.stdout)["status"] if r.returncode == 0 else "gone"
def wait(pid):
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
passed = []                                       # action "preserve": bundle/in at fd 3
if action == "preserve":
    os.dup2(os.open(bundle + "/in", os.O_RDONLY), 3)
    passed = ["--preserve-fds", "1"]
with open(bundle + "/out", "wb") as out, open(bundle + "/err", "wb") as err:
    r = call("create", "--bundle", bundle, "--pid-file", bundle + "/pid", *passed, cid,
             stdout=out, stderr=err, stdin=subprocess.DEVNULL, pass_fds=(3,) if passed else ())
if passed:
    os.close(3)
assert r.returncode == 0, open(bundle + "/err").read()
pid = int(open(bundle + "/pid").read())
seen["created"] = state()
seen["ran_before_start"] = os.path.exists(bundle + "/rootfs/ran")
call("start", cid, check=True)
if action in ("run", "preserve"):
    seen["status"] = wait(pid)
elif action == "kill":
    seen["running"] = state()
    deadline = time.monotonic() + 60              # until the program's handler is in place
    while not os.path.exists(bundle + "/rootfs/ready") and time.monotonic() < deadline:
        time.sleep(0.05)
    call("kill", cid, "TERM", check=True)
    seen["status"] = wait(pid)
elif action == "force":
    listed = os.path.join(root, cid, "cgroups")        # the guest's, once it has booted
    deadline = time.monotonic() + 60
    while not (os.path.exists(listed) and open(listed).read()) and time.monotonic() < deadline:
        time.sleep(0.05)
    cgroups = open(listed).read().split()
    call("delete", "--force", cid, check=True)
    seen["status"] = wait(pid)
    seen["cgroups"] = len(cgroups)
    seen["left"] = (os.path.exists(f"/proc/{pid}") or [d for d in cgroups if os.path.exists(d)]
                    or sorted(os.listdir(root)))
seen["after"] = state()
if action != "force":
    call("delete", cid, check=True)
seen["deleted"] = state()
seen["out"] = open(bundle + "/out").read()
seen["err"] = open(bundle + "/err").read()
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    need("runc")
    root = tmp_path_factory.mktemp("bundle-root") / "rootfs"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", rootfs_tar()], check=True)
    yield str(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bundle(rootfs, tmp_path):
    """A bundle whose root is a fresh copy of the Debian 11 root (cp -a) and
    whose config.json is runc's default with ``args``."""
    def make(args, name="b", copy=True, readonly=False, pids=None):
        folder = tmp_path / name
        folder.mkdir()
        if copy:
            subprocess.run(["cp", "-a", rootfs, str(folder / "rootfs")], check=True)
        subprocess.run(["runc", "spec", "--bundle", str(folder)], check=True)
        cfg = json.loads((folder / "config.json").read_text())
        cfg["process"].update(args=args, terminal=False)
        cfg["root"] = {"path": "rootfs" if copy else rootfs, "readonly": readonly}
        if pids:
            cfg["linux"].setdefault("resources", {})["pids"] = {"limit": pids}
        (folder / "config.json").write_text(json.dumps(cfg))
        return str(folder)
    return make


def _lifecycle(rt, bundle, action, tmp_path, cid):
    root = tmp_path / f"state-{os.path.basename(rt)}"
    r = subprocess.run([sys.executable, "-c", REAPER, rt, str(root), bundle, cid, action],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_create_start_and_the_pids_status_are_runcs(bundle, tmp_path):
    """create leaves the program stopped until start; the pid in the pid
    file exits with the program's status; what it wrote persists."""
    args = ["sh", "-c", "echo ran > /ran; echo out; echo err >&2; exit 9"]
    native = _lifecycle("runc", bundle(args, "n"), "run", tmp_path, "n1")
    folder = bundle(args, "g")
    guest = _lifecycle(runtime(), folder, "run", tmp_path, "g1")
    assert native["status"] == 9 and native["created"] == "created"
    assert guest == native
    assert open(os.path.join(folder, "rootfs", "ran")).read() == "ran\n"


def test_preserve_fds_passes_the_engines_fd_as_runcs(bundle, tmp_path):
    """create --preserve-fds 1 (podman's --preserve-fds, and its socket
    activation's LISTEN_FDS): the program reads fd 3, the engine's file."""
    args = ["sh", "-c", "cat <&3; echo $?"]
    folders = [bundle(args, name) for name in ("n", "g")]
    for folder in folders:
        with open(os.path.join(folder, "in"), "w") as f:
            f.write("from the engine\n")
    native = _lifecycle("runc", folders[0], "preserve", tmp_path, "n1")
    guest = _lifecycle(runtime(), folders[1], "preserve", tmp_path, "g1")
    assert native["out"] == "from the engine\n0\n" and native["status"] == 0, native
    assert guest == native


def test_a_read_only_root_refuses_writes_as_runcs(bundle, tmp_path):
    args = ["sh", "-c", "echo x > /f; echo x > /tmp/f; ls /f /tmp/f; exit 0"]
    native = _lifecycle("runc", bundle(args, "n", readonly=True), "run", tmp_path, "n4")
    guest = _lifecycle(runtime(), bundle(args, "g", readonly=True), "run", tmp_path, "g4")
    assert "Read-only file system" in native["err"]
    assert guest == native


def test_kill_reaches_the_guest(bundle, tmp_path):
    """SIGTERM reaches the program's own handler (pid 1 of its namespace
    has no default action for it: only a handler makes it stop)."""
    args = ["sh", "-c", "trap 'echo got TERM; exit 3' TERM; touch /ready; sleep 100 & wait"]
    native = _lifecycle("runc", bundle(args, "n"), "kill", tmp_path, "n2")
    guest = _lifecycle(runtime(), bundle(args, "g"), "kill", tmp_path, "g2")
    assert native["running"] == "running" and native["status"] == 3
    assert native["out"] == "got TERM\n"
    assert guest == native


def test_delete_force_leaves_nothing_behind(bundle, tmp_path):
    guest = _lifecycle(runtime(), bundle(["sleep", "100"], "g", pids=100), "force", tmp_path, "g3")
    assert guest["status"] == -9                  # the monitor, and with it the whole guest
    assert guest["cgroups"] >= 1                  # the pids limit's
    assert guest["left"] == []                    # no process, no cgroup, no state
    assert guest["deleted"] == "gone"


def _cli(*args, cwd=None):
    return subprocess.run([runtime(), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def _one_line(r):
    assert r.returncode in (2, 127), (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("libsubst: "), r.stderr
    return lines[0]


@pytest.mark.parametrize("change, words", [
    (lambda c: c.update(hooks={"prestart": [{"path": "/bin/true"}]}), "hooks"),
    (lambda c: c.update(foo=1), "foo"),
    (lambda c: c["mounts"].append({"destination": "/mnt", "type": "nfs", "source": "x:/y"}),
     "nfs"),
    (lambda c: c["linux"].update(devices=[{"path": "/dev/fuse", "type": "c", "major": 10,
                                           "minor": 229}]), "linux.devices"),
    (lambda c: c["process"].update(args=["/no/such/program"]), "/no/such/program"),
    (lambda c: c["process"].update(terminal=True), "console-socket"),
], ids=["hooks", "unknown", "nfs", "devices", "program", "terminal"])
def test_a_config_it_cannot_honour_is_refused_at_create(bundle, tmp_path, change, words):
    folder = bundle(["true"], copy=False)       # refused before the root is touched
    cfg = json.loads(open(os.path.join(folder, "config.json")).read())
    change(cfg)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    root = str(tmp_path / "state")
    r = _cli("--root", root, "create", "--bundle", folder, "c1")
    assert words in _one_line(r)
    assert not os.path.exists(os.path.join(root, "c1"))


def test_an_error_goes_to_the_log_as_json_too(bundle, tmp_path):
    """containerd's shim reads a failed create's reason from --log (json)."""
    folder = bundle(["true"], copy=False)
    cfg = json.loads(open(os.path.join(folder, "config.json")).read())
    cfg["hooks"] = {"prestart": [{"path": "/bin/true"}]}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    log = tmp_path / "log.json"
    line = _one_line(_cli("--root", str(tmp_path / "state"), "--log", str(log), "--log-format",
                          "json", "create", "--bundle", folder, "c2"))
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(e["level"], "libsubst: " + e["msg"]) for e in entries] == [("error", line)]


@pytest.mark.parametrize("args", [["start", "nope"], ["state", "nope"], ["kill", "nope", "TERM"],
                                  ["delete", "nope"], ["frobnicate"], ["create", "a/b"],
                                  ["create", "--preserve-fds", "-1", "c"],
                                  ["create", "--preserve-fds", "1", "c"]])
def test_bad_commands_get_one_line(tmp_path, args):
    _one_line(_cli("--root", str(tmp_path), *args))


def test_features_are_json():
    r = _cli("features")
    assert r.returncode == 0
    assert json.loads(r.stdout)["ociVersionMax"].startswith("1.")


def test_the_docs_table_is_the_field_table():
    from libsubst.runtime.config import FIELDS
    text = open(os.path.join(HERE, "..", "docs", "oci-runtime.md")).read()
    rows = re.findall(r"^\| `([^`]+)` \| (\w+) \| (.+?) \|$", text, re.M)
    assert {name: (disp, note) for name, disp, note in rows} == FIELDS
