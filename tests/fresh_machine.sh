#!/usr/bin/env bash
# The README's two commands, as a new user runs them on a stock Debian 12.
#
#   tests/fresh_machine.sh        (as root; .ci/run runs it after the suite)
#
# It bootstraps a minimal Debian 12 root (`debootstrap --variant=minbase
# bookworm`, from the mirror the host's apt is configured with), puts a fresh
# clone of this checkout's HEAD into it (/root/libsubst), enters it with a
# mount and pid namespace of its own and pivot_root (not chroot: Linux refuses
# a user namespace to a chrooted process, and libsubst makes one), and runs the
# two indented command lines of the README's "Set up on a fresh machine"
# section, read from README.md itself, from the clone.  Either failing fails
# the script.  Each step is timed.
#
# The bootstrapped tree is cached as a tarball under LIBSUBST_FRESH_CACHE
# (default /var/cache/libsubst-fresh), keyed by what it is made from (suite,
# variant, architecture, mirror, debootstrap's version); the .debs apt
# downloads in it are kept there too.  Remove that directory for an uncached run.
# FRESH_MIRROR overrides the mirror; FRESH_TEST_ARGS is appended to the test
# command (e.g. "-x test_monitor.py", to run a subset in the fresh root).
#
# Every mount lives in the private mount namespace and goes with it; the pid
# namespace takes every process the commands leave behind; the root is
# deleted at exit, whatever happened.
set -euo pipefail

say() { echo "fresh_machine.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it bootstraps and enters a root file system)"
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
cd "$repo"

# --- the README's commands -------------------------------------------------------
# The indented lines between the section's heading and the next heading.
mapfile -t cmds < <(awk '/^## /{on = ($0 ~ /^## Set up on a fresh machine/); next}
                         on && /^    [^ ]/ {sub(/^    /, ""); print}' README.md)
[ ${#cmds[@]} = 2 ] || die "README.md's \"Set up on a fresh machine\" section has ${#cmds[@]} indented command lines, not 2"

# --- the mirror ------------------------------------------------------------------
# The first deb source for the suite bookworm itself, one-line or deb822 style.
host_mirror() {
    awk '/^[[:space:]]*deb[[:space:]]/ {
             for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) break
             if ($(i + 1) == "bookworm") { print $i; exit } }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
    awk 'BEGIN {RS = ""} /(^|\n)Types:[^\n]*[ \t]deb([ \t]|\n|$)/ && /(^|\n)Suites:[^\n]*[ \t]bookworm([ \t]|\n|$)/ {
             match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/); u = substr($0, RSTART, RLENGTH)
             sub(/.*URIs:[ \t]*/, "", u); print u; exit }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null
}
mirror=${FRESH_MIRROR:-$(host_mirror | head -n1)}
[ -n "$mirror" ] || die "no bookworm mirror in the host's apt sources (set FRESH_MIRROR)"

# --- the cached minimal root -------------------------------------------------------
cache=${LIBSUBST_FRESH_CACHE:-/var/cache/libsubst-fresh}
mkdir -p "$cache/apt-archives"
exec 8>"$cache/.lock"
flock 8                                 # one bootstrap, one run at a time per cache
command -v debootstrap >/dev/null || {
    say "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
arch=$(dpkg --print-architecture)
key=$(printf '%s\n' bookworm minbase "$arch" "$mirror" \
      "$(dpkg-query -W -f='${Version}' debootstrap)" | sha256sum | cut -c1-16)
tarball="$cache/bookworm-minbase-$arch-$key.tar"

work=$(mktemp -d /var/tmp/libsubst-fresh.XXXXXX)
root="$work/root"
cleanup() {
    # The mounts died with their namespace; should one have leaked, never
    # delete through it.
    if grep -qF " $work/" /proc/self/mountinfo; then
        umount -R "$root" 2>/dev/null || true
        grep -qF " $work/" /proc/self/mountinfo && { say "mounts remain under $work: left in place"; return; }
    fi
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
timed() {   # timed LABEL CMD...: runs CMD, says how long it took
    local t0=$SECONDS rc=0
    "${@:2}" || rc=$?
    say "$1: $((SECONDS - t0)) s (exit status $rc)"
    return "$rc"
}

start=$SECONDS
if [ ! -f "$tarball" ]; then
    say "bootstrapping Debian 12 (minbase) from $mirror"
    timed bootstrap bash -c 'exec debootstrap --variant=minbase bookworm "$@" >"$0" 2>&1' \
            "$work/debootstrap.log" "$work/boot" "$mirror" \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    tar -C "$work/boot" --numeric-owner -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
    rm -rf --one-file-system "$work/boot"
fi
mkdir "$root"
timed unpack tar -C "$root" --numeric-owner -xf "$tarball"

# A container's root: no init, so package installs must not start daemons
# (they would listen on the host's network): invoke-rc.d asks policy-rc.d.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# The host's network setup goes in with the root: its resolver, and the CA
# bundle its pip is told to trust (PIP_CERT, SSL_CERT_FILE) where the network
# re-signs TLS; pip otherwise trusts only its own bundle.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$ca" ] && [ -f "$ca" ]; then
    cp -L "$ca" "$root/etc/host-ca.crt"
    ca=/etc/host-ca.crt
else
    ca=""
fi
clone="$root/root/libsubst"
# HEAD by fetch, not by name: CI may check out a commit no branch points at.
git clone -q --no-checkout --no-hardlinks "$repo" "$clone"
git -C "$clone" fetch -q "$repo" HEAD
git -C "$clone" checkout -q --detach FETCH_HEAD
say "testing $(git rev-parse --short HEAD) in $root"

# --- inside ------------------------------------------------------------------------
# Runs in the new namespaces: mounts, pivot_root, then the commands with a
# login-like environment (CI passed on).
inside() {
    set -euo pipefail
    local root=$1 cache=$2 ca=$3; shift 3
    mount --make-rprivate /
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    # A machine's own: the host's holds other runs' scratch directories.
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
    cd "$root"
    mkdir -p .oldroot
    pivot_root . .oldroot
    cd /
    umount -l /.oldroot
    rmdir /.oldroot
    local i=0 cmd
    for cmd in "$@"; do
        i=$((i + 1))
        # FRESH_TEST_ARGS: pytest's arguments for the test command (a subset).
        [ "$i" = 2 ] && [ -n "${FRESH_TEST_ARGS:-}" ] && cmd="$cmd $FRESH_TEST_ARGS"
        echo "fresh_machine.sh: command $i: $cmd" >&2
        local t0=$SECONDS rc=0
        (cd /root/libsubst && exec env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            ${CI:+CI="$CI"} ${ca:+PIP_CERT="$ca" SSL_CERT_FILE="$ca"} bash -c "$cmd" </dev/null) || rc=$?
        echo "fresh_machine.sh: command $i: $((SECONDS - t0)) s (exit status $rc)" >&2
        [ "$rc" = 0 ] || return "$rc"
    done
}
rc=0
unshare --mount --pid --fork --kill-child -- bash -c "$(declare -f inside); inside \"\$@\"" \
    inside "$root" "$cache" "$ca" "${cmds[@]}" || rc=$?
say "total: $((SECONDS - start)) s"
[ "$rc" = 0 ] || die "FAILED: a README command exited with status $rc"
say "the README's two commands passed on a fresh Debian 12"
