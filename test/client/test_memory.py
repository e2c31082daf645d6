"""Backend memory stays flat over 100,000 calls of each routine family.

One backend makes the calls in a server-side loop; the memory of all its
memory contexts (pg_backend_memory_contexts) is read inside the loop after
the first 10,000 calls and again at the end, so growth in any context that
outlives a call (the session's, the caches, the kept plans) shows.  The
reading families run in a server-side loop; the writing families are called
from the client, one call per transaction, as an application makes them (a
loop of 100,000 writes in one transaction would measure PostgreSQL's row
versions and cached plans instead, and COMMIT inside a DO block keeps a
little memory of its own).  It is
read once more after the transaction, against what it was before the loop.
The figures are printed; the test fails if memory grew by more than
MAX_GROWTH bytes between the 10,000th and the last call.

MUSIC_TM_MEMORY_CALLS overrides the number of calls (default 100,000).
"""
import gzip
import json
import os
import time
import unittest

import psycopg2

import scratch_db

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "data", "sample_pages.jsonl.gz")
DB = "music_tm_memory_test"
CALLS = int(os.environ.get("MUSIC_TM_MEMORY_CALLS", "100000"))
WARMUP = CALLS // 10
MAX_GROWTH = 256 * 1024

# One body per routine family; :i is the loop counter.  Each call is made
# with PERFORM so nothing accumulates in the client.
FAMILIES = {
    "extract: track_fields, accessors": """
        PERFORM music_tm.track_fields(t1, 'SE'), music_tm.isrc(t1), music_tm.release_date(t1),
                music_tm.artist_names(t1), music_tm.cover_url(t1, 100), music_tm.playable_in(t1, 'SE');""",
    "history: chart_as_of, rank_history, run_stats, sparkline": """
        PERFORM count(*) FROM music_tm.chart_as_of('2026-03-06', 'short_term', 'small');
        PERFORM count(*) FROM music_tm.rank_history('h1', 'short_term', 'small');
        PERFORM count(*) FROM music_tm.run_stats('h1', 'short_term', 'small');
        PERFORM music_tm.sparkline('h1', 'short_term', 'small');""",
}

LOOP = """
DO $$
DECLARE
    -- a 5-item page of real ~4 KB tracks (stored once, then unchanged)
    p1 jsonb := (SELECT jsonb_build_object('items', jsonb_path_query_array(doc->'page', '$.items[0 to 4]'))
                 FROM sample ORDER BY n LIMIT 1);
    t1 jsonb := (SELECT doc->'page'->'items'->0 FROM sample ORDER BY n LIMIT 1);
    m1 bigint;
BEGIN
    FOR i IN 1..%(calls)d LOOP
        %(body)s
        IF i = %(warmup)d THEN
            m1 := (SELECT sum(total_bytes) FROM pg_backend_memory_contexts);
        END IF;
    END LOOP;
    INSERT INTO mem VALUES (%(family)s, m1, (SELECT sum(total_bytes) FROM pg_backend_memory_contexts));
END $$;
"""


