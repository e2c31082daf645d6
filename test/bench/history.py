"""Rank history benchmark: music_tm's C functions against SQL peers.

Called from run.py (make bench).  Generates listeners x days x 3 ranges x 50
ranks of charts directly with INSERT ... SELECT generate_series: one row per
entry into public.bench_entries, the seed's layout with the indexes 1.1 gave
it, which the SQL peers of test/bench/peers.sql read (window functions with
lag(), gaps-and-islands, as-of figures by window), and the same charts as
music_tm 2.0 stores them, one row each.  Checks on every sampled call that
each function and its peers return identical rows, then times them on the
same calls (chart_as_of and all_run_stats have a second peer written with
lateral subqueries: the faster peer counts).

Data: 150 candidate tracks per listener and range, out of a pool of 4,000
shared tracks; each candidate's score is a sine wave with its own phase
(period 45 days for short_term, 150 for medium_term, 500 for long_term) plus
daily noise, and the chart is the top 50 by score.  Tracks therefore enter,
climb, fall, leave and re-enter, with jitter at the edges.  One day in 29 is
skipped per listener (snapshots are irregular), and on every 11th day rank 17
is empty (a skipped local file).
"""
import os
import random
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_SQL = os.path.join(HERE, "peers.sql")
START = "2025-01-01"
POOL = 4000
CANDIDATES = 150

TRACKS_SQL = """
INSERT INTO music_tm.tracks (track_id, name, artist_name, raw_json, content_hash, created_at, updated_at)
SELECT id, 'Track ' || n, 'Artist ' || (n %% 400), j, music_tm.track_hash(j), now(), now()
FROM generate_series(0, %(pool)s - 1) n,
     LATERAL (SELECT 'bt' || n AS id) i,
     LATERAL (SELECT jsonb_build_object(
                'id', i.id, 'name', 'Track ' || n,
                'artists', CASE WHEN n %% 7 = 0
                    THEN jsonb_build_array(jsonb_build_object('id', 'ar' || (n %% 400), 'name', 'Artist ' || (n %% 400)),
                                           jsonb_build_object('id', 'ar' || ((n + 1) %% 400), 'name', 'Artist ' || ((n + 1) %% 400)))
                    ELSE jsonb_build_array(jsonb_build_object('id', 'ar' || (n %% 400), 'name', 'Artist ' || (n %% 400))) END)
              AS j) x
"""

PEER_TABLE_SQL = """
DROP TABLE IF EXISTS public.bench_entries, public.bench_charts;
CREATE TABLE public.bench_charts (
    listener text NOT NULL, time_range music_tm.time_range NOT NULL,
    snapshot_date date NOT NULL, recorded_at timestamptz NOT NULL,
    PRIMARY KEY (listener, time_range, snapshot_date));
CREATE TABLE public.bench_entries (
    listener text NOT NULL, time_range music_tm.time_range NOT NULL,
    snapshot_date date NOT NULL, track_id text NOT NULL, rank integer NOT NULL,
    PRIMARY KEY (listener, time_range, track_id, snapshot_date) INCLUDE (rank));
CREATE INDEX bench_entries_chart_idx ON public.bench_entries
    (listener, time_range, snapshot_date, rank) INCLUDE (track_id);
"""

# each chart of the batch as one row: its ids in rank order, NULL for a gap
CHARTS_SQL = """
INSERT INTO music_tm.charts (listener, time_range, snapshot_date, recorded_at, track_ids)
SELECT h.listener, h.time_range, h.snapshot_date, now(),
       (SELECT array_agg(e.track_id ORDER BY g.r)
        FROM generate_series(1, h.top) g(r)
        LEFT JOIN public.bench_entries e ON e.listener = h.listener AND e.time_range = h.time_range
             AND e.snapshot_date = h.snapshot_date AND e.rank = g.r)
FROM (SELECT listener, time_range, snapshot_date, max(rank) AS top FROM public.bench_entries
      WHERE listener IN (SELECT 'l' || l FROM generate_series(%(lo)s, %(hi)s) l)
      GROUP BY 1, 2, 3) h
"""

