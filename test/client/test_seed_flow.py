"""The seed app's flow on music_tm, from Python with psycopg2.

The seed (shared/seeds/000) sends one INSERT ... ON CONFLICT per track and
per chart row with psycopg2; here the same app calls music_tm's functions
with the same parameterised style.  Connection settings come from the usual
libpq environment (PGHOST, PGPORT, PGUSER, ...); each test class works in a
database of its own.
"""
import datetime
import gzip
import json
import os
import unittest

import psycopg2
import psycopg2.errors
from psycopg2.extras import Json

import scratch_db

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "data", "sample_pages.jsonl.gz")
DB = "music_tm_client_test"


def setUpModule():
    scratch_db.create(DB)


def tearDownModule():
    scratch_db.drop(DB)


def sample_pages(n):
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= n:
                return
            yield json.loads(line)


# The app's own helpers, as the seed wrote them, now calling music_tm.
def save_track(conn, track):
    with conn.cursor() as cur:
        cur.execute("SELECT music_tm.save_track(%s)", (Json(track),))
        return cur.fetchone()[0]


def charted_id(track):
    """The id a track is charted and stored under: linked_from.id when relinked."""
    return (track.get("linked_from") or {}).get("id") or track["id"]


def save_snapshot_row(conn, track_id, snapshot_date, time_range, rank):
    with conn.cursor() as cur:
        cur.execute("SELECT music_tm.save_snapshot_row(%s, %s, %s, %s)",
                    (track_id, snapshot_date, time_range, rank))


def get_track_detail(conn, track_id):
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM music_tm.track_detail(%s)", (track_id,))
        return cur.fetchone()


def counts(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM music_tm.tracks),"
                    " (SELECT count(*) FROM music_tm.charts),"
                    " (SELECT count(*) FROM music_tm.chart_entries)")
        return cur.fetchone()


class SeedFlow(unittest.TestCase):
    def setUp(self):
        self.conn = psycopg2.connect(dbname=DB)
        with self.conn.cursor() as cur:
            cur.execute("TRUNCATE music_tm.tracks, music_tm.charts")
        self.conn.commit()

    def tearDown(self):
        self.conn.close()

    def store_day(self, record):
        """The seed's daily job: every track, then every chart row, one commit."""
        page = record["page"]
        for i, track in enumerate(page["items"]):
            if track is None or track.get("id") is None:
                continue        # local files have no id; the seed skipped them too
            save_track(self.conn, track)
            save_snapshot_row(self.conn, charted_id(track), record["snapshot_date"],
                              record["time_range"], page["offset"] + i + 1)
        self.conn.commit()

    def test_daily_flow(self):
        records = list(sample_pages(6))
        for r in records:
            self.store_day(r)
        tracks, charts, entries = counts(self.conn)
        self.assertEqual(charts, 6)
        expected = sum(1 for r in records for t in r["page"]["items"] if t and t.get("id"))
        self.assertEqual(entries, expected)
        ids = {charted_id(t) for r in records for t in r["page"]["items"] if t and t.get("id")}
        self.assertEqual(tracks, len(ids))

    def test_replay_writes_nothing(self):
        record = next(sample_pages(1))
        self.store_day(record)
        with self.conn.cursor() as cur:
            cur.execute("SELECT string_agg(xmin::text, ',' ORDER BY track_id) FROM music_tm.tracks")
            before = cur.fetchone()[0]
        results = {save_track(self.conn, t) for t in record["page"]["items"] if t.get("id")}
        self.conn.commit()
        # a relinked song appears as the same stored track under two playable
        # twins on alternate days; within one page every object is as stored
        self.assertEqual(results, {"unchanged"})
        with self.conn.cursor() as cur:
            cur.execute("SELECT string_agg(xmin::text, ',' ORDER BY track_id) FROM music_tm.tracks")
            self.assertEqual(cur.fetchone()[0], before)

    def test_track_detail(self):
        record = next(sample_pages(1))
        track = record["page"]["items"][0]
        self.assertEqual(save_track(self.conn, track), "inserted")
        self.conn.commit()
        row = get_track_detail(self.conn, track["id"])
        self.assertEqual(row[0], track["id"])
        self.assertEqual(row[1], track["name"])
        self.assertEqual(row[2], track["artists"][0]["name"])
        self.assertEqual(row[4], track["duration_ms"])
        # release_date is a date now, with its precision from the date's shape
        album = track["album"]
        self.assertEqual(album["release_date_precision"], "day")
        self.assertEqual(row[6], datetime.date.fromisoformat(album["release_date"]))
        self.assertEqual(row[7], "day")
        self.assertEqual(row[8], track["external_ids"].get("isrc"))
        self.assertIsNone(get_track_detail(self.conn, "no-such-track"))

    def test_track_detail_release_date_shapes(self):
        """Every track of six days of the sample: year and month precision
        give the first day of the period, "0000" gives NULL."""
        shapes = {"year": 4, "month": 7, "day": 10}
        seen = set()
        for record in sample_pages(6):
            for track in record["page"]["items"]:
                if track.get("id") is None or track["id"] in seen:
                    continue
                seen.add(track["id"])
                save_track(self.conn, track)
                row = get_track_detail(self.conn, charted_id(track))
                sent = track["album"]["release_date"]
                precision = track["album"]["release_date_precision"]
                if sent == "0000":
                    self.assertEqual((row[6], row[7]), (None, None))
                    continue
                self.assertEqual(len(sent), shapes[precision])
                padded = sent + "-01-01"[len(sent) - 4:]
                self.assertEqual(row[6], datetime.date.fromisoformat(padded), sent)
                self.assertEqual(row[7], precision)
        self.conn.commit()
        self.assertGreater(len(seen), 100)

    def test_rollback_discards_everything(self):
        record = next(sample_pages(1))
        track = record["page"]["items"][0]
        save_track(self.conn, track)
        save_snapshot_row(self.conn, track["id"], datetime.date(2026, 2, 1), "short_term", 1)
        self.conn.rollback()
        self.assertEqual(counts(self.conn), (0, 0, 0))

    def test_bad_payload_is_rejected_and_writes_nothing(self):
        good = next(sample_pages(1))["page"]["items"][0]
        save_track(self.conn, good)
        self.conn.commit()
        bad = dict(good, id="another", duration_ms="three minutes")
        with self.assertRaises(psycopg2.errors.InvalidParameterValue) as ctx:
            save_track(self.conn, bad)
        self.assertEqual(ctx.exception.pgcode, "22023")
        self.assertIn("duration_ms", ctx.exception.pgerror)
        self.conn.rollback()
        with self.assertRaises(psycopg2.errors.ForeignKeyViolation):
            save_snapshot_row(self.conn, "never-stored", "2026-02-01", "short_term", 1)
        self.conn.rollback()
        with self.assertRaises(psycopg2.errors.InvalidTextRepresentation):
            save_snapshot_row(self.conn, good["id"], "2026-02-01", "all_time", 1)
        self.conn.rollback()
        self.assertEqual(counts(self.conn), (1, 0, 0))


