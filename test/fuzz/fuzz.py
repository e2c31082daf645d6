#!/usr/bin/env python3
"""Mutation fuzzing of every public music_tm function (run by test/t/005_fuzz.pl).

Starts from Spotify-shaped track objects and pages (tools/gen_sample.py's
make_track, relinked twins, local files, null items) and mutates them: the
JSON text truncated, values swapped for other types, huge and odd numbers,
deep nesting, non-ASCII text and escapes, null at every position, keys
duplicated, removed or emptied, wrong offsets, items wrapped or replaced.
Each mutant goes through the functions that take it:

  page mutants   record_top_tracks (with odd ranges, dates and listeners too)
  track mutants  save_track, every accessor, track_fields (both forms),
                 cover_url / playable_in with odd arguments, track_detail,
                 save_snapshot_row with odd ranks, dates and listeners
  call mutants   the history functions with odd arguments

Every call must either succeed or fail with one of the SQLSTATEs in ALLOWED,
22P02 / 22P05 / 54001 only from the input functions of jsonb, the enum and
date.  The accessors must never fail on a track that jsonb accepted.  A
failing write must leave the tables as they were (checksum before and after,
in the same session), and a successful record_top_tracks must have stored
its whole page.  One connection, one call per transaction, a fixed seed.

Prints one JSON report on stdout; exits 0 whatever it found (the TAP test
judges the report).
"""
import argparse
import collections
import json
import os
import random
import re
import sys
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import gen_sample  # noqa: E402

# What a call may fail with, and why (README, Errors).
ALLOWED = {
    "22004": "a NULL argument",
    "22023": "a wrong argument or field",
    "23503": "save_snapshot_row for a track that is not stored",
    "54000": "a page past a cap",
    "40001": "serialization failure (not expected in one session)",
}
# Only from the input function of jsonb (malformed text, \u0000, nesting past
# the stack), of the time_range enum, or of date.
INPUT_ERRORS = {
    "22P02": re.compile(r"^invalid input (syntax for type (json|date)|value for enum music_tm\.time_range)"),
    "22P05": re.compile(r"^unsupported Unicode escape sequence"),
    "54001": re.compile(r"^stack depth limit exceeded"),
}

ACCESSORS = ("isrc ean upc release_date release_date_precision release_year artist_names artist_ids "
             "first_artist album_name album_id album_type explicit popularity duration_ms duration "
             "track_number disc_number cover_url canonical_id is_local is_episode uri spotify_url "
             "preview_url track_hash").split()

RANGES = ["short_term", "medium_term", "long_term"]
ODD_RANGES = RANGES * 6 + ["forever", "", "SHORT_TERM", None]
DATES = ["2026-05-01", "2026-05-02", "2026-05-03"]
ODD_DATES = DATES * 6 + ["infinity", "-infinity", "4713-01-01 BC", "5874897-12-31", "1970-01-01", None]
LISTENERS = ["default", "fz1", "fz2"]
ODD_LISTENERS = LISTENERS * 6 + ["", None, "Ölüdeniz ünïcode", "x" * 5000, "'; DROP TABLE music_tm.tracks; --"]
RAW_NUMBERS = ["1e400", "-1e400", "1e-400", "-0", "-0.0", "9223372036854775808", "-9223372036854775809",
               "2147483648", "-2147483649", "4294967296", "1.5", "0.0000001", "1E2", "123456789012345678901234567890.5"]
ODD_STRINGS = ["", " ", "ÿ", "Ölüdeniz — Ñandú", "夜に駆ける", "🎵🎶", "\u202eRTL", "e\u0301", "\ufeffBOM",
               "line\nbreak", "tab\t", "quote\"", "back\\slash", "\u2028", "null", "0", "true", "x" * 70000,
               "spotify:local:::Title:253", "SE", "1981-02-30", "0000", "1981-13", "81-12-15"]
MARKETS = [None, "SE", "se", "jp", "S", "SEE", "", "ÅÄ", "1A", "s1", " S"]
WIDTHS = [None, 0, 1, 64, 300, 640, 641, -1, -2147483648, 2147483647]

RAW = "\u0000RAW:"          # a string that dumps as a raw JSON token


def raw(token):
    return RAW + token


def dumps(value):
    text = json.dumps(value, ensure_ascii=False)
    return re.sub(r'"\\u0000RAW:([^"]*)"', lambda m: m.group(1), text)


