#!/usr/bin/env python3
"""music_tm benchmarks: ratios measured side by side in one run.

Run with `make bench` (tools/bench.sh starts a throwaway cluster).  Each
benchmark times music_tm against its peers on the same data in the same run,
repeats every measurement, keeps the best time, and prints the ratio with its
target.  Absolute times are printed for information only; nothing asserts on
them.  Connection settings come from the libpq environment.
"""
import argparse
import gzip
import json
import os
import sys
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tools"))
sys.path.insert(0, HERE)


def connect():
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def best_of(n, fn):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


class Report:
    def __init__(self):
        self.rows = []

    def _higher_better(self, name, ours, peer, target, figures, note):
        r = peer / ours if ours > 0 else float("inf")
        met = "" if target is None else ("met" if r >= target else "NOT met")
        tgt = "no target" if target is None else f"target >= {target:.2f}x"
        self.rows.append((name, r, tgt, met))
        print(f"  {name:<58} {r:6.2f}x  ({tgt}) {met}  [{figures}]{note}", flush=True)

    def ratio(self, name, ours, peer, target=None, note=""):
        """peer / ours: how many times faster music_tm is (higher is better)."""
        self._higher_better(name, ours, peer, target,
                            f"music_tm {ours * 1000:.1f} ms, peer {peer * 1000:.1f} ms", note)

    def size(self, name, ours, peer, target=None, note=""):
        """peer / ours for sizes in bytes: how many times smaller music_tm is."""
        self._higher_better(name, ours, peer, target,
                            f"music_tm {ours:.1f} bytes, peer {peer:.1f} bytes", note)

    def cost(self, name, ours, peer, limit=None, note=""):
        """ours / peer: what music_tm costs relative to the peer (lower is better)."""
        r = ours / peer if peer > 0 else float("inf")
        met = "" if limit is None else ("met" if r <= limit else "NOT met")
        tgt = "no target" if limit is None else f"target <= {limit:.2f}x"
        self.rows.append((name, r, tgt, met))
        print(f"  {name:<58} {r:6.2f}x  ({tgt}) {met}  "
              f"[music_tm {ours * 1000:.1f} ms, peer {peer * 1000:.1f} ms]{note}", flush=True)


def load_sample(cur, days):
    """Pages of the generated sample into a table: (snapshot_date, time_range, page)."""
    import gen_sample
    import datetime
    import io
    buf = io.StringIO()
    gen_sample.generate(days, 160, 50, 1981, datetime.date(2026, 1, 5), buf)
    cur.execute("DROP TABLE IF EXISTS bench_pages")
    cur.execute("CREATE TABLE bench_pages (n serial, doc jsonb)")
    buf.seek(0)
    cur.copy_expert("COPY bench_pages (doc) FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')", buf)
    cur.execute("""CREATE TABLE IF NOT EXISTS bench_items AS
                   SELECT item FROM bench_pages, jsonb_array_elements(doc->'page'->'items') item
                   WHERE item->>'id' IS NOT NULL""")


SEED_TABLE = """
CREATE TABLE seed_tracks (
    track_id text PRIMARY KEY, name text, artist_name text, album_name text,
    duration_ms integer, spotify_url text, raw_json jsonb, updated_at timestamptz)"""

# The seed's save_track statement, one row at a time, as PL/pgSQL runs it
# (prepared once, like SPI): the fairest per-row peer of music_tm.save_track.
SEED_LOOP = """
DO $$
DECLARE t jsonb;
BEGIN
    FOR t IN SELECT item FROM bench_items LOOP
        INSERT INTO seed_tracks (track_id, name, artist_name, album_name,
                                 duration_ms, spotify_url, raw_json)
        VALUES (t->>'id', t->>'name', t->'artists'->0->>'name', t->'album'->>'name',
                (t->>'duration_ms')::int, t->'external_urls'->>'spotify', t)
        ON CONFLICT (track_id) DO UPDATE SET
            name = EXCLUDED.name, artist_name = EXCLUDED.artist_name,
            album_name = EXCLUDED.album_name, duration_ms = EXCLUDED.duration_ms,
            spotify_url = EXCLUDED.spotify_url, raw_json = EXCLUDED.raw_json,
            updated_at = now();
    END LOOP;
END $$"""

OURS_LOOP = """
DO $$
DECLARE t jsonb;
BEGIN
    FOR t IN SELECT item FROM bench_items LOOP
        PERFORM music_tm.save_track(t);
    END LOOP;
END $$"""


