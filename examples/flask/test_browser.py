"""The Flask example in a real browser: headless Chromium (Debian's
chromium) loads each page of the app, served from a throwaway database with
the sample recorded by the daily job; the test checks the rendered DOM
(rows, ranks, the inline SVG) and that a screenshot is not blank.

Connection settings come from the libpq environment (run it under
pg_virtualenv or tools/with-cluster.sh); CHROMIUM names the browser
(default /usr/bin/chromium); MUSIC_TM_SCREENSHOT_DIR keeps the screenshots.
"""
import html.parser
import logging
import os
import subprocess
import sys
import tempfile
import threading
import unittest

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
DB = "music_tm_flask_test"
os.environ["DATABASE_URL"] = f"dbname={DB}"

import app as flask_app      # noqa: E402  (after DATABASE_URL is set)
import daily_job             # noqa: E402
import database              # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--hide-scrollbars"]


class Page(html.parser.HTMLParser):
    """What the test reads off a rendered page: table rows by table id,
    their cells' text, and whether an <svg> with circles was drawn."""

    def __init__(self):
        super().__init__()
        self.tables, self.table, self.row, self.cell = {}, None, None, None
        self.svg = 0
        self.circles = 0
        self.title = ""
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = {"track": a.get("data-track"), "cells": []}
        elif tag == "td" and self.row is not None:
            self.cell = []
        elif tag == "svg":
            self.svg += 1
        elif tag == "circle":
            self.circles += 1
        elif tag == "title" and not self.svg:
            self.in_title = True

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row["cells"].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row["cells"]:
                self.table.append(self.row)
            self.row = None
        elif tag == "table":
            self.table = None
        elif tag == "title":
            self.in_title = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self.in_title:
            self.title += data


def setUpModule():
    conn = psycopg2.connect(dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    conn.close()
    conn = psycopg2.connect(dbname=DB)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION music_tm")
    conn.close()


def tearDownModule():
    database.close_db_pool()
    conn = psycopg2.connect(dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.days = daily_job.sample_days()
        for day in sorted(cls.days):
            daily_job.record_day(day, cls.days[day])
        from werkzeug.serving import make_server
        # one line per request would split unittest's "test ... ok" lines
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        cls.server = make_server("127.0.0.1", 0, flask_app.app, threaded=True)
        cls.base = f"http://127.0.0.1:{cls.server.server_port}"
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.shots = os.environ.get("MUSIC_TM_SCREENSHOT_DIR") or tempfile.mkdtemp()
        cls.profile = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def browse(self, path):
        """The DOM Chromium rendered for path, parsed."""
        out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
                              "--dump-dom", self.base + path],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        page = Page()
        page.feed(out.stdout)
        return page

    def screenshot(self, path, name):
        """A screenshot of path; fails if the picture is one flat colour."""
        from PIL import Image
        file = os.path.join(self.shots, name)
        out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
                              "--window-size=1200,900", f"--screenshot={file}", self.base + path],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        img = Image.open(file).convert("RGB")
        self.assertEqual(img.size, (1200, 900))
        colours = img.getcolors(maxcolors=1 << 16)
        # a blank page has one colour; text, links and the SVG give many
        self.assertTrue(colours is None or len(colours) > 50, f"{name}: {len(colours or [])} colours")
        dark = sum(n for n, (r, g, b) in (colours or []) if r + g + b < 200)
        self.assertTrue(colours is None or dark > 500, f"{name}: hardly any text drawn")

    def expected_chart(self, day, time_range):
        page = self.days[day][time_range]
        return [(str(page["offset"] + i + 1), (t.get("linked_from") or {}).get("id") or t["id"])
                for i, t in enumerate(page["items"]) if t and t.get("id")]

    def test_today(self):
        last = max(self.days)
        page = self.browse("/")
        rows = page.tables["chart"]
        self.assertEqual([(r["cells"][0], r["track"]) for r in rows],
                         self.expected_chart(last, "short_term"))
        self.assertIn("Today", page.title)
        self.screenshot("/", "today.png")

    def test_chart_as_of(self):
        day = sorted(self.days)[3]
        page = self.browse(f"/chart?date={day}&range=medium_term")
        rows = page.tables["chart"]
        self.assertEqual([(r["cells"][0], r["track"]) for r in rows],
                         self.expected_chart(day, "medium_term"))
        # Billboard columns: last position, status, peak, weeks, debut
        self.assertEqual(len(rows[0]["cells"]), 8)
        self.assertTrue(all(r["cells"][5].isdigit() for r in rows))

    def test_track_run(self):
        last = max(self.days)
        rank, track = self.expected_chart(last, "short_term")[0]
        page = self.browse(f"/track/{track}?range=short_term")
        self.assertEqual(page.svg, 1)
        history = page.tables["history"]
        charted = [h for h in history if h["cells"][1] != "–"]
        self.assertEqual(page.circles, len(charted))
        self.assertEqual(history[-1]["cells"][0], last)
        self.assertEqual(history[-1]["cells"][1], rank)
        self.screenshot(f"/track/{track}?range=short_term", "track.png")

    def test_diff(self):
        days = sorted(self.days)
        page = self.browse(f"/diff?from={days[0]}&to={days[-1]}&range=short_term")
        rows = page.tables["diff"]
        before = {t for _, t in self.expected_chart(days[0], "short_term")}
        after = {t for _, t in self.expected_chart(days[-1], "short_term")}
        self.assertEqual({r["track"] for r in rows}, before | after)
        self.assertEqual({r["track"] for r in rows if r["cells"][1] == "ENTERED"}, after - before)
        self.assertEqual({r["track"] for r in rows if r["cells"][1] == "EXITED"}, before - after)

    def test_bad_range_is_rejected(self):
        page = self.browse("/chart?range=weekly")
        self.assertNotIn("chart", page.tables)
        self.assertIn("400", page.title)


if __name__ == "__main__":
    unittest.main()