def paths(value, prefix=()):
    """Every path to a value inside value (the root included)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, prefix + (i,))


def get(value, path):
    for p in path:
        value = value[p]
    return value


def put(value, path, new):
    if not path:
        return new
    get(value, path[:-1])[path[-1]] = new
    return value


def deep(rng):
    """Nesting 10 to 20,000 levels deep (past what jsonb input accepts)."""
    depth = rng.choice((10, 100, 1000, 5000, 20000))
    if depth <= 10:
        return json.loads("[" * depth + "]" * depth)
    if rng.random() < 0.5:
        return raw("[" * depth + "]" * depth)
    return raw('{"a":' * depth + "1" + "}" * depth)


def odd_value(rng):
    r = rng.random()
    if r < 0.15:
        return None
    if r < 0.25:
        return rng.choice((True, False))
    if r < 0.45:
        return raw(rng.choice(RAW_NUMBERS))
    if r < 0.55:
        return rng.choice((0, -1, 1, 50, 999, 1000, 1001))
    if r < 0.75:
        return rng.choice(ODD_STRINGS)
    if r < 0.85:
        return rng.choice(([], {}, [None], [{}], {"": None}, {"id": None}))
    if r < 0.93:
        return deep(rng)
    return {"track": {"id": "wrapped", "name": "W"}, "played_at": "2023-09-22T15:43:33.750Z"}


def mutate_value(rng, value):
    """One structural mutation of a JSON value (a deep copy is mutated)."""
    value = json.loads(json.dumps(value))
    all_paths = list(paths(value))
    path = rng.choice(all_paths)
    target = get(value, path)
    op = rng.random()
    if op < 0.25:                           # null in this position
        return put(value, path, None)
    if op < 0.55:                           # another type, an odd number or string
        return put(value, path, odd_value(rng))
    if op < 0.65 and path:                  # key or element removed
        parent = get(value, path[:-1])
        del parent[path[-1]]
        return value
    if op < 0.72:                           # emptied
        return put(value, path, rng.choice(("", [], {})))
    if op < 0.80 and isinstance(target, dict) and target:   # a key renamed to odd text
        k = rng.choice(list(target))
        target[rng.choice(ODD_STRINGS[:16])] = target.pop(k)
        return value
    if op < 0.86 and isinstance(target, list):              # repeated elements
        return put(value, path, target + target[: rng.randint(1, 3)])
    if op < 0.93:                           # wrapped
        return put(value, path, rng.choice(([target], {"track": target}, {"item": target})))
    return put(value, path, deep(rng))


def mutate_text(rng, text):
    """Mutations of the JSON text itself."""
    op = rng.random()
    if op < 0.35:                           # truncated
        return text[: rng.randrange(len(text))]
    if op < 0.60:                           # a key duplicated with another value (jsonb keeps the last)
        keys = [m.start() for m in re.finditer(r'"(id|name|items|offset|duration_ms|artists|album|linked_from|is_local)":', text)]
        if keys:
            at = rng.choice(keys)
            key = re.match(r'"[^"]*":', text[at:]).group(0)
            return text[:at] + key + dumps(odd_value(rng)) + ", " + text[at:]
        return text + "}"
    if op < 0.75:                           # escapes
        esc = rng.choice(('\\u0000', '\\ud800', '\\udc00x', '\\ud83c\\udfb5', '\\u00e9', '\\/', '\\x41', '\\', '\\"'))
        at = text.find('"', rng.randrange(len(text)))
        return text if at < 0 else text[: at + 1] + esc + text[at + 1:]
    if op < 0.85:                           # a byte replaced
        at = rng.randrange(len(text))
        return text[:at] + rng.choice(('{', '}', '[', ']', ',', ':', '"', '0', 'é', ' ')) + text[at + 1:]
    if op < 0.93:                           # trailing garbage
        return text + rng.choice((" ", "x", "}", ",", "null", "\n"))
    return text.replace(" ", "")             # compact: still valid


class Fuzzer:
    def __init__(self, dsn, seed):
        self.rng = random.Random(seed)
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.cur.execute("SET statement_timeout = '60s'")
        self.calls = collections.Counter()
        self.outcomes = collections.Counter()
        self.violations = []
        self.mutants = collections.Counter()
        self.checksum = self.table_checksum()
        gen = random.Random(seed + 1)
        artists = [gen_sample.make_artist(gen, a) for a in gen_sample.ARTISTS]
        self.tracks = [gen_sample.make_track(gen, artists, n) for n in range(40)]
        self.tracks += [gen_sample.relink(gen, self.tracks[n]) for n in (0, 7, 13)]
        self.tracks.append(gen_sample.local_file(3))
        self.tracks.append({"track": self.tracks[1], "played_at": "2026-05-01T08:00:00Z"})
        self.tracks.append({"id": "small", "name": "Small"})

    def violation(self, kind, detail):
        if len(self.violations) < 200:
            self.violations.append({"kind": kind, "detail": detail[:2000]})
        self.outcomes["violation: " + kind] += 1

    def table_checksum(self):
        self.cur.execute("""
            SELECT (SELECT count(*) || ':' || coalesce(sum(content_hash), 0) FROM music_tm.tracks) || '/' ||
                   (SELECT count(*) || ':' || coalesce(sum(hashtext(listener || time_range || snapshot_date)), 0)
                    FROM music_tm.charts) || '/' ||
                   (SELECT count(*) || ':' || coalesce(sum(hashtext(listener || time_range || snapshot_date || track_id
                                                                   || rank || coalesce(playable_id, ''))), 0)
                    FROM music_tm.chart_entries)""")
        return self.cur.fetchone()[0]

    def call(self, fn, sql, args, write=False, may_fail=True):
        """Run one statement; check how it failed.  Returns rows or None."""
        self.calls[fn] += 1
        try:
            self.cur.execute(sql, args)
            rows = self.cur.fetchall() if self.cur.description else []
        except psycopg2.Error as e:
            if self.conn.closed or e.pgcode is None:
                self.violation("connection lost", f"{fn}: {e}")
                raise SystemExit
            state, msg = e.pgcode, e.diag.message_primary or ""
            if state in INPUT_ERRORS and INPUT_ERRORS[state].match(msg):
                self.outcomes[f"{state} input"] += 1
                return None
            if state not in ALLOWED:
                self.violation(f"SQLSTATE {state}", f"{fn}: {msg} | args: {str(args)[:800]}")
                return None
            if not may_fail:
                self.violation("accessor failed", f"{fn}: {state} {msg} | args: {str(args)[:800]}")
                return None
            self.outcomes[state] += 1
            if write:
                now = self.table_checksum()
                if now != self.checksum:
                    self.violation("partial write", f"{fn} failed with {state} {msg} but changed the tables")
                    self.checksum = now
            return None
        self.outcomes["ok"] += 1
        if write:
            self.checksum = self.table_checksum()
        return rows

    # ---------------------------------------------------------------- pages
    def page(self):
        rng = self.rng
        n = rng.choice((1, 2, 3, 5, 5, 8))
        items = [rng.choice(self.tracks[:44]) for _ in range(n)]
        if rng.random() < 0.2:
            items[rng.randrange(n)] = None
        offset = rng.choice((0, 0, 0, 49, 49, 950))
        if rng.random() < 0.15:
            return items, offset
        return {"href": "https://api.spotify.com/v1/me/top/tracks?offset=%d&limit=50" % offset,
                "items": items, "limit": 50, "next": None, "offset": offset, "previous": None,
                "total": 99}, offset

    def page_mutant(self):
        rng = self.rng
        page, _ = self.page()
        r = rng.random()
        if r < 0.12:
            kind = "offset"
            if isinstance(page, list):
                page = {"items": page}
            page["offset"] = rng.choice([raw(x) for x in RAW_NUMBERS] +
                                        [-1, 999, 1000, 1001, 951, 996, "49", None, True, [], {}, 49.0])
            text = dumps(page)
        elif r < 0.14:
            kind = "items cap"
            text = dumps({"items": [None] * rng.choice((999, 1000, 1001, 5000)), "offset": 0})
        elif r < 0.145:
            kind = "bytes cap"
            text = dumps({"items": [self.tracks[0]], "pad": "x" * (16 * 1024 * 1024 + rng.choice((-4096, 1, 4096)))})
        elif r < 0.55:
            kind = "page value"
            value = page
            for _ in range(rng.choice((1, 1, 2, 3))):
                value = mutate_value(rng, value)
            text = dumps(value)
        else:
            kind = "page text"
            text = dumps(page)
            for _ in range(rng.choice((1, 1, 2))):
                text = mutate_text(rng, text)
        self.mutants["page: " + kind] += 1
        args = self.odd_chart_args(0.9)
        rows = self.call("record_top_tracks",
                         "SELECT * FROM music_tm.record_top_tracks(%s, %s::jsonb, %s, %s)",
                         (args[0], text, args[1], args[2]), write=True)
        if rows:
            self.check_page_stored(text, args, rows[0])

    def check_page_stored(self, text, args, result):
        """A successful call stored its whole page: every charted item at its rank, every track's object."""
        self.cur.execute("""
            WITH p AS (SELECT %s::jsonb AS j),
            page AS (SELECT CASE WHEN jsonb_typeof(j) = 'array' THEN j ELSE j->'items' END AS a,
                            CASE WHEN jsonb_typeof(j) = 'array' THEN 0
                                 ELSE coalesce((j->>'offset')::numeric::int, 0) END AS off FROM p),
            e AS (SELECT off + ord::int AS rank, x FROM page, jsonb_array_elements(a) WITH ORDINALITY t(x, ord)
                  WHERE jsonb_typeof(x) = 'object' AND x->'is_local' IS DISTINCT FROM 'true'),
            ids AS (SELECT CASE WHEN jsonb_typeof(x->'linked_from') = 'object' THEN x->'linked_from'->>'id'
                                ELSE x->>'id' END AS cid, rank, x FROM e),
            best AS (SELECT DISTINCT ON (cid) cid, rank, x FROM ids ORDER BY cid, rank),
            chart AS (SELECT c.track_id, c.rank FROM music_tm.chart_entries c, page
                      WHERE c.listener = %s AND c.time_range = %s::music_tm.time_range AND c.snapshot_date = %s
                        AND c.rank BETWEEN page.off + 1 AND page.off + jsonb_array_length(page.a))
            SELECT (SELECT count(*) FROM best), (SELECT count(*) FROM chart),
                   (SELECT count(*) FROM best JOIN chart ON chart.track_id = best.cid AND chart.rank = best.rank),
                   (SELECT count(*) FROM best JOIN music_tm.tracks t
                      ON t.track_id = best.cid AND t.content_hash = music_tm.track_hash(best.x)),
                   (SELECT jsonb_array_length(a) FROM page)""", (text, args[2], args[0], args[1]))
        expected, in_range, matching, tracks_ok, n = self.cur.fetchone()
        charted = result[3] + result[4] + result[6]       # inserted + updated + unchanged
        if not (expected == in_range == matching == tracks_ok == charted and charted + result[7] == n):
            self.violation("page not stored whole",
                           f"expected {expected}, in range {in_range}, matching {matching}, tracks {tracks_ok}, "
                           f"result {result[:8]}, items {n}: {text[:600]}")

    def odd_chart_args(self, p_normal):
        rng = self.rng
        if rng.random() < p_normal:
            return rng.choice(RANGES), rng.choice(DATES), rng.choice(LISTENERS)
        return rng.choice(ODD_RANGES), rng.choice(ODD_DATES), rng.choice(ODD_LISTENERS)

    # ---------------------------------------------------------------- tracks
    def track_mutant(self):
        rng = self.rng
        track = rng.choice(self.tracks)
        if rng.random() < 0.55:
            kind = "track value"
            for _ in range(rng.choice((1, 1, 2, 3))):
                track = mutate_value(rng, track)
            text = dumps(track)
        else:
            kind = "track text"
            text = dumps(track)
            for _ in range(rng.choice((1, 1, 2))):
                text = mutate_text(rng, text)
        self.mutants["track: " + kind] += 1
        self.track_calls(text)

    def track_calls(self, text):
        rng = self.rng
        saved = self.call("save_track", "SELECT music_tm.save_track(%s::jsonb)", (text,), write=True)
        cols = ", ".join(f"music_tm.{f}(j)" for f in ACCESSORS)
        rows = self.call("accessors", f"SELECT {cols}, music_tm.track_fields(j) FROM (SELECT %s::jsonb AS j) s",
                         (text,), may_fail=False)
        if rows is None:
            return                   # jsonb input refused the text: nothing else to call
        w, m = rng.choice(WIDTHS), rng.choice(MARKETS)
        bad = (w is not None and w < 0) or (m is not None and not re.fullmatch(r"[A-Za-z]{2}", m))
        ok = self.call("accessors with arguments",
                       "SELECT music_tm.cover_url(j, %s), music_tm.playable_in(j, %s), music_tm.track_fields(j, %s)"
                       " FROM (SELECT %s::jsonb AS j) s", (w, m, m, text))
        if (ok is None) != bad:
            self.violation("argument check", f"cover_url / playable_in / track_fields with {w!r}, {m!r}: "
                           f"{'failed' if ok is None else 'succeeded'}")
        cid = rows[0][ACCESSORS.index("canonical_id")]
        self.call("track_detail", "SELECT * FROM music_tm.track_detail(%s)",
                  (cid if cid is not None and rng.random() < 0.8 else rng.choice(ODD_STRINGS + [None]),))
        if saved is not None or rng.random() < 0.2:
            rank = rng.choice((1, 1, 50, 99, 1000, 0, -1, 1001, 2147483647, None))
            rng_, date, listener = self.odd_chart_args(0.8)
            self.call("save_snapshot_row", "SELECT music_tm.save_snapshot_row(%s, %s, %s, %s, %s)",
                      (cid if rng.random() < 0.9 else rng.choice(ODD_STRINGS + [None]), date, rng_, rank, listener),
                      write=True)

    # ---------------------------------------------------------------- history
    def history_mutant(self):
        rng = self.rng
        self.mutants["call"] += 1
        track = rng.choice(self.tracks[:40])["id"] if rng.random() < 0.7 else rng.choice(ODD_STRINGS + [None])
        artist = rng.choice(("The Lanterns", "Mira Sol", "", None, "x" * 70000, "Björk Ødegaard"))
        rng_, d1, listener = self.odd_chart_args(0.6)
        _, d2, _ = self.odd_chart_args(0.6)
        if rng.random() < 0.3:
            d1, d2 = d2, d1
        w, h = rng.choice((640, 120, 119, 10000, 10001, 0, -1, None)), rng.choice((240, 100, 99, 10000, 10001, None))
        fn = rng.choice(("chart_as_of", "rank_history", "run_stats", "all_run_stats", "chart_diff", "chart_churn",
                         "artist_history", "artist_run_stats", "sparkline", "run_svg"))
        sql, args = {
            "chart_as_of": ("SELECT count(*) FROM music_tm.chart_as_of(%s, %s, %s)", (d1, rng_, listener)),
            "rank_history": ("SELECT count(*) FROM music_tm.rank_history(%s, %s, %s)", (track, rng_, listener)),
            "run_stats": ("SELECT count(*) FROM music_tm.run_stats(%s, %s, %s)", (track, rng_, listener)),
            "all_run_stats": ("SELECT count(*) FROM music_tm.all_run_stats(%s, %s)", (rng_, listener)),
            "chart_diff": ("SELECT count(*) FROM music_tm.chart_diff(%s, %s, %s, %s)", (d1, d2, rng_, listener)),
            "chart_churn": ("SELECT count(*) FROM music_tm.chart_churn(%s, %s, %s, %s)", (d1, d2, rng_, listener)),
            "artist_history": ("SELECT count(*) FROM music_tm.artist_history(%s, %s, %s)", (artist, rng_, listener)),
            "artist_run_stats": ("SELECT count(*) FROM music_tm.artist_run_stats(%s, %s, %s)",
                                 (artist, rng_, listener)),
            "sparkline": ("SELECT music_tm.sparkline(%s, %s, %s, %s, %s)", (track, rng_, listener, d1, d2)),
            "run_svg": ("SELECT length(music_tm.run_svg(%s, %s, %s, %s, %s, %s, %s))",
                        (track, rng_, listener, d1, d2, w, h)),
        }[fn]
        self.call(fn, sql, args)

    def run(self, n):
        start = time.time()
        for i in range(n):
            r = self.rng.random()
            if r < 0.45:
                self.page_mutant()
            elif r < 0.9:
                self.track_mutant()
            else:
                self.history_mutant()
            if i % 1000 == 999:       # keep the tables (and the checksums) small
                self.cur.execute("TRUNCATE music_tm.tracks, music_tm.charts")
                self.checksum = self.table_checksum()
        self.cur.execute("SELECT pg_backend_pid()")
        return {"mutants": sum(self.mutants.values()), "seconds": round(time.time() - start, 1),
                "by_mutation": dict(sorted(self.mutants.items())), "calls": dict(sorted(self.calls.items())),
                "outcomes": dict(sorted(self.outcomes.items())), "violations": self.violations,
                "allowed": sorted(ALLOWED) + [f"{s} (input of jsonb, enum, date)" for s in sorted(INPUT_ERRORS)]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", default="")
    ap.add_argument("--mutants", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=5005)
    ap.add_argument("--forbid", action="append", default=[],
                    help="treat this SQLSTATE as undocumented (to show that the checks can fail)")
    a = ap.parse_args()
    for state in a.forbid:
        ALLOWED.pop(state, None)
    fz = Fuzzer(a.dsn, a.seed)
    try:
        report = fz.run(a.mutants)
    except SystemExit:
        report = {"mutants": sum(fz.mutants.values()), "violations": fz.violations, "calls": dict(fz.calls),
                  "outcomes": dict(fz.outcomes), "aborted": True}
    json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
