#!/usr/bin/env bash
# The test command: build and install music_tm, then run every suite
# (pg_regress, isolation specs, TAP tests, client tests) in throwaway
# clusters, and end with one line "N passed, N failed".
# Works as root on a fresh Debian 12 machine: it installs what is missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"

"$top/tools/install-deps.sh"
build_and_install "$top"
status=0
as_user "$top" bash tools/run-suites.sh || status=$?
exit $status
