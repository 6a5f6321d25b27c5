"""The guest's root looks like the host's where programs look: merged-/usr
links, the usual directories, scripts whose #! names /bin/sh."""

import contextlib
import glob
import grp
import gzip
import os
import shutil
import subprocess
import tempfile
import urllib.request

import pytest

from conftest import LIBSUBST, assert_same, free_port, run_guest, run_native, wait_for_port
from libsubst.image import packages, rootfs
from libsubst.image.tree import Tree

TOP_LINKS = sorted(n for n in os.listdir("/") if os.path.islink("/" + n))


def test_layout_has_the_hosts_top_level_links():
    tree = Tree()
    rootfs.add_layout(tree)
    assert TOP_LINKS, "this host has no top-level symlinks to compare with"
    for name in TOP_LINKS:
        e = tree.get("/" + name)
        assert e.kind == "symlink" and e.target == os.readlink("/" + name)
    for d in rootfs.USUAL_DIRS:
        if os.path.isdir(d) and not os.path.islink(d):
            assert tree.get(os.path.realpath(d)).kind == "dir", d


def test_add_at_own_path_keeps_links_on_the_way():
    """--add /bin/gunzip on merged /usr: /bin stays a link, the file lands in /usr/bin."""
    if not os.path.islink("/bin"):
        pytest.skip("this host's /bin is not a symlink")
    tree = Tree()
    rootfs.add_host(tree, "/bin/gunzip")
    assert tree.get("/bin").kind == "symlink"
    assert tree.get(os.path.realpath("/bin/gunzip")).kind == "file"


def test_script_with_bin_sh_interpreter(tmp_path):
    (tmp_path / "f.gz").write_bytes(gzip.compress(b"hello from a script\n"))
    argv = ["sh", "-c", "gunzip -c f.gz; ls -d /bin/ /lib/ /sbin/ /usr/bin/ /var/tmp/ /etc/"]
    native = run_native(argv, tmp_path)
    guest = run_guest(argv, tmp_path, opts=["--add", "/bin/gunzip", "--add", "/bin/gzip",
                                            "--add", "/bin/ls"])
    assert native.returncode == 0
    assert_same(native, guest)


@pytest.mark.parametrize("opts,argv", [
    (["--add", "/bin/gunzip"], ["sh", "-c", "gunzip -c f.gz"]),     # issue 14's own words
    ([], ["gunzip", "-c", "f.gz"]),
    ([], ["zcat", "f.gz"]),
], ids=["added", "program", "zcat"])
def test_a_packages_script_brings_the_programs_it_execs(opts, argv, tmp_path):
    """gzip's gunzip and zcat are scripts that exec gzip: a script of a
    package comes with its package's programs (packages.programs)."""
    (tmp_path / "f.gz").write_bytes(gzip.compress(b"hello from gzip's script\n"))
    native = run_native(argv, tmp_path)
    assert (native.returncode, native.stdout) == (0, b"hello from gzip's script\n")
    assert_same(native, run_guest(argv, tmp_path, opts=opts))


def test_a_scripts_package_programs_are_its_packages_only():
    gzip_bin = [p for p in dpkg_query("-L", "gzip").split() if p.startswith(packages.BIN_DIRS)
                and os.path.isfile(p)]
    assert "/bin/gzip" in gzip_bin or "/usr/bin/gzip" in gzip_bin
    assert sorted(packages.programs(["/usr/bin/gunzip"])) == sorted(gzip_bin)
    assert packages.programs(["/tmp/not-a-package-file"]) == []


def test_an_added_script_brings_its_interpreter(tmp_path):
    """A script added with --add comes with the interpreter its #! line
    names, and that interpreter with its run-time trees (perl's @INC), as
    the program's own would."""
    script = tmp_path / "sum.pl"
    script.write_text("#!/usr/bin/perl\nuse List::Util qw(sum);\nprint sum(1..4), \"\\n\";\n")
    script.chmod(0o755)
    argv = ["sh", "-c", "./sum.pl"]
    native = run_native(argv, tmp_path)
    assert (native.returncode, native.stdout) == (0, b"10\n")
    assert_same(native, run_guest(argv, tmp_path, opts=["--add", str(script)]))


