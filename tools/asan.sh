#!/usr/bin/env bash
# AddressSanitizer run of the whole test suite: build music_tm with clang's
# -fsanitize=address, install it into Debian's server, run every suite with
# the ASAN runtime preloaded into the server processes (leak detection off:
# PostgreSQL frees memory by context, not by free()), count the reports, and
# reinstall the normal build.  Ends with "ASAN reports: N" and fails if N > 0
# or a suite failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"
"$top/tools/install-deps.sh"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
for p in clang-14 libclang-rt-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        { $sudo apt-get update -q >/dev/null; $sudo apt-get install -y -q "$p" >/dev/null; }
done
runtime=$(clang-14 -print-file-name=libclang_rt.asan-x86_64.so)

restore() {
    make -C "$top" -s clean >/dev/null
    build_and_install "$top"
}
trap restore EXIT

make -C "$top" -s clean >/dev/null
# CFLAGS replaces the gcc-specific flags pg_config reports for the server build
make -C "$top" -s PG_CONFIG="$PG_CONFIG" CC=clang-14 \
    CFLAGS="-O1 -g -fno-omit-frame-pointer -fno-strict-aliasing -fwrapv" \
    PG_CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-ignored-attributes -Wno-compound-token-split-by-macro -fsanitize=address -fno-omit-frame-pointer -g" \
    LDFLAGS_SL="-fsanitize=address -shared-libasan" >/dev/null
$sudo make -C "$top" -s PG_CONFIG="$PG_CONFIG" install >/dev/null

reports=$(mktemp -d /tmp/music_tm-asan.XXXXXX)
chmod 1777 "$reports"
export LD_PRELOAD="$runtime"
export ASAN_OPTIONS="detect_leaks=0:log_path=$reports/asan:handle_segv=0:detect_odr_violation=0"

status=0
as_user "$top" bash -c '
    set -u
    d=$(mktemp -d)
    initdb -D "$d/data" -A trust -U postgres >/dev/null
    pg_ctl -D "$d/data" -l "$d/log" -w -o "-k $d -p 54329 -c listen_addresses=" start >/dev/null
    export PGHOST=$d PGPORT=54329 PGUSER=postgres PGDATABASE=postgres
    MUSIC_TM_RUNNING_SERVER=1 bash tools/run-suites.sh
    rc=$?
    pg_ctl -D "$d/data" -w stop >/dev/null
    exit $rc' || status=$?

n=$(find "$reports" -name 'asan.*' -type f | wc -l)
for f in $(find "$reports" -name 'asan.*' -type f | head -5); do
    echo "== $f"; head -40 "$f"
done
echo "ASAN reports: $n"
[ "$n" -eq 0 ] && [ "$status" -eq 0 ]
