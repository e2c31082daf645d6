-- music_tm demo: run by tools/demo.sh in a throwaway cluster.
\pset footer off
\pset null '∅'
SET client_min_messages = warning;

\echo
\echo '== CREATE EXTENSION music_tm'
CREATE EXTENSION music_tm;
\dx music_tm

-- the bundled sample: 28 days x 3 time ranges of GET /v1/me/top/tracks pages
-- (tools/gen_sample.py), one JSON line per page
CREATE TEMP TABLE sample (doc jsonb);
\copy sample FROM PROGRAM 'gzip -dc data/sample_pages.jsonl.gz' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')

\echo
\echo '== The sample: one page per day and time range, about 4 KB per track'
SELECT count(*) AS pages,
       min(doc->>'snapshot_date') AS first_day, max(doc->>'snapshot_date') AS last_day,
       sum(jsonb_array_length(doc->'page'->'items')) AS items,
       pg_size_pretty(sum(pg_column_size(doc))) AS jsonb_size
FROM sample;

\echo
\echo '== Store every track of every page with music_tm.save_track (the seed''s save_track)'
\echo '   A track already stored with identical JSON is "unchanged": no write at all.'
SELECT music_tm.save_track(item) AS result, count(*)
FROM sample, jsonb_array_elements(doc->'page'->'items') WITH ORDINALITY AS i(item, n)
WHERE item->>'id' IS NOT NULL
GROUP BY 1 ORDER BY 1;

\echo
\echo '== Record every chart entry with music_tm.save_snapshot_row; rank = offset + position'
\echo '   Local files (no Spotify id) are skipped; their rank stays empty.'
SELECT count(music_tm.save_snapshot_row(item->>'id', (doc->>'snapshot_date')::date,
                                        (doc->>'time_range')::music_tm.time_range,
                                        (doc->'page'->>'offset')::int + n::int)) AS entries,
       (SELECT count(*) FROM sample, jsonb_array_elements(doc->'page'->'items') it
        WHERE it->>'id' IS NULL) AS skipped_local_files
FROM sample, jsonb_array_elements(doc->'page'->'items') WITH ORDINALITY AS i(item, n)
WHERE item->>'id' IS NOT NULL;

SELECT (SELECT count(*) FROM music_tm.tracks) AS tracks,
       (SELECT count(*) FROM music_tm.charts) AS charts,
       (SELECT count(*) FROM music_tm.chart_entries) AS chart_entries,
       pg_size_pretty(pg_total_relation_size('music_tm.tracks')) AS tracks_size,
       (SELECT attcompression FROM pg_attribute
        WHERE attrelid = 'music_tm.tracks'::regclass AND attname = 'raw_json') AS raw_json_compression;

\echo
\echo '== The latest short_term chart, top 10, with music_tm.track_detail (the seed''s get_track_detail)'
SELECT e.rank, d.name, d.artist_name, d.album_name, d.release_date, d.release_date_precision, d.isrc
FROM music_tm.chart_entries e
CROSS JOIN LATERAL music_tm.track_detail(e.track_id) d
WHERE e.listener = 'default' AND e.time_range = 'short_term'
  AND e.snapshot_date = (SELECT max(snapshot_date) FROM music_tm.charts WHERE time_range = 'short_term')
  AND e.rank <= 10
ORDER BY e.rank;

\echo
\echo '== One track''s run in the short_term chart: the track that moved most (∅: not charted)'
WITH top AS (
    SELECT track_id FROM music_tm.chart_entries
    WHERE time_range = 'short_term'
    GROUP BY track_id ORDER BY count(DISTINCT rank) DESC, track_id LIMIT 1)
SELECT c.snapshot_date, e.rank, t.name
FROM top
JOIN music_tm.tracks t USING (track_id)
CROSS JOIN music_tm.charts c
LEFT JOIN music_tm.chart_entries e
       ON (e.listener, e.time_range, e.snapshot_date, e.track_id)
        = (c.listener, c.time_range, c.snapshot_date, top.track_id)
WHERE c.time_range = 'short_term'
ORDER BY c.snapshot_date;

\echo
\echo '== Typed accessors: release dates of every precision, ''0000'' as NULL; relinked tracks keep one canonical id'
SELECT music_tm.release_date_precision(raw_json) AS precision, count(*),
       min(music_tm.release_date(raw_json)) AS earliest, max(music_tm.release_date(raw_json)) AS latest
FROM music_tm.tracks GROUP BY 1 ORDER BY 1;
SELECT (f).id, (f).canonical_id, (f).first_artist, (f).release_date, (f).cover_url IS NOT NULL AS has_cover,
       (f).playable AS playable_in_se
FROM (SELECT music_tm.track_fields(raw_json, 'SE') AS f FROM music_tm.tracks
      WHERE music_tm.canonical_id(raw_json) <> track_id OFFSET 0) s
ORDER BY (f).canonical_id, (f).id;

\echo
\echo '== Replaying the whole sample changes nothing: same row versions, same timestamps'
CREATE TEMP TABLE versions AS
SELECT track_id, xmin::text AS version, updated_at FROM music_tm.tracks;
SELECT music_tm.save_track(item) AS replay_result, count(*)
FROM sample, jsonb_array_elements(doc->'page'->'items') item
WHERE item->>'id' IS NOT NULL
GROUP BY 1;
SELECT count(*) FILTER (WHERE t.xmin::text = v.version AND t.updated_at = v.updated_at) AS rows_untouched,
       count(*) FILTER (WHERE t.xmin::text <> v.version) AS rows_rewritten
FROM music_tm.tracks t JOIN versions v USING (track_id);

\echo
\echo '== A bad payload is rejected with a clear error, and nothing is written'
\set ON_ERROR_STOP 0
SELECT music_tm.save_track('{"id": "x1", "name": "Broken", "duration_ms": "3:45"}');
\set ON_ERROR_STOP 1
SELECT count(*) AS tracks_named_x1 FROM music_tm.tracks WHERE track_id = 'x1';