ENV_SCRIPTS = {
    "python3": "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n",
    "perl -S": "#!/usr/bin/env -S perl -w\nuse List::Util qw(sum);\nprint sum(@ARGV), \"\\n\";\n",
    "missing": "#!/usr/bin/env no-such-program-here\n",
}


@pytest.mark.parametrize("name", ENV_SCRIPTS)
def test_an_env_script_brings_the_program_env_runs(name, tmp_path):
    """#!/usr/bin/env NAME: NAME, found on the guest's PATH as env finds
    it, comes with its libraries and trees (python3's standard library),
    run from a relative path and packed from one; one env cannot find
    fails as natively."""
    script = tmp_path / "app"
    script.write_text(ENV_SCRIPTS[name])
    script.chmod(0o755)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}    # not a venv's or pyenv's python3
    argv = ["./app", "1", "2"]
    native = run_native(argv, tmp_path, env=env)
    assert native.returncode == (127 if name == "missing" else 0), native.stderr
    assert_same(native, run_guest(argv, tmp_path, env=env))
    if name == "missing":
        return
    packed = subprocess.run([*LIBSUBST, "pack", "./app", "-o", str(tmp_path / "app.lsi")],
                            cwd=tmp_path, capture_output=True, timeout=300, env=env)
    assert packed.returncode == 0, packed.stderr
    # The image's working directory is /: ./app is exec'd where it was packed.
    image = run_guest([str(tmp_path / "app.lsi"), "1", "2"], "/", env=env)
    assert (image.stdout, image.returncode) == (native.stdout, 0), image.stderr


def test_an_added_directory_brings_its_programs_libraries(tmp_path):
    """A directory added at its own path (gcc's helpers' directory) brings
    each program in it with the libraries it loads: here xz, which needs
    liblzma, a library sh (the program run) does not load, in a
    subdirectory beside a plain file."""
    tools = tmp_path / "tools" / "bin"
    tools.mkdir(parents=True)
    (tools / "xz").write_bytes(open("/usr/bin/xz", "rb").read())
    (tools / "xz").chmod(0o755)
    (tools / "notes.txt").write_text("alpha\nbeta\n" * 20)
    argv = ["sh", "-c", "tools/bin/xz -c tools/bin/notes.txt | tools/bin/xz -dc | tail -n 1"]
    native = run_native(argv, tmp_path)
    assert (native.returncode, native.stdout) == (0, b"beta\n")
    assert_same(native, run_guest(argv, tmp_path, opts=["--no-cwd", "-w", str(tmp_path),
                                                         "--add", str(tmp_path / "tools"),
                                                         "--add", "/usr/bin/tail"]))


@pytest.mark.parametrize("how", ["script", "link"])
def test_a_scripts_interpreter_through_a_link_out_of_the_volume(how, tmp_path):
    """A #! line naming a symlink in a volume that leads out of it (a venv's
    bin/python3 -> /usr/bin/python3; here bin/sh -> /usr/bin/dash): the
    interpreter is the link's target and the script its argument, as
    natively, whether the script is run by its path or through a link."""
    (tmp_path / "bin").mkdir()
    os.symlink("/usr/bin/dash", tmp_path / "bin" / "sh")
    script = tmp_path / "show.sh"
    script.write_text(f"#!{tmp_path}/bin/sh\necho \"$0|$*\"\n")
    script.chmod(0o755)
    os.symlink("show.sh", tmp_path / "shown")
    run = "./show.sh" if how == "script" else "./shown"
    argv = ["sh", "-c", f"{run} a 'b c'; echo $?"]
    native = run_native(argv, tmp_path)
    assert native.stdout == f"{run}|a b c\n0\n".encode(), native.stderr
    assert_same(native, run_guest(argv, tmp_path, opts=["--add", "/usr/bin/dash"]))


