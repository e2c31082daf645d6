"""music_tm from asyncpg (Debian's python3-asyncpg), which speaks the binary
protocol: $n placeholders, a jsonb codec set on the connection, date objects,
the time_range enum and the composite music_tm.track_fields decoded and
encoded in binary (both must round-trip), lists for text[], and the
SQLSTATE and detail read from the exception."""
import asyncio
import datetime
import json
import unittest

import asyncpg

import sample
import scratch_db

DB = "music_tm_client_asyncpg"


def setUpModule():
    scratch_db.create(DB)


def tearDownModule():
    scratch_db.drop(DB)


async def connect():
    # asyncpg reads PGHOST, PGPORT and PGUSER like libpq
    conn = await asyncpg.connect(database=DB)
    await conn.set_type_codec("jsonb", schema="pg_catalog",
                              encoder=json.dumps, decoder=json.loads)
    return conn


def day_of(record):
    return datetime.date.fromisoformat(record["snapshot_date"])


class Asyncpg(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.days = sample.records("short_term", 2)

        async def load():
            conn = await connect()
            try:
                for r in cls.days:
                    await conn.fetchrow("SELECT * FROM music_tm.record_top_tracks($1, $2, $3)",
                                        "short_term", r["page"], day_of(r))
            finally:
                await conn.close()
        asyncio.run(load())

    async def asyncSetUp(self):
        self.conn = await connect()

    async def asyncTearDown(self):
        await self.conn.close()

    async def test_record_page_counts(self):
        r = self.days[-1]
        counts = await self.conn.fetchrow(
            "SELECT * FROM music_tm.record_top_tracks($1, $2, $3)", "short_term", r["page"], day_of(r))
        self.assertEqual(counts["tracks_inserted"], 0)
        self.assertEqual(counts["entries_unchanged"], len(sample.chart(r)))

    async def test_chart_as_of(self):
        rows = await self.conn.fetch(
            "SELECT snapshot_date, rank, track_id, status FROM music_tm.chart_as_of($1, $2)",
            day_of(self.days[1]), "short_term")
        self.assertEqual([(r["rank"], r["track_id"]) for r in rows], sample.chart(self.days[1]))
        self.assertEqual({r["snapshot_date"] for r in rows}, {day_of(self.days[1])})

    async def test_track_run(self):
        _, track = sample.chart(self.days[1])[0]
        ranks = await self.conn.fetch(
            "SELECT snapshot_date, rank FROM music_tm.rank_history($1, $2)", track, "short_term")
        stats = await self.conn.fetchrow(
            "SELECT peak, periods_on_chart FROM music_tm.run_stats($1, $2)", track, "short_term")
        expected = []
        for d in self.days:
            k = dict((t, k) for k, t in sample.chart(d)).get(track)
            if k is not None or expected:
                expected.append((day_of(d), k))
        self.assertEqual([tuple(r) for r in ranks], expected)
        self.assertEqual(stats["peak"], min(k for _, k in expected if k is not None))
        self.assertEqual(stats["periods_on_chart"], sum(1 for _, k in expected if k is not None))

    async def test_enum_and_composite_round_trip(self):
        # the enum: sent and received in binary as its label
        for label in ("short_term", "medium_term", "long_term"):
            self.assertEqual(await self.conn.fetchval("SELECT $1::music_tm.time_range", label), label)
        with self.assertRaises(asyncpg.InvalidTextRepresentationError):
            await self.conn.fetchval("SELECT $1::music_tm.time_range", "weekly")
        # the composite type: decoded into a Record, sent back as a tuple,
        # and equal to itself on the server
        item = self.days[0]["page"]["items"][0]
        fields = await self.conn.fetchval("SELECT music_tm.track_fields($1)", item)
        self.assertEqual(fields["name"], item["name"])
        self.assertEqual(fields["artist_names"], [a["name"] for a in item["artists"]])
        same = await self.conn.fetchval(
            "SELECT $1::music_tm.track_fields IS NOT DISTINCT FROM music_tm.track_fields($2)",
            tuple(fields), item)
        self.assertTrue(same)

    async def test_text_array(self):
        wanted = [t for _, t in sample.chart(self.days[1])[:3]]
        rows = await self.conn.fetch(
            "SELECT track_id FROM music_tm.chart_as_of($1, $2) WHERE track_id = ANY($3) ORDER BY rank",
            day_of(self.days[1]), "short_term", wanted)
        self.assertEqual([r["track_id"] for r in rows], wanted)

    async def test_rejected_payload(self):
        day = datetime.date(2026, 2, 1)
        with self.assertRaises(asyncpg.InvalidParameterValueError) as cm:
            await self.conn.fetchrow("SELECT * FROM music_tm.record_top_tracks($1, $2, $3)",
                                     "medium_term", sample.BAD_PAGE, day)
        self.assertEqual(cm.exception.sqlstate, sample.BAD_SQLSTATE)
        self.assertEqual(cm.exception.detail, sample.BAD_DETAIL)
        self.assertEqual(await self.conn.fetchval(
            "SELECT count(*) FROM music_tm.chart_as_of($1, $2)", day, "medium_term"), 0)


if __name__ == "__main__":
    unittest.main()
