#!/usr/bin/env bash
# The benchmarks (make bench): build and install music_tm, then run
# test/bench/run.py in a throwaway cluster.  Arguments go to run.py.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"

"$top/tools/install-deps.sh"
build_and_install "$top"
# pg_virtualenv turns fsync off for speed; benchmarks run with the server's
# default (fsync on), as a real database would, and with shared_buffers large
# enough to keep the benchmark tables in memory.
as_user "$top" pg_virtualenv -v 15 -o fsync=on -o shared_buffers=1GB /usr/bin/python3 test/bench/run.py "$@" 2>&1 |
    grep -v -E '^(Creating new PostgreSQL cluster|Dropping cluster) 15/regress'