ENTRIES_SQL = """
INSERT INTO public.bench_entries (listener, time_range, snapshot_date, track_id, rank)
SELECT 'l' || l, (enum_range(NULL::music_tm.time_range))[ri + 1], DATE '""" + START + """' + d,
       'bt' || ((l * 97 + k * 13 + ri * 1009) %% """ + str(POOL) + """), rank
FROM (
    SELECT l, ri, d, k,
           row_number() OVER (PARTITION BY l, ri, d ORDER BY
               sin(2 * pi() * (d + abs(hashint4(l * 7919 + k * 31 + ri)) %% per) / per)
               + 0.6 * (abs(hashint4(l * 1000003 + k * 7919 + d * 104729 + ri)) %% 1000) / 1000.0 DESC,
               k) AS rank
    FROM generate_series(%(lo)s, %(hi)s) l, generate_series(0, 2) ri,
         LATERAL (SELECT CASE ri WHEN 0 THEN 45 WHEN 1 THEN 150 ELSE 500 END AS per) p,
         generate_series(0, %(days)s - 1) d, generate_series(0, """ + str(CANDIDATES - 1) + """) k
    WHERE (d + l) %% 29 <> 0
) x
WHERE rank <= 50 AND NOT (rank = 17 AND d %% 11 = 0)
"""

RANGES = ["short_term", "medium_term", "long_term"]


def log_flush(*args):
    print(*args, flush=True)


def generate(cur, listeners, days, batch=10, log=log_flush):
    """Fill music_tm and the peers' table with the same generated charts."""
    cur.execute("TRUNCATE music_tm.tracks, music_tm.charts")
    cur.execute(PEER_TABLE_SQL)
    cur.execute(TRACKS_SQL, {"pool": POOL})
    t0 = time.perf_counter()
    for lo in range(1, listeners + 1, batch):
        hi = min(listeners, lo + batch - 1)
        cur.execute(ENTRIES_SQL, {"lo": lo, "hi": hi, "days": days})
        cur.execute(CHARTS_SQL, {"lo": lo, "hi": hi, "days": days})
        cur.execute("INSERT INTO public.bench_charts SELECT listener, time_range, snapshot_date, recorded_at"
                    " FROM music_tm.charts WHERE listener IN (SELECT 'l' || l FROM generate_series(%(lo)s, %(hi)s) l)",
                    {"lo": lo, "hi": hi})
        if listeners > batch:
            log(f"    listeners {lo}..{hi} loaded ({time.perf_counter() - t0:.0f} s)")
    cur.execute("VACUUM (ANALYZE) music_tm.tracks, music_tm.charts, public.bench_entries, public.bench_charts")
    cur.execute("CHECKPOINT")  # the load written out before any timing
    cur.execute("SELECT count(*) FROM music_tm.chart_entries")
    entries = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM music_tm.charts")
    charts = cur.fetchone()[0]
    cur.execute("SELECT pg_size_pretty(pg_total_relation_size('music_tm.charts')),"
                " pg_size_pretty(pg_total_relation_size('public.bench_entries'))")
    size = "%s as music_tm.charts, %s as one row per entry" % cur.fetchone()
    return charts, entries, size


def load_peers(cur):
    cur.execute("DROP SCHEMA IF EXISTS peer CASCADE")
    with open(PEERS_SQL) as f:
        cur.execute(f.read())


