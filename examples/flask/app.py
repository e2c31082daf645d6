"""The seed's Music Time Machine (shared/seeds/000, 001) rebuilt on music_tm.

The seed app kept tracks and chart rows in its own tables and computed its
pages in Python; here every page is one or two calls of music_tm's functions
through the seed's psycopg2 pool.  Pages: today's chart, the chart as of a
chosen date with its Billboard columns, a track's run (run_svg inline, rank
history, run statistics) and the diff of two dates.

    DATABASE_URL=postgresql:///music_tm_demo flask --app app run
"""
import datetime

from flask import Flask, abort, render_template, request, url_for
from jinja2 import DictLoader
from markupsafe import Markup
from psycopg2.extras import RealDictCursor

from database import connection

RANGES = ("short_term", "medium_term", "long_term")

TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %} · Music Time Machine</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; background: #fafafa; }
 nav a { margin-right: 1rem; }
 table { border-collapse: collapse; margin-top: 1rem; background: #fff; }
 th, td { padding: .3rem .7rem; border-bottom: 1px solid #ddd; text-align: left; }
 td.num { text-align: right; font-variant-numeric: tabular-nums; }
 .NEW { color: #0a7d32; } .UP { color: #0a7d32; } .DOWN { color: #b3261e; } .EXITED { color: #b3261e; }
 .svg { background: #fff; display: inline-block; padding: .5rem; }
</style></head><body>
<nav><a href="{{ url_for('today') }}">Today</a><a href="{{ url_for('chart') }}">Chart as of…</a><a href="{{ url_for('diff') }}">Diff</a></nav>
<h1>{{ self.title() }}</h1>
{% block body %}{% endblock %}
</body></html>""",
    "ranges.html": """<form method="get">{% for k, v in extra.items() %}<label>{{ k }} <input type="{{ 'date' if 'date' in k or k in ('from', 'to') else 'text' }}" name="{{ k }}" value="{{ v }}"></label> {% endfor %}
<label>range <select name="range">{% for r in ranges %}<option{% if r == range %} selected{% endif %}>{{ r }}</option>{% endfor %}</select></label>
<button>Show</button></form>""",
    "chart.html": """{% extends "base.html" %}{% block title %}{{ heading }}{% endblock %}{% block body %}
{% with extra = form %}{% include "ranges.html" %}{% endwith %}
{% if rows %}<p>Chart of <time>{{ rows[0].snapshot_date }}</time>, {{ range }}.</p>
<table id="chart"><thead><tr><th>#</th><th>Track</th><th>Artist</th><th>Last</th><th>Move</th><th>Peak</th><th>Charts</th><th>Debut</th></tr></thead><tbody>
{% for r in rows %}<tr data-track="{{ r.track_id }}"><td class="num rank">{{ r.rank }}</td>
<td><a href="{{ url_for('track', track_id=r.track_id, range=range) }}">{{ r.name }}</a></td><td>{{ r.artist_name or '' }}</td>
<td class="num">{{ r.last_position or '–' }}</td><td class="{{ r.status }}">{{ r.status }}{% if r.movement %} {{ '%+d' % r.movement }}{% endif %}</td>
<td class="num">{{ r.peak }}</td><td class="num">{{ r.periods_on_chart }}</td><td>{{ r.debut }}</td></tr>
{% endfor %}</tbody></table>{% else %}<p class="empty">No chart on or before that date.</p>{% endif %}
{% endblock %}""",
    "track.html": """{% extends "base.html" %}{% block title %}{{ detail.name if detail else track_id }}{% endblock %}{% block body %}
{% if detail %}<p>{{ detail.artist_name }} · {{ detail.album_name }}{% if detail.release_date %} · {{ detail.release_date }}{% endif %}</p>{% endif %}
{% with extra = {} %}{% include "ranges.html" %}{% endwith %}
{% if svg %}<div class="svg">{{ svg }}</div>{% endif %}
{% if stats %}<p id="stats">Debut {{ stats.debut }}, peak #{{ stats.peak }} on {{ stats.peak_date }}, {{ stats.periods_on_chart }} charts, longest streak {{ stats.longest_streak }}.</p>{% endif %}
<table id="history"><thead><tr><th>Date</th><th>Rank</th><th>Previous</th><th>Status</th></tr></thead><tbody>
{% for h in history %}<tr><td>{{ h.snapshot_date }}</td><td class="num rank">{{ h.rank or '–' }}</td><td class="num">{{ h.previous_rank or '–' }}</td><td class="{{ h.status }}">{{ h.status or '' }}</td></tr>
{% endfor %}</tbody></table>{% endblock %}""",
    "diff.html": """{% extends "base.html" %}{% block title %}Diff{% endblock %}{% block body %}
{% with extra = form %}{% include "ranges.html" %}{% endwith %}
<table id="diff"><thead><tr><th>Track</th><th>Change</th><th>From</th><th>To</th><th>Move</th></tr></thead><tbody>
{% for d in rows %}<tr data-track="{{ d.track_id }}"><td><a href="{{ url_for('track', track_id=d.track_id, range=range) }}">{{ d.name }}</a></td>
<td class="{{ d.change }}">{{ d.change }}</td><td class="num">{{ d.from_rank or '–' }}</td><td class="num">{{ d.to_rank or '–' }}</td><td class="num">{{ d.movement or '' }}</td></tr>
{% endfor %}</tbody></table>{% endblock %}""",
}

app = Flask(__name__)
app.jinja_loader = DictLoader(TEMPLATES)


def query(sql, args):
    with connection() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def arg_range():
    r = request.args.get("range", "short_term")
    if r not in RANGES:
        abort(400, f"range must be one of {', '.join(RANGES)}")
    return r


def arg_date(name, default):
    value = request.args.get(name) or default
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        abort(400, f"{name} must be a date (YYYY-MM-DD)")


CHART_SQL = """
SELECT c.*, d.name, d.artist_name
FROM music_tm.chart_as_of(%s, %s) c
LEFT JOIN LATERAL music_tm.track_detail(c.track_id) d ON true
ORDER BY c.rank"""


def render_chart(heading, day, time_range, form):
    rows = query(CHART_SQL, (day, time_range))
    return render_template("chart.html", heading=heading, rows=rows, range=time_range,
                           ranges=RANGES, form=form)


@app.route("/")
def today():
    """Today's chart: the latest one on or before today."""
    r = arg_range()
    return render_chart("Today's chart", datetime.date.today(), r, {})


@app.route("/chart")
def chart():
    r = arg_range()
    day = arg_date("date", datetime.date.today())
    return render_chart(f"Chart as of {day}", day, r, {"date": day})


@app.route("/track/<track_id>")
def track(track_id):
    r = arg_range()
    detail = query("SELECT * FROM music_tm.track_detail(%s)", (track_id,))
    history = query("SELECT * FROM music_tm.rank_history(%s, %s)", (track_id, r))
    stats = query("SELECT * FROM music_tm.run_stats(%s, %s)", (track_id, r))
    svg = query("SELECT music_tm.run_svg(%s, %s) AS svg", (track_id, r))[0]["svg"]
    if not detail and not history:
        abort(404)
    # run_svg escapes every text it draws: its markup is safe to inline
    return render_template("track.html", track_id=track_id, detail=detail[0] if detail else None,
                           history=history, stats=stats[0] if stats else None,
                           svg=Markup(svg) if svg else None, range=r, ranges=RANGES)


@app.route("/diff")
def diff():
    r = arg_range()
    to_day = arg_date("to", datetime.date.today())
    from_day = arg_date("from", to_day - datetime.timedelta(days=7))
    rows = query("""
        SELECT x.*, d.name
        FROM music_tm.chart_diff(%s, %s, %s) WITH ORDINALITY x
        LEFT JOIN LATERAL music_tm.track_detail(x.track_id) d ON true
        ORDER BY x.ordinality""", (from_day, to_day, r))
    return render_template("diff.html", rows=rows, range=r, ranges=RANGES,
                           form={"from": from_day, "to": to_day})
