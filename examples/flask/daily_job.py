"""The daily job: record the listener's three top-tracks pages.

With Spotify it would call GET /v1/me/top/tracks for short_term,
medium_term and long_term; there is no Spotify access here, so it takes the
day's three pages from the bundled sample (data/sample_pages.jsonl.gz).
One music_tm.record_top_tracks call per page replaces the seed's INSERT per
track and per chart row.

    python3 daily_job.py 2026-01-05     # one day of the sample
    python3 daily_job.py --all          # every day of the sample
"""
import datetime
import gzip
import json
import os
import sys

from psycopg2.extras import Json

from database import close_db_pool, connection

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "..", "..", "data", "sample_pages.jsonl.gz")


def sample_days():
    """{snapshot_date: {time_range: page}} of the bundled sample."""
    days = {}
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            days.setdefault(r["snapshot_date"], {})[r["time_range"]] = r["page"]
    return days


def record_day(day, pages):
    """Record one day's pages in one transaction; return what changed."""
    report = {}
    with connection() as conn, conn.cursor() as cur:
        for time_range, page in sorted(pages.items()):
            cur.execute("SELECT tracks_inserted, entries_inserted, items_skipped"
                        " FROM music_tm.record_top_tracks(%s, %s, %s)",
                        (time_range, Json(page), datetime.date.fromisoformat(day)))
            report[time_range] = cur.fetchone()
    return report


def main(argv):
    days = sample_days()
    wanted = sorted(days) if argv[1:] == ["--all"] else argv[1:]
    if not wanted:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for day in wanted:
        if day not in days:
            print(f"no sample pages for {day}", file=sys.stderr)
            return 1
        for time_range, (tracks, entries, skipped) in record_day(day, days[day]).items():
            print(f"{day} {time_range}: {tracks} new tracks, {entries} chart entries, {skipped} items skipped")
    close_db_pool()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
