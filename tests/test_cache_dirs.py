"""The cache's path (libsubst/safedirs.py, c_src/frontend/entry.c): what
the plan and substitute caches hold decides what a guest boots, so a run
whose cache path has a directory another user could change (theirs, one
writable by group or others, a symlink leading to such a one or of theirs)
is refused with one line naming it and the fix, before anything boots, by
the front end and the Python CLI alike, and a plan cached there before is
not served."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

FRONTEND = os.path.join(os.path.dirname(sys.executable), "libsubst")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="makes a second user: root only")


@pytest.fixture(scope="module")
def other_user():
    """A real second user (a system one, no home), removed after."""
    name = f"ls-cache-{os.getpid()}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name).pw_uid
    finally:
        subprocess.run(["userdel", name], check=True, capture_output=True)


def run(cache, cwd, front=True):
    """`libsubst run` of a shell that leaves a mark in cwd: whether anything
    booted.  front: by the native front end, else the Python CLI."""
    cmd = [FRONTEND, "run"] if front else [sys.executable, "-m", "libsubst", "run"]
    return subprocess.run([*cmd, "/bin/sh", "-c", "echo booted > mark; echo ok"], cwd=cwd,
                          env=dict(os.environ, XDG_CACHE_HOME=str(cache)), capture_output=True,
                          timeout=120)


def assert_refused(done, cwd, directory, fix):
    lines = done.stderr.decode().splitlines()
    assert done.returncode != 0 and done.stdout == b"", done
    assert len(lines) == 1 and lines[0].startswith(f"libsubst: the cache directory {directory} "), \
        lines
    assert fix in lines[0] and "XDG_CACHE_HOME" in lines[0], lines
    assert not (cwd / "mark").exists()


@pytest.mark.parametrize("front", [True, False])
def test_a_cache_path_of_another_users_is_refused(other_user, tmp_path, front):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, other_user, other_user)
    # Their directory itself, and one of theirs above a cache of root's own.
    assert_refused(run(theirs, tmp_path, front), tmp_path, theirs, f"`chown 0 {theirs}`")
    (theirs / "cache").mkdir()
    assert_refused(run(theirs / "cache", tmp_path, front), tmp_path, theirs, "chown")
    # A symlink of root's own that leads there: the directory it leads to is named.
    (tmp_path / "link").symlink_to(theirs / "cache")
    assert_refused(run(tmp_path / "link", tmp_path, front), tmp_path, theirs, "chown")
    # A symlink of theirs, even to a directory of root's own: the link is named.
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "their-link").symlink_to(mine)
    os.lchown(tmp_path / "their-link", other_user, other_user)
    assert_refused(run(tmp_path / "their-link", tmp_path, front), tmp_path,
                   tmp_path / "their-link", "`rm ")
    # A symlink of root's own to a directory of root's own (relative, by ..): the run goes on.
    (tmp_path / "sub").mkdir()
    (tmp_path / "good-link").symlink_to("sub/../mine")
    done = run(tmp_path / "good-link", tmp_path, front)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"ok\n", b""), done
    assert (mine / "libsubst" / "plans").is_dir() and (tmp_path / "mark").exists()


def test_a_cache_directory_others_can_write_is_refused(other_user, tmp_path):
    # root's group may be root's private one (test_a_cache_writable_by_the_
    # owners_private_group_is_used): the group here is another user's.
    gid = pwd.getpwuid(other_user).pw_gid
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chown(open_dir, 0, gid)
    open_dir.chmod(0o777)
    assert_refused(run(open_dir, tmp_path), tmp_path, open_dir,
                   f"`chmod go-w {open_dir}`")
    assert "writable by group and others (mode 0777)" in run(open_dir, tmp_path).stderr.decode()
    # Above libsubst's own directory a sticky one (/tmp's mode) is safe:
    # nobody else can rename or remove what is root's in it ...
    open_dir.chmod(0o1777)
    done = run(open_dir, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"ok\n", b""), done
    # ... but not for libsubst's own directories, where others could add entries.
    (tmp_path / "mark").unlink()
    for sub in ("libsubst/plans", "libsubst/uklibc", "libsubst"):
        os.chown(open_dir / sub, 0, gid)
        (open_dir / sub).chmod(0o1775)
        assert_refused(run(open_dir, tmp_path), tmp_path, open_dir / sub,
                       f"`chmod go-w {open_dir / sub}`")
        (open_dir / sub).chmod(0o755)


def test_a_cached_plan_is_not_served_from_a_path_others_can_change(tmp_path):
    """The plan is cached under a safe path and served; then the directory
    above the plans is opened to others (the front end once checked the
    plans' own directory only): the run is refused, nothing boots."""
    cache = tmp_path / "cache"
    assert run(cache, tmp_path).stdout == b"ok\n"
    assert any(not p.name.startswith("kernel-") for p in (cache / "libsubst" / "plans").iterdir())
    (tmp_path / "mark").unlink()
    (cache / "libsubst").chmod(0o777)
    assert_refused(run(cache, tmp_path), tmp_path, cache / "libsubst",
                   f"`chmod go-w {cache / 'libsubst'}`")


@pytest.fixture
def private_group_user():
    """A real user with a private group (useradd --user-group, as Debian's
    USERGROUPS_ENAB makes them), its home a directory others can reach."""
    name = f"ls-upg-{os.getpid()}"
    top = tempfile.mkdtemp(prefix="libsubst-upg-")
    os.chmod(top, 0o755)
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name), top
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)   # if a member kept it
        shutil.rmtree(top, ignore_errors=True)


