-- Artist rollups: every artist credited on a track counts, matched by exact
-- id or exact name.
SET datestyle = ISO;
TRUNCATE music_tm.tracks, music_tm.charts;
SELECT music_tm.save_track('{"id": "x1", "name": "Duet", "artists": [{"id": "a1", "name": "A"}, {"id": "b1", "name": "B"}]}');
SELECT music_tm.save_track('{"id": "x2", "name": "B solo", "artists": [{"id": "b1", "name": "B"}]}');
SELECT music_tm.save_track('{"id": "x3", "name": "C solo", "artists": [{"id": "c1", "name": "C"}]}');
SELECT music_tm.save_track('{"id": "x4", "name": "No artists"}');
SELECT music_tm.save_track('{"id": "x5", "name": "A again, no id", "artists": [{"name": "A"}]}');
SELECT count(music_tm.save_snapshot_row(t, d::date, 'short_term', r, l)) FROM (VALUES
  ('x1', '2026-05-01', 1, 'default'), ('x3', '2026-05-01', 2, 'default'), ('x2', '2026-05-01', 3, 'default'),
  ('x3', '2026-05-02', 1, 'default'), ('x2', '2026-05-02', 2, 'default'),
  ('x2', '2026-05-03', 1, 'default'), ('x4', '2026-05-03', 2, 'default'),
  ('x5', '2026-05-04', 1, 'default'), ('x1', '2026-05-04', 2, 'default'),
  ('x1', '2026-05-09', 1, 'bob')) v(t, d, r, l);

-- B by name: x1 (second credit) and x2, on every chart
SELECT * FROM music_tm.artist_history('B', 'short_term');
SELECT * FROM music_tm.artist_run_stats('B', 'short_term');
-- the same artist by id
SELECT * FROM music_tm.artist_history('b1', 'short_term');
-- A by name: x1 and x5 (credited by name only); absent on 2 and 3 May
SELECT * FROM music_tm.artist_history('A', 'short_term');
SELECT * FROM music_tm.artist_run_stats('A', 'short_term');
-- A by id: x1 only
SELECT * FROM music_tm.artist_history('a1', 'short_term');
-- C: debut 1 May, gone after 2 May: current streak 0
SELECT * FROM music_tm.artist_run_stats('c1', 'short_term');
-- names are exact; another listener is separate; unknown: empty
SELECT count(*) FROM music_tm.artist_history('b', 'short_term');
SELECT * FROM music_tm.artist_history('A', 'short_term', 'bob');
SELECT count(*) FROM music_tm.artist_run_stats('Nobody', 'short_term');
-- tracks_charted counts the artist's tracks this series charted: x2 is B's
-- too, but bob's chart never held it
SELECT artist, tracks_charted, periods_on_chart FROM music_tm.artist_run_stats('B', 'short_term', 'bob');
-- an artist whose stored tracks never charted in the series: no row
SELECT music_tm.save_track('{"id": "x6", "name": "D unheard", "artists": [{"id": "d1", "name": "D"}]}');
SELECT count(*) FROM music_tm.artist_history('D', 'short_term');
SELECT count(*) FROM music_tm.artist_run_stats('d1', 'short_term');

-- a prolific artist (more tracks than the short linear search takes: a
-- binary search) and
-- charts whose tracks move between ranks from day to day: the counts and
-- best ranks agree with the same computed in SQL from chart_entries
SELECT count(music_tm.save_track(jsonb_build_object('id', 'p' || i, 'name', 'P' || i,
         'artists', jsonb_build_array(jsonb_build_object('id', 'prolific', 'name', 'Prolific')))))
FROM generate_series(1, 30) i;
SELECT count(*) FROM (
  SELECT music_tm.record_top_tracks('medium_term',
           (SELECT jsonb_agg(CASE WHEN (i + d) % 3 = 0
                                  THEN jsonb_build_object('id', 'x' || (i % 5 + 1), 'name', 'X')
                                  ELSE (SELECT raw_json FROM music_tm.tracks
                                        WHERE track_id = 'p' || ((i * 7 + d) % 30 + 1)) END ORDER BY i)
            FROM generate_series(1, 25) i),
           date '2026-06-01' + d, 'prolific_fan')
  FROM generate_series(0, 9) d) r;
WITH mine AS (
  SELECT e.snapshot_date, count(*) AS tracks, min(e.rank) AS best_rank
  FROM music_tm.chart_entries e
  WHERE e.listener = 'prolific_fan' AND e.time_range = 'medium_term' AND e.track_id LIKE 'p%'
  GROUP BY e.snapshot_date)
SELECT count(*) AS snapshots,
       count(*) FILTER (WHERE (h.tracks, h.best_rank) IS DISTINCT FROM (m.tracks, m.best_rank)) AS different
FROM music_tm.artist_history('prolific', 'medium_term', 'prolific_fan') h
FULL JOIN mine m USING (snapshot_date);
SELECT tracks_charted, periods_on_chart, peak FROM music_tm.artist_run_stats('Prolific', 'medium_term', 'prolific_fan');