def pick_samples(cur, listeners, days, n, seed=5):
    """n calls: (listener, range, as-of date, a track of that chart)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        listener = f"l{rng.randint(1, listeners)}"
        rng_range = rng.choice(RANGES)
        day = rng.randint(days // 4, days - 1)
        cur.execute("SELECT DATE %s + %s", (START, day))
        as_of = cur.fetchone()[0]
        cur.execute("SELECT track_id FROM music_tm.chart_as_of(%s, %s, %s) ORDER BY rank",
                    (as_of, rng_range, listener))
        tracks = [r[0] for r in cur.fetchall()]
        if tracks:
            out.append((listener, rng_range, as_of, rng.choice(tracks)))
    return out


# name: (ours, peer, argument types, arguments from a sample)
CALLS = {
    "chart_as_of": ("music_tm.chart_as_of", "peer.chart_as_of",
                    "date, music_tm.time_range, text", lambda s: (s[2], s[1], s[0])),
    "rank_history": ("music_tm.rank_history", "peer.rank_history",
                     "text, music_tm.time_range, text", lambda s: (s[3], s[1], s[0])),
    "run_stats": ("music_tm.run_stats", "peer.run_stats",
                  "text, music_tm.time_range, text", lambda s: (s[3], s[1], s[0])),
    "all_run_stats": ("music_tm.all_run_stats", "peer.all_run_stats",
                      "music_tm.time_range, text", lambda s: (s[1], s[0])),
}


# further peers of a function, written another way (the fastest peer counts)
OTHER_PEERS = {
    "chart_as_of": {"lateral": "peer.chart_as_of_lateral"},
    "all_run_stats": {"lateral": "peer.all_run_stats_lateral"},
}


def sides(name):
    """(side, function) of music_tm and of every peer of name."""
    ours, peer = CALLS[name][0], CALLS[name][1]
    return [("ours", ours), ("peer", peer)] + [
        (f"peer_{k}", fn) for k, fn in OTHER_PEERS.get(name, {}).items()]


def prepare(cur):
    for name, (_, _, types, _) in CALLS.items():
        nargs = len(types.split(","))
        params = ", ".join(f"${i + 1}" for i in range(nargs))
        for side, fn in sides(name):
            cur.execute(f"PREPARE {side}_{name}({types}) AS SELECT * FROM {fn}({params})")


def execute(cur, side, name, args):
    ph = ", ".join(["%s"] * len(args))
    cur.execute(f"EXECUTE {side}_{name}({ph})", args)
    return cur.fetchall()


def verify(cur, samples):
    """Every function returns exactly its peer's rows on every sample."""
    checked = 0
    for name, (_, _, _, argf) in CALLS.items():
        for s in samples:
            args = argf(s)
            ours = sorted(execute(cur, "ours", name, args), key=repr)
            for side, fn in sides(name)[1:]:
                peer = sorted(execute(cur, side, name, args), key=repr)
                if ours != peer:
                    raise AssertionError(f"{name}{args}: music_tm and {fn} differ\n"
                                         f"  music_tm: {ours[:5]}\n  peer:     {peer[:5]}")
                checked += 1
    return checked


def load_samples(cur, samples):
    cur.execute("DROP TABLE IF EXISTS bench_history_samples")
    cur.execute("""CREATE TABLE bench_history_samples (
                       n serial, listener text, time_range music_tm.time_range,
                       as_of date, track_id text)""")
    cur.executemany("INSERT INTO bench_history_samples (listener, time_range, as_of, track_id)"
                    " VALUES (%s, %s, %s, %s)", samples)


# one call per sample in a server-side loop, as the save_track benchmark does:
# no client round trip in the figures; each call's rows are all consumed
# (count(x.*) needs every column, so no output of a peer is optimised away)
LOOP = """
DO $$
DECLARE s record; n bigint := 0; c bigint;
BEGIN
    FOR s IN SELECT * FROM bench_history_samples ORDER BY n LOOP
        SELECT count(x.*) INTO c FROM {fn}({args}) x;
        n := n + c;
    END LOOP;
END $$"""

LOOP_ARGS = {
    "chart_as_of": "s.as_of, s.time_range, s.listener",
    "rank_history": "s.track_id, s.time_range, s.listener",
    "run_stats": "s.track_id, s.time_range, s.listener",
    "all_run_stats": "s.time_range, s.listener",
}


def timed(cur, side, name, samples, repeat):
    fn = dict(sides(name))[side]
    return timed_sql(cur, LOOP.format(fn=fn, args=LOOP_ARGS[name]), repeat)


# The floor of every one-track reader on 2.0's layout: fetching the rows of
# the sample's chart series through the primary key, as the readers do, and
# nothing else (no search of the ids, no output; of the plans tried, the
# index scan was the fastest, a bitmap scan up to 1.5x slower).  A one-track
# reader must visit each chart of its series, since no index looks inside
# the arrays; a target above (the other side's time / this floor) is out of
# reach on this layout.
FLOOR = """
DO $$
DECLARE s record; n bigint := 0; c bigint;
BEGIN
    PERFORM set_config('enable_bitmapscan', 'off', true);
    PERFORM set_config('enable_seqscan', 'off', true);
    FOR s IN SELECT * FROM bench_history_samples ORDER BY n LOOP
        SELECT count(ch.track_ids) INTO c FROM music_tm.charts ch
        WHERE ch.listener = s.listener AND ch.time_range = s.time_range;
        n := n + c;
    END LOOP;
END $$"""


