"""The compatibility corpus: Debian's programs, each run with real arguments
natively and under ``libsubst run``, their stdout, stderr and exit status
compared byte for byte (benchmarks/corpus_run.py runs it; tests/test_corpus.py
and ``python -m libsubst.benchmarks.compat`` both use that runner).

Selection rule (issue 14): every executable in /usr/bin (and /bin, the same
directory on a merged-/usr system) of the packages in PACKAGES that runs
unprivileged and needs no terminal, no display and no network beyond
loopback.  Each executable of those packages is either in PROGRAMS or in
EXCLUDED with the reason it fails the rule; tests/test_corpus.py checks
that against dpkg's file lists, so a package's new program cannot be left
out silently.  Besides those: a static Go program and a C++ program, built
from the sources in benchmarks/corpus_builds.py.

Each entry runs in a fresh directory holding FILES, with the same path and
the same environment (corpus_run.ENV) for both runs; ``add`` are the host
programs the guest needs besides the first (those it execs: ``--add``, as
a user gives them).  ``norm`` names a normalisation applied to both outputs
before the comparison; NORMS says what each does and why it is needed.
``fast`` marks the subset the default test run takes.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tarfile
import zipfile
from dataclasses import dataclass, field

# Debian packages whose /usr/bin executables the corpus covers.
PACKAGES = ["coreutils", "findutils", "diffutils", "grep", "sed", "gawk", "mawk", "tar", "gzip",
            "bzip2", "xz-utils", "zstd", "file", "jq", "bc", "openssl", "git", "make", "sqlite3",
            "perl-base", "perl", "python3-minimal", "python3.11-minimal", "nodejs", "busybox",
            "procps", "curl", "wget", "lz4", "zip", "unzip", "patch", "ed", "xxd", "tcl", "tcl8.6",
            "gettext-base", "groff-base", "pandoc", "shellcheck", "rsync"]

# Executables of PACKAGES that the rule leaves out, with the reason.
EXCLUDED = {
    "nodejs": "Debian's other name for node (a link to it), which the corpus runs",
    "chcon": "SELinux contexts: the host has no SELinux",
    "runcon": "SELinux contexts: the host has no SELinux",
    "stty": "needs a terminal",
    "pinky": "reads the login records of terminals (utmp)",
    "users": "reads the login records of terminals (utmp)",
    "who": "reads the login records of terminals (utmp)",
    "w": "terminal sessions and the host's whole process table",
    "top": "a terminal screen of the host's whole process table",
    "watch": "needs a terminal",
    "tload": "needs a terminal",
    "slabtop": "needs a terminal, and /proc/slabinfo is root's",
    "zless": "a pager: needs a terminal", "zmore": "a pager: needs a terminal",
    "bzless": "a pager: needs a terminal", "bzmore": "a pager: needs a terminal",
    "xzless": "a pager: needs a terminal", "xzmore": "a pager: needs a terminal",
    "zstdless": "a pager: needs a terminal",
    "gawkbug": "files a bug report by mail",
    "perlbug": "files a bug report by mail", "perlthanks": "sends mail",
    "cpan": "installs from the network",
    "npm": "installs from the network", "npx": "installs from the network",
    "corepack": "downloads package managers from the network",
    "git-shell": "a restricted login shell for ssh accounts",
    "skill": "signals processes of the whole host by name", "snice": "renices host processes by name",
    "py3clean": "deletes byte-code of installed packages system-wide",
    "zipcloak": "asks for the password on a terminal",
    "gettext.sh": "a library of shell functions for scripts to source, not a command",
    "rsync-ssl": "connects to a remote rsync daemon over TLS: the network",
    "rrsync": "a restricted rsync for ssh's forced commands: serves SSH_ORIGINAL_COMMAND",
}


@dataclass
class P:
    """One corpus run: argv (a string is split on spaces), stdin, the host
    programs to --add, a named normalisation, and whether the fast subset
    takes it."""
    name: str
    argv: list[str] | str
    stdin: bytes = b""
    add: tuple[str, ...] = ()
    norm: str | None = None
    fast: bool = False
    build: str | None = None       # a program of corpus_builds, built before the run
    env: dict[str, str] = field(default_factory=dict)

    def args(self) -> list[str]:
        return self.argv.split(" ") if isinstance(self.argv, str) else list(self.argv)


TEXT = b"pear\napple\nfig\napple\nbanana\nfig\napple\nkiwi 3\nplum 12\n"
NOTES = b"alpha\nbeta\ngamma\nalpha\n" * 50


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (("t/one.txt", TEXT), ("t/two.txt", NOTES)):
            z.writestr(zipfile.ZipInfo(name, (2023, 11, 14, 22, 13, 20)), data,
                       compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("t/one.txt", TEXT), ("t/two.txt", NOTES)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MAKEFILE = b"""\
