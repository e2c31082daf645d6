-- Integrity without a foreign key per entry (2.0): a chart names stored
-- tracks only; deleting, renaming or truncating away a charted track fails
-- with 23503 naming a chart; deleting a chart is plain; check_charts() finds
-- what manual edits broke; the view chart_entries is read-only.
SET datestyle = ISO;
TRUNCATE music_tm.tracks, music_tm.charts;
\set VERBOSITY default

SELECT chart FROM music_tm.record_top_tracks('short_term', '[
  {"id": "i1", "name": "One"}, {"id": "i2p", "name": "Two", "linked_from": {"id": "i2"}},
  {"id": "i3", "name": "Three"}]', '2026-05-01', 'ivy');
SELECT chart FROM music_tm.record_top_tracks('long_term', '[{"id": "i3", "name": "Three"}]',
  '2026-05-02', 'ivy');
SELECT music_tm.save_track('{"id": "i4", "name": "Four, never charted"}');

-- a charted track cannot be deleted; the error names a chart that has it
DELETE FROM music_tm.tracks WHERE track_id = 'i2';
DELETE FROM music_tm.tracks WHERE track_id IN ('i4', 'i3');
-- an uncharted one can, and the statement above deleted nothing
SELECT track_id FROM music_tm.tracks ORDER BY 1;
DELETE FROM music_tm.tracks WHERE track_id = 'i4';
-- nor renamed; other updates of it are fine
UPDATE music_tm.tracks SET track_id = 'i1-renamed' WHERE track_id = 'i1';
UPDATE music_tm.tracks SET name = 'One (remastered)' WHERE track_id = 'i1';
-- nor truncated away alone; with the charts it goes
TRUNCATE music_tm.tracks;
SELECT count(*) AS tracks FROM music_tm.tracks;

-- deleting a chart is plain; then its tracks may go
DELETE FROM music_tm.charts WHERE listener = 'ivy' AND time_range = 'long_term';
DELETE FROM music_tm.tracks WHERE track_id = 'i3';
DELETE FROM music_tm.charts WHERE listener = 'ivy';
DELETE FROM music_tm.tracks WHERE track_id IN ('i1', 'i2', 'i3');
SELECT count(*) AS tracks, (SELECT count(*) FROM music_tm.charts) AS charts FROM music_tm.tracks;

-- no function charts a track that is not stored
SELECT music_tm.save_snapshot_row('nowhere', '2026-05-03', 'short_term', 1, 'ivy');
SELECT count(*) AS charts FROM music_tm.charts;

-- check_charts: nothing wrong, then what manual edits of music_tm.charts broke
SELECT music_tm.save_track('{"id": "k1", "name": "K1"}');
SELECT music_tm.save_snapshot_row('k1', '2026-05-04', 'short_term', 1, 'kim');
SELECT * FROM music_tm.check_charts();
INSERT INTO music_tm.charts (listener, time_range, snapshot_date, recorded_at, track_ids)
VALUES ('kim', 'short_term', '2026-05-05', now(), '{k1,ghost,NULL,k1}');
SELECT * FROM music_tm.check_charts();
DELETE FROM music_tm.charts WHERE snapshot_date = '2026-05-05';

-- the chart row's form is checked: rank 1 first, no trailing empty rank, no
-- empty id, at most 1000 ranks, playable ids aligned
\set VERBOSITY terse
INSERT INTO music_tm.charts VALUES ('kim', 'short_term', '2026-05-06', now(), '[0:0]={k1}');
INSERT INTO music_tm.charts VALUES ('kim', 'short_term', '2026-05-06', now(), '{k1,NULL}');
INSERT INTO music_tm.charts VALUES ('kim', 'short_term', '2026-05-06', now(), '{""}');
INSERT INTO music_tm.charts VALUES ('kim', 'short_term', '2026-05-06', now(),
  array_fill('k1'::text, ARRAY[1001]));
INSERT INTO music_tm.charts VALUES ('kim', 'short_term', '2026-05-06', now(), '{k1}', '{p1,p2}');
INSERT INTO music_tm.charts VALUES ('kim', 'short_term', '2026-05-06', now(), '{{k1}}');
SELECT count(*) AS charts FROM music_tm.charts;
\set VERBOSITY default

-- the view of 1.x reads the rows, and refuses writes with the way to do it
SELECT * FROM music_tm.chart_entries ORDER BY listener, snapshot_date, rank;
INSERT INTO music_tm.chart_entries VALUES ('kim', 'short_term', '2026-05-07', 'k1', 1, NULL);
UPDATE music_tm.chart_entries SET rank = 2;
DELETE FROM music_tm.chart_entries;
\set VERBOSITY terse
