#!/usr/bin/env bash
# The test command: for each supported PostgreSQL version (15 from Debian's
# packages, 17 and 18 built from Debian's source packages by
# tools/pg-build.sh), build and install music_tm and run every suite
# (pg_regress, isolation specs, TAP tests, client tests) in throwaway
# clusters; then run them all again on 15 with music_tm built under
# AddressSanitizer (tools/asan.sh; MUSIC_TM_ASAN=0 skips that pass).  Prints
# the counts per version and ends with one line "N passed, N failed".
# MUSIC_TM_PG_VERSIONS="15" limits the matrix.
# Works as root on a fresh Debian 12 machine: it installs what is missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"

"$top/tools/install-deps.sh" --test
out=$(mktemp -d)
status=0
# The private 17 and 18 builds (cold: several minutes each on 2 cores) start
# now, one after the other in the background, while the 15 suites run;
# run_version's own call of pg-build.sh waits for them (it locks per version)
# or finds them cached.
versions=${MUSIC_TM_PG_VERSIONS:-15 17 18}
(
    for major in $versions; do
        [ "$major" = 15 ] || "$top/tools/pg-build.sh" "$major" || true
    done
) >"$out/pg-build.log" 2>&1 &
builder=$!

# the Node.js client test's dependencies, as its lockfile pins them
(cd "$top/test/client/node" && npm ci --no-audit --no-fund >/dev/null)

# run_version MAJOR: build and install music_tm for PostgreSQL MAJOR and run
# every suite against it; its output goes to $out/suites-MAJOR.
run_version() {
    local major=$1 pgc dir
    echo "=== PostgreSQL $major"
    if [ "$major" = 15 ]; then
        pgc=/usr/lib/postgresql/15/bin/pg_config
        dir=$top
    else
        # a private build (made once, then reused from its cache), and a
        # copy of the tree so that the objects of one version never end up
        # linked into another's build
        pgc=$("$top/tools/pg-build.sh" "$major") ||
            { cat "$out/pg-build.log"; echo "0 passed, 1 failed" > "$out/suites-$major"; return 1; }
        dir=$(mktemp -d /tmp/music_tm-pg$major.XXXXXX)
        cp -a "$top/." "$dir/"
        make -C "$dir" -s clean >/dev/null
    fi
    (
        export PG_CONFIG=$pgc PATH="$($pgc --bindir):$PATH"
        # the memory test's full 100,000 calls per family run on 15; on the
        # other versions a fifth of them still shows growth, in less time
        [ "$major" = 15 ] || export MUSIC_TM_MEMORY_CALLS=${MUSIC_TM_MEMORY_CALLS:-20000}
        build_and_install "$dir"
        as_user "$dir" bash tools/run-suites.sh
    ) | tee "$out/suites-$major"
}

# PGXN: META.json against the Meta Spec, and the zip `make dist` makes
echo "=== packaging"
/usr/bin/python3 "$top/test/dist/test_meta.py" -v > "$out/package.log" 2>&1 || true
ok=$(grep -cE '\.\.\. ok$' "$out/package.log" || true)
bad=$(grep -cE '\.\.\. (FAIL|ERROR)$' "$out/package.log" || true)
grep -qE '^OK' "$out/package.log" || { cat "$out/package.log"; [ "$bad" -gt 0 ] || bad=1; }
printf '  %-10s %4d ok, %d failed\n' meta "$ok" "$bad"
echo "$ok passed, $bad failed" > "$out/package"
rm "$out/package.log"

# the Debian package: built, installed, smoke-tested, purged; before the
# suites, since the purge removes music_tm from PostgreSQL 15
echo "=== Debian package"
bash "$top/tools/package-test.sh" > "$out/deb.log" 2>&1 || true
grep -qE '^[0-9]+ passed, 0 failed$' "$out/deb.log" || cat "$out/deb.log"
read -r p n < <(summary_counts "$out/deb.log")
echo "$p passed, $n failed" > "$out/debian"
printf '  %-10s %4d ok, %d failed\n' deb "$p" "$n"
rm "$out/deb.log"

# MUSIC_TM_PG_VERSIONS: the versions to test, default all supported ones
for major in $versions; do
    run_version "$major" || status=$?
done
wait "$builder" || true
rm -f "$out/pg-build.log"
if [ "${MUSIC_TM_ASAN:-1}" != 0 ]; then
    echo "=== the same suites with music_tm built under AddressSanitizer (PostgreSQL 15)"
    # the memory test's figure comes from the pass above; here its 100,000
    # calls per family would only be slow
    MUSIC_TM_MEMORY_CALLS=${MUSIC_TM_MEMORY_CALLS:-20000} \
        bash "$top/tools/asan.sh" | tee "$out/asan" || status=$?
fi

passed=0
failed=0
echo "=== summary"
for f in "$out"/*; do
    read -r p n < <(summary_counts "$f")
    case $(basename "$f") in
        suites-*) label="PostgreSQL ${f##*-}" ;;
        asan) label="PostgreSQL 15, ASAN" ;;
        package) label="packaging (PGXN)" ;;
        debian) label="Debian package" ;;
    esac
    printf '  %-22s %5d passed, %d failed\n' "$label" "$p" "$n"
    passed=$((passed + p)); failed=$((failed + n))
done
# the Citus cluster test runs only where Citus was built by hand
for f in "$out"/suites-*; do
    sed -n "s/^  citus      skipped: /  Citus tests skipped on PostgreSQL ${f##*-}: /p" "$f" | sort -u
done
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