class BackendMemory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        scratch_db.create(DB)
        cls.conn = psycopg2.connect(dbname=DB)
        cls.conn.autocommit = True
        with cls.conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE sample (n serial, doc jsonb)")
            cur.execute("CREATE TEMP TABLE mem (family text, at_warmup bigint, at_end bigint)")
            with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
                for line in f:
                    cur.execute("INSERT INTO sample (doc) VALUES (%s)", (line,))
            cur.execute("""SELECT count(music_tm.record_top_tracks((doc->>'time_range')::music_tm.time_range,
                                                                   doc->'page', (doc->>'snapshot_date')::date))
                           FROM sample""")
            # a small listener for the history family: 10 daily charts of 5
            # tracks drawn from 8, so tracks enter, leave and come back
            cur.execute("""SELECT count(music_tm.record_top_tracks('short_term',
                               (SELECT jsonb_agg(jsonb_build_object('id', 'h' || ((d * 3 + k) % 8),
                                                                    'name', 'H' || ((d * 3 + k) % 8)))
                                FROM generate_series(1, 5) k),
                               date '2026-03-01' + d, 'small'))
                           FROM generate_series(0, 9) d""")
            cur.execute("ANALYZE")

    figures = []

    @classmethod
    def tearDownClass(cls):
        # after the last test, so that unittest's "... ok" lines stay whole
        print("\nbackend memory:\n" + "\n".join(cls.figures), flush=True)
        cls.conn.close()
        scratch_db.drop(DB)

    def backend_memory(self):
        with self.conn.cursor() as cur:
            cur.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
            return cur.fetchone()[0]

    def run_family(self, family):
        before = self.backend_memory()
        with self.conn.cursor() as cur:
            t0 = time.perf_counter()
            cur.execute(LOOP % {"calls": CALLS, "warmup": WARMUP, "body": FAMILIES[family],
                                "family": "'" + family + "'"})
            seconds = time.perf_counter() - t0
            cur.execute("SELECT at_warmup, at_end FROM mem WHERE family = %s", (family,))
            at_warmup, at_end = (int(x) for x in cur.fetchone())
        after = int(self.backend_memory())
        before = int(before)
        self.figures.append(f"  {family}: {CALLS} calls; backend memory {at_warmup} bytes after {WARMUP},"
              f" {at_end} after {CALLS} (growth {at_end - at_warmup:+d});"
              f" {before} before the loop, {after} after it ({after - before:+d}); {seconds:.1f} s")
        self.assertLessEqual(at_end - at_warmup, MAX_GROWTH)
        self.assertLessEqual(after - before, MAX_GROWTH)

    def run_client_family(self, family, call):
        """Writing routines: one call per transaction from the client, as an
        application makes them (in one long transaction, 100,000 writes
        would only measure PostgreSQL's row versions and cached plans)."""
        before = int(self.backend_memory())
        t0 = time.perf_counter()
        with self.conn.cursor() as cur:
            cur.execute("""SELECT jsonb_build_object('items', jsonb_path_query_array(doc->'page', '$.items[0 to 4]')),
                                  jsonb_build_object('items', jsonb_path_query_array(doc->'page', '$.items[3 to 7]')),
                                  doc->'page'->'items'->0,
                                  jsonb_set(doc->'page'->'items'->0, '{popularity}', '1')
                           FROM sample ORDER BY n LIMIT 1""")
            pages_tracks = [json.dumps(x) for x in cur.fetchone()]
            for i in range(1, CALLS + 1):
                call(cur, i, *pages_tracks)
                if i == WARMUP:
                    at_warmup = int(self.backend_memory())
        at_end = int(self.backend_memory())
        seconds = time.perf_counter() - t0
        self.figures.append(f"  {family}: {CALLS} calls; backend memory {at_warmup} bytes after {WARMUP},"
                            f" {at_end} after {CALLS} (growth {at_end - at_warmup:+d});"
                            f" {before} before the loop ({at_end - before:+d}); {seconds:.1f} s")
        self.assertLessEqual(at_end - at_warmup, MAX_GROWTH)

    def test_ingest_page(self):
        # two 5-item pages of one chart, alternately: every call moves entries
        self.run_client_family(
            "ingest: record_top_tracks",
            lambda cur, i, p1, p2, t1, t2: cur.execute(
                "SELECT music_tm.record_top_tracks('short_term', %s::jsonb, '2030-01-01', 'memory')",
                (p1 if i % 2 else p2,)))

    def test_ingest_rows(self):
        # an object that changes every call, and an entry whose rank does
        self.run_client_family(
            "ingest: save_track, save_snapshot_row",
            lambda cur, i, p1, p2, t1, t2: cur.execute(
                "SELECT music_tm.save_track(%s::jsonb),"
                " music_tm.save_snapshot_row(%s::jsonb->>'id', '2030-01-02', 'medium_term', %s, 'memory')",
                (t1 if i % 2 else t2, t1, 1 + i % 50)))

    def test_extract(self):
        self.run_family("extract: track_fields, accessors")

    def test_history(self):
        self.run_family("history: chart_as_of, rank_history, run_stats, sparkline")


if __name__ == "__main__":
    unittest.main()
