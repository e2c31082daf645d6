#!/usr/bin/env bash
# Install what building and testing music_tm needs on Debian 12 (bookworm)
# with PostgreSQL 15, skipping packages that are already there.  With --test
# also what the test command needs (the private 17 and 18 builds' too:
# tools/test.sh starts them in the background, where an apt-get of their own
# could collide with the package test's dpkg).
set -euo pipefail

packages=(
    postgresql-15               # the server (Debian's; pg_virtualenv comes with postgresql-common)
    postgresql-server-dev-15    # headers and PGXS
    make gcc
    libipc-run-perl             # PostgreSQL::Test::Cluster for the TAP tests
    python3 python3-psycopg2    # client tests, demo loader and benchmarks
    python3-flask               # examples/flask
)
# --test: what only the test command needs
if [ "${1:-}" = --test ]; then
    packages+=(
        python3-psycopg python3-sqlalchemy python3-asyncpg  # client tests
        git dpkg-dev debhelper postgresql-server-dev-all    # the Debian package's test
        chromium python3-pil                                # the Flask example's browser test
        bison flex zlib1g-dev liblz4-dev libxml2-dev pkg-config curl ca-certificates
                                    # tools/pg-build.sh (PostgreSQL 17 and 18 from source)
    )
    # the Node.js client test uses the machine's node and npm; Debian's if none
    command -v npm >/dev/null || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# MUSIC_TM_APT_LOCK: a lock file to hold around apt-get (shared machines)
lock=${MUSIC_TM_APT_LOCK:+flock $MUSIC_TM_APT_LOCK}
$sudo $lock apt-get update -q >/dev/null
$sudo $lock apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
