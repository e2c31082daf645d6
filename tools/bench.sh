#!/usr/bin/env bash
# The benchmarks (make bench): build and install music_tm, then run
# test/bench/run.py in a throwaway cluster.  Arguments go to run.py.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"

"$top/tools/install-deps.sh"
build_and_install "$top"
as_user "$top" pg_virtualenv -v 15 -o shared_buffers=1GB python3 test/bench/run.py "$@" 2>&1 |
    grep -v -E '^(Creating new PostgreSQL cluster|Dropping cluster) 15/regress'