def test_a_sibling_in_the_way_of_an_added_file_is_left_out(tmp_path):
    """A file the user adds where the package's program would go keeps its
    place: the sibling is a convenience, never an error."""
    from libsubst.image.layout import layout_program

    mine = tmp_path / "gzip"
    mine.write_text("#!/bin/sh\necho mine\n")
    gzip_at = os.path.realpath("/bin/gzip")
    lay = layout_program("gunzip", [], dict(os.environ), lookup=os.environ["PATH"],
                         hostname="h", add=[f"{mine}:{gzip_at}"], subst=False)
    assert lay.tree.get(gzip_at).host_path == str(mine)
    assert lay.tree.get(os.path.realpath("/bin/zcat")).kind == "file"


def test_a_program_brings_its_packages_programs_it_names(tmp_path):
    """dovecot (and its libdovecot) name /usr/bin/doveconf, which `dovecot
    -n` executes: a program comes with the programs of its own package its
    read-only data names by absolute path; /usr/sbin/sendmail, which it
    names too, is another package's (postfix's) and stays out."""
    from libsubst.image.layout import layout_program

    lay = layout_program("dovecot", [], dict(os.environ), lookup=os.environ["PATH"],
                         hostname="h", subst=False)
    assert lay.tree.get(os.path.realpath("/usr/bin/doveconf")).kind == "file"
    assert lay.tree.get("/usr/bin/doveadm").kind == "file"
    assert lay.tree.get("/usr/sbin/sendmail") is None
    gzip_lay = layout_program("gzip", [], dict(os.environ), lookup=os.environ["PATH"],
                              hostname="h", subst=False)
    assert gzip_lay.tree.get(os.path.realpath("/bin/zcat")) is None     # gzip names none
    (tmp_path / "d.conf").write_text("protocols = imap\nlisten = 127.0.0.1\n")
    argv = ["dovecot", "-n", "-c", str(tmp_path / "d.conf")]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and b"protocols = imap" in native.stdout, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def test_root_listing_names_the_same_links(tmp_path):
    """readlink of each top-level link in the guest is the host's."""
    argv = ["sh", "-c", "for l in " + " ".join("/" + n for n in TOP_LINKS) + "; do readlink $l; done"]
    assert_same(run_native(argv, tmp_path),
                run_guest(argv, tmp_path, opts=["--add", "/usr/bin/readlink"]))


# -- package-aware contents --------------------------------------------------

def dpkg_query(*args):
    return subprocess.run(["dpkg-query", *args], capture_output=True, text=True, check=True).stdout


def test_owner_is_dpkgs():
    for prog in ("/usr/sbin/nginx", "/bin/gzip", "/usr/bin/python3.11"):
        # dpkg knows a file by the path its package ships (/bin/gzip on merged /usr).
        assert packages.owner(prog) == dpkg_query("-S", prog).split(":")[0]
    assert packages.owner("/tmp/not-a-package-file") is None


def test_a_program_run_through_a_link_counts_both_packages():
    """/usr/bin/python3 is python3-minimal's link to python3.11, the file
    python3.11-minimal ships: the file run decides, the link's package
    counts too (the way tclsh, tcl's link, runs tcl8.6's tclsh8.6, whose
    init.tcl is libtcl8.6's)."""
    real = os.path.realpath("/usr/bin/python3")
    assert packages.owner("/usr/bin/python3") == dpkg_query("-S", real).split(":")[0]
    assert packages.owner("/usr/bin/python3", follow=False) == \
        dpkg_query("-S", "/usr/bin/python3").split(":")[0]
    found = packages.contents(["/usr/bin/python3"])
    assert {packages.owner("/usr/bin/python3"), "python3-minimal"} <= set(found.packages)
    assert "/usr/share/python3/debian_defaults" in found.files