def as_user(pw, home, argv, cwd, trace=None, front=True):
    """argv as pw's user (its own group, no others) with HOME=home: by
    setpriv natively, or `libsubst run` (argv[0] "run") by the front end
    (else the Python CLI), under strace with a trace path.  The user must
    reach this venv and its Python, which may lie in root's home (a clone
    there, pyenv): then in a mount namespace of its own, /root is a 0711
    directory beside home (the same for every run, as a plan's dependencies
    must be) with those trees bound back in it."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C"}
    user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
    if argv[0] != "run":
        return subprocess.run([*user, *argv], env=env, cwd=cwd, capture_output=True, timeout=60)
    cmd = [*user, *([FRONTEND] if front else [sys.executable, "-m", "libsubst"]), *argv]
    if trace:
        cmd = ["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace), *cmd]
    # What of root's home the run needs: the venv (a clone in /root, as CI's)
    # and the interpreter it links to (pyenv's).
    need = sorted({p.split("/")[2] for p in (sys.executable, os.path.realpath(sys.executable),
                                             sys.prefix, FRONTEND) if p.startswith("/root/")})
    if need:
        top = os.path.dirname(home)
        fake, mnt = os.path.join(top, "root"), os.path.join(top, "mnt")
        if not os.path.isdir(fake):
            for name in need:
                os.makedirs(os.path.join(fake, name))
                os.makedirs(os.path.join(mnt, name))
            os.chmod(fake, 0o711)
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-ec",
               'fake=$1 mnt=$2 n=$3; shift 3; names=""; '
               'while [ "$n" -gt 0 ]; do names="$names $1"; shift; n=$((n - 1)); done; '
               'for x in $names; do mount --bind "/root/$x" "$mnt/$x"; done; '
               'mount --bind "$fake" /root; '
               'for x in $names; do mount --move "$mnt/$x" "/root/$x"; done; exec "$@"',
               "sh", fake, mnt, str(len(need)), *need, *cmd]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=120)


def test_a_cache_writable_by_the_owners_private_group_is_used(private_group_user, other_user):
    """umask 002 (USERGROUPS_ENAB) makes a tool's ~/.cache 0775: writable by
    the owner's private group, which only the owner is in, it is the
    owner's alone, as Debian's OpenSSH takes it for ~/.ssh.  The run goes on
    and its plan is served by the front end, as natively; once the group
    has a second member (listed, or by primary group) it is refused."""
    pw, top = private_group_user
    home = os.path.join(top, "home")
    os.makedirs(os.path.join(home, ".cache"))
    for d in (home, os.path.join(home, ".cache")):
        os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(os.path.join(home, ".cache"), 0o775)
    work = os.path.join(home, "work")          # where `mark` goes, the user's
    os.mkdir(work)
    os.chown(work, pw.pw_uid, pw.pw_gid)
    argv = ["/bin/sh", "-c", 'id -un; id -gn; echo "$HOME"; echo booted > mark']
    native = as_user(pw, home, argv, work)
    assert native.returncode == 0 and native.stdout.startswith(pw.pw_name.encode()), native
    os.unlink(os.path.join(work, "mark"))
    for trace in (None, os.path.join(top, "execve.log")):       # planned, then served
        done = as_user(pw, home, ["run", *argv], work, trace)
        assert (done.returncode, done.stdout, done.stderr) == \
            (0, native.stdout, native.stderr), done
        os.unlink(os.path.join(work, "mark"))
    with open(os.path.join(top, "execve.log")) as log:
        assert "libsubst-py" not in log.read()                 # the front end served it
    plans = os.path.join(home, ".cache", "libsubst", "plans")
    assert os.stat(plans).st_uid == pw.pw_uid

    def refused():
        for front in (True, False):
            done = as_user(pw, home, ["run", *argv], work, front=front)
            lines = done.stderr.decode().splitlines()
            assert done.returncode != 0 and done.stdout == b"", done
            assert len(lines) == 1 and lines[0].startswith(
                f"libsubst: the cache directory {home}/.cache is writable by group (mode 0775)"), \
                lines
            assert not os.path.exists(os.path.join(work, "mark"))

    # Another user listed in the group: it could plant a plan.
    other = pwd.getpwuid(other_user).pw_name
    subprocess.run(["gpasswd", "-a", other, pw.pw_name], check=True, capture_output=True)
    try:
        refused()
    finally:
        subprocess.run(["gpasswd", "-d", other, pw.pw_name], check=True, capture_output=True)
    # Another user whose primary group it is.
    name2 = f"ls-upg2-{os.getpid()}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "-g", pw.pw_name, name2], check=True, capture_output=True)
    try:
        refused()
    finally:
        subprocess.run(["userdel", name2], check=True, capture_output=True)
    # Back to the owner alone: served again.
    done = as_user(pw, home, ["run", *argv], work)
    assert (done.returncode, done.stdout, done.stderr) == (0, native.stdout, native.stderr), done


def test_a_dotdot_in_the_cache_path_is_refused(other_user, tmp_path):
    """`..` after a symlink: the kernel folds it after following the link,
    os.path.abspath before, so the directory checked would not be the one
    used (here another user's, reached by root's own link): refused, by
    the front end and the Python CLI alike; HOME's ~/.cache path too."""
    theirs = tmp_path / "theirs"
    (theirs / "sub").mkdir(parents=True)
    os.chown(theirs, other_user, other_user)
    (tmp_path / "home" / "cache").mkdir(parents=True)
    (tmp_path / "home" / "link").symlink_to(theirs / "sub")
    tricky = f"{tmp_path}/home/link/../cache"
    for front in (True, False):
        done = run(tricky, tmp_path, front)
        assert_refused(done, tmp_path, f"{tricky}/libsubst", "XDG_CACHE_HOME")
        assert "has a `..` component" in done.stderr.decode()
        assert not (theirs / "cache").exists()
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env["HOME"] = f"{tmp_path}/home/link/.."
    for cmd in ([FRONTEND, "run"], [sys.executable, "-m", "libsubst", "run"]):
        done = subprocess.run([*cmd, "/bin/sh", "-c", "echo booted > mark; echo ok"],
                              cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert_refused(done, tmp_path, f"{tmp_path}/home/link/../.cache/libsubst", "HOME")
    assert not (theirs / ".cache").exists()


def test_an_image_store_others_can_write_is_refused(other_user, tmp_path):
    """The image store (a ref names the image `run REF` boots) is checked as
    the cache: listed, pulled into, run from or removed from, a store
    another user could change is refused before it is read or written."""
    gid = pwd.getpwuid(other_user).pw_gid
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chown(open_dir, 0, gid)
    open_dir.chmod(0o777)
    env = dict(os.environ, LIBSUBST_STORE=str(open_dir / "store"))
    ref = "localhost:1/demo:1"
    for argv in (["images"], ["pull", "--insecure", ref], ["run", ref], ["rmi", ref]):
        done = subprocess.run([sys.executable, "-m", "libsubst", *argv], env=env,
                              capture_output=True, timeout=60)
        lines = done.stderr.decode().splitlines()
        assert done.returncode != 0 and len(lines) == 1, (argv, done)
        assert lines[0].startswith(f"libsubst: the image store {open_dir} is writable by group "
                                   f"and others (mode 0777)"), (argv, lines)
        assert f"`chmod go-w {open_dir}`" in lines[0] and "LIBSUBST_STORE" in lines[0], lines
    assert not (open_dir / "store").exists()
    open_dir.chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "libsubst", "images"], env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stderr == b"", done
