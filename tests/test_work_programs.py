"""Programs nobody listed, doing real work: version control (git's whole
workflow with a hook, mercurial, subversion on a file:// repository),
archives and compression on two threads, XML and CSV tools, audio, an
rsync daemon, HTTP/2 over TLS, terminals made by the program (tmux,
script), System V IPC, file attributes and holes, keys and signatures, a
Lisp machine in batch mode.  Each runs natively and under libsubst in a
fresh directory of the same path, the programs it execs given with --add;
stdout, stderr, exit status and the names and sizes of the files made are
compared (test_tools._same_as_native).  What must differ between two runs
natively too is fixed: commit dates and names (git), sox's dither seed
(-R), file times before 7z stores them."""

import os
import shutil

import pytest

from conftest import free_port, run_guest, run_native
from test_tools import _same_as_native

GIT = ("set -e; export GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000' GIT_AUTHOR_NAME=a "
       "GIT_AUTHOR_EMAIL=a@b GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@b HOME=$PWD; "
       "git init -q -b main r; cd r; printf '1\\n2\\n3\\n' > f; git add f; git commit -qm one; "
       "git checkout -qb topic; echo 4 >> f; git commit -qam four; git checkout -q main; "
       "sed -i 1s/1/0/ f; git commit -qam zero; git merge -q --no-edit topic; git log --oneline --graph; "
       "git checkout -qb re HEAD~1; echo x > g; git add g; git commit -qm x; git rebase -q topic; "
       "git log --format='%H %s'; "
       # a hook: a #! script git runs with the repository's environment
       "printf '#!/bin/sh\\necho hook $(git rev-parse --short HEAD)\\n' > .git/hooks/post-commit; "
       "chmod +x .git/hooks/post-commit; git commit -q --allow-empty -m e; "
       "git gc -q; git count-objects -v; git bundle create ../b.bundle --all 2>&1; cd ..; "
       "git clone -q b.bundle c; git clone -q --no-local r d; git -C d log --oneline | wc -l; "
       "git -C c fsck --no-progress; cat c/f")
HG = ("set -e; export HOME=$PWD HGUSER='a <a@b>' HGRCPATH=; hg init r; cd r; echo 1 > f; "
      "hg add -q f; hg commit -m one -d '0 0'; echo 2 >> f; hg commit -m two -d '0 0'; "
      "hg log -T '{rev}:{node|short} {desc}\\n'; hg up -q 0; echo b > g; hg add -q g; "
      "hg commit -q -m b -d '0 0'; hg merge -q; hg commit -m m -d '0 0'; hg log -G -T '{rev} {desc}\\n'; "
      "cd ..; hg clone -q r c; hg -R c verify -q; hg -R c cat -r tip f g; hg -R r bundle -q --all b.hg; "
      "hg -R r export -r 1")
SVN = ("set -e; export HOME=$PWD; svnadmin create repo; svn -q checkout file://$PWD/repo wc; cd wc; "
       "echo 1 > f; svn -q add f; svn -q commit -m one; echo 2 >> f; svn -q commit -m two; "
       "svn -q update; svn log -q | sed 's/|.*//'; svn cat -r 1 f; svn diff -r 1:2 | tail -3; "
       "svnadmin verify -q ../repo; svnadmin dump -q ../repo | grep -c Revision-number")
# user.* extended attributes through tar, cpio's newc, compressors on two
# threads, 7z on two (file times fixed: gzip's header and 7z store them)
ARCHIVES = ("mkdir d; seq 1 50000 > d/n; echo a > d/a; ln -s a d/l; touch -h -d @0 d/*; "
            "setfattr -n user.k -v v1 d/a; tar --xattrs -cf x.tar -C d .; mkdir e; "
            "tar --xattrs -xf x.tar -C e; getfattr -d e/a; "
            "find d | sort | cpio -o -H newc 2>/dev/null > a.cpio; mkdir f; cd f; cpio -idm < ../a.cpio 2>&1; "
            "cd ..; cmp d/n f/d/n && echo cpio; pbzip2 -p2 -k d/n; pbzip2 -dc d/n.bz2 | md5sum; "
            "pigz -p 2 -k d/n; pigz -dc d/n.gz | md5sum; xz -T2 -k d/n; md5sum d/n.*; "
            "touch -h -d @0 d d/*; 7z a -bd -mmt2 a.7z d > /dev/null; md5sum a.7z; "
            "7z x -bd -oo a.7z > /dev/null; cmp d/n o/d/n && echo 7z; zip -qr a.zip d; unzip -l a.zip | tail -1")
