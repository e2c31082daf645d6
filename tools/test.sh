#!/usr/bin/env bash
# The test command: build and install music_tm, run every suite (pg_regress,
# isolation specs, TAP tests, client tests) in throwaway clusters, then run
# them all again with music_tm built under AddressSanitizer (tools/asan.sh;
# MUSIC_TM_ASAN=0 skips that pass), and end with one line "N passed, N failed".
# Works as root on a fresh Debian 12 machine: it installs what is missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"

"$top/tools/install-deps.sh"
build_and_install "$top"
out=$(mktemp -d)
status=0
as_user "$top" bash tools/run-suites.sh | tee "$out/suites" || status=$?
if [ "${MUSIC_TM_ASAN:-1}" != 0 ]; then
    echo "=== the same suites with music_tm built under AddressSanitizer"
    # the memory test's figure comes from the pass above; here its 100,000
    # calls per family would only be slow
    MUSIC_TM_MEMORY_CALLS=${MUSIC_TM_MEMORY_CALLS:-20000} \
        bash "$top/tools/asan.sh" | tee "$out/asan" || status=$?
fi

passed=0
failed=0
for f in "$out"/*; do
    read -r p n < <(summary_counts "$f")
    passed=$((passed + p)); failed=$((failed + n))
done
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
