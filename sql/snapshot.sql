-- save_snapshot_row: idempotent chart entries, rank updated on conflict;
-- a rank holds one track (2.0).
TRUNCATE music_tm.tracks, music_tm.charts;

SELECT music_tm.save_track('{"id": "t1", "name": "One"}');
SELECT music_tm.save_track('{"id": "t2", "name": "Two"}');

SELECT music_tm.save_snapshot_row('t1', '2026-03-01', 'short_term', 1);
SELECT music_tm.save_snapshot_row('t2', '2026-03-01', 'short_term', 2);
-- the same entry again: no new version of the chart's row
CREATE TEMP TABLE v AS SELECT xmin::text AS old_xmin, ctid AS old_ctid FROM music_tm.charts WHERE snapshot_date = '2026-03-01';
SELECT music_tm.save_snapshot_row('t1', '2026-03-01', 'short_term', 1);
SELECT c.xmin::text = v.old_xmin AND c.ctid = v.old_ctid AS untouched
FROM music_tm.charts c, v WHERE c.snapshot_date = '2026-03-01';
-- rank updated on conflict
SELECT music_tm.save_snapshot_row('t2', '2026-03-01', 'short_term', 5);
-- another range, another date, another listener
SELECT music_tm.save_snapshot_row('t1', '2026-03-01', 'long_term', 3);
SELECT music_tm.save_snapshot_row('t1', '2026-03-02', 'short_term', 2);
SELECT music_tm.save_snapshot_row('t2', '2026-03-01', 'short_term', 1, listener => 'alice');

SELECT listener, time_range, snapshot_date, track_id, rank
FROM music_tm.chart_entries ORDER BY listener, time_range, snapshot_date, rank;
SELECT listener, time_range, snapshot_date FROM music_tm.charts
ORDER BY listener, time_range, snapshot_date;

-- a track put at a rank another track holds takes its place
SELECT music_tm.save_snapshot_row('t2', '2026-03-02', 'short_term', 2);
SELECT track_ids FROM music_tm.charts WHERE listener = 'default' AND time_range = 'short_term' ORDER BY snapshot_date;
SELECT music_tm.save_snapshot_row('t1', '2026-03-02', 'short_term', 2);

-- with a month of charts, the view reads one chart, and one track's history,
-- through the primary key of charts
SELECT count(music_tm.save_track(jsonb_build_object('id', 'g' || i, 'name', 'G' || i)))
FROM generate_series(1, 40) i;
SELECT count(music_tm.save_snapshot_row('g' || ((i + d) % 40 + 1), '2026-02-01'::date + d,
                                        'short_term', i))
FROM generate_series(0, 29) d, generate_series(1, 30) i;
ANALYZE music_tm.charts;
EXPLAIN (COSTS OFF)
SELECT rank, track_id FROM music_tm.chart_entries
WHERE listener = 'default' AND time_range = 'short_term' AND snapshot_date = '2026-03-01'
ORDER BY rank;
EXPLAIN (COSTS OFF)
SELECT snapshot_date, rank FROM music_tm.chart_entries
WHERE listener = 'default' AND time_range = 'short_term' AND track_id = 'g7'
ORDER BY snapshot_date;

-- deleting a chart removes its entries
DELETE FROM music_tm.charts WHERE listener = 'alice';
SELECT count(*) FROM music_tm.chart_entries WHERE listener = 'alice';
