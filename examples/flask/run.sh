#!/usr/bin/env bash
# One command: build and install music_tm into PostgreSQL 15, start a
# throwaway cluster, record every day of the bundled sample with the daily
# job, and serve the app on http://127.0.0.1:${PORT:-5000}/ until Ctrl-C;
# the cluster is removed on exit.  Run as root or with sudo, like tools/demo.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tools/common.sh"
"$top/tools/install-deps.sh"
build_and_install "$top"
export PORT=${PORT:-5000}
as_user "$top" env PORT="$PORT" pg_virtualenv -v 15 bash -c '
    set -e
    createdb music_time_machine_pg
    psql -X -q -d music_time_machine_pg -c "CREATE EXTENSION music_tm"
    cd examples/flask
    export DATABASE_URL=postgresql:///music_time_machine_pg
    /usr/bin/python3 daily_job.py --all | tail -3
    echo "serving on http://127.0.0.1:$PORT/ (Ctrl-C stops it and removes the cluster)"
    /usr/bin/python3 -m flask --app app run --host 127.0.0.1 --port "$PORT"'