def record_page(conn, record):
    """The daily job on music_tm: one call per page."""
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM music_tm.record_top_tracks(%s, %s, %s)",
                    (record["time_range"], Json(record["page"]), record["snapshot_date"]))
        cols = [d.name for d in cur.description]
        return dict(zip(cols, cur.fetchone()))


class PageFlow(unittest.TestCase):
    """The same daily job with record_top_tracks: one call per page."""

    def setUp(self):
        self.conn = psycopg2.connect(dbname=DB)
        with self.conn.cursor() as cur:
            cur.execute("TRUNCATE music_tm.tracks, music_tm.charts")
        self.conn.commit()

    def tearDown(self):
        self.conn.close()

    def test_daily_pages(self):
        records = list(sample_pages(12))
        for r in records:
            summary = record_page(self.conn, r)
            self.conn.commit()
            items = r["page"]["items"]
            local = sum(1 for t in items if t.get("is_local"))
            self.assertEqual(summary["items_skipped"], local)
            self.assertEqual(summary["entries_inserted"], len(items) - local)
        tracks, charts, entries = counts(self.conn)
        self.assertEqual(charts, 12)
        self.assertEqual(entries, sum(1 for r in records for t in r["page"]["items"] if not t.get("is_local")))
        # ranks are positions in the page; a skipped local file leaves its rank empty
        with self.conn.cursor() as cur:
            for r in records:
                cur.execute("SELECT rank, track_id FROM music_tm.chart_entries"
                            " WHERE time_range = %s AND snapshot_date = %s ORDER BY rank",
                            (r["time_range"], r["snapshot_date"]))
                expected = [(i + 1, charted_id(t)) for i, t in enumerate(r["page"]["items"])
                            if not t.get("is_local")]
                self.assertEqual(cur.fetchall(), expected)

    def test_replay_reports_nothing_changed(self):
        record = next(sample_pages(1))
        record_page(self.conn, record)
        self.conn.commit()
        summary = record_page(self.conn, record)
        self.conn.commit()
        self.assertEqual(summary["tracks_inserted"] + summary["tracks_updated"], 0)
        self.assertEqual(summary["entries_inserted"] + summary["entries_updated"]
                         + summary["entries_removed"], 0)
        self.assertEqual(summary["entries_unchanged"], 50)

    def test_rejected_page_leaves_database_unchanged(self):
        good = next(sample_pages(1))
        record_page(self.conn, good)
        self.conn.commit()
        before = counts(self.conn)
        bad = json.loads(json.dumps(good))
        bad["snapshot_date"] = "2026-03-01"
        bad["page"]["items"][30]["duration_ms"] = "4:05"
        with self.assertRaises(psycopg2.errors.InvalidParameterValue) as ctx:
            record_page(self.conn, bad)
        self.assertIn("items[30]", ctx.exception.diag.message_detail)
        self.conn.rollback()
        self.assertEqual(counts(self.conn), before)


if __name__ == "__main__":
    unittest.main()
