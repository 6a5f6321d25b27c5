#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine and runs it.
# This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian programs the tests run natively and under libsubst, and the C compiler
# the package build and some tests use.
PKGS="gcc libc6-dev musl-tools binutils redis-server redis-tools nginx-light memcached curl tcl dpkg-dev coreutils findutils gzip xz-utils grep sed mawk python3 sqlite3 perl file git"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

python3 -m pip install -q --disable-pip-version-check '.[test]'
# Run the installed package (not the source tree) from the tests folder.
cd tests && exec python3 -m pytest -q -p no:cacheprovider -c ../pyproject.toml --rootdir=.. "$@"
