#!/usr/bin/env bash
# The demo: build and install music_tm, start a throwaway cluster, load the
# bundled sample of Spotify top-tracks pages and show what music_tm keeps.
# Works as root on a fresh Debian 12 machine: it installs what is missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"

"$top/tools/install-deps.sh"
build_and_install "$top"
as_user "$top" pg_virtualenv -v 15 psql -X -q -v ON_ERROR_STOP=1 -f tools/demo.sql 2>&1 |
    grep -v -E '^(Creating new PostgreSQL cluster|Dropping cluster) 15/regress'
