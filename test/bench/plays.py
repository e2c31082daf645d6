"""Benchmarks of listening history: music_tm against set-based SQL peers.

Server-side (files already in a table, one call per file, in one session):
  - importing a generated extended streaming history (tools/gen_history.py:
    by default 200,000 entries over about ten years, in files of 20,000):
    music_tm.import_streaming_history (matching across sources, partial
    track objects for new tracks, the charts of every touched week and month
    rebuilt) against the best set-based SQL peer: per file one INSERT ...
    SELECT FROM jsonb_array_elements ... ON CONFLICT DO NOTHING of the tracks
    it needs, and one of its plays into a table with the same key (no
    matching across sources, no charts);
  - importing the same files again (nothing to write);
  - polling recently-played: 100 polls of the 50 latest listens, 40 stored
    by the polls before and 10 new each (music_tm also refreshes the charts
    of their week and month), against the peer's upsert of the response's
    tracks and INSERT ... ON CONFLICT DO NOTHING of its plays;
  - charts from plays: rebuild_play_charts of the whole history, and the
    incremental refresh that importing one more file makes, with their time
    per period (no peer: reported for information);
  - statistics: each function against the same query written inline.
Ratios are peer / music_tm (higher is better), best of --repeat.
"""
import datetime
import io
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

import gen_history  # noqa: E402

LISTENER = "bench"

PEER_SCHEMA = """
DROP TABLE IF EXISTS peer_play_tracks, peer_plays;
CREATE TABLE peer_play_tracks (LIKE music_tm.tracks INCLUDING ALL);
ALTER TABLE peer_play_tracks ALTER COLUMN content_hash DROP NOT NULL;
CREATE TABLE peer_plays (LIKE music_tm.plays INCLUDING ALL);
"""

# The best set-based SQL for one file: the tracks it needs, then its plays.
PEER_IMPORT = """
WITH e AS (SELECT x FROM bench_history, jsonb_array_elements(doc) x
           WHERE n = %(n)s AND x->>'spotify_track_uri' LIKE 'spotify:track:%%')
INSERT INTO peer_play_tracks (track_id, name, artist_name, album_name, raw_json, created_at, updated_at)
SELECT DISTINCT ON (substr(x->>'spotify_track_uri', 15))
       substr(x->>'spotify_track_uri', 15), x->>'master_metadata_track_name',
       x->>'master_metadata_album_artist_name', x->>'master_metadata_album_album_name',
       jsonb_build_object('id', substr(x->>'spotify_track_uri', 15),
                          'name', x->>'master_metadata_track_name'), now(), now()
FROM e WHERE x->>'master_metadata_track_name' IS NOT NULL
ORDER BY substr(x->>'spotify_track_uri', 15)
ON CONFLICT (track_id) DO NOTHING;
INSERT INTO peer_plays (listener, ended_at, track_id, ms_played, export_ts, skipped, shuffle,
                        offline, reason_start, reason_end, incognito, recorded_at)
SELECT %(listener)s, (x->>'ts')::timestamptz, substr(x->>'spotify_track_uri', 15),
       (x->>'ms_played')::int, (x->>'ts')::timestamptz, (x->>'skipped')::boolean,
       (x->>'shuffle')::boolean, (x->>'offline')::boolean, x->>'reason_start', x->>'reason_end',
       (x->>'incognito_mode')::boolean, now()
FROM bench_history, jsonb_array_elements(doc) x
WHERE n = %(n)s AND x->>'spotify_track_uri' LIKE 'spotify:track:%%'
ON CONFLICT DO NOTHING;
"""

PEER_POLL = """
WITH i AS (SELECT x FROM %(poll)s, jsonb_array_elements(doc->'items') x)
INSERT INTO peer_play_tracks AS t (track_id, name, artist_name, album_name, duration_ms, raw_json,
                                   created_at, updated_at)
SELECT DISTINCT ON (x->'track'->>'id') x->'track'->>'id', x->'track'->>'name', x->'track'->'artists'->0->>'name',
       x->'track'->'album'->>'name', (x->'track'->>'duration_ms')::int, x->'track', now(), now()
FROM i ORDER BY x->'track'->>'id'
ON CONFLICT (track_id) DO UPDATE SET name = EXCLUDED.name, raw_json = EXCLUDED.raw_json,
    updated_at = EXCLUDED.updated_at
WHERE t.raw_json IS DISTINCT FROM EXCLUDED.raw_json;
INSERT INTO peer_plays (listener, ended_at, track_id, played_at, context_uri, recorded_at)
SELECT %(listener)s, (x->>'played_at')::timestamptz, x->'track'->>'id',
       (x->>'played_at')::timestamptz, x->'context'->>'uri', now()
FROM %(poll)s, jsonb_array_elements(doc->'items') x
ON CONFLICT DO NOTHING;
"""