def test_nginx_contents_follow_the_rule():
    """nginx's own package and nginx-common (same source): its /etc (with
    the link its postinst makes to enable the default site), its
    /usr/share/nginx, its state directories; not its documentation."""
    found = packages.contents(["/usr/sbin/nginx"])
    assert "nginx-common" in found.packages
    listed = set(dpkg_query("-L", "nginx-common").split())
    want = {p for p in listed if (p.startswith("/etc/") or p.startswith("/usr/share/nginx/"))
            and not (os.path.isdir(p) and not os.path.islink(p))}
    enabled = "/etc/nginx/sites-enabled/default"
    if os.path.islink(enabled) and os.path.realpath(enabled) in listed:
        want.add(enabled)
    # nginx.conf's include /etc/nginx/modules-enabled/*.conf: the links other
    # packages' postinst made there (packages._named_config)
    want |= set(glob.glob("/etc/nginx/modules-enabled/*"))
    assert want <= set(found.files)
    # and the files below /etc that those name where they exist on this host
    # (snakeoil.conf's /etc/ssl/certs/ssl-cert-snakeoil.pem, with ssl-cert)
    texts = b"".join(open(p, "rb").read() for p in want if os.path.isfile(p))
    extra = set(found.files) - want
    assert all(p.startswith("/etc/") and p.encode() in texts for p in extra), extra
    assert {"/var/lib/nginx", "/var/log/nginx"} <= set(found.state_dirs)
    assert not any("/doc/" in p or "/man/" in p for p in found.files + found.dirs)


def test_a_package_users_home_comes_empty_with_its_mode():
    """vsftpd's postinst makes the ftp user, whose home /srv/ftp its server
    enters before its anonymous root: the guest gets it empty, with the
    host's mode (root owns it: vsftpd refuses a root its user can write);
    mosquitto's user's home comes too, world-writable (the guest's copy is
    root's, and that user writes its database there).  A package that makes
    no user brings no home."""
    import pwd
    ftp, mosq = pwd.getpwnam("ftp").pw_dir, pwd.getpwnam("mosquitto").pw_dir
    assert ftp == "/srv/ftp" and os.stat(ftp).st_uid == 0
    assert ftp in packages.contents(["/usr/sbin/vsftpd"]).state_dirs
    assert mosq in packages.contents(["/usr/sbin/mosquitto"]).state_dirs
    assert not [d for d in packages.contents(["/usr/bin/jq"]).state_dirs
                if d in packages.system_homes().values()]
    mounts, _ = rootfs.scratch_mounts([], [], [ftp, mosq])
    modes = {m.guest: m.mode for m in mounts}
    assert modes[ftp] == os.stat(ftp).st_mode & 0o7777 and modes[mosq] is None, modes


def test_a_services_run_directory_keeps_its_group(tmp_path):
    """bind9's tmpfiles.d makes /run/named root's with group bind, mode
    0775, where named as bind writes its session key; bind's home
    /var/cache/bind is so too: the guest's copies have the mode and the
    group, as natively; a root:root directory stays root's group."""
    argv = ["sh", "-c", "stat -c '%n %a %U %G' /run/named /var/cache/bind"]
    opts = ["--add", "/usr/sbin/named", "--add", "/usr/bin/stat"]
    native = run_native(argv, tmp_path)
    assert native.stdout == b"/run/named 775 root bind\n/var/cache/bind 775 root bind\n", native
    assert_same(native, run_guest(argv, tmp_path, opts=opts))
    # A root:root one, as sshd's /run/sshd (which only a booted systemd makes).
    rootdir = tempfile.mkdtemp(dir="/run", prefix="libsubst-test-")
    try:
        os.chown(rootdir, 0, 0)
        mounts, _ = rootfs.scratch_mounts([], [], ["/run/named", rootdir])
    finally:
        os.rmdir(rootdir)
    owners = {m.guest: (m.mode, m.gid) for m in mounts}
    assert owners["/run/named"] == (0o775, grp.getgrnam("bind").gr_gid), owners
    assert owners[rootdir][1] is None, owners


