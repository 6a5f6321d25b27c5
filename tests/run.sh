#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine and runs it.
# This is the README's test command; .ci/run runs it.
#
# libsubst and the test tools go into a virtual environment of the checkout
# (.venv), never system-wide: Debian 12's python3 refuses that (PEP 668).
# LIBSUBST_VENV names another place for it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian programs the tests run natively and under libsubst, the C compiler
# the package build and some tests use, python3-venv for the environment,
# mount (util-linux's unshare and pivot_root come with it) for the chroot
# test, and the container engines libsubst-runtime is tested under (podman
# brings conmon; the tests start and stop their own containerd); the
# compatibility corpus's packages (benchmarks/corpus.py), g++ for its C++
# program and CPython's regression tests; python3-dev to build psutil's
# source distribution for its test suite (benchmarks/psutil_suite.py) and
# net-tools, whose ifconfig those tests compare with; a JDK (javac, jar and the
# source launcher: tests/test_interpreters.py), cmake and ninja-build (a build
# with gcc), gpg, gpg-agent, openssh-client, e2fsprogs and iproute2 (system
# tools: tests/test_programs.py), vim (an editor's own data: tests/test_rootfs.py);
# postgresql (its server, initdb and psql: tests/test_postgres.py) and
# util-linux's setpriv, which runs the native server as the postgres user;
# tmux and dbus for the other servers of tests/test_more_servers.py (which
# runs the JDK's jdk.httpserver too); other language runtimes
# (tests/test_languages.py: golang-go's go tool too): lua5.4 and luajit
# (2 MB installed), ruby (28 MB), php-cli (15 MB), erlang-base (16 MB) —
# guile-3.0 (54 MB) and rustc with cargo (280 MB) are tested where
# installed, not installed here for their size; rsync, dnsmasq-base (with
# bind9-dnsutils' dig), apache2-bin, openssh-server, lighttpd, haproxy and
# mariadb-server for tests/test_daemons.py and tests/test_web_daemons.py;
# heavy programs and clients (tests/test_heavy_programs.py): imagemagick,
# ghostscript, ffmpeg, pandoc, shellcheck (the corpus's); terminal programs
# (tests/test_terminal_programs.py): nano, screen, less and man-db; programs
# nobody listed (tests/test_tools.py): inotify-tools, graphviz (its plugins
# and fonts), faketime (a preloaded library), units, dc, parallel, hunspell
# with hunspell-en-us (another package's dictionary), aspell with aspell-en,
# gnuplot-nox (cairo and pango: fonts), valgrind (78 MB, its own loader and
# JIT; apt adds valgrind-dbg, which it recommends: the vgpreload objects'
# symbols) with libc6-dbg (11 MB: memcheck needs ld.so's symbols);
# network programs nobody listed and their clients (tests/test_net_programs.py,
# 23 MB installed together, nats-server 11 of them): mosquitto and
# mosquitto-clients, unbound, nsd, tinyproxy, stunnel4, socat, vsftpd, iperf3,
# beanstalkd, nats-server, gunicorn, tftpd-hpa and tftp-hpa, netcat-openbsd;
# multi-process daemons nobody listed (tests/test_mail_and_proxies.py, their
# services started by no postinst on a machine without systemd or with a
# policy-rc.d that refuses them): varnish (it compiles its VCL with gcc, already
# here), php8.2-fpm (behind nginx-light), postfix and dovecot-imapd, bind9
# (named, with bind9-dnsutils' dig and nsupdate), slapd with ldap-utils, squid,
# supervisor;
# the Go and JVM servers and tools of tests/test_go_jvm_servers.py (Go
# programs of 17-54 MB each, 320 MB installed together, prometheus 96 MB of
# them): caddy, prometheus (with promtool), etcd-server and etcd-client,
# hugo, restic, rclone, and tomcat10 (15 MB with its libraries and
# eclipse-jdt-core, its JSP compiler);
# a developer's builds (tests/test_builds.py): autoconf, automake and libtool
# (a configure and libtool project), meson (with ninja-build and cmake above),
# fakeroot (dpkg-deb under it; dpkg-dev above has dpkg-architecture, which
# meson runs), python3-setuptools and python3-wheel (pip builds a local
# project's wheel without network or build isolation);
# programs nobody listed doing real work (tests/test_work_programs.py):
# mercurial, subversion, cpio, attr (setfattr, getfattr), pbzip2, pigz,
# p7zip-full, libxml2-utils (xmllint), xmlstarlet, miller, sox,
# nghttp2-server and nghttp2-client (an HTTP/2 server and h2load), emacs-nox
# (its batch mode; 120 MB installed with emacs-common's Lisp);
# systemd for systemd-socket-activate (tests/test_exec_state.py: a server
# socket-activated natively and under libsubst run; Debian installs it by
# default, a container's root may not have it).
# members of the sweep's classes run by default (tests/test_sweep.py's
# TRIAGED): iptables (the nf_tables front ends, 3 MB), gpgsm and gnupg-utils
# (programs showing their HOME, with gpg's gpgconf above); osslsigncode
# (tests/test_tools.py: it names libcrypto's default CA file, 0.3 MB) and
# tk8.6 (wish: Tcl's library, another source's package, 0.1 MB).
# the sweep's widened set (tests/test_sweep.py, README *Compatibility,
# measured*: 192 programs nobody listed, 88 MB installed together), whose
# classes TRIAGED runs by default: libnss3-tools and poppler-utils (NSS's
# softoken dlopened by name), bsdgames (score files below /var/games),
# fuse-overlayfs (libfuse3 runs fusermount3), mtr-tiny (mtr-packet's raw
# socket refused both ways), and zsh tcsh ksh mksh nmap tcpdump whois
# htop tree ncdu ripgrep fd-find bat fzf lzip lzop ncompress cabextract
# arj sharutils enscript moreutils dos2unix wdiff rlwrap expect bison flex nasm
# yasm gforth gprolog ltrace w3m lynx aria2 fping sipcalc cvs fossil figlet
# fortune-mod telnet traceroute iputils-ping arping ethtool pax html2text
# knot-dnsutils ldnsutils tcc elinks links age sshpass lua5.1 jo dict diction
# (the whole sweep, LIBSUBST_LONG_TESTS=1; guile-3.0 stays out, above).
# big programs (tests/test_big_programs.py): llvm-14-tools (FileCheck-14, 2 MB;
# its libLLVM-14 comes with postgresql already), docker-registry and containerd above.
# buildah (tests/test_proc_readers.py: it reads the guest's id maps; 20 MB, its
# Go libraries are podman's).
PKGS="docker-registry apache2-utils openssl strace gdb debootstrap linux-perf gcc libc6-dev musl-tools binutils python3 python3-venv procps redis-server redis-tools
      nginx-light memcached libmemcached-tools wrk curl tcl dpkg-dev coreutils findutils gzip xz-utils grep sed mawk
      sqlite3 perl file git golang-go nodejs mount stress-ng podman runc containerd
      diffutils gawk tar bzip2 zstd jq bc make busybox wget g++ libpython3.11-testsuite zip unzip python3-dev net-tools openjdk-17-jdk-headless cmake ninja-build
      lz4 patch ed xxd gettext-base groff-base gpg gpg-agent openssh-client e2fsprogs iproute2 vim
      postgresql postgresql-client util-linux tmux dbus-daemon dbus-bin lua5.4 luajit ruby php-cli erlang-base
      rsync dnsmasq-base bind9-dnsutils apache2-bin openssh-server lighttpd haproxy mariadb-server
      imagemagick ghostscript ffmpeg pandoc shellcheck nano screen less man-db
      inotify-tools graphviz faketime units dc parallel hunspell hunspell-en-us aspell aspell-en
      gnuplot-nox valgrind libc6-dbg
      mosquitto mosquitto-clients unbound nsd tinyproxy stunnel4 socat vsftpd iperf3 beanstalkd
      nats-server gunicorn tftpd-hpa tftp-hpa netcat-openbsd
      varnish php8.2-fpm postfix dovecot-imapd bind9 slapd ldap-utils squid supervisor
      caddy prometheus etcd-server etcd-client hugo restic rclone tomcat10
      autoconf automake libtool meson fakeroot python3-setuptools python3-wheel
      mercurial subversion cpio attr pbzip2 pigz p7zip-full libxml2-utils xmlstarlet miller sox
      nghttp2-server nghttp2-client emacs-nox systemd iptables gpgsm gnupg-utils osslsigncode tk8.6 llvm-14-tools
      libnss3-tools poppler-utils bsdgames fuse-overlayfs zsh tcsh ksh mksh nmap tcpdump whois
      mtr-tiny htop tree ncdu ripgrep fd-find bat fzf lzip lzop ncompress cabextract arj sharutils
      enscript moreutils dos2unix wdiff rlwrap expect bison flex nasm yasm gforth gprolog ltrace
      w3m lynx aria2 fping sipcalc cvs fossil figlet fortune-mod telnet traceroute iputils-ping
      arping ethtool pax html2text knot-dnsutils ldnsutils tcc elinks links age sshpass lua5.1
      jo dict diction buildah"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

VENV="${LIBSUBST_VENV:-$PWD/.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check '.[test]'
export PATH="$VENV/bin:$PATH"
# Run the installed package (not the source tree) from the tests folder.
cd tests && exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -c ../pyproject.toml --rootdir=.. "$@"
