"""The rank history benchmark at a small scale, from Python with psycopg2.

make bench runs test/bench/history.py on about 11M chart entries; here the
same generator, peers and checks run on 3 listeners x 60 days, so that CI
proves the benchmark's SQL peers return exactly what music_tm returns.
Connection settings come from the libpq environment.
"""
import os
import sys
import unittest

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import history  # noqa: E402
import scratch_db  # noqa: E402

DB = "music_tm_history_bench_test"


def setUpModule():
    scratch_db.create(DB)


def tearDownModule():
    scratch_db.drop(DB)


class SmallBenchmark(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.conn = psycopg2.connect(dbname=DB)
        cls.conn.autocommit = True
        cls.cur = cls.conn.cursor()
        cls.charts, cls.entries, _ = history.generate(cls.cur, 3, 60, log=lambda *a: None)
        history.load_peers(cls.cur)
        history.prepare(cls.cur)
        cls.samples = history.pick_samples(cls.cur, 3, 60, 12)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()

    def test_generated_data_has_churn_gaps_and_empty_ranks(self):
        cur = self.cur
        # 3 listeners x 3 ranges x 60 days, minus one day in 29 per listener
        self.assertEqual(self.charts, 3 * 3 * 60 - 3 * 3 * 2)
        cur.execute("SELECT count(*) FROM music_tm.chart_entries WHERE rank = 17")
        with_17 = cur.fetchone()[0]
        self.assertLess(with_17, self.charts)  # some charts have rank 17 empty
        cur.execute("""SELECT count(*) FROM music_tm.all_run_stats('short_term', 'l1')
                       WHERE longest_streak < periods_on_chart""")
        self.assertGreater(cur.fetchone()[0], 0, "some tracks re-enter")

    def test_functions_equal_their_peers(self):
        # four functions, chart_as_of and all_run_stats against two peers each
        self.assertEqual(history.verify(self.cur, self.samples), 6 * len(self.samples))

    def test_timing_loop_runs(self):
        history.load_samples(self.cur, self.samples)
        for name in history.TARGETS:
            for side, _ in history.sides(name):
                self.assertGreater(history.timed(self.cur, side, name, self.samples, 1), 0)
        # the floor of the one-track readers: the same samples' chart series
        self.assertGreater(history.timed_sql(self.cur, history.FLOOR, 1), 0)


if __name__ == "__main__":
    unittest.main()
