-- Smoke test of the installed package, run by tools/package-test.sh as an
-- ordinary role that holds music_tm_writer.  Each check prints "name|t".
\set page '{"offset": 0, "items": [{"id": "s1", "name": "First", "duration_ms": 200000, "artists": [{"id": "a1", "name": "Ada"}], "external_ids": {"isrc": "QZ0000000001"}, "album": {"name": "Smoke", "release_date": "2024-03-01", "release_date_precision": "day"}}, {"id": "s2", "name": "Second", "artists": [{"id": "a2", "name": "Bo"}]}]}'

SELECT 'not a superuser', NOT rolsuper FROM pg_roles WHERE rolname = current_user;

-- snapshot upsert
SELECT 'record_top_tracks', tracks_inserted = 2 AND entries_inserted = 2
FROM music_tm.record_top_tracks('short_term', :'page', '2026-01-01');
SELECT 'record_top_tracks again', tracks_unchanged = 2 AND entries_unchanged = 2
FROM music_tm.record_top_tracks('short_term', :'page', '2026-01-01');
SELECT 'record_top_tracks next day', entries_inserted = 2
FROM music_tm.record_top_tracks('short_term', '[{"id": "s2", "name": "Second", "artists": [{"id": "a2", "name": "Bo"}]}, {"id": "s1", "name": "First", "duration_ms": 200000, "artists": [{"id": "a1", "name": "Ada"}], "external_ids": {"isrc": "QZ0000000001"}, "album": {"name": "Smoke", "release_date": "2024-03-01", "release_date_precision": "day"}}]', '2026-01-02');
SELECT 'save_track', music_tm.save_track('{"id": "s3", "name": "Third"}') = 'inserted';

-- a rejected payload: a specific SQLSTATE, nothing written
CREATE TEMP TABLE rejected (ok boolean);
DO $$
BEGIN
    PERFORM music_tm.record_top_tracks('long_term', '{"items": [{"id": "x"}]}', '2026-01-01');
    INSERT INTO rejected VALUES (false);
EXCEPTION WHEN invalid_parameter_value THEN
    INSERT INTO rejected VALUES (true);
END $$;
SELECT 'bad payload rejected', ok FROM rejected;

-- rank history
SELECT 'chart_as_of', array_agg(track_id ORDER BY rank) = '{s2,s1}'
FROM music_tm.chart_as_of('2026-01-05', 'short_term');
SELECT 'rank_history', array_agg(rank ORDER BY snapshot_date) = '{1,2}'
FROM music_tm.rank_history('s1', 'short_term');
SELECT 'run_stats', peak = 1 AND periods_on_chart = 2 FROM music_tm.run_stats('s1', 'short_term');
SELECT 'chart_diff', count(*) = 2 FROM music_tm.chart_diff('2026-01-01', '2026-01-02', 'short_term');
SELECT 'sparkline', music_tm.sparkline('s1', 'short_term') IS NOT NULL;
SELECT 'run_svg', music_tm.run_svg('s1', 'short_term') LIKE '<svg%';

-- JSONB extraction
SELECT 'isrc', music_tm.isrc(:'page'::jsonb -> 'items' -> 0) = 'QZ0000000001';
SELECT 'release_date', music_tm.release_date(:'page'::jsonb -> 'items' -> 0) = '2024-03-01';
SELECT 'track_fields', (f).name = 'First' AND (f).artist_names = '{Ada}' AND (f).duration_ms = 200000
FROM (SELECT music_tm.track_fields(:'page'::jsonb -> 'items' -> 0) AS f) t;
