#!/usr/bin/env bash
# The Debian package's test: build postgresql-15-music-tm from a clean clone
# with dpkg-buildpackage, install the .deb into the system's PostgreSQL 15,
# run a smoke test of every function family as an ordinary (non-superuser)
# role in a throwaway cluster, purge the package and check that nothing of
# it is left in the server's directories.  Ends with "N passed, N failed".
#
# Run as root (it installs and purges a package).  It replaces a music_tm
# installed into PostgreSQL 15 by `make install`, and the purge removes it:
# tools/test.sh runs this before it installs music_tm for the suites.
# The clone is of the committed HEAD; uncommitted changes are not packaged.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
# MUSIC_TM_APT_LOCK: a lock file to hold around dpkg (shared machines)
lock=${MUSIC_TM_APT_LOCK:+flock $MUSIC_TM_APT_LOCK}
[ "$(id -u)" -eq 0 ] || { echo "package-test.sh: run as root" >&2; exit 1; }

passed=0
failed=0
# check DESCRIPTION COMMAND...: one test
check() {
    local what=$1; shift
    if "$@"; then
        echo "ok - $what"; passed=$((passed + 1))
    else
        echo "not ok - $what"; failed=$((failed + 1))
    fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

work=$(mktemp -d /tmp/music_tm-deb.XXXXXX)
chmod 755 "$work"
git clone -q "$top" "$work/music-tm" 2>"$work/clone.log" ||
    { cat "$work/clone.log"; failed=1; finish; }

build() {
    (cd "$work/music-tm" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
        { tail -30 "$work/build.log"; return 1; }
}
check "dpkg-buildpackage -us -uc -b from a clean clone" build
deb=$(ls "$work"/postgresql-15-music-tm_*.deb 2>/dev/null | head -1)
check "it made postgresql-15-music-tm" test -n "$deb"
[ -n "$deb" ] || finish

# What `make install` put there earlier would hide what the package leaves
# behind: start from a server with no music_tm at all.
find "$($PG_CONFIG --pkglibdir)" "$($PG_CONFIG --sharedir)/extension" -maxdepth 2 \
     -name '*music_tm*' -prune -exec rm -rf {} +
check "dpkg -i installs the package" $lock dpkg -i "$deb"
dpkg -L postgresql-15-music-tm > "$work/files"
owned() { dpkg -L postgresql-15-music-tm | grep -qx "$1"; }
check "the package owns music_tm.so" owned "$($PG_CONFIG --pkglibdir)/music_tm.so"
check "the package owns music_tm.control" owned "$($PG_CONFIG --sharedir)/extension/music_tm.control"

# The smoke test: the superuser creates the extension and grants the
# writer role to an ordinary login role, which then calls each family.
# (copied out: the clone may sit in a directory the postgres user cannot read)
cp "$top/test/package/smoke.sql" "$top/tools/with-cluster.sh" "$work/"
chmod 644 "$work/smoke.sql" "$work/with-cluster.sh"
smoke() {
    cd "$work" && runuser -u postgres -- env PG_CONFIG="$PG_CONFIG" bash "$work/with-cluster.sh" bash -c '
        set -e
        psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE music_app LOGIN" \
             -c "CREATE EXTENSION music_tm" -c "GRANT music_tm_writer TO music_app"
        psql -X -q -v ON_ERROR_STOP=1 -U music_app -At -f "$1"' smoke "$work/smoke.sql" \
        >"$work/smoke.out" 2>&1
}
smoke_ok=0
smoke && smoke_ok=1
check "the smoke test ran as an ordinary role" test "$smoke_ok" = 1
# smoke.sql prints one "name|t" line per check
while IFS='|' read -r name result; do
    check "smoke: $name" test "$result" = t
done < <(grep -E '^[a-z_ ]+\|[tf]$' "$work/smoke.out")
[ "$smoke_ok" = 1 ] || cat "$work/smoke.out"

check "dpkg --purge removes the package" $lock dpkg --purge postgresql-15-music-tm
gone() { ! dpkg-query -W -f='${Status}' postgresql-15-music-tm 2>/dev/null | grep -qv "not-installed"; }
check "dpkg knows nothing of it" gone
leftovers() {
    local left
    left=$(find "$($PG_CONFIG --pkglibdir)" "$($PG_CONFIG --sharedir)/extension" \
                /usr/share/doc/postgresql-15-music-tm -name '*music_tm*' 2>/dev/null;
           [ -e /usr/share/doc/postgresql-15-music-tm ] && echo /usr/share/doc/postgresql-15-music-tm)
    [ -z "$left" ] || { echo "left behind:"; echo "$left"; return 1; }
}
check "nothing of it is left in the server's directories" leftovers
files_gone() {
    local f left=0
    while read -r f; do
        [ -f "$f" ] && { echo "left behind: $f"; left=1; }
    done < "$work/files"
    [ "$left" = 0 ]
}
check "none of the package's files exists" files_gone
rm -rf "$work"
finish