XSLT = ('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:output method="text"/><xsl:template match="i"><xsl:value-of select="@n"/>;</xsl:template>'
        '</xsl:stylesheet>')
XML = ("printf '<?xml version=\"1.0\"?>\\n<r><i n=\"1\">a</i><i n=\"2\">b</i></r>\\n' > a.xml; "
       "xmllint --format a.xml; xmllint --xpath '//i[@n=2]/text()' a.xml; echo; "
       "xmlstarlet sel -t -v 'count(//i)' -n a.xml; xmlstarlet ed -u '//i[1]' -v z a.xml; "
       "printf '<!ELEMENT r (i*)><!ELEMENT i (#PCDATA)><!ATTLIST i n CDATA #REQUIRED>' > r.dtd; "
       f"xmllint --noout --dtdvalid r.dtd a.xml; echo $?; echo '{XSLT}' > t.xsl; xmlstarlet tr t.xsl a.xml; "
       "printf 'a,b\\n1,x\\n3,y\\n2,x\\n' > c.csv; mlr --icsv --ojson sort -nr a c.csv; "
       "mlr --icsv --opprint stats1 -a sum,count -f a -g b c.csv")
SOX = ("sox -R -n -r 8000 -b 16 a.wav synth 0.5 sine 440; sox -R a.wav b.wav reverse; soxi a.wav; "
       "sox -R a.wav -n stat 2>&1; md5sum a.wav b.wav; sox -R a.wav c.flac; sox -R c.flac -t raw - | md5sum; "
       "sox -R a.wav d.wav rate 44100 tempo 1.5 && md5sum d.wav")
# the daemon and its clients in one guest, the module written back to
RSYNCD = ("mkdir src dst; seq 1 30000 > src/n; echo a > src/a; mkdir src/s; echo b > src/s/b; "
          "printf 'use chroot = no\\nuid = 0\\ngid = 0\\nport = {port}\\naddress = 127.0.0.1\\n"
          "pid file = '$PWD'/rd.pid\\n[m]\\npath = '$PWD'/src\\nread only = no\\n' > rd.conf; "
          "rsync --daemon --config=rd.conf --no-detach & p=$!; trap 'kill $p 2>/dev/null' EXIT; "
          "until rsync rsync://127.0.0.1:{port}/ >/dev/null 2>&1; do sleep 0.1; done; "
          "rsync rsync://127.0.0.1:{port}/; rsync -a -i rsync://127.0.0.1:{port}/m/ dst/ | sort; "
          "echo c > dst/c; rsync -a -i dst/c rsync://127.0.0.1:{port}/m/; kill $p; wait $p; echo $?; "
          "cat src/c; rm -f rd.pid")
# nghttpd over TLS with a certificate made in the run; curl, nghttp, h2load
# (the shell's "Terminated" for the killed server is said only when it has
# noticed the end in time, natively too: not compared)
HTTP2 = ("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem "
         "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null; mkdir www; "
         "seq 1 20000 > www/n; nghttpd -d www {port} k.pem c.pem & p=$!; trap 'kill $p 2>/dev/null' EXIT; "
         "until curl -s --cacert c.pem https://localhost:{port}/n >/dev/null; do sleep 0.1; done; "
         "curl -s --http2 --cacert c.pem -o got -w '%{http_version} %{http_code} %{size_download}\\n' "
         "https://localhost:{port}/n; cmp got www/n && echo same; "
         "h2load -n 20 -c 2 -m 4 https://localhost:{port}/n | grep -E '^requests|status codes'; "
         "{ kill $p; wait $p; } 2>/dev/null; echo $?; rm -f k.pem c.pem")
# a server process holding pseudo-terminals, driven by its client
TMUX = ("tmux -S ./t.sock -f /dev/null new-session -d -x 80 -y 10 sh; "
        "trap 'tmux -S ./t.sock kill-server 2>/dev/null' EXIT; "
        "tmux -S ./t.sock send-keys 'echo v=$((6*7))' Enter; "
        "until tmux -S ./t.sock capture-pane -p | grep -q 'v=42'; do sleep 0.1; done; "
        "tmux -S ./t.sock capture-pane -p | grep -o 'v=42'; "
        "tmux -S ./t.sock list-sessions -F '#{session_name} #{window_width}x#{window_height}'; "
        "tmux -S ./t.sock kill-server; echo $?")
# each object made is listed by its id and removed (natively they outlive the run)
IPC = ("q=$(ipcmk -Q | sed 's/.*: //'); s=$(ipcmk -S 2 | sed 's/.*: //'); m=$(ipcmk -M 4096 | sed 's/.*: //'); "
       "ipcs -q -i $q | grep -c -i 'msqid'; ipcs -s -i $s | grep -c semnum; ipcs -m -i $m | grep -c 'segment size=4096'; "
       "ipcrm -q $q -s $s -m $m; echo $?; ipcs -l | head -5")
