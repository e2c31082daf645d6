#!/usr/bin/env bash
# AddressSanitizer pass over the whole test suite: build music_tm with
# clang's -fsanitize=address, install it into Debian's server, run every
# suite with the ASAN runtime preloaded (leak detection off: PostgreSQL
# frees memory by context, not by free()), count the reports, and reinstall
# the normal build.  Ends with the suites' "N passed, N failed" line plus one
# test for the report count, and fails if a report was written.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"
"$top/tools/install-deps.sh"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
for p in clang-14 libclang-rt-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -q >/dev/null
        $sudo apt-get install -y -q --no-install-recommends "$p" >/dev/null
    }
done
runtime=$(clang-14 -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$runtime" ] || { echo "no ASAN runtime at $runtime" >&2; exit 1; }

work=$(mktemp -d /tmp/music_tm-asan.XXXXXX)
chmod 1777 "$work"
mkdir -m 1777 "$work/reports"
# see the comment in the stub: without it the preloaded runtime hangs postgres
clang-14 -shared -fPIC -O2 -o "$work/swift_demangle_stub.so" "$top/test/asan/swift_demangle_stub.c"
chmod 755 "$work/swift_demangle_stub.so"
clang-14 -shared -fPIC -O1 -g -fsanitize=address -shared-libasan -Wno-ignored-attributes \
    -I"$($PG_CONFIG --includedir-server)" -o "$work/canary.so" "$top/test/asan/canary.c"
chmod 755 "$work/canary.so"

restore() {
    make -C "$top" -s clean >/dev/null
    build_and_install "$top"
}
trap restore EXIT

make -C "$top" -s clean >/dev/null
# CFLAGS replaces the gcc-specific flags pg_config reports for the server
# build; -shared-libasan leaves the runtime to the preloaded library.
make -C "$top" -s PG_CONFIG="$PG_CONFIG" CC=clang-14 \
    CFLAGS="-O1 -g -fno-omit-frame-pointer -fno-strict-aliasing -fwrapv" \
    PG_CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-ignored-attributes -Wno-compound-token-split-by-macro -fsanitize=address -fno-omit-frame-pointer -g" \
    LDFLAGS_SL="-fsanitize=address -shared-libasan" >/dev/null
[ "$(nm -D "$top/music_tm.so" | grep -c __asan_report)" -gt 0 ] || { echo "music_tm.so is not instrumented" >&2; exit 1; }
$sudo make -C "$top" -s PG_CONFIG="$PG_CONFIG" install >/dev/null

# Every process of the run gets the runtime (the servers that pg_ctl and the
# TAP tests start inherit it from here); only music_tm.so is instrumented.
export LD_PRELOAD="$runtime $work/swift_demangle_stub.so"
export ASAN_OPTIONS="detect_leaks=0:log_path=$work/reports/asan:detect_odr_violation=0"

status=0
export ASAN_WORK=$work
as_user "$top" bash -c '
    set -u
    d=$(mktemp -d)
    initdb -D "$d/data" -A trust -U postgres >/dev/null
    pg_ctl -D "$d/data" -l "$d/log" -w -o "-k $d -p 54329 -c listen_addresses=" start >/dev/null
    grep -q libclang_rt.asan "/proc/$(head -1 "$d/data/postmaster.pid")/maps" ||
        { echo "the server did not load the ASAN runtime" >&2; exit 1; }
    export PGHOST=$d PGPORT=54329 PGUSER=postgres PGDATABASE=postgres
    # positive control: the canary must leave exactly one report, then the
    # server restarts from the crash and the report is set aside
    psql -X -q -c "LOAD '"'"'$ASAN_WORK/canary.so'"'"'" >/dev/null 2>&1
    pg_isready -q -t 30; sleep 1; pg_isready -q -t 30
    n=$(grep -l "heap-buffer-overflow" "$ASAN_WORK"/reports/asan.* 2>/dev/null | wc -l)
    if [ "$n" -ne 1 ]; then echo "the canary left $n reports, not 1: reports are not collected" >&2; exit 1; fi
    echo "  ASAN canary reported as it should"
    mkdir -p "$ASAN_WORK/canary" && mv "$ASAN_WORK"/reports/asan.* "$ASAN_WORK/canary/"
    MUSIC_TM_RUNNING_SERVER=1 bash tools/run-suites.sh
    rc=$?
    pg_ctl -D "$d/data" -w stop >/dev/null
    exit $rc' | tee "$work/suites.out" || status=$?
unset LD_PRELOAD

n=$(find "$work/reports" -name 'asan.*' -type f | wc -l)
for f in $(find "$work/reports" -name 'asan.*' -type f | head -5); do
    echo "== $f"; head -60 "$f"
done
echo "ASAN reports: $n"
read -r p f < <(summary_counts "$work/suites.out")
if [ "$n" -eq 0 ]; then p=$((p + 1)); else f=$((f + 1)); fi
echo "$p passed, $f failed"
[ "$n" -eq 0 ] && [ "$status" -eq 0 ] && [ "$f" -eq 0 ]
