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