def timed_sql(cur, sql, repeat):
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        cur.execute(sql)
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return best


TARGETS = {
    "chart_as_of": ("chart as of a date, Billboard columns", 3.0),
    "all_run_stats": ("run statistics of all tracks of a chart series", 3.0),
    "run_stats": ("run statistics of one track", 3.0),
    "rank_history": ("rank history of one track", 1.0),
}


def explain(cur, sample):
    """EXPLAIN (ANALYZE, BUFFERS) of the walk of a series that chart_as_of runs."""
    listener, rng_range, as_of, _ = sample
    cur.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")  # as the functions plan
    cur.execute("""EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
        SELECT snapshot_date, track_ids FROM music_tm.charts
        WHERE listener = %s AND time_range = %s AND snapshot_date <= %s
        ORDER BY snapshot_date""", (listener, rng_range, as_of))
    rows = [r[0] for r in cur.fetchall()]
    cur.execute("RESET enable_seqscan; RESET enable_bitmapscan")
    return rows


def storage(cur, report, entries):
    """Bytes per chart entry: 2.0's chart rows against 1.1's layout of the same
    charts (chart headers + one row per entry with its two indexes), table,
    indexes and TOAST of everything that holds charts."""
    cur.execute("SELECT pg_total_relation_size('music_tm.charts'),"
                " pg_total_relation_size('public.bench_entries') + pg_total_relation_size('public.bench_charts')")
    ours, old = cur.fetchone()
    log_flush(f"storage of {entries} chart entries: music_tm 2.0 {ours / entries:.1f} bytes per entry,"
              f" 1.1's layout {old / entries:.1f}")
    report.size("storage: bytes per chart entry, 1.1's layout / 2.0", ours / entries, old / entries, 5.0)


def run(cur, report, listeners=200, days=365, samples=40, repeat=3, log=log_flush):
    log(f"rank history: generating {listeners} listeners x {days} days x 3 ranges x 50 ranks ...")
    t0 = time.perf_counter()
    charts, entries, size = generate(cur, listeners, days, log=log)
    log(f"  {charts} charts, {entries} chart entries ({size}, with indexes), "
        f"generated in {time.perf_counter() - t0:.0f} s")
    storage(cur, report, entries)
    load_peers(cur)
    prepare(cur)
    sample = pick_samples(cur, listeners, days, samples)
    n = verify(cur, sample)
    log(f"  {n} calls checked: every function returned exactly the rows of each of its SQL peers")
    log(f"  EXPLAIN (ANALYZE, BUFFERS) of chart_as_of's walk of the series ({sample[0][:3]}):")
    for line in explain(cur, sample[0]):
        log("    " + line)
    load_samples(cur, sample)
    log(f"rank history, {len(sample)} calls each (random listener, range, date, charted track)"
        f" in a server-side loop, best of {repeat}:")
    for name, (label, target) in TARGETS.items():
        ours = timed(cur, "ours", name, sample, repeat)
        peers = {fn: timed(cur, side, name, sample, repeat) for side, fn in sides(name)[1:]}
        if len(peers) > 1:
            log("  " + name + " peers: " + ", ".join(f"{fn} {t * 1000:.1f} ms" for fn, t in peers.items()))
            report.ratio(f"{label}: fastest SQL peer / music_tm", ours, min(peers.values()), target)
        else:
            report.ratio(f"{label}: SQL peer / music_tm", ours, min(peers.values()), target)
        if name == "run_stats":
            floor = timed_sql(cur, FLOOR, repeat)
            report.ratio(f"{label}: SQL peer / only fetching the series' charts", floor,
                         min(peers.values()), None,
                         " (the most any reader of 2.0's layout can reach)")
    cur.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'music_tm11'")
    if cur.fetchone()[0] == 0:
        log("music_tm 2.0 vs 1.1 at this scale: SKIPPED, music_tm 1.1 is not installed as music_tm11"
            " (tools/bench.sh builds it from the git history)")
    else:
        import versions
        versions.at_scale(cur, report, sample, listeners, days, repeat, log)
