#!/usr/bin/env bash
# with-cluster.sh CMD...: run CMD against a throwaway cluster of the
# PostgreSQL that $PG_CONFIG names, then stop and remove the cluster.
#
# pg_virtualenv (Debian's) does this for the packaged versions only; this
# does it for any installation, such as the private 17 and 18 builds of
# tools/pg-build.sh.  The cluster listens on a Unix socket in its own
# directory only, so it cannot collide with another server on the machine.
# CMD gets PGHOST, PGPORT, PGUSER and PGDATABASE (postgres) in its
# environment.  Run it as an ordinary user: PostgreSQL refuses root.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:?set PG_CONFIG to the pg_config of the server to run}
bindir=$($PG_CONFIG --bindir)
dir=$(mktemp -d "${TMPDIR:-/tmp}/music_tm-cluster.XXXXXX")
cleanup() {
    "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
# a port of its own: the socket directory is private, but a port number in
# use elsewhere would still make some tools (pg_isready -p) ambiguous
port=$((50000 + RANDOM % 10000))
"$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -p $port -c listen_addresses= -c fsync=off" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }

export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
export PATH="$bindir:$PATH"
status=0
"$@" || status=$?
exit $status