STATS = [
    ("listening_time (month)",
     "SELECT count(*) FROM music_tm.listening_time('month', %(l)s)",
     """SELECT count(*) FROM (SELECT date_trunc('month', p.ended_at AT TIME ZONE 'UTC')::date,
          round(sum(coalesce(p.ms_played, t.duration_ms, 0)) / 60000.0, 1),
          count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000), count(*)
        FROM music_tm.plays p LEFT JOIN music_tm.tracks t ON t.track_id = p.track_id
        WHERE p.listener = %(l)s GROUP BY 1) s"""),
    ("listening_time (day, Europe/Berlin)",
     "SELECT count(*) FROM music_tm.listening_time('day', %(l)s, tz => 'Europe/Berlin')",
     """SELECT count(*) FROM (SELECT date_trunc('day', p.ended_at AT TIME ZONE 'Europe/Berlin')::date,
          round(sum(coalesce(p.ms_played, t.duration_ms, 0)) / 60000.0, 1),
          count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000), count(*)
        FROM music_tm.plays p LEFT JOIN music_tm.tracks t ON t.track_id = p.track_id
        WHERE p.listener = %(l)s GROUP BY 1) s"""),
    ("top_tracks (a year, by track)",
     "SELECT count(*) FROM music_tm.top_tracks(%(l)s, %(f)s, %(t)s, 10, false)",
     """SELECT count(*) FROM (SELECT p.track_id, count(*) FILTER (WHERE p.ms_played IS NULL
          OR p.ms_played >= 30000) AS n, sum(coalesce(p.ms_played, t.duration_ms, 0)) AS ms,
          min(p.ended_at) AS first
        FROM music_tm.plays p LEFT JOIN music_tm.tracks t ON t.track_id = p.track_id
        WHERE p.listener = %(l)s AND p.ended_at >= %(f)s AND p.ended_at < %(t)s
        GROUP BY 1 HAVING count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000) > 0
        ORDER BY n DESC, ms DESC, first, 1 LIMIT 10) s"""),
    ("top_artists (a year)",
     "SELECT count(*) FROM music_tm.top_artists(%(l)s, %(f)s, %(t)s)",
     """SELECT count(*) FROM (SELECT t.artist_name, count(*) FILTER (WHERE p.ms_played IS NULL
          OR p.ms_played >= 30000) AS n, sum(coalesce(p.ms_played, t.duration_ms, 0)) AS ms
        FROM music_tm.plays p JOIN music_tm.tracks t ON t.track_id = p.track_id
        WHERE p.listener = %(l)s AND p.ended_at >= %(f)s AND p.ended_at < %(t)s
          AND t.artist_name IS NOT NULL
        GROUP BY 1 ORDER BY n DESC, ms DESC, 1 LIMIT 10) s"""),
    ("top_tracks (a year, by song)",
     "SELECT count(*) FROM music_tm.top_tracks(%(l)s, %(f)s, %(t)s, 10, true)",
     """SELECT count(*) FROM (SELECT CASE WHEN t.isrc IS NOT NULL THEN (SELECT min(o.track_id)
          FROM music_tm.tracks o WHERE o.isrc = t.isrc) ELSE p.track_id END AS id,
          count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000) AS n,
          sum(coalesce(p.ms_played, t.duration_ms, 0)) AS ms, min(p.ended_at) AS first
        FROM music_tm.plays p LEFT JOIN music_tm.tracks t ON t.track_id = p.track_id
        WHERE p.listener = %(l)s AND p.ended_at >= %(f)s AND p.ended_at < %(t)s
        GROUP BY 1 HAVING count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000) > 0
        ORDER BY n DESC, ms DESC, first, 1 LIMIT 10) s"""),
    ("discoveries (a year)",
     "SELECT count(*) FROM music_tm.discoveries(%(l)s, %(f)s, %(t)s)",
     """SELECT count(*) FROM (SELECT p.track_id, min(p.ended_at) AS first, count(*)
        FROM music_tm.plays p WHERE p.listener = %(l)s AND (p.ms_played IS NULL OR p.ms_played >= 30000)
        GROUP BY 1 HAVING min(p.ended_at) >= %(f)s AND min(p.ended_at) < %(t)s) s"""),
    ("discoveries (a year, by artist)",
     "SELECT count(*) FROM music_tm.discoveries(%(l)s, %(f)s, %(t)s, true)",
     """SELECT count(*) FROM (SELECT t.artist_name, min(p.ended_at) AS first, count(*)
        FROM music_tm.plays p JOIN music_tm.tracks t ON t.track_id = p.track_id
        WHERE p.listener = %(l)s AND (p.ms_played IS NULL OR p.ms_played >= 30000)
          AND t.artist_name IS NOT NULL
        GROUP BY 1 HAVING min(p.ended_at) >= %(f)s AND min(p.ended_at) < %(t)s) s"""),
    ("on_this_day",
     "SELECT count(*) FROM music_tm.on_this_day(%(l)s, %(d)s)",
     """SELECT count(*) FROM music_tm.plays p
        WHERE p.listener = %(l)s AND p.ended_at < %(d)s::date
          AND to_char(p.ended_at AT TIME ZONE 'UTC', 'MM-DD') = to_char(%(d)s::date, 'MM-DD')"""),
    ("listening_streaks",
     "SELECT count(*) FROM music_tm.listening_streaks(%(l)s)",
     """SELECT count(*) FROM (SELECT min(d) FROM (SELECT d, d - row_number() OVER (ORDER BY d)::int AS g
          FROM (SELECT DISTINCT (p.ended_at AT TIME ZONE 'UTC')::date AS d FROM music_tm.plays p
                WHERE p.listener = %(l)s AND (p.ms_played IS NULL OR p.ms_played >= 30000)) s) x
        GROUP BY g HAVING count(*) >= 2) y"""),
]