def bench_save_track(cur, report, repeat):
    """save_track vs the seed's per-row INSERT ... ON CONFLICT, first ingest and replay."""
    cur.execute("DROP TABLE IF EXISTS seed_tracks")
    cur.execute(SEED_TABLE)

    def first(sql, table):
        def run():
            cur.execute(f"TRUNCATE {table}")
            cur.execute(sql)
        return run

    ours_first = best_of(repeat, first(OURS_LOOP, "music_tm.tracks, music_tm.charts"))
    seed_first = best_of(repeat, first(SEED_LOOP, "seed_tracks"))
    ours_replay = best_of(repeat, lambda: cur.execute(OURS_LOOP))
    seed_replay = best_of(repeat, lambda: cur.execute(SEED_LOOP))
    cur.execute("SELECT count(*) FROM bench_items")
    n = cur.fetchone()[0]
    print(f"save_track, {n} track objects of the sample, one call per object (server-side loop):")
    report.ratio("first ingest: seed's per-row upsert / save_track", ours_first, seed_first)
    report.ratio("replay: seed's per-row upsert / save_track", ours_replay, seed_replay)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append",
                    choices=["save_track", "ingest", "history", "extract", "versions", "plays", "citus"],
                    help="run only these benchmarks (repeatable); default: all")
    ap.add_argument("--days", type=int, default=28, help="days of sample pages (save_track)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pages", type=int, default=1000, help="pages for the server-side ingest benchmark")
    ap.add_argument("--e2e-pages", type=int, default=40, help="pages for the end-to-end benchmark")
    ap.add_argument("--concurrent-pages", type=int, default=400, help="pages for the 1 vs 8 clients benchmark")
    ap.add_argument("--history-listeners", type=int, default=200,
                    help="listeners of the rank history benchmark (200: about 11M chart entries)")
    ap.add_argument("--history-days", type=int, default=365, help="daily snapshots per listener")
    ap.add_argument("--history-samples", type=int, default=40, help="calls timed per function")
    ap.add_argument("--quick", action="store_true",
                    help="small runs of all four benchmarks (100 pages; rank history 4 listeners x 90 days, "
                         "10 calls; 5,000 extraction rows): checks that they run; the ratios are not "
                         "comparable to the README's figures")
    ap.add_argument("--versions-days", type=int, default=1095,
                    help="daily pages per range of the 2.0-vs-1.1 benchmark (1095: three years)")
    ap.add_argument("--extract-rows", type=int, default=82764,
                    help="track objects per table in the extraction benchmark")
    ap.add_argument("--plays-entries", type=int, default=200000,
                    help="generated streaming-history entries of the listening-history benchmark")
    ap.add_argument("--plays-per-file", type=int, default=20000, help="entries per export file")
    a = ap.parse_args()
    if a.quick:
        a.history_listeners, a.history_days, a.history_samples = 4, 90, 10
        a.pages, a.e2e_pages, a.concurrent_pages = 100, 10, 80
        a.extract_rows = 5000
        a.versions_days = 60
        a.plays_entries, a.plays_per_file = 20000, 4000
    only = set(a.only or ["save_track", "ingest", "history", "extract", "versions", "plays", "citus"])
    quick_warning = ("--quick: every benchmark runs at a small scale, where calls take a few ms and "
                     "their timings swing from run to run; the ratios and 'met'/'NOT met' of this run are "
                     "not comparable to the figures in README.md (run without --quick for those)")
    if a.quick:
        print("WARNING: " + quick_warning, flush=True)
    started = time.perf_counter()
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS music_tm")
    cur.execute("SET max_parallel_workers_per_gather = 0")
    report = Report()
    took = []

    def timed(name, fn):
        t0 = time.perf_counter()
        fn()
        took.append(f"{name} {(time.perf_counter() - t0) / 60:.1f} min")

    if "save_track" in only:
        timed("save_track", lambda: (load_sample(cur, a.days), bench_save_track(cur, report, a.repeat)))
    if "ingest" in only:
        import ingest
        timed("ingest", lambda: ingest.run(cur, report, a.pages, a.e2e_pages, a.concurrent_pages, a.repeat))
    if "history" in only:
        import history
        timed("history", lambda: history.run(cur, report, a.history_listeners, a.history_days,
                                             a.history_samples, a.repeat))
    if "versions" in only:
        import versions
        cur.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'music_tm11'")
        if cur.fetchone()[0] == 0:
            print("\nmusic_tm 2.0 vs 1.1: SKIPPED, music_tm 1.1 is not installed as music_tm11"
                  " (tools/bench.sh builds it from the git history)", flush=True)
        else:
            print()
            timed("versions", lambda: versions.run(report, a.versions_days, 10 if a.quick else 30))
    if "extract" in only:
        import extract
        print(f"\nJSONB extraction, {a.extract_rows} TOASTed track objects per table:")
        timed("extract", lambda: extract.bench_extract(cur, report, a.repeat, a.extract_rows))
    if "plays" in only:
        import plays
        print()
        timed("plays", lambda: plays.run(cur, report, a.plays_entries, a.plays_per_file, a.repeat))
    if "citus" in only:
        import citus
        timed("citus", lambda: citus.run(report, 60 if a.quick else 240, a.repeat))
    missed = [r for r in report.rows if r[3] == "NOT met"]
    print(f"{len(report.rows)} ratios, {len(missed)} targets not met")
    print(f"took {(time.perf_counter() - started) / 60:.1f} min ({', '.join(took)})")
    if a.quick:
        print("WARNING: " + quick_warning)


if __name__ == "__main__":
    main()