# (no filefrag: on a file system without FIEMAP, a tmpfs, it falls back to
# FIBMAP, which needs CAP_SYS_RAWIO, a capability the guest never has)
FILES = ("seq 1 100000 > f; lsattr f | cut -c1-22; chattr +A f; echo $?; "
         "cp --reflink=auto f g; cmp f g && echo cp; "
         "fallocate -l 1M h; fallocate -p -o 4096 -l 8192 h; du -k h; stat -c '%s %b' h; "
         "truncate -s 10M s; du -k s; mkfifo p; (echo via-fifo > p &); cat p")
KEYS = ("openssl speed -multi 2 -seconds 1 -mr sha256 2>/dev/null | grep -c '^+F'; "
        "ssh-keygen -q -t ed25519 -N '' -C t -f k; echo msg > m; ssh-keygen -q -Y sign -f k -n file m; "
        "printf 't %s\\n' \"$(cut -d' ' -f1,2 k.pub)\" > allowed; "
        "ssh-keygen -q -Y verify -f allowed -I t -n file -s m.sig < m; "
        "ssh-keygen -q -t rsa -b 2048 -N '' -f r; ssh-keygen -y -f r | cmp - r.pub && echo y")
# public-key and symmetric encryption through the agent gpg starts
GPG = ("export GNUPGHOME=$PWD/g; mkdir -m 700 g; "
       "gpg --batch --quiet --passphrase '' --quick-gen-key 'T <t@e.org>' rsa2048 default never 2>&1 "
       "| grep -v revocation; "
       "gpg --batch --quiet --passphrase '' --quick-add-key "
       "$(gpg --list-keys --with-colons | grep ^fpr | head -1 | cut -d: -f10) rsa2048 encr never; "
       "echo secret > m; gpg --batch -q --yes -r t@e.org -e -o m.gpg m; gpg --batch -q -d m.gpg; "
       "gpg --batch -q --passphrase pw --symmetric -o s.gpg m && gpg --batch -q --passphrase pw -d s.gpg; "
       "gpg --batch -q --clearsign -o c.asc m; gpg --batch -q --verify c.asc 2>&1 | grep -c Good; "
       "gpg --batch --list-secret-keys --with-colons | cut -d: -f1,2,3,4 | grep ^s; "
       "gpgconf --kill gpg-agent")
EMACS = ("printf 'b\\na\\nc\\n' > t.txt; emacs --batch -Q t.txt --eval '(progn (sort-lines nil "
         "(point-min) (point-max)) (goto-char (point-max)) (insert (format \"%d\\n\" (* 6 7))) "
         "(save-buffer))' 2>&1; cat t.txt; printf '* H\\nSome /text/.\\n' > a.org; "
         "emacs --batch -Q a.org -f org-html-export-to-html 2>&1 | tail -1; grep -c '<h2\\|<i>' a.html")

# name: (script, programs to --add, long, compare the files made)
CASES = {
    "git workflow": (GIT, ["git", "sed", "cat", "wc", "chmod"], False, True),
    "mercurial": (HG, ["hg"], True, True),
    "subversion file://": (SVN, ["svn", "svnadmin", "sed", "tail", "grep"], True, True),
    "archives": (ARCHIVES, ["setfattr", "getfattr", "tar", "cpio", "find", "sort", "cmp", "pbzip2",
                            "pigz", "md5sum", "xz", "touch", "7z", "zip", "unzip", "tail", "seq"],
                 False, True),
    "xml csv": (XML, ["xmllint", "xmlstarlet", "mlr"], False, True),
    "sox": (SOX, ["sox", "soxi", "md5sum"], False, True),
    "rsync daemon": (RSYNCD, ["rsync", "seq", "sort", "sleep", "cat", "rm"], False, True),
    "http2 tls": (HTTP2, ["openssl", "nghttpd", "curl", "h2load", "seq", "cmp", "grep", "sleep", "rm"],
                  False, True),
    "tmux": (TMUX, ["tmux", "sh", "grep", "sleep"], False, True),
    "sysv ipc": (IPC, ["ipcmk", "ipcs", "ipcrm", "sed", "grep", "head"], False, True),
    "file attributes holes fifo": (FILES, ["lsattr", "chattr", "cp", "cmp", "fallocate",
                                           "du", "stat", "truncate", "mkfifo", "cat", "seq", "cut",
                                           "sed"], False, True),
    "openssl ssh-keygen": (KEYS, ["openssl", "ssh-keygen", "grep", "cut", "cmp"], False, True),
    # the keys' file names are random
    "gpg encrypt": (GPG, ["gpg", "gpg-agent", "gpgconf", "gpg-connect-agent", "grep", "head", "cut"],
                    False, False),
    "emacs batch": (EMACS, ["emacs", "cat", "tail", "grep"], True, True),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.long] if c[2] else [])
                                  for n, c in CASES.items()])