def best(repeat, fn):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def recent_response(entries, start, stored):
    """A recently-played response of 50 items: `stored` of them already stored."""
    items = []
    for k, e in enumerate(entries):
        t = datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        if k >= stored:
            t += datetime.timedelta(days=3650)
        uid = e["spotify_track_uri"][14:]
        items.append({"played_at": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "context": None,
                      "track": {"id": uid, "name": e["master_metadata_track_name"],
                                "type": "track", "duration_ms": 200000,
                                "artists": [{"name": e["master_metadata_album_artist_name"]}],
                                "album": {"name": e["master_metadata_album_album_name"]},
                                "external_ids": {"isrc": "QZ" + uid[:10]}}})
    return {"href": "https://api.spotify.com/v1/me/player/recently-played", "limit": 50,
            "next": None, "cursors": {"after": "1", "before": "0"}, "items": items}


def run(cur, report, entries=200000, per_file=20000, repeat=3):
    files = [f for f in gen_history.generate(entries, per_file, datetime.date(2016, 1, 4), 14)
             if not f[0].startswith("StreamingHistory")]
    docs = [json.dumps(content) for _, content in files]
    print(f"listening history: {entries} generated entries in {len(files)} files "
          f"({sum(len(d) for d in docs) / 1e6:.0f} MB of JSON), one call per file, server-side:",
          flush=True)
    cur.execute("DROP TABLE IF EXISTS bench_history")
    cur.execute("CREATE TABLE bench_history (n int, doc jsonb)")
    for n, d in enumerate(docs):
        cur.execute("INSERT INTO bench_history VALUES (%s, %s)", (n, d))
    cur.execute(PEER_SCHEMA)
    last = len(docs) - 1

    def ours_import(upto):
        def go():
            for n in range(upto):
                cur.execute("SELECT music_tm.import_streaming_history(doc, %s) FROM bench_history WHERE n = %s",
                            (LISTENER, n))
        return go

    def peer_import(upto):
        def go():
            for n in range(upto):
                cur.execute(PEER_IMPORT, {"n": n, "listener": LISTENER})
        return go

    def fresh(fn, tables):
        def go():
            cur.execute(f"TRUNCATE {tables}")
            fn()
        return go

    # all files but the last: the last one is the incremental refresh below
    ours_first = best(repeat, fresh(ours_import(last),
                                    "music_tm.plays, music_tm.unmatched_plays, music_tm.charts, music_tm.tracks"))
    peer_first = best(repeat, fresh(peer_import(last), "peer_plays, peer_play_tracks"))
    ours_again = best(repeat, ours_import(last))
    peer_again = best(repeat, peer_import(last))
    cur.execute("SELECT count(*) FROM music_tm.plays WHERE listener = %s", (LISTENER,))
    nplays = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM music_tm.charts WHERE listener = %s", (LISTENER,))
    ncharts = cur.fetchone()[0]
    print(f"  {last} files: {nplays} listens stored, {ncharts} charts from plays kept current", flush=True)
    report.ratio("import, first time: SQL peer / import_streaming_history", ours_first, peer_first, 2.0,
                 "  (music_tm also matches across sources and rebuilds the charts)")
    report.ratio("import again: SQL peer / import_streaming_history", ours_again, peer_again, 5.0)

    # incremental refresh: one more file, and its charts
    cur.execute("SELECT music_tm.import_streaming_history(doc, %s) FROM bench_history WHERE n = %s",
                (LISTENER + "-tmp", last))
    t0 = time.perf_counter()
    cur.execute("SELECT music_tm.import_streaming_history(doc, %s) FROM bench_history WHERE n = %s",
                (LISTENER, last))
    inc = time.perf_counter() - t0
    cur.execute("""SELECT count(DISTINCT date_trunc('week', (x->>'ts')::timestamptz AT TIME ZONE 'UTC'))
                        + count(DISTINCT date_trunc('month', (x->>'ts')::timestamptz AT TIME ZONE 'UTC'))
                   FROM bench_history, jsonb_array_elements(doc) x WHERE n = %s""", (last,))
    inc_periods = cur.fetchone()[0]
    t0 = time.perf_counter()
    cur.execute("SELECT music_tm.rebuild_play_charts(%s)", (LISTENER,))
    periods = cur.fetchone()[0]
    full = time.perf_counter() - t0
    print(f"  charts from plays: full rebuild {full * 1000:.0f} ms for {periods} weeks and months "
          f"({full * 1000 / max(periods, 1):.2f} ms per period, 4 series); importing one more file "
          f"{inc * 1000:.0f} ms, {inc_periods} periods refreshed", flush=True)

    # polling: a listener's listens three minutes apart, an app polling
    # every half hour; each response lists the 50 latest, newest first: 10
    # new since the poll before and 40 that earlier polls stored.  100 polls
    # a sample, the two contenders alternating, best sample of each
    polls = 100
    cur.execute("SELECT doc FROM bench_history WHERE n = 0")
    first_file = [e for e in cur.fetchone()[0] if e.get("spotify_track_uri")
                  and e.get("master_metadata_track_name")][:40 + 10 * polls]
    listens = recent_response(first_file, None, 0)["items"]
    for j, item in enumerate(listens):
        t = datetime.datetime(2030, 3, 4, 8, 0) + datetime.timedelta(minutes=3 * j)
        item["played_at"] = t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    cur.execute("DROP TABLE IF EXISTS bench_polls, bench_poll_stored")
    cur.execute("CREATE TABLE bench_polls (k int PRIMARY KEY, doc jsonb)")
    for k in range(polls):
        latest = listens[10 * k:10 * k + 50][::-1]
        cur.execute("INSERT INTO bench_polls VALUES (%s, %s)", (k, json.dumps({"items": latest})))
    cur.execute("CREATE TABLE bench_poll_stored AS SELECT %s::jsonb AS doc",
                (json.dumps({"items": listens[:40][::-1]}),))
    cur.execute("SELECT music_tm.record_recently_played(doc, 'poll') FROM bench_poll_stored")
    cur.execute(PEER_POLL % {"poll": "bench_poll_stored", "listener": "'poll'"})

    # each poll its own transaction, as an app makes it; after a sample the
    # listens it added are deleted again (and music_tm's charts rebuilt as
    # they were), so that every sample starts from the same state
    stored_until = listens[39]["played_at"]

    def ours_poll():
        for k in range(polls):
            cur.execute("SELECT music_tm.record_recently_played(doc, 'poll') FROM bench_polls WHERE k = %s", (k,))

    def peer_poll():
        for k in range(polls):
            cur.execute(PEER_POLL % {"poll": f"(SELECT doc FROM bench_polls WHERE k = {k}) AS b",
                                     "listener": "'poll'"})

    def ours_reset():
        cur.execute("DELETE FROM music_tm.plays WHERE listener = 'poll' AND ended_at > %s", (stored_until,))
        cur.execute("SELECT music_tm.rebuild_play_charts('poll')")

    def peer_reset():
        cur.execute("DELETE FROM peer_plays WHERE listener = 'poll' AND ended_at > %s", (stored_until,))

    ours_t, peer_t = [], []
    for _ in range(max(repeat, 3)):
        ours_t.append(best(1, ours_poll))
        ours_reset()
        peer_t.append(best(1, peer_poll))
        peer_reset()
    report.ratio("recently-played poll (50 items: 40 stored, 10 new): SQL peer / record_recently_played",
                 min(ours_t) / polls, min(peer_t) / polls, 3.0,
                 "  (music_tm also refreshes the week's and month's charts from plays)")

    cur.execute("SELECT min(ended_at), max(ended_at) FROM music_tm.plays WHERE listener = %s", (LISTENER,))
    lo, hi = cur.fetchone()
    args = {"l": LISTENER, "f": hi - datetime.timedelta(days=365), "t": hi,
            "d": (hi - datetime.timedelta(days=3)).date()}
    for name, ours_sql, peer_sql in STATS:
        report.ratio(f"{name}: inline SQL / music_tm", best(repeat, lambda: cur.execute(ours_sql, args)),
                     best(repeat, lambda: cur.execute(peer_sql, args)), 1.0)
