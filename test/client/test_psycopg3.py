"""music_tm from psycopg 3 (Debian's python3-psycopg), the way its users
write: Jsonb for jsonb, datetime.date for date, a Python Enum registered for
music_tm.time_range, lists for text[], and the error's SQLSTATE and detail
read from the exception's diag."""
import datetime
import enum
import unittest

import psycopg
from psycopg.types.enum import EnumInfo, register_enum
from psycopg.types.json import Jsonb

import sample
import scratch_db

DB = "music_tm_client_psycopg3"


class TimeRange(enum.Enum):
    short_term = "short_term"
    medium_term = "medium_term"
    long_term = "long_term"


def setUpModule():
    scratch_db.create(DB)


def tearDownModule():
    scratch_db.drop(DB)


class Psycopg3(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.days = sample.records("short_term", 2)
        cls.conn = psycopg.connect(dbname=DB, autocommit=True)
        info = EnumInfo.fetch(cls.conn, "music_tm.time_range")
        register_enum(info, cls.conn, TimeRange)
        for r in cls.days:
            cls.conn.execute(
                "SELECT * FROM music_tm.record_top_tracks(%s, %s, %s)",
                (TimeRange.short_term, Jsonb(r["page"]),
                 datetime.date.fromisoformat(r["snapshot_date"])))

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()

    def test_record_page_counts(self):
        # recording the same page again changes nothing
        r = self.days[-1]
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute("SELECT * FROM music_tm.record_top_tracks(%s, %s, %s)",
                        (TimeRange.short_term, Jsonb(r["page"]),
                         datetime.date.fromisoformat(r["snapshot_date"])))
            counts = cur.fetchone()
        self.assertEqual(counts["tracks_inserted"], 0)
        self.assertEqual(counts["entries_inserted"], 0)
        self.assertEqual(counts["entries_unchanged"], len(sample.chart(r)))

    def test_chart_as_of(self):
        day = datetime.date.fromisoformat(self.days[1]["snapshot_date"])
        rows = self.conn.execute(
            "SELECT snapshot_date, rank, track_id, last_position, status"
            " FROM music_tm.chart_as_of(%s, %s)", (day, TimeRange.short_term)).fetchall()
        self.assertEqual([(r[1], r[2]) for r in rows], sample.chart(self.days[1]))
        self.assertIsInstance(rows[0][0], datetime.date)
        self.assertEqual(rows[0][0], day)
        first = dict((t, k) for k, t in sample.chart(self.days[0]))
        for _, rank, track, last, status in rows:
            self.assertEqual(last, first.get(track))
            self.assertEqual(status == "NEW", track not in first)

    def test_track_run(self):
        rank, track = sample.chart(self.days[1])[0]
        history = self.conn.execute(
            "SELECT snapshot_date, rank FROM music_tm.rank_history(%s, %s)",
            (track, TimeRange.short_term)).fetchall()
        expected = [(datetime.date.fromisoformat(d["snapshot_date"]), dict(
            (t, k) for k, t in sample.chart(d)).get(track)) for d in self.days]
        while expected and expected[0][1] is None:
            expected.pop(0)     # the history starts at the debut
        self.assertEqual(history, expected)
        peak, periods = self.conn.execute(
            "SELECT peak, periods_on_chart FROM music_tm.run_stats(%s, %s)",
            (track, TimeRange.short_term)).fetchone()
        self.assertEqual(peak, min(k for _, k in expected if k is not None))
        self.assertEqual(periods, sum(1 for _, k in expected if k is not None))

    def test_enum_and_text_array(self):
        # the enum comes back as the registered Python Enum
        got = self.conn.execute("SELECT %s::music_tm.time_range", (TimeRange.long_term,)).fetchone()[0]
        self.assertIs(got, TimeRange.long_term)
        # a Python list goes in as text[], a text[] comes back as a list
        wanted = [t for _, t in sample.chart(self.days[1])[:3]]
        rows = self.conn.execute(
            "SELECT track_id FROM music_tm.chart_as_of(%s, %s)"
            " WHERE track_id = ANY(%s) ORDER BY rank",
            (datetime.date.fromisoformat(self.days[1]["snapshot_date"]),
             TimeRange.short_term, wanted)).fetchall()
        self.assertEqual([r[0] for r in rows], wanted)
        item = self.days[0]["page"]["items"][0]
        names = self.conn.execute("SELECT music_tm.artist_names(%s)", (Jsonb(item),)).fetchone()[0]
        self.assertEqual(names, [a["name"] for a in item["artists"]])

    def test_rejected_payload(self):
        with psycopg.connect(dbname=DB) as conn:
            with self.assertRaises(psycopg.errors.InvalidParameterValue) as cm:
                conn.execute("SELECT music_tm.record_top_tracks(%s, %s, %s)",
                             (TimeRange.medium_term, Jsonb(sample.BAD_PAGE),
                              datetime.date(2026, 2, 1)))
            conn.rollback()
            self.assertEqual(cm.exception.sqlstate, sample.BAD_SQLSTATE)
            self.assertEqual(cm.exception.diag.message_detail, sample.BAD_DETAIL)
            # nothing of the page was written
            n = conn.execute("SELECT count(*) FROM music_tm.chart_as_of(%s, %s)",
                             (datetime.date(2026, 2, 1), "medium_term")).fetchone()[0]
            self.assertEqual(n, 0)


if __name__ == "__main__":
    unittest.main()