def test_as_native(name, tmp_path):
    script, add, _long, made = CASES[name]
    native = _same_as_native(script.replace("{port}", str(free_port())), add, tmp_path, made=made)
    assert native.stdout, native.stderr


# Each runs the user's shell, which $SHELL names (layout.USER_PROGRAM_VARS);
# the shell itself is not --add'ed.
USER_SHELL = {
    "script": ("script -q -c 'echo $0 $((6*7))' /dev/null < /dev/null | tr -d '\\r'", ["script", "tr"]),
    "emacs": ("emacs --batch -Q --eval '(princ (shell-command-to-string \"echo $0 $((6*7))\"))'",
              ["emacs"]),
    # a window with no command: the default-shell, a login shell
    "tmux": ("tmux -S ./t.sock -f /dev/null new-session -d; "
             "trap 'tmux -S ./t.sock kill-server 2>/dev/null' EXIT; "
             "tmux -S ./t.sock send-keys 'echo \"v=$0 $((6*7))\"' Enter; "
             "until tmux -S ./t.sock capture-pane -p | grep -q 'v=.* 42'; do sleep 0.1; done; "
             "tmux -S ./t.sock capture-pane -p | grep -o 'v=.* 42'", ["tmux", "grep", "sleep"]),
}


@pytest.mark.parametrize("name", list(USER_SHELL))
def test_the_user_shell_comes_with_a_program_that_runs_it(name, tmp_path):
    """A program that runs $SHELL finds the shell the caller's environment
    names, as natively; a later run with another SHELL runs that one (the
    variable is a dependency of the cached plan)."""
    script, add = USER_SHELL[name]
    # dash first: its plan has no bash, so the bash run must not reuse it
    shells = [s for s in ("/usr/bin/dash", "/bin/bash") if os.access(s, os.X_OK)]
    for shell in shells:
        # no history file written at the shell's end, whose timing varies
        env = dict(os.environ, SHELL=shell, HISTFILE="")
        native = _same_as_native(script, add, tmp_path, env=env)
        assert os.path.basename(shell) in native.stdout.decode(), native


def test_no_user_shell_for_a_program_that_names_none(tmp_path):
    """A program that does not read $SHELL gets no shell from it: dash's
    guest has no bash, while the host has."""
    if not os.access("/bin/bash", os.X_OK) or shutil.which("dash") is None:
        pytest.skip("needs bash and dash")
    env = dict(os.environ, SHELL="/bin/bash")
    argv = ["/usr/bin/dash", "-c", "test -e /usr/bin/bash; echo $?"]
    assert run_native(argv, tmp_path, env=env).stdout == b"0\n"
    guest = run_guest(argv, tmp_path, env=env)
    assert (guest.stdout, guest.returncode) == (b"1\n", 0), guest.stderr


# Each runs $EDITOR (a command: sed, not --add'ed, found on PATH) for a
# commit message: git names the variable itself, svn in its libsvn_subr
# (and without a terminal only when told: --force-interactive).
EDITOR = {
    "git": ("git init -q r && cd r && git commit -q --allow-empty && git log --format=%s", ["git"]),
    "svn": ("export HOME=$PWD; svnadmin create repo && svn -q checkout file://$PWD/repo wc && cd wc && "
            "echo 1 > f && svn -q add f && svn -q commit --force-interactive && "
            "svn log --xml -r 1 | grep '<msg>'",
            ["svn", "svnadmin", "grep"]),
}


@pytest.mark.parametrize("name", list(EDITOR))
def test_the_users_editor_comes_with_a_program_that_runs_it(name, tmp_path):
    """The editor the caller's EDITOR names edits the message, as natively."""
    script, add = EDITOR[name]
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_EDITOR", "SVN_EDITOR", "VISUAL")}
    env.update(EDITOR="sed -i 1s/^/edited/", GIT_CONFIG_GLOBAL="/dev/null", GIT_AUTHOR_NAME="a",
               GIT_AUTHOR_DATE="1700000000 +0000", GIT_COMMITTER_DATE="1700000000 +0000",
               GIT_AUTHOR_EMAIL="a@b", GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@b")
    native = _same_as_native(script, add, tmp_path, env=env)
    assert b"edited" in native.stdout, native
