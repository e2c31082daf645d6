"""music_tm 2.0 against music_tm 1.1 on the same data: every reading function.

Called from run.py (make bench, --only versions).  tools/bench.sh installs
music_tm 1.1, built from its release commit, as the extension music_tm11
(library music_tm11.so) next to this build; each version gets a database of
its own, so each backend loads one library.  Both databases get the same
charts through record_top_tracks: one listener, 3 ranges, N days of daily
50-track pages drawn from a pool of 400 tracks that drift up and down the
chart (ids of 22 random base62 characters, as Spotify's; the pages are the
same in both; the time each version took to record them is printed too).  Then every reading function runs in a server-side
loop in each database, interleaved, best of 5, on a track that charted, a
date with a chart, an artist with tracks; the ratio is 1.1's time / 2.0's.
"""
import datetime
import json
import random
import time

import scratch

V11, V20 = "music_tm_bench_v11", "music_tm_bench_v20"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 400 track ids shaped like Spotify's: 22 random base62 characters
_ids = random.Random(400)
POOL = ["".join(_ids.choice(BASE62) for _ in range(22)) for _ in range(400)]
assert len(set(POOL)) == len(POOL)
TRACK = POOL[7]

CALLS = [
    ("rank_history", f"SELECT count(*) FROM music_tm.rank_history('{TRACK}', 'short_term', 'solo')"),
    ("run_stats", f"SELECT count(*) FROM music_tm.run_stats('{TRACK}', 'short_term', 'solo')"),
    ("sparkline", f"SELECT length(music_tm.sparkline('{TRACK}', 'short_term', 'solo'))"),
    ("run_svg", f"SELECT length(music_tm.run_svg('{TRACK}', 'short_term', 'solo'))"),
    ("chart_as_of", "SELECT count(*) FROM music_tm.chart_as_of(DATE '{mid}', 'short_term', 'solo')"),
    ("chart_diff", "SELECT count(*) FROM music_tm.chart_diff(DATE '{mid}' - 30, DATE '{mid}', 'short_term', 'solo')"),
    ("chart_churn", "SELECT count(*) FROM music_tm.chart_churn(DATE '{mid}' - 30, DATE '{mid}', 'short_term', 'solo')"),
    ("all_run_stats", "SELECT count(*) FROM music_tm.all_run_stats('long_term', 'solo')"),
    ("artist_history", "SELECT count(*) FROM music_tm.artist_history('Artist 001', 'short_term', 'solo')"),
    ("artist_run_stats", "SELECT count(*) FROM music_tm.artist_run_stats('Artist 001', 'short_term', 'solo')"),
    ("track_detail", f"SELECT count(*) FROM music_tm.track_detail('{TRACK}')"),
]


def pages(days, seed=7):
    rng = random.Random(seed)
    pool = POOL
    artist = {t: f"{i % 100:03d}" for i, t in enumerate(pool)}
    start = datetime.date(2023, 1, 1)
    for ri, rg in enumerate(["short_term", "medium_term", "long_term"]):
        score = {t: rng.random() for t in pool}
        for d in range(days):
            for t in rng.sample(pool, 40):
                score[t] += rng.gauss(0, 0.15 / (ri + 1))
            top = sorted(pool, key=lambda t: -score[t])[:50]
            items = [{"id": t, "name": t, "artists": [{"id": "a" + artist[t], "name": "Artist " + artist[t]}]}
                     for t in top]
            yield rg, json.dumps({"items": items, "offset": 0}), start + datetime.timedelta(days=d)


def loop_time(conn, sql, n):
    conn.notices.clear()
    conn.cursor().execute(f"""DO $$ DECLARE t0 timestamptz; c bigint; BEGIN t0 := clock_timestamp();
        FOR i IN 1..{n} LOOP EXECUTE $q${sql}$q$ INTO c; END LOOP;
        RAISE NOTICE '%', extract(epoch from clock_timestamp() - t0); END $$""")
    return float(conn.notices[-1].split(":")[-1].strip()) / n


