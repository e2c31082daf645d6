#!/usr/bin/env bash
# Run every suite against the installed music_tm, as a non-root user, and
# count the tests.  Called by tools/test.sh; run it yourself after
# `make install` to skip the install step.
set -uo pipefail
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
log=$(mktemp -d)
passed=0
failed=0

# count LABEL FILE OKPATTERN FAILPATTERN
count() {
    local ok bad
    ok=$(grep -cE "$3" "$2" || true)
    bad=$(grep -cE "$4" "$2" || true)
    printf '  %-10s %4d ok, %d failed\n' "$1" "$ok" "$bad"
    passed=$((passed + ok))
    failed=$((failed + bad))
}

# run LABEL CMD...: run a suite, keep its output, show it when it failed.
run() {
    local label=$1; shift
    echo "== $label"
    if ! "$@" >"$log/$label.out" 2>&1; then
        cat "$log/$label.out"
        for f in regression.diffs output_iso/regression.diffs; do
            [ -f "$f" ] && cat "$f"
        done
        echo "== $label: the suite itself failed"
        return 1
    fi
}

# results of an earlier run would be mistaken for this one's
rm -rf results output_iso tmp_check regression.diffs regression.out

# each suite gets a throwaway cluster, unless MUSIC_TM_RUNNING_SERVER=1 says
# that the libpq environment (PGHOST, PGPORT, ...) already names a server to
# use (tools/asan.sh starts one with the sanitizer runtime preloaded)
# (Debian's pg_virtualenv for a packaged server, tools/with-cluster.sh for a
# private build such as tools/pg-build.sh makes)
major=$($PG_CONFIG --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
if [ "$($PG_CONFIG --bindir)" = "/usr/lib/postgresql/$major/bin" ]; then
    pgv="pg_virtualenv -v $major"
else
    pgv="bash tools/with-cluster.sh"
fi
[ -n "${MUSIC_TM_RUNNING_SERVER:-}" ] && pgv=""
suite_failed=0
make_args=(-s PG_CONFIG="$PG_CONFIG")

run regress $pgv make "${make_args[@]}" installcheck ISOLATION= TAP_TESTS= || suite_failed=$((suite_failed + 1))
# pg_regress reports "test name ... ok" up to 15 and "ok N - name" from 16 on
count regress "$log/regress.out" '^(test | )?[a-z_]+ +\.\.\. ok|^ok [0-9]+ +- ' \
    '\.\.\. FAILED|failed \(ignored\)|^not ok [0-9]+ +- '

run isolation $pgv make "${make_args[@]}" installcheck REGRESS= TAP_TESTS= || suite_failed=$((suite_failed + 1))
count isolation "$log/isolation.out" '\.\.\. ok|^ok [0-9]+ +- ' '\.\.\. FAILED|^not ok [0-9]+ +- '

run tap make "${make_args[@]}" installcheck REGRESS= ISOLATION= PROVE_FLAGS=-v || suite_failed=$((suite_failed + 1))
count tap "$log/tap.out" '^ *ok [0-9]+' '^ *not ok [0-9]+'

# a real Citus cluster (test/citus): the test starts its own coordinator and
# workers, and skips, saying why, when Citus is not installed for this
# PostgreSQL (no Debian package: it is built by hand, never by this script)
if [ -z "${MUSIC_TM_RUNNING_SERVER:-}" ]; then
    run citus make "${make_args[@]}" installcheck REGRESS= ISOLATION= \
        PROVE_TESTS='test/citus/*.pl' PROVE_FLAGS=-v || suite_failed=$((suite_failed + 1))
    count citus "$log/citus.out" '^ *ok [0-9]+' '^ *not ok [0-9]+'
    sed -n 's/^.*skipped: /  citus      skipped: /p' "$log/citus.out"
fi

run client $pgv /usr/bin/python3 -m unittest discover -v -s test/client -p 'test_*.py' || suite_failed=$((suite_failed + 1))
count client "$log/client.out" '\.\.\. ok$' '\.\.\. (FAIL|ERROR)$'
grep -A4 "^backend memory:" "$log/client.out" || true

# README.md's examples, in order, on a fresh database of a throwaway cluster,
# plus broken copies of the README that must fail (--self-test).  Not in a
# server someone else started (tools/asan.sh): the README creates and drops
# roles of its own, and it documents the product, not its memory safety.
if [ -z "${MUSIC_TM_RUNNING_SERVER:-}" ]; then
    run readme $pgv /usr/bin/python3 test/readme/readme_test.py --self-test README.md || suite_failed=$((suite_failed + 1))
    count readme "$log/readme.out" '^ok [0-9]+' '^not ok [0-9]+'
fi

# Node.js with node-postgres; tools/test.sh installs the locked dependencies
[ -d test/client/node/node_modules ] || (cd test/client/node && npm ci --no-audit --no-fund >/dev/null)
# (without the ASAN runtime tools/asan.sh preloads: only the server needs it)
run node $pgv env -u LD_PRELOAD bash -c 'cd test/client/node && npm test' || suite_failed=$((suite_failed + 1))
count node "$log/node.out" '^ok [0-9]+' '^not ok [0-9]+'

# the Flask example in headless Chromium (not under the ASAN server: the
# browser would inherit the preloaded runtime)
if [ -z "${MUSIC_TM_RUNNING_SERVER:-}" ]; then
    run browser $pgv /usr/bin/python3 -m unittest -v examples/flask/test_browser.py || suite_failed=$((suite_failed + 1))
    count browser "$log/browser.out" '\.\.\. ok$' '\.\.\. (FAIL|ERROR)$'
fi

# a suite that died without reporting a failed test still counts as one
failed=$((failed + (suite_failed > 0 && failed == 0 ? suite_failed : 0)))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
