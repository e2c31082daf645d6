#!/usr/bin/env bash
# The benchmarks (make bench): build and install music_tm, then run
# test/bench/run.py in a throwaway cluster.  Arguments go to run.py.
#
# The benchmark has to install this build into the server to load it; when
# it ends (or fails, or is interrupted) it puts back the music_tm files that
# were installed before, removes those that were not, and removes its
# scratch copy of the repository, so the server and /tmp are left as found.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/common.sh"

"$top/tools/install-deps.sh"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

# music_tm 1.1, for the 2.0-vs-1.1 benchmark: its release commit, built as
# the extension music_tm11 (library music_tm11.so) so that it installs next
# to this build.  Skipped (and the benchmark says so) without the history.
V11_COMMIT=9d898f4
v11=$(mktemp -d /tmp/music_tm_bench_v11.XXXXXX)
if git -C "$top" archive "$V11_COMMIT" 2>/dev/null | tar -x -C "$v11" 2>/dev/null; then
    (cd "$v11" &&
     for f in music_tm--*.sql; do mv "$f" "music_tm11${f#music_tm}"; done &&
     sed "s|\$libdir/music_tm'|\$libdir/music_tm11'|" music_tm.control > music_tm11.control &&
     rm music_tm.control &&
     sed -i 's/^EXTENSION = music_tm$/EXTENSION = music_tm11/; s/^MODULE_big = music_tm$/MODULE_big = music_tm11/; s/music_tm--/music_tm11--/g' Makefile &&
     make -s PG_CONFIG="$PG_CONFIG" >/dev/null) || { echo "music_tm 1.1 did not build: the 2.0-vs-1.1 benchmark is skipped"; rm -rf "$v11"; v11=""; }
else
    echo "no git history here: the 2.0-vs-1.1 benchmark is skipped"
    rm -rf "$v11"; v11=""
fi

# Which files `make install` writes: install into a staging directory first.
make -C "$top" -s PG_CONFIG="$PG_CONFIG" >/dev/null
stage=$(mktemp -d /tmp/music_tm_bench_stage.XXXXXX)
backup=$(mktemp -d /tmp/music_tm_bench_backup.XXXXXX)
WORKDIR=""
make -C "$top" -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$stage" >/dev/null
[ -z "$v11" ] || make -C "$v11" -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$stage" >/dev/null
mapfile -t installed < <(cd "$stage" && find . -type f -o -type l | sed 's/^\.//')
mapfile -t new_dirs < <(cd "$stage" && find . -mindepth 1 -type d | sed 's/^\.//' |
                          while read -r d; do [ -d "$d" ] || echo "$d"; done | sort -r)
for f in "${installed[@]}"; do
    if [ -e "$f" ]; then
        mkdir -p "$backup$(dirname "$f")"
        cp -a "$f" "$backup$f"
    fi
done

restore() {
    local f d
    for f in "${installed[@]}"; do
        if [ -e "$backup$f" ]; then
            $sudo cp -a "$backup$f" "$f"
        else
            $sudo rm -f "$f"
        fi
    done
    for d in "${new_dirs[@]}"; do
        $sudo rmdir "$d" 2>/dev/null || true
    done
    rm -rf "$stage" "$backup" ${v11:+"$v11"}
    # the scratch copy as_user made (as root only; otherwise it ran in $top)
    if [ -n "$WORKDIR" ] && [ "$WORKDIR" != "$top" ]; then
        rm -rf "$WORKDIR"
    fi
}
trap restore EXIT

build_and_install "$top"
if [ -n "$v11" ]; then
    $sudo make -C "$v11" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
fi
# pg_virtualenv turns fsync off for speed; benchmarks run with the server's
# default (fsync on), as a real database would, and with shared_buffers large
# enough to keep the benchmark tables in memory.  (Not in a pipeline: as_user
# sets WORKDIR, which restore needs.)
as_user "$top" pg_virtualenv -v 15 -o fsync=on -o shared_buffers=1GB /usr/bin/python3 test/bench/run.py "$@" \
    > >(grep --line-buffered -v -E '^(Creating new PostgreSQL cluster|Dropping cluster) 15/regress') 2>&1
