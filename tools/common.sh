# (Debian's /usr/bin/python3 is used on purpose: python3-psycopg2 is installed for it,
# not for a python3 that pyenv or a venv may put first on PATH.)
# Sourced by the demo, test and benchmark scripts: build and install music_tm,
# and run a command as an ordinary user (PostgreSQL refuses to run as root).

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"

# build_and_install DIR: compile with -Werror and install into the server.
build_and_install() {
    local dir=$1 sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    make -C "$dir" -s PG_CONFIG="$PG_CONFIG" >/dev/null
    $sudo make -C "$dir" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# as_user DIR CMD...: as root, copy DIR to a scratch directory owned by the
# postgres user and run CMD there as that user; otherwise run CMD in DIR.
# Prints nothing of its own; sets WORKDIR to where CMD ran.
as_user() {
    local dir=$1; shift
    if [ "$(id -u)" -eq 0 ]; then
        WORKDIR=$(mktemp -d /tmp/music_tm.XXXXXX)
        cp -a "$dir/." "$WORKDIR/"
        chown -R postgres: "$WORKDIR"
        chmod 755 "$WORKDIR"
        (cd "$WORKDIR" && runuser -u postgres -- env PATH="$PATH" PG_CONFIG="$PG_CONFIG" CI="${CI:-}" \
            MUSIC_TM_LONG_TESTS="${MUSIC_TM_LONG_TESTS:-}" "$@")
    else
        WORKDIR=$dir
        (cd "$dir" && "$@")
    fi
}

# summary_counts FILE: print "PASSED FAILED" from the last "N passed, N failed"
# line of FILE, or "0 1" when there is none (a run that died before counting).
summary_counts() {
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1 || true)
    if [ -z "$line" ]; then echo "0 1"; return; fi
    line=${line% failed}
    echo "${line%% passed*} ${line#*, }"
}
