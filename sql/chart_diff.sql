-- chart_diff and chart_churn: entered, exited, moved; Jaccard overlap and
-- Spearman's footrule over the shared tracks.
SET datestyle = ISO;
TRUNCATE music_tm.tracks, music_tm.charts;
SELECT count(music_tm.save_track(jsonb_build_object('id', 't' || i, 'name', 'T' || i)))
FROM generate_series(1, 6) i;
SELECT count(music_tm.save_snapshot_row(t, d::date, 'short_term', r)) FROM (VALUES
  ('t1', '2026-04-01', 1), ('t2', '2026-04-01', 2), ('t3', '2026-04-01', 3), ('t4', '2026-04-01', 4),
  ('t4', '2026-04-08', 1), ('t3', '2026-04-08', 2), ('t2', '2026-04-08', 3), ('t5', '2026-04-08', 4),
  -- ranks 3 and 4 empty (local files)
  ('t4', '2026-04-15', 1), ('t3', '2026-04-15', 2), ('t6', '2026-04-15', 5)) v(t, d, r);

-- t1 left, t5 came in, the three others reversed their order:
-- Jaccard 3/5 = 0.6; footrule |1-3| + |2-2| + |3-1| = 4 of at most floor(9/2) = 4
SELECT * FROM music_tm.chart_diff('2026-04-01', '2026-04-08', 'short_term');
SELECT * FROM music_tm.chart_churn('2026-04-01', '2026-04-08', 'short_term');

-- dates between charts use the chart as of each date (1 and 15 April):
-- Jaccard 2/5 = 0.4; t3 and t4 swapped: footrule 2 of at most 2
SELECT * FROM music_tm.chart_diff('2026-04-03', '2026-04-20', 'short_term');
SELECT * FROM music_tm.chart_churn('2026-04-03', '2026-04-20', 'short_term');

-- both dates on the same chart: nothing moved
SELECT * FROM music_tm.chart_diff('2026-04-08', '2026-04-09', 'short_term');
SELECT * FROM music_tm.chart_churn('2026-04-08', '2026-04-09', 'short_term');

-- before the first chart: everything entered, no shared tracks
SELECT * FROM music_tm.chart_diff('2026-03-01', '2026-04-01', 'short_term');
SELECT * FROM music_tm.chart_churn('2026-03-01', '2026-04-01', 'short_term');

-- no chart at all: no rows
SELECT count(*) FROM music_tm.chart_diff('2026-03-01', '2026-03-02', 'short_term');
SELECT count(*) FROM music_tm.chart_churn('2026-04-01', '2026-04-08', 'long_term');

-- a rank holds one track (2.0): a second track put at a taken rank replaces
-- the first, so ties cannot happen (in 1.x they could, through
-- save_snapshot_row)
SELECT count(music_tm.save_snapshot_row(t, d::date, 'short_term', r, 'ties')) FROM (VALUES
  ('t1', '2026-04-01', 1), ('t3', '2026-04-01', 2), ('t2', '2026-04-01', 2),
  ('t2', '2026-04-02', 1), ('t1', '2026-04-02', 1), ('t3', '2026-04-02', 3)) v(t, d, r);
SELECT * FROM music_tm.chart_diff('2026-04-01', '2026-04-02', 'short_term', 'ties');
SELECT jaccard, footrule FROM music_tm.chart_churn('2026-04-01', '2026-04-02', 'short_term', 'ties');
SELECT rank, track_id, status FROM music_tm.chart_as_of('2026-04-02', 'short_term', 'ties');
SELECT snapshot_date, track_ids FROM music_tm.charts WHERE listener = 'ties' ORDER BY 1;