def test_what_glibc_dlopens_itself_comes_with_every_program(tmp_path):
    """libgcc_s.so.1, which glibc dlopens to unwind a thread (pthread_exit,
    pthread_cancel's cleanup handlers) and for backtrace(3): c/unwind.c,
    linked without it, ends its threads both ways and itself by
    pthread_exit, as natively."""
    from conftest import build_c
    exe = build_c("unwind", str(tmp_path))
    native = run_native([exe], tmp_path)
    assert native.returncode == 0 and b"cleanup: pthread_cancel" in native.stdout, native
    assert_same(native, run_guest([exe], tmp_path))


def test_contents_take_data_named_otherwise_and_links_to_configuration():
    """Data below /usr/share whose directory is not named after the package
    (git's templates, python3-minimal's defaults, libmagic's database, a
    link into /usr/lib/file), openssl's /usr/lib/ssl/openssl.cnf link into
    /etc; no documentation, manuals or editor files."""
    found = packages.contents(["/usr/bin/git", "/usr/bin/py3versions", "/usr/bin/file",
                               "/usr/bin/openssl"])
    files = set(found.files)
    assert "/usr/share/git-core/templates/description" in files
    assert "/usr/share/python3/debian_defaults" in files
    assert "/usr/share/misc/magic.mgc" in files
    assert os.path.realpath("/usr/lib/ssl/openssl.cnf") == "/etc/ssl/openssl.cnf"
    assert {"/usr/lib/ssl/openssl.cnf", "/etc/ssl/openssl.cnf"} <= files
    assert not [p for p in files if p.startswith(packages.NOT_DATA)]
    assert not [p for p in files if p.startswith("/usr/lib/") and not os.path.islink(p)]


@pytest.mark.skipif(not os.path.exists("/usr/bin/aria_chk"), reason="mariadb-server (tests/run.sh)")
@pytest.mark.parametrize("argv", [
    # found by the sweep: every MariaDB tool reads my.cnf, whose
    # !includedir names mysql-common's /etc/mysql/conf.d
    ["/usr/bin/aria_chk", "--version"],
    # the options of the included files, of three packages
    ["/usr/bin/my_print_defaults", "mysqld", "client-server", "client", "mysqldump"],
], ids=["aria_chk", "my_print_defaults"])
def test_configuration_a_configuration_file_includes_as_native(argv, tmp_path):
    """The paths below /etc a package's configuration names come, with the
    files in a named directory, whichever package ships them."""
    native = run_native(argv, tmp_path)
    assert native.returncode == 0 and native.stdout, native.stderr
    assert_same(native, run_guest(argv, tmp_path))


def test_named_configuration_is_only_what_anyone_may_read():
    """debian.cnf (mode 0600, the maintenance password) is never brought."""
    files = packages.contents(["/usr/bin/my_print_defaults"]).files
    assert "/etc/mysql/conf.d/mysqldump.cnf" in files
    assert "/etc/mysql/mariadb.conf.d/50-server.cnf" in files
    assert "/etc/mysql/debian.cnf" not in files


def test_a_packages_own_trees_below_usr_lib():
    """A directory one level below /usr/lib (or its multiarch directory)
    that the packages ship files in is their tree (git's helpers); the
    directories many packages share for drop-ins are no one's."""
    trees = packages.contents(["/usr/bin/git"]).trees
    assert "/usr/lib/git-core" in trees
    shared = packages.contents(["/usr/bin/python3.11", "/usr/bin/memcached"]).trees
    assert not [t for t in shared if t.endswith(".d") or t == "/usr/lib/x86_64-linux-gnu"]


