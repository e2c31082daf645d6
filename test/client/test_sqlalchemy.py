"""music_tm from SQLAlchemy Core (Debian's python3-sqlalchemy, psycopg2
dialect): text() with typed bind parameters, func.music_tm.* as table-valued
functions in select(), the enum declared as an existing PostgreSQL ENUM,
ARRAY(Text) for text[], and the SQLSTATE and detail read from the DBAPI
error SQLAlchemy wraps."""
import datetime
import unittest

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, ENUM, JSONB

import sample
import scratch_db

DB = "music_tm_client_sqlalchemy"

# the extension's enum; create_type=False: the extension owns it
time_range = ENUM("short_term", "medium_term", "long_term", name="time_range",
                  schema="music_tm", create_type=False)

record_page = sa.text(
    "SELECT * FROM music_tm.record_top_tracks(:time_range, :payload, :day)"
).bindparams(sa.bindparam("time_range", type_=time_range),
             sa.bindparam("payload", type_=JSONB),
             sa.bindparam("day", type_=sa.Date))


def chart_as_of(day, rng):
    return sa.func.music_tm.chart_as_of(
        sa.bindparam("as_of", day, type_=sa.Date),
        sa.bindparam("rng", rng, type_=time_range),
    ).table_valued(sa.column("snapshot_date", sa.Date), sa.column("rank", sa.Integer),
                   sa.column("track_id", sa.Text), sa.column("status", sa.Text))


def setUpModule():
    scratch_db.create(DB)


def tearDownModule():
    scratch_db.drop(DB)


class SQLAlchemyCore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.days = sample.records("short_term", 2)
        # an empty host: libpq's environment (PGHOST, PGPORT, PGUSER) decides
        cls.engine = sa.create_engine(f"postgresql+psycopg2:///{DB}", future=True)
        with cls.engine.begin() as conn:
            for r in cls.days:
                conn.execute(record_page, {"time_range": "short_term", "payload": r["page"],
                                           "day": datetime.date.fromisoformat(r["snapshot_date"])})

    @classmethod
    def tearDownClass(cls):
        cls.engine.dispose()

    def test_record_page_counts(self):
        r = self.days[-1]
        with self.engine.begin() as conn:
            counts = conn.execute(record_page, {
                "time_range": "short_term", "payload": r["page"],
                "day": datetime.date.fromisoformat(r["snapshot_date"])}).mappings().one()
        self.assertEqual(counts["tracks_inserted"], 0)
        self.assertEqual(counts["entries_unchanged"], len(sample.chart(r)))

    def test_chart_as_of(self):
        day = datetime.date.fromisoformat(self.days[1]["snapshot_date"])
        chart = chart_as_of(day, "short_term")
        stmt = sa.select(chart.c.snapshot_date, chart.c.rank, chart.c.track_id).order_by(chart.c.rank)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        self.assertEqual([(r.rank, r.track_id) for r in rows], sample.chart(self.days[1]))
        self.assertEqual({r.snapshot_date for r in rows}, {day})

    def test_track_run(self):
        _, track = sample.chart(self.days[1])[0]
        run = sa.func.music_tm.run_stats(
            sa.bindparam("track", track, type_=sa.Text),
            sa.bindparam("rng", "short_term", type_=time_range),
        ).table_valued(sa.column("peak", sa.Integer), sa.column("periods_on_chart", sa.Integer),
                       sa.column("debut", sa.Date))
        history = sa.text("SELECT snapshot_date, rank FROM music_tm.rank_history(:t, :r)"
                          ).bindparams(sa.bindparam("r", type_=time_range))
        with self.engine.connect() as conn:
            stats = conn.execute(sa.select(run)).one()
            ranks = conn.execute(history, {"t": track, "r": "short_term"}).all()
        expected = []
        for d in self.days:
            k = dict((t, k) for k, t in sample.chart(d)).get(track)
            if k is not None or expected:
                expected.append((datetime.date.fromisoformat(d["snapshot_date"]), k))
        self.assertEqual([tuple(r) for r in ranks], expected)
        self.assertEqual(stats.peak, min(k for _, k in expected if k is not None))
        self.assertEqual(stats.debut, expected[0][0])
        self.assertEqual(stats.periods_on_chart, sum(1 for _, k in expected if k is not None))

    def test_enum_and_text_array(self):
        day = datetime.date.fromisoformat(self.days[1]["snapshot_date"])
        wanted = [t for _, t in sample.chart(self.days[1])[:3]]
        chart = chart_as_of(day, "short_term")
        stmt = (sa.select(chart.c.track_id)
                .where(chart.c.track_id == sa.func.any(sa.bindparam("ids", wanted, type_=ARRAY(sa.Text))))
                .order_by(chart.c.rank))
        item = self.days[0]["page"]["items"][0]
        names = sa.select(sa.func.music_tm.artist_names(
            sa.bindparam("item", item, type_=JSONB), type_=ARRAY(sa.Text)))
        echo = sa.select(sa.cast(sa.bindparam("r", "long_term", type_=time_range), time_range))
        with self.engine.connect() as conn:
            self.assertEqual(conn.execute(stmt).scalars().all(), wanted)
            self.assertEqual(conn.execute(names).scalar_one(), [a["name"] for a in item["artists"]])
            self.assertEqual(conn.execute(echo).scalar_one(), "long_term")

    def test_rejected_payload(self):
        day = datetime.date(2026, 2, 1)
        with self.engine.connect() as conn:
            with self.assertRaises(sa.exc.DBAPIError) as cm:
                conn.execute(record_page, {"time_range": "medium_term",
                                           "payload": sample.BAD_PAGE, "day": day})
            conn.rollback()
            self.assertEqual(cm.exception.orig.pgcode, sample.BAD_SQLSTATE)
            self.assertEqual(cm.exception.orig.diag.message_detail, sample.BAD_DETAIL)
            n = conn.execute(sa.select(sa.func.count()).select_from(chart_as_of(day, "medium_term"))).scalar_one()
            self.assertEqual(n, 0)


if __name__ == "__main__":
    unittest.main()