all: out.txt
\t@echo built $$(wc -l < out.txt) lines
out.txt: notes.txt
\tsort -u notes.txt > $@
.PHONY: clean
clean:
\trm -f out.txt
"""

POD = b"""\
=head1 NAME

corpus - a page for the pod tools

=head1 SYNOPSIS

corpus [B<-v>] I<file>

=head1 DESCRIPTION

Reads I<file> and prints C<its lines>.

=cut
"""

FILES = {
    "notes.txt": NOTES,
    "text.txt": TEXT,
    "nums.txt": b"".join(b"%d\n" % (i * 7919 % 1000) for i in range(200)),
    "a.txt": b"one\ntwo\nthree\nfour\n",
    "b.txt": b"one\n2\nthree\nfour\nfive\n",
    "c.txt": b"one\ntwo\n3\nfour\n",
    "data.json": json.dumps({"name": "corpus", "items": [{"k": i, "v": i * i} for i in range(6)],
                             "tags": ["x", "y"]}).encode(),
    "t.tar": _tar(),
    "notes.txt.gz": gzip.compress(NOTES, mtime=0),
    "text.txt.gz": gzip.compress(TEXT, mtime=0),
    "notes.txt.bz2": bz2.compress(NOTES),
    "text.txt.bz2": bz2.compress(TEXT),
    "notes.txt.xz": lzma.compress(NOTES),
    "text.txt.xz": lzma.compress(TEXT),
    "notes.txt.lzma": lzma.compress(NOTES, format=lzma.FORMAT_ALONE),
    "Makefile": MAKEFILE,
    "page.pod": POD,
    "calc.bc": b"scale=20\na(1)*4\nsqrt(2)\nl(10)\n",
    "prog.awk": b'{ n[$1]++ } END { for (k in n) print k, n[k] | "sort" }\n',
    "tab.txt": b"a\tb\tc\n\t\tx\n",
    "long.txt": b"This is a fairly long line of words that fmt and fold can wrap and the "
                b"pr and ptx tools can format as well.\n" * 3,
    "script.sed": b"s/a/A/g\n/beta/d\n",
    "ok.t": b"print \"1..2\\nok 1 - first\\nok 2 - second\\n\";\n",
    "hello.py": b"import sys\nprint('hello', sys.argv[1:])\n",
    "m.js": b"module.exports = (a, b) => a * b;\n",
    "package.json": b'{"name": "corpus-pkg", "version": "1.2.3"}\n',
    "latin1.txt": "caf\u00e9 cr\u00e8me\n".encode("latin-1"),
    "script.ed": b"2d\n$a\nfive\n.\n,s/o/O/g\nw\nq\n",
    "hello.h": b"#define ANSWER 42\n#define GREETING \"hi\"\n",
    "t.zip": _zip(),
    "page.1": b".TH T 1\n.SH NAME\nt \\- a test\n.SH DESCRIPTION\nHello \\fBworld\\fR.\n"
              b".TS\nl l.\na\tb\n.TE\n.EQ\nx sup 2\n.EN\n.PS\nbox \"hi\"\n.PE\n",
    "a.diff": b"--- a.txt\n+++ a.txt\n@@ -1,4 +1,4 @@\n one\n-two\n+2\n three\n four\n",
    "doc.md": b"# Title\n\nSome *emph* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "s.sh": b"#!/bin/sh\necho $1\nls `pwd`\n[ $# = 1 ] && cd /tmp\n",
    "s.tcl": b"puts [expr {6 * 7}]\nset d [dict create a 1 b 2]\nputs [dict get $d b]\n"
             b"puts [lsort -decreasing {c a b}]\nputs [clock format 0 -gmt 1]\n"
             b"foreach f [lsort [glob *.txt]] { puts -nonewline \"$f \" }\nputs {}\n"
             b"set fh [open notes.txt]; puts [llength [split [read $fh] \\n]]; close $fh\n",
}


def sh(name, script, *add, **kw):
    """A run of `sh -c script`, whose programs (the one named, and add) the
    guest gets with --add."""
    named = ("/usr/bin/" + name,) if os.path.exists("/usr/bin/" + name) else ()
    return P(name, ["sh", "-c", script], add=tuple(dict.fromkeys(named + add)), **kw)


C = "/usr/bin/"
# Waits (a bounded spin: the background child's execve) until $! is sleep.
EXECED = 'until read c < /proc/$!/comm && [ "$c" = sleep ]; do :; done; '
# what the z/bz/xz diff and cmp scripts run
ZDIFF = tuple(C + n for n in ("gzip", "cmp", "diff", "mktemp", "rm", "sed", "expr"))
PROGRAMS = [
    # coreutils
    P("[", ["[", "abc", "<", "abd", "]"]),
    P("arch", "arch"),
    P("b2sum", "b2sum notes.txt text.txt"),
    P("base32", "base32 text.txt"),
    P("base64", "base64 -d", stdin=b"aGVsbG8gd29ybGQK"),
    P("basename", "basename -s .txt /a/b/notes.txt"),
    P("basenc", "basenc --base16 text.txt"),
    P("cat", "cat -A tab.txt text.txt", fast=True),
    sh("chgrp", "cp a.txt g.txt && chgrp 0 g.txt && stat -c %g g.txt", C + "cp", C + "stat"),
    sh("chmod", "cp a.txt m.txt && chmod 640 m.txt && stat -c %a m.txt", C + "cp", C + "stat"),
    sh("chown", "cp a.txt o.txt && chown 0:0 o.txt && stat -c %u:%g o.txt", C + "cp", C + "stat"),
    P("cksum", "cksum notes.txt"),
    P("comm", "comm a.txt c.txt"),
    sh("cp", "cp -p notes.txt n2.txt && cmp notes.txt n2.txt && echo same", C + "cmp"),
    P("csplit", "csplit -f part notes.txt /gamma/ {3}"),
    P("cut", "cut -c 2-4 text.txt"),
    P("date", "date -u -d 2024-02-29T12:34:56 +%A_%j_%s", fast=True),
    sh("dd", "dd if=notes.txt bs=64 count=3 status=none | od -c | tail -3", C + "od", C + "tail"),
    P("df", "df --output=fstype,size,itotal notes.txt", fast=True),
    P("dir", "dir"),
    P("dircolors", "dircolors -b"),
    P("dirname", "dirname /usr/share/doc/x"),
    sh("du", "du -s --apparent-size -b notes.txt text.txt", C + "du"),
    P("echo", ["echo", "-e", "a\\tb\\x41"]),
    P("env", "env -i A=1 B=2 env"),
    P("expand", "expand -t 4 tab.txt"),
    P("expr", ["expr", "length", "hello", "+", "40"]),
    P("factor", "factor 600851475143 1000000007"),
    P("false", "false"),
    P("fmt", "fmt -w 30 long.txt"),
    P("fold", "fold -w 25 -s long.txt"),
    P("groups", "groups"),
    P("head", "head -c 50 notes.txt"),
    P("hostid", "hostid", fast=True),
    P("id", "id"),
    sh("install", "install -m 600 a.txt inst.txt && stat -c %a:%s inst.txt", C + "stat"),
    P("join", "join a.txt b.txt"),
    sh("link", "link a.txt hard.txt && stat -c %h a.txt", C + "stat"),
    sh("ln", "ln -s a.txt soft && readlink soft && cat soft", C + "readlink", C + "cat"),
    P("logname", "logname"),
    P("ls", "ls -l --time-style=+ -n text.txt a.txt", fast=True),
    P("md5sum", "md5sum text.txt notes.txt"),
    P("md5sum.textutils", "md5sum.textutils --version"),
    sh("mkdir", "mkdir -p -m 750 x/y/z && stat -c %a x/y/z", C + "stat"),
    sh("mkfifo", "mkfifo f && stat -c %F f", C + "stat"),
    sh("mknod", "mknod p2 p && stat -c %F p2", C + "stat"),
    sh("mktemp", "mktemp -p . tmp.XXXXXX | wc -c", C + "wc"),
    sh("mv", "mv a.txt moved.txt && cat moved.txt", C + "cat"),
    P("nice", "nice -n 5 nice", add=(C + "nice",)),
    P("nl", "nl -ba text.txt"),
    P("nohup", "nohup echo hi", add=(C + "echo",)),
    P("nproc", "nproc"),
    P("numfmt", "numfmt --to=iec 1024 1500000 3000000000"),
    P("od", "od -A x -t x1z text.txt"),
    P("paste", "paste -d , a.txt b.txt"),
    P("pathchk", "pathchk -p a/b/c bad*name"),
    P("pr", "pr -2 -t long.txt"),
    P("printenv", "printenv LANG TZ"),
    P("printf", ["printf", "%5.2f|%-4s|%x\\n", "3.14159", "ab", "255"]),
    P("ptx", "ptx long.txt"),
    P("pwd", "pwd"),
    sh("readlink", "ln -s notes.txt l1 && ln -s l1 l2 && readlink -f ./l2 && readlink l2", C + "ln"),
    P("realpath", "realpath --relative-to=/usr/share /usr/bin"),
    sh("rm", "rm -v a.txt b.txt missing.txt", C + "rm"),
    sh("rmdir", "mkdir -p d/e && rmdir -v -p d/e", C + "mkdir"),
    P("seq", "seq -s , -w 1 3 40"),
    P("sha1sum", "sha1sum notes.txt"),
    P("sha224sum", "sha224sum notes.txt"),
    P("sha256sum", "sha256sum notes.txt text.txt"),
    P("sha384sum", "sha384sum notes.txt"),
    P("sha512sum", "sha512sum notes.txt"),
    sh("shred", "cp a.txt s.txt && shred -u -n 1 s.txt && ls s.txt", C + "cp", C + "ls"),
    P("shuf", "shuf --random-source=notes.txt -n 5 notes.txt"),
    P("sleep", "sleep 0.1"),
    P("sort", "sort -k2n -k1r text.txt", fast=True),
    sh("split", "split -l 60 notes.txt part. && wc -l part.*", C + "wc"),
    sh("stat", "mkdir d && stat -c %n:%s:%F:%a notes.txt d", C + "mkdir"),
    P("stdbuf", "stdbuf -oL echo buffered", add=(C + "echo",)),
    P("sum", "sum notes.txt"),
    P("sync", "sync notes.txt"),
    P("tac", "tac text.txt"),
    P("tail", "tail -n 3 notes.txt"),
    P("tee", "tee t1.txt t2.txt", stdin=TEXT),
    P("test", "test -f notes.txt -a -d /usr"),
    P("timeout", "timeout -s KILL 0.2 sleep 5", add=(C + "sleep",)),
    sh("touch", "touch -d 2001-01-01 new.txt && stat -c %y new.txt", C + "stat"),
    P("tr", "tr -s a-z A-Z", stdin=TEXT),
    P("true", "true"),
    sh("truncate", "cp notes.txt tr.txt && truncate -s 10 tr.txt && cat tr.txt", C + "cp",
       C + "cat"),
    P("tsort", "tsort", stdin=b"a b\nb c\na c\nd a\n"),
    P("tty", "tty"),
    P("uname", "uname -s -m -o"),
    P("unexpand", "unexpand -a", stdin=b"        eight\n    four\n"),
    P("uniq", "uniq -c -d", stdin=b"a\na\nb\nc\nc\nc\n"),
    sh("unlink", "unlink a.txt && ls a.txt", C + "ls"),
    P("vdir", "vdir --time-style=+ -n a.txt"),
    P("wc", "wc notes.txt text.txt long.txt"),
    P("whoami", "whoami"),
    sh("yes", "yes corpus | head -n 3", C + "head"),
    # findutils
    P("find", "find . -name *.txt -size -2k -newer t.tar -o -name *.gz", fast=True),
    P("xargs", "xargs -n 2 echo", stdin=b"a b c d e", add=(C + "echo",)),
    # diffutils
    P("cmp", "cmp a.txt b.txt"),
    P("diff", "diff -u a.txt b.txt"),
    P("diff3", "diff3 a.txt b.txt c.txt", add=(C + "diff",)),
    P("sdiff", "sdiff a.txt b.txt", add=(C + "diff",)),
    # grep, sed, awk
    P("grep", "grep -n -E ^(ap|fi) text.txt", fast=True),
    P("egrep", "egrep -c a|e text.txt", add=(C + "grep",)),
    P("fgrep", "fgrep -o pp text.txt", add=(C + "grep",)),
    P("rgrep", "rgrep -l alpha .", add=(C + "grep",)),
    P("sed", "sed -f script.sed notes.txt", fast=True),
    P("gawk", ["gawk", "-F", " ", "{ s += $2 } END { printf \"%d %.3f\\n\", NR, s / NR }",
               "text.txt"], fast=True),
    P("mawk", "mawk -f prog.awk text.txt", add=(C + "sh", C + "sort")),
    # archives and compressors
    P("tar", "tar -tvf t.tar", fast=True),
    P("gzip", "gzip -9 -c -n notes.txt", fast=True),
    P("gunzip", "gunzip -c notes.txt.gz", add=(C + "gzip",)),
    P("zcat", "zcat text.txt.gz", add=(C + "gzip",)),
    P("uncompress", "uncompress -c text.txt.gz", add=(C + "gzip",)),
    P("zcmp", "zcmp notes.txt.gz text.txt.gz", add=ZDIFF + (C + "zdiff",)),
    P("zdiff", "zdiff notes.txt.gz text.txt.gz", add=ZDIFF),
    P("zgrep", "zgrep -c apple text.txt.gz", add=(C + "gzip", C + "grep", C + "sed", C + "expr",
                                                 C + "mktemp", C + "rm")),
    P("zegrep", "zegrep -c ap|fig text.txt.gz", add=(C + "gzip", C + "grep", C + "sed",
                                                   C + "zgrep", C + "egrep", C + "fgrep", C + "expr", C + "mktemp", C + "rm")),
    P("zfgrep", "zfgrep -c fig text.txt.gz", add=(C + "gzip", C + "grep", C + "sed", C + "zgrep", C + "egrep", C + "fgrep", C + "expr", C + "mktemp", C + "rm")),
    sh("gzexe", "cp /usr/bin/true t && gzexe t >/dev/null && ./t && echo ran", C + "cp",
       C + "gzexe", C + "gzip", C + "mktemp", C + "chmod", C + "ln", C + "rm", C + "tail",
       C + "cmp", C + "cat", C + "true", C + "basename", C + "dirname", C + "sed", C + "mv",
       C + "sleep", fast=True),
    sh("zforce", "cp notes.txt.gz plain && zforce plain && ls plain*", C + "cp", C + "zforce",
       C + "gzip", C + "ls", C + "mv", C + "grep"),
    sh("znew", "cp notes.txt.gz z.Z && znew z.Z && ls z.*", C + "cp", C + "znew", C + "gzip",
       C + "ls", C + "rm", C + "touch", C + "chmod", C + "sed", C + "expr"),
    P("bzip2", "bzip2 -c notes.txt"),
    P("bunzip2", "bunzip2 -c text.txt.bz2"),
    P("bzcat", "bzcat notes.txt.bz2"),
    P("bzcmp", "bzcmp notes.txt.bz2 text.txt.bz2", add=ZDIFF + (C + "bzip2",), norm="mktemp"),
    P("bzdiff", "bzdiff notes.txt.bz2 text.txt.bz2", add=ZDIFF + (C + "bzip2",)),
    P("bzgrep", "bzgrep -c apple text.txt.bz2", add=(C + "bzip2", C + "grep", C + "sed")),
    P("bzegrep", "bzegrep -c ap|fig text.txt.bz2", add=(C + "bzip2", C + "grep", C + "sed",
                                                      C + "bzgrep", C + "egrep", C + "fgrep")),
    P("bzfgrep", "bzfgrep -c fig text.txt.bz2", add=(C + "bzip2", C + "grep", C + "sed",
                                                    C + "bzgrep", C + "egrep", C + "fgrep")),
    sh("bzexe", "cp /usr/bin/true t && bzexe t >/dev/null && ./t && echo ran", C + "cp",
       C + "bzexe", C + "bzip2", C + "mktemp", C + "chmod", C + "ln", C + "rm", C + "tail",
       C + "cmp", C + "cat", C + "true", C + "basename", C + "sed", C + "mv", C + "find",
       C + "grep", C + "ls", C + "sleep"),
    sh("bzip2recover", "bzip2recover notes.txt.bz2 && ls rec*", C + "ls"),
    P("xz", "xz -c -6 notes.txt"),
    P("unxz", "unxz -c text.txt.xz"),
    P("xzcat", "xzcat notes.txt.lzma"),
    P("lzmainfo", "lzmainfo notes.txt.lzma"),
    P("xzcmp", "xzcmp notes.txt.xz text.txt.xz", add=ZDIFF + (C + "xz", C + "chmod")),
    P("xzdiff", "xzdiff notes.txt.xz text.txt.xz", add=ZDIFF + (C + "xz", C + "chmod")),
    P("xzgrep", "xzgrep -c apple text.txt.xz", add=(C + "xz", C + "grep", C + "sed", C + "expr")),
    P("xzegrep", "xzegrep -c ap|fig text.txt.xz", add=(C + "xz", C + "grep", C + "sed",
                                                     C + "xzgrep", C + "egrep", C + "fgrep", C + "expr")),
    P("xzfgrep", "xzfgrep -c fig text.txt.xz", add=(C + "xz", C + "grep", C + "sed",
                                                   C + "xzgrep", C + "egrep", C + "fgrep", C + "expr")),
    sh("zstd", "zstd -q -c notes.txt | zstd -d -c | md5sum", C + "zstd", C + "md5sum"),
    sh("unzstd", "zstd -q -c text.txt > t.zst && unzstd -q -c t.zst", C + "zstd", C + "unzstd"),
    sh("zstdcat", "zstd -q -c text.txt > t.zst && zstdcat t.zst", C + "zstd", C + "zstdcat"),
    sh("zstdmt", "zstdmt -q -c notes.txt | zstd -t -", C + "zstd", C + "zstdmt"),
    sh("pzstd", "pzstd -q -c -p 2 notes.txt | zstd -d -c | wc -l", C + "zstd", C + "pzstd",
       C + "wc"),
    sh("zstdgrep", "zstd -q -c text.txt > t.zst && zstdgrep fig t.zst", C + "zstd",
       C + "zstdgrep", C + "zstdcat", C + "grep"),
    # file, jq, bc, openssl
    P("file", "file t.tar notes.txt.xz data.json /usr/bin/file", fast=True),
    P("jq", ["jq", "-c", "[.items[] | select(.k > 2) | .v] | add, (.tags | join(\"-\"))",
             "data.json"], fast=True),
    P("bc", "bc -l calc.bc", fast=True),
    P("openssl", "openssl dgst -sha256 notes.txt", fast=True),
    P("openssl enc", ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", "pass:corpus",
                      "-S", "0011223344556677", "-in", "notes.txt", "-a"]),
    P("openssl prime", "openssl prime -checks 10 1000000007"),
    sh("c_rehash", "mkdir certs && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
       "-nodes -subj /CN=corpus -keyout certs/k.pem -out certs/c.pem 2>/dev/null && "
       "c_rehash certs >/dev/null && ls certs | wc -l", C + "openssl", C + "c_rehash", C + "perl",
       C + "ls", C + "wc", C + "mkdir"),
]

GIT = ("git init -q r && cd r && cp ../a.txt . && git add a.txt && git commit -q -m first && "
       "cp ../b.txt a.txt && git commit -q -a -m second && ")
PERL = (C + "perl",)
GITS = (C + "git", C + "cp")
PROGRAMS += [
    # git, make, sqlite3
    sh("git", GIT + "git log --format='%H %an %s' && git diff HEAD~1 --stat", C + "cp", fast=True),
    sh("git-upload-pack", GIT + "git-upload-pack --advertise-refs . | cut -c 1-49",
       *GITS, C + "cut"),
    sh("git-receive-pack", GIT + "git-receive-pack --advertise-refs . | cut -c 1-49",
       *GITS, C + "cut"),
    sh("git-upload-archive", GIT + "git archive --format=tar HEAD | tar -tf -", *GITS,
       C + "tar"),
    sh("scalar", GIT + "scalar list; scalar version | cut -d . -f 1", *GITS, C + "cut"),
    P("make", "make", add=(C + "sh", C + "sort", C + "wc"), fast=True),
    P("gmake", "gmake -n clean all"),
    P("make-first-existing-target", "make-first-existing-target nothere clean",
      add=(C + "make", C + "rm")),
    P("sqlite3", ["sqlite3", ":memory:", "create table t(k, v); insert into t values "
                  "('a', 1), ('b', 2), ('c', 3); select k, v * 10, typeof(v) from t order by v desc;"
                  " select sum(v), group_concat(k) from t;"], fast=True),
    # perl and its tools
    P("perl", ["perl", "-MList::Util=sum", "-ne", "chomp; $s{$_}++; END { print map { \"$_ "
               "$s{$_}\\n\" } sort keys %s; print sum(values %s), \"\\n\" }", "text.txt"], fast=True),
    P("perl5.36.0", ["perl5.36.0", "-e", "printf qq(%s %d\\n), $^V, 7**5"]),
    P("corelist", "corelist Data::Dumper", add=PERL),
    P("json_pp", "json_pp -json_opt canonical,pretty", stdin=b'{"b":[1,2],"a":{"c":null}}',
      add=PERL),
    P("pod2text", "pod2text page.pod", add=PERL),
    P("pod2man", "pod2man --date=2024-01-01 --center=corpus --release=1 page.pod", add=PERL),
    P("pod2html", "pod2html --quiet --infile=page.pod --outfile=page.html --cachedir=.",
      add=PERL),
    P("pod2usage", "pod2usage -verbose 1 page.pod", add=PERL),
    P("podchecker", "podchecker page.pod", add=PERL),
    P("prove", "prove ok.t", add=PERL, norm="times"),
    P("ptar", "ptar -tvf t.tar", add=PERL),
    sh("ptardiff", "mkdir t && printf 'changed\\n' > t/one.txt && ptardiff t.tar",
       C + "mkdir", C + "perl", C + "diff"),
    P("ptargrep", "ptargrep --basename apple t.tar", add=PERL),
    P("shasum", "shasum -a 256 notes.txt", add=PERL),
    P("splain", "splain", stdin=b"Useless use of a constant (42) in void context at -e line 1.\n",
      add=PERL),
    sh("streamzip", "streamzip -zipfile=z.zip < notes.txt && zipdetails z.zip | grep -c ZIP",
       C + "perl", C + "zipdetails", C + "grep"),
    sh("zipdetails", "streamzip -zipfile=z.zip -method=store < text.txt && zipdetails z.zip | "
       "head -5", C + "perl", C + "streamzip", C + "head"),
    P("piconv", "piconv -f latin1 -t utf8 latin1.txt", add=PERL),
    P("encguess", "encguess latin1.txt text.txt", add=PERL),
    P("enc2xs", "enc2xs -h", add=PERL),
    sh("h2ph", "mkdir out && h2ph -d out hello.h && cat out/hello.ph", C + "perl", C + "mkdir",
       C + "cat", fast=True),
    sh("h2xs", "h2xs -X -n Corpus::Mod -q -b 5.36.0 >/dev/null && ls -R Corpus-Mod",
       C + "perl", C + "ls"),
    P("instmodsh", "instmodsh", stdin=b"l\nq\n", add=PERL),
    P("libnetcfg", "libnetcfg -h", add=PERL),
    P("perldoc", "perldoc -T -t -f sprintf", add=PERL),
    P("perlivp", "perlivp -p", add=PERL),
    sh("pl2pm", "printf 'package Old;\\nsub f { 1 }\\n1;\\n' > old.pl && pl2pm old.pl && "
       "cat Old.pm", C + "perl", C + "cat"),
    P("xsubpp", "xsubpp -v", add=PERL),
    # python3
    P("python3", ["python3", "-c", "import json, hashlib, re, collections; d = json.load(open("
                  "'data.json')); print(sum(i['v'] for i in d['items']), hashlib.sha1(open("
                  "'notes.txt','rb').read()).hexdigest(), collections.Counter(re.findall(r'\\w+',"
                  " open('text.txt').read())).most_common(2))"], fast=True),
    P("python3 (unix socket)", ["python3", "-c", "import socket, tempfile, os; p = tempfile."
                                "mktemp(); s = socket.socket(socket.AF_UNIX); s.bind(p); "
                                "s.listen(); c = socket.socket(socket.AF_UNIX); c.connect("
                                "s.getsockname()); a, _ = s.accept(); c.send(b'hi'); print("
                                "a.recv(2), s.getsockname() == p == c.getpeername())"], fast=True),
    P("python3 (services)", ["python3", "-c", "import socket; print(socket.getservbyname("
                             "'http'), socket.getprotobyname('udp'), socket.getaddrinfo("
                             "'127.0.0.1', 'smtp')[0][4])"]),
    P("python3.11", "python3.11 hello.py x y"),
    sh("py3compile", "mkdir pkg && cp hello.py pkg/ && py3compile pkg && ls pkg/__pycache__",
       C + "python3", C + "mkdir", C + "cp", C + "ls"),
    P("py3versions", "py3versions -d -s", add=(C + "python3",)),
    # nodejs
    P("node", ["node", "-e", "const m = require('./m.js'); const c = require('crypto'); "
               "console.log(m(6, 7), c.createHash('sha256').update('corpus').digest('hex'), "
               "JSON.stringify(require('./package.json')))"], fast=True),
    # busybox
    P("busybox", ["busybox", "sh", "-c", "echo $((6*7)); busybox sort -r text.txt | busybox head "
                  "-3; busybox sha256sum notes.txt; busybox wc -l notes.txt"], fast=True),
    P("busybox awk", ["busybox", "awk", "{ n += length($0) } END { print n }", "notes.txt"]),
    P("busybox sed", "busybox sed -n 2,4p text.txt"),
    P("busybox tar", "busybox tar -tvf t.tar"),
    P("busybox gunzip", "busybox gunzip -c text.txt.gz"),
    # procps
    P("free", "free -b -w", norm="numbers"),
    P("uptime", "uptime -p", norm="numbers"),
    P("vmstat", "vmstat -s", norm="numbers", fast=True),
    sh("ps", "ps -o comm=,args= -p $$", fast=True),
    # pgrep and pkill look for the child once it is sleep (until then it is
    # sh, between fork and execve: a race natively too, lost more often in a
    # guest, whose execve boots a kernel); whether dash's wait reports
    # "Terminated" depends on when it notices the death (natively too), so
    # that line is left out of both.
    sh("pgrep", "sleep 10 & " + EXECED + "pgrep -c -P $$ sleep; kill $!", C + "sleep"),
    sh("pkill", "sleep 10 & " + EXECED + "pkill -P $$ -x sleep; wait $! 2>/dev/null; echo $?",
       C + "sleep"),
    sh("pidwait", "sleep 0.2 & pidwait -P $$ sleep; echo waited", C + "sleep"),
    sh("kill", "sleep 10 & kill -TERM $!; wait $!; echo $?; kill -l 9", C + "sleep"),
    sh("pmap", "pmap -q $$ | grep -c '\\[ stack \\]'", C + "grep"),
    sh("pwdx", "pwdx $$ | cut -d ' ' -f 2", C + "cut", fast=True),
]

LZ4 = (C + "lz4",)
UNZIP = (C + "unzip",)
PROGRAMS += [
    # lz4, zip, unzip, patch, ed, xxd, tcl, gettext-base
    P("lz4", "lz4 -c -9 notes.txt"),
    sh("lz4c", "lz4c -c notes.txt | lz4c -d -c | md5sum", C + "md5sum"),
    sh("lz4cat", "lz4 -q -c text.txt > t.lz4 && lz4cat t.lz4", *LZ4),
    sh("unlz4", "lz4 -q text.txt t.lz4 && unlz4 -q t.lz4 back.txt && cat back.txt", *LZ4,
       C + "cat"),
    sh("zip", "zip -X -q z.zip a.txt notes.txt && unzip -v z.zip | cut -c 1-30,47-", *UNZIP,
       C + "cut"),
    sh("zipnote", "zip -X -q z.zip a.txt b.txt && zipnote z.zip", C + "zip"),
    sh("zipsplit", "zip -X -q z.zip notes.txt text.txt long.txt && zipsplit -n 1000 z.zip && "
       "unzip -l z1.zip", C + "zip", *UNZIP),
    P("unzip", "unzip -o t.zip"),
    P("zipinfo", "zipinfo t.zip"),
    P("funzip", "funzip t.zip"),
    sh("unzipsfx", "cat /usr/bin/unzipsfx t.zip > sfx && chmod +x sfx && ./sfx -t",
       C + "cat", C + "chmod"),
    P("zipgrep", "zipgrep app t.zip", add=(C + "unzip", C + "grep", C + "egrep", C + "sed")),
    sh("patch", "patch -o out.txt a.txt a.diff && cat out.txt", C + "cat"),
    sh("ed", "ed -s a.txt < script.ed && cat a.txt", C + "cat", fast=True),
    sh("red", "red -s a.txt < script.ed && cat a.txt", C + "ed", C + "cat", C + "sed"),
    P("xxd", "xxd -g 2 -c 12 text.txt", fast=True),
    sh("xxd -r", "xxd -p notes.txt | xxd -r -p | md5sum", C + "xxd", C + "md5sum"),
    P("tclsh8.6", "tclsh8.6 s.tcl"),
    P("tclsh", "tclsh s.tcl", fast=True),
    P("envsubst", "envsubst $HOME-$TZ", stdin=b"home $HOME tz $TZ lang $LANG\n"),
    P("gettext", "gettext -s -d nothere hello"),
    P("ngettext", "ngettext -d nothere file files 2"),
    # groff-base: the preprocessors, troff and its output drivers
    *(P(f, f"{f} page.1") for f in ("eqn", "neqn", "geqn", "pic", "gpic", "tbl", "gtbl", "soelim",
                                    "preconv", "grog")),
    P("troff", "troff -man -Tutf8 page.1"),
    sh("grotty", "troff -man -Tutf8 page.1 | grotty", C + "troff"),
    sh("grops", "troff -man -Tps page.1 | grops | grep -v CreationDate", C + "troff", C + "grep"),
    P("groff", "groff -t -e -p -man -Tutf8 page.1", add=(C + "troff", C + "grotty", C + "tbl",
                                                        C + "eqn", C + "pic")),
    P("nroff", "nroff -man page.1", fast=True),
    # GHC programs: the Haskell runtime's timers, signals and reservations
    P("pandoc", "pandoc -s --metadata title=t -t latex doc.md"),
    P("shellcheck", "shellcheck -f gcc s.sh"),
    sh("rsync", "rsync -a -i notes.txt text.txt a.txt copy/ && "
       "rsync -a -i --checksum notes.txt text.txt a.txt copy/ && ls copy", C + "ls"),
]

HTTP = ("curl", "wget")   # the runner serves the working directory on loopback for these
PROGRAMS += [
    P("curl", "curl -sS -D - -o got.txt http://127.0.0.1:{port}/text.txt", norm="http",
      fast=True),
    sh("wget", "wget -q -O - http://127.0.0.1:{port}/data.json | md5sum; "
       "wget -q http://127.0.0.1:{port}/missing; echo $?", C + "md5sum"),
    # built from benchmarks/corpus_builds.py
    P("go (static)", ["{build}"], build="go", stdin=TEXT, fast=True),
    P("c++", ["{build}", "text.txt"], build="cxx", fast=True),
]

# Entries that differ today, with the cause (the tests expect them to fail,
# strictly: one that starts to pass must leave this list).
FAILING: dict[str, str] = {}