@pytest.mark.parametrize("tz", ["Europe/Paris", ":America/New_York", "CET-1CEST"])
def test_a_named_time_zone_as_native(tz, tmp_path):
    """TZ names a zone (or a POSIX rule, whose missing transitions glibc
    reads from the database's posixrules): tzdata's database is mounted."""
    argv = ["date", "-d", "@1000000000", "+%F %T %Z %z"]
    env = dict(os.environ, TZ=tz)
    native = run_native(argv, tmp_path, env=env)
    assert native.returncode == 0 and b" UTC " not in native.stdout, native
    assert_same(native, run_guest(argv, tmp_path, env=env))


def test_an_editors_own_runtime_is_its_data(tmp_path):
    """vim's /usr/share/vim (vim-runtime, built from vim's source) is its
    run-time data, though editors' directories of other packages are not:
    vim -es finds $VIMRUNTIME's syntax files and detects a file type."""
    vim = shutil.which("vim")
    if vim is None:
        pytest.skip("tests/run.sh installs vim")
    files = packages.contents([vim]).files
    assert any(p.startswith("/usr/share/vim/") and p.endswith("/defaults.vim") for p in files)
    assert not [p for p in packages.contents(["/usr/bin/git"]).files
                if p.startswith(packages.OWN_DATA)]
    (tmp_path / "x.c").write_text("int main(void) { return 0; }\n")
    argv = ["vim", "-es", "-N", "-c", "call writefile([$VIMRUNTIME, filereadable($VIMRUNTIME"
            " . '/syntax/c.vim')], 'o.txt')", "-c", "filetype on", "-c", "e x.c", "-c",
            "call writefile([&ft], 'o.txt', 'a')", "-c", "%s/0/1/", "-c", "w", "-c", "q"]
    native = run_native(argv, tmp_path)
    assert native.returncode == 0, native.stderr
    wrote = (tmp_path / "o.txt").read_text(), (tmp_path / "x.c").read_text()
    assert wrote[0].endswith("\n1\nc\n") and "return 1" in wrote[1]
    (tmp_path / "o.txt").unlink()
    (tmp_path / "x.c").write_text("int main(void) { return 0; }\n")
    assert_same(native, run_guest(argv, tmp_path))
    assert ((tmp_path / "o.txt").read_text(), (tmp_path / "x.c").read_text()) == wrote


@contextlib.contextmanager
def nginx(argv, port, cwd, guest):
    cmd = [*LIBSUBST, "run", *argv] if guest else argv
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fetch(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


def test_nginx_with_the_packages_default_paths(tmp_path):
    """An ordinary configuration: the package's mime.types, its default
    error log (/var/log/nginx/error.log) and client body directory
    (/var/lib/nginx/body), written to the guest's own scratch copies, gone
    after the run; the host's stay as they were."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from the package's nginx\n")
    body = os.urandom(64 * 1024)
    results = []
    host_log = [(p, os.stat(p).st_mtime_ns) for p in glob.glob("/var/log/nginx/*")]
    for guest in (False, True):
        port = free_port()
        conf = tmp_path / f"site{int(guest)}.conf"
        conf.write_text(f"""user root;
worker_processes 1;
pid {tmp_path}/nginx{int(guest)}.pid;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        root {tmp_path}/www;
        # The body goes to a file of /var/lib/nginx/body before it is passed on:
        # a 500 if that directory cannot be written.
        location /upload {{ client_body_in_file_only on; proxy_pass http://127.0.0.1:{port}/ok; }}
        location /ok {{ return 200 "stored\\n"; }}
    }}
}}
""")
        with nginx(["nginx", "-c", str(conf), "-g", "daemon off;"], port, tmp_path, guest):
            status, page = fetch(port, "/index.html")
            up_status, up = fetch(port, "/upload", body)
        results.append((status, page, up_status, up))
        if guest:
            assert [(p, os.stat(p).st_mtime_ns) for p in glob.glob("/var/log/nginx/*")] == host_log
    assert results[0] == results[1]
    assert results[1] == (200, b"hello from the package's nginx\n", 200, b"stored\n")


def test_packed_nginx_has_writable_state_directories(tmp_path):
    """A packed image keeps the package's state directories; its run makes
    them writable as `run` does: the default error log and the client body
    directory work."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from a packed nginx\n")
    port = free_port()
    (tmp_path / "site.conf").write_text(f"""user root;
worker_processes 1;
pid /tmp/nginx.pid;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        root /www;
        # The body goes to a file of /var/lib/nginx/body before it is passed on:
        # a 500 if that directory cannot be written.
        location /upload {{ client_body_in_file_only on; proxy_pass http://127.0.0.1:{port}/ok; }}
        location /ok {{ return 200 "stored\\n"; }}
    }}
}}
""")
    image = str(tmp_path / "nginx.lsi")
    subprocess.run([*LIBSUBST, "pack", "--add", f"{tmp_path}/site.conf:/site.conf",
                    "--volume", "/www:ro", "-o", image, "nginx", "-c", "/site.conf",
                    "-g", "daemon off;"], check=True, capture_output=True, timeout=300)
    with nginx(["--volume", f"{tmp_path}/www:/www", image], port, tmp_path, True):
        assert fetch(port, "/index.html") == (200, b"hello from a packed nginx\n")
        assert fetch(port, "/upload", os.urandom(64 * 1024)) == (200, b"stored\n")