def run(report, days=1095, calls=30):
    conns = {V11: scratch.create(V11, "music_tm11"), V20: scratch.create(V20, "music_tm")}
    print(f"music_tm 2.0 vs 1.1: one listener x 3 ranges x {days} daily 50-track pages, recorded"
          " through record_top_tracks in each ...", flush=True)
    took = {}
    for name, conn in conns.items():
        cur = conn.cursor()
        t0 = time.perf_counter()
        for rg, payload, day in pages(days):
            cur.execute("SELECT 1 FROM music_tm.record_top_tracks(%s, %s, %s, 'solo')", (rg, payload, day))
        took[name] = time.perf_counter() - t0
        cur.execute("VACUUM ANALYZE")
    report.ratio(f"recording {3 * days} pages one call each (client round trips included), 1.1 / 2.0",
                 took[V20], took[V11], None)
    size = {}
    for name, conn in conns.items():
        cur = conn.cursor()
        cur.execute("SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                    "        WHERE c.oid IN ('music_tm.charts'::regclass)"
                    "           OR (c.relname = 'chart_entries' AND c.relkind = 'r'"
                    "               AND c.relnamespace = 'music_tm'::regnamespace)),"
                    " (SELECT count(*) FROM music_tm.chart_entries)")
        size[name] = cur.fetchone()
    print(f"  bytes per chart entry: 1.1 {size[V11][0] / size[V11][1]:.1f}, 2.0 {size[V20][0] / size[V20][1]:.1f}"
          f" ({size[V20][1]} entries)", flush=True)
    report.size("storage: bytes per chart entry, 1.1 / 2.0 (charts, entries, indexes, TOAST)",
                size[V20][0] / size[V20][1], size[V11][0] / size[V11][1], 5.0)
    mid = (datetime.date(2023, 1, 1) + datetime.timedelta(days=days * 2 // 3)).isoformat()
    print(f"every reading function, {calls} calls in a server-side loop, best of 5, interleaved:", flush=True)
    for name, sql in CALLS:
        sql = sql.format(mid=mid)
        best = {}
        for _ in range(5):
            for db, conn in conns.items():
                best[db] = min(best.get(db, 1e9), loop_time(conn, sql, calls))
        report.ratio(f"{name}: 1.1 / 2.0", best[V20], best[V11], 1.0)
    scratch.drop(conns)


# The same reading functions at the history benchmark's scale: its 200
# listeners x 365 days x 3 ranges (test/bench/history.py generates them into
# 2.0's charts and the seed's layout) generated again with the same SQL into
# 1.1's own tables, in a database of their own; the calls are the history
# benchmark's samples (a listener, a range, a date, a track of that chart).
V11_SCALE = "music_tm_bench_v11_scale"

# name: arguments from the columns of bench_history_samples
SCALE_CALLS = [
    ("rank_history", "music_tm.rank_history", "s.track_id, s.time_range, s.listener"),
    ("run_stats", "music_tm.run_stats", "s.track_id, s.time_range, s.listener"),
    ("sparkline", "music_tm.sparkline", "s.track_id, s.time_range, s.listener"),
    ("run_svg", "music_tm.run_svg", "s.track_id, s.time_range, s.listener"),
    ("chart_as_of", "music_tm.chart_as_of", "s.as_of, s.time_range, s.listener"),
    ("chart_diff", "music_tm.chart_diff", "s.as_of - 30, s.as_of, s.time_range, s.listener"),
    ("chart_churn", "music_tm.chart_churn", "s.as_of - 30, s.as_of, s.time_range, s.listener"),
    ("all_run_stats", "music_tm.all_run_stats", "s.time_range, s.listener"),
    # the first credited artist of the sampled track (history.TRACKS_SQL)
    ("artist_history", "music_tm.artist_history",
     "'Artist ' || (substr(s.track_id, 3)::int % 400), s.time_range, s.listener"),
    ("artist_run_stats", "music_tm.artist_run_stats",
     "'Artist ' || (substr(s.track_id, 3)::int % 400), s.time_range, s.listener"),
    ("track_detail", "music_tm.track_detail", "s.track_id"),
]

# every call's rows, in a canonical order, as text: the two versions compared
SCALE_ROWS = """
SELECT s.n, array_agg(x::text ORDER BY x::text)
FROM bench_history_samples s, LATERAL {fn}({args}) x
GROUP BY s.n ORDER BY s.n"""


def load_v11(conn, listeners, days, log):
    """1.1's tables filled with the charts history.generate makes for 2.0."""
    import history
    cur = conn.cursor()
    cur.execute(history.TRACKS_SQL, {"pool": history.POOL})
    # loading only: the entries are inserted before their chart headers
    cur.execute("SET session_replication_role = replica")
    entries = history.ENTRIES_SQL.replace("public.bench_entries", "music_tm.chart_entries")
    assert entries != history.ENTRIES_SQL
    t0 = time.perf_counter()
    for lo in range(1, listeners + 1, 20):
        cur.execute(entries, {"lo": lo, "hi": min(listeners, lo + 19), "days": days})
        if listeners > 20:
            log(f"    1.1: listeners {lo}..{min(listeners, lo + 19)} loaded ({time.perf_counter() - t0:.0f} s)")
    cur.execute("INSERT INTO music_tm.charts (listener, time_range, snapshot_date, recorded_at)"
                " SELECT DISTINCT listener, time_range, snapshot_date, now() FROM music_tm.chart_entries")
    cur.execute("RESET session_replication_role")
    cur.execute("VACUUM (ANALYZE) music_tm.tracks, music_tm.charts, music_tm.chart_entries")
    # the load's two gigabytes written out now, not by a checkpoint spread
    # over the timings that follow
    cur.execute("CHECKPOINT")


def interleaved(runs, repeat):
    """Best time of each (cursor, sql) of runs, the runs taking turns."""
    best = [None] * len(runs)
    for _ in range(repeat):
        for i, (c, sql) in enumerate(runs):
            t0 = time.perf_counter()
            c.execute(sql)
            t = time.perf_counter() - t0
            best[i] = t if best[i] is None else min(best[i], t)
    return best


def at_scale(cur20, report, samples, listeners, days, repeat, log):
    """Every reading function of 1.1 against 2.0 at listeners x days x 3."""
    import history
    conn = scratch.create(V11_SCALE, "music_tm11")
    try:
        log("music_tm 2.0 vs 1.1 at this scale: the same charts into 1.1's tables ...")
        load_v11(conn, listeners, days, log)
        cur11 = conn.cursor()
        cur11.execute("SET max_parallel_workers_per_gather = 0")  # as the bench's own session
        cur11.execute("SELECT count(*) FROM music_tm.chart_entries")
        cur20.execute("SELECT count(*) FROM music_tm.chart_entries")
        n11, n20 = cur11.fetchone()[0], cur20.fetchone()[0]
        if n11 != n20:
            raise AssertionError(f"1.1 holds {n11} chart entries, 2.0 {n20}")
        history.load_samples(cur11, samples)
        for name, fn, args in SCALE_CALLS:
            rows = []
            for c in (cur11, cur20):
                c.execute(SCALE_ROWS.format(fn=fn, args=args))
                rows.append(c.fetchall())
            if rows[0] != rows[1]:
                diff = [(a, b) for a, b in zip(rows[0], rows[1]) if a != b][:1]
                raise AssertionError(f"{name}: 1.1 and 2.0 differ at {listeners} x {days}: {diff}")
        log(f"  {len(SCALE_CALLS)} functions x {len(samples)} calls: 1.1 and 2.0 returned the same rows;"
            f" {len(samples)} calls each in a server-side loop, best of {repeat}, interleaved:")
        for name, fn, args in SCALE_CALLS:
            sql = history.LOOP.format(fn=fn, args=args)
            best = interleaved(((cur11, sql), (cur20, sql)), repeat)
            report.ratio(f"{name}, {listeners} x {days}: 1.1 / 2.0", best[1], best[0], 1.0)
        # the floor of 2.0's one-track readers (history.FLOOR: fetching the
        # series' chart rows, nothing else) against 1.1's rank_history
        sql11 = history.LOOP.format(fn="music_tm.rank_history", args=history.LOOP_ARGS["rank_history"])
        best = interleaved(((cur11, sql11), (cur20, history.FLOOR)), repeat)
        report.ratio("1.1 rank_history / 2.0 only fetching the series' charts", best[1], best[0], None,
                     " (the most any one-track reader of 2.0's layout can reach)")
    finally:
        scratch.drop({V11_SCALE: conn})