def test_a_config_names_nothing_outside_etc(tmp_path):
    """The paths below /etc a configuration names are read after
    normalising: `/etc/..` and `/etc/.` bring nothing (the reviewer's
    traversal: a file and /proc/self/cmdline came)."""
    from libsubst.image import packages
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "notes.txt").write_text("x")
    cnf = tmp_path / "evil.cnf"
    cnf.write_text(f"!includedir /etc/..{secret}\ninclude /etc/../proc/self/cmdline\n"
                   "# /etc/.\n")
    out = packages.Contents()
    out.files.append("/etc/.." + str(cnf))
    packages._named_config(out)
    assert out.files == ["/etc/.." + str(cnf)] and not out.dirs


@pytest.mark.skipif(not shutil.which("gcc-ar") or not shutil.which("fuse-overlayfs"),
                    reason="gcc and fuse-overlayfs (tests/run.sh)")
def test_a_program_brings_what_it_runs_by_name_of_the_packages_it_depends_on():
    """gcc-ar runs binutils' ar by PATH (gcc-12 depends on binutils, and
    holds "ar" as the end of "gcc-ar"); fuse-overlayfs's libfuse3 runs
    fuse3's fusermount3, a package fuse-overlayfs depends on.  (Compared
    with native runs: test_sweep.py's TRIAGED.)"""
    from libsubst.image.layout import layout_program

    for prog, wanted in (("gcc-ar", "/usr/bin/ar"), ("fuse-overlayfs", "/usr/bin/fusermount3")):
        lay = layout_program(prog, [], dict(os.environ), lookup=os.environ["PATH"],
                             hostname="h", subst=False)
        assert lay.tree.get(os.path.realpath(wanted)).kind == "file", prog


@pytest.mark.parametrize("prog", ["git", "nginx", "ssh", "slapd", "sshd"])
def test_a_word_that_ends_in_a_programs_name_brings_no_program(prog, monkeypatch):
    """Words a program holds that end in, or are, a name of a program of a
    package its package depends on bring nothing it does not run: git's
    "approve" (perl's prove, a script, would bring all of perl), nginx's
    "gzip" (ip), ssh's "/etc/passwd", slapd's "true" and "users", sshd's
    fopen mode "w".  Its root is the one planned without the rule."""
    from libsubst.image import layout

    if not shutil.which(prog):
        pytest.skip(f"{prog} is not installed (tests/run.sh)")

    def entries():
        lay = layout.layout_program(prog, [], dict(os.environ), lookup=os.environ["PATH"],
                                    hostname="h", subst=False)
        return sorted(getattr(e, "path", str(e)) for e in lay.tree.entries())

    got = entries()
    monkeypatch.setattr(layout, "_path_programs", lambda binary, objects: [])
    assert got == entries()
