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
\echo '== Record every page with music_tm.record_top_tracks: one call per page'
\echo '   Tracks already stored with identical JSON cost a read and no write; local files are'
\echo '   skipped and their rank stays empty; relinked tracks are charted under linked_from.id.'
CREATE TEMP TABLE recorded AS
SELECT k.snapshot_date, k.time_range, r.*
FROM (SELECT doc FROM sample ORDER BY doc->>'snapshot_date', doc->>'time_range') s,
     LATERAL (SELECT (doc->>'snapshot_date')::date AS snapshot_date,
                     (doc->>'time_range')::music_tm.time_range AS time_range) k,
     LATERAL music_tm.record_top_tracks(k.time_range, doc->'page', k.snapshot_date) r;
SELECT count(*) AS calls, sum(tracks_inserted) AS tracks_inserted, sum(tracks_updated) AS tracks_updated,
       sum(tracks_unchanged) AS tracks_unchanged, sum(entries_inserted) AS entries_inserted,
       sum(items_skipped) AS items_skipped
FROM recorded;
SELECT snapshot_date, time_range, skipped FROM recorded WHERE items_skipped > 0 ORDER BY 1;

SELECT (SELECT count(*) FROM music_tm.tracks) AS tracks,
       (SELECT count(*) FROM music_tm.charts) AS charts,
       (SELECT count(*) FROM music_tm.chart_entries) AS chart_entries,
       pg_size_pretty(pg_total_relation_size('music_tm.tracks')) AS tracks_size,
       pg_size_pretty(pg_total_relation_size('music_tm.charts')) AS charts_size,
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
\echo '== Typed accessors: release dates of every precision, ''0000'' as NULL; relinked tracks are stored under their canonical id'
SELECT music_tm.release_date_precision(raw_json) AS precision, count(*),
       min(music_tm.release_date(raw_json)) AS earliest, max(music_tm.release_date(raw_json)) AS latest
FROM music_tm.tracks GROUP BY 1 ORDER BY 1;
SELECT (f).id, (f).canonical_id, (f).first_artist, (f).release_date, (f).cover_url IS NOT NULL AS has_cover,
       (f).playable AS playable_in_se
FROM (SELECT music_tm.track_fields(raw_json, 'SE') AS f FROM music_tm.tracks
      WHERE raw_json->>'id' <> track_id OFFSET 0) s
ORDER BY (f).canonical_id, (f).id;

\echo
\echo '== Recording the last day''s pages again writes nothing: same row versions, same timestamps'
CREATE TEMP TABLE versions AS
SELECT track_id, xmin::text AS version, updated_at FROM music_tm.tracks;
SELECT sum(r.tracks_unchanged) AS tracks_unchanged,
       sum(r.tracks_inserted + r.tracks_updated) AS tracks_written,
       sum(r.entries_unchanged) AS entries_unchanged,
       sum(r.entries_inserted + r.entries_updated + r.entries_removed) AS entries_written
FROM sample,
     LATERAL music_tm.record_top_tracks((doc->>'time_range')::music_tm.time_range, doc->'page',
                                        (doc->>'snapshot_date')::date) r
WHERE doc->>'snapshot_date' = (SELECT max(doc->>'snapshot_date') FROM sample);
SELECT count(*) FILTER (WHERE t.xmin::text = v.version AND t.updated_at = v.updated_at) AS rows_untouched,
       count(*) FILTER (WHERE t.xmin::text <> v.version) AS rows_rewritten
FROM music_tm.tracks t JOIN versions v USING (track_id);

\echo
\echo '== A bad payload is rejected with a clear error, and nothing is written'
\set ON_ERROR_STOP 0
SELECT music_tm.record_top_tracks('short_term',
    '{"offset": 0, "items": [{"id": "x1", "name": "Fine"}, {"id": "x2", "name": "Broken", "duration_ms": "3:45"}]}');
\set ON_ERROR_STOP 1
SELECT count(*) AS tracks_x1_or_x2 FROM music_tm.tracks WHERE track_id IN ('x1', 'x2');

\echo
\echo '== Rank history: the short_term chart as of the middle of the sample (music_tm.chart_as_of)'
\echo '   Billboard columns computed from the snapshots up to that date only:'
\echo '   last position, movement (+ = up), status, peak, periods on chart, debut.'
SELECT min(snapshot_date) + (max(snapshot_date) - min(snapshot_date)) / 2 AS as_of
FROM music_tm.charts WHERE time_range = 'short_term' \gset
SELECT c.rank AS this, c.last_position AS last, c.movement AS move, c.status,
       c.peak, c.periods_on_chart AS periods, c.debut, t.name, t.artist_name
FROM music_tm.chart_as_of(:'as_of', 'short_term') c
JOIN music_tm.tracks t USING (track_id)
WHERE c.rank <= 15
ORDER BY c.rank;

\echo
\echo '== One track''s run (music_tm.rank_history): the short_term track with the most re-entries'
SELECT track_id AS run_track FROM (
    SELECT s.track_id, count(*) FILTER (WHERE h.status = 'RE-ENTRY') AS reentries,
           s.periods_on_chart
    FROM music_tm.all_run_stats('short_term') s,
         LATERAL music_tm.rank_history(s.track_id, 'short_term') h
    GROUP BY s.track_id, s.periods_on_chart
    ORDER BY reentries DESC, periods_on_chart DESC, s.track_id LIMIT 1) x \gset
SELECT name AS track, artist_name AS artist,
       music_tm.sparkline(:'run_track', 'short_term') AS sparkline
FROM music_tm.tracks WHERE track_id = :'run_track';
SELECT * FROM music_tm.rank_history(:'run_track', 'short_term');
SELECT debut, last_seen, peak, peak_date, periods_on_chart, periods_at_peak,
       longest_streak, current_streak
FROM music_tm.run_stats(:'run_track', 'short_term');
SELECT length(music_tm.run_svg(:'run_track', 'short_term')) AS svg_chars,
       xmlparse(DOCUMENT music_tm.run_svg(:'run_track', 'short_term')) IS DOCUMENT AS svg_parses;

\echo
\echo '== Chart diff: first short_term chart against the last (music_tm.chart_diff), top 12 of the last'
SELECT min(snapshot_date) AS first_day, max(snapshot_date) AS last_day
FROM music_tm.charts WHERE time_range = 'short_term' \gset
SELECT d.change, d.from_rank, d.to_rank, d.movement, t.name
FROM music_tm.chart_diff(:'first_day', :'last_day', 'short_term') d
JOIN music_tm.tracks t USING (track_id)
WHERE d.to_rank <= 12 OR (d.change = 'EXITED' AND d.from_rank <= 5)
ORDER BY d.to_rank NULLS LAST, d.from_rank;
SELECT * FROM music_tm.chart_churn(:'first_day', :'last_day', 'short_term');

\echo
\echo '== The five longest runs of the long_term chart (music_tm.all_run_stats), with sparklines'
SELECT s.longest_streak, s.periods_on_chart AS periods, s.peak, s.current_streak, t.name,
       music_tm.sparkline(s.track_id, 'long_term') AS sparkline
FROM music_tm.all_run_stats('long_term') s JOIN music_tm.tracks t USING (track_id)
ORDER BY s.longest_streak DESC, s.peak, s.track_id LIMIT 5;

\echo
\echo '== The artist with the most charted short_term tracks (music_tm.artist_run_stats)'
SELECT a->>'name' AS top_artist
FROM music_tm.tracks t
JOIN (SELECT DISTINCT track_id FROM music_tm.chart_entries WHERE time_range = 'short_term') e USING (track_id),
     jsonb_array_elements(t.raw_json->'artists') a
GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1 \gset
SELECT * FROM music_tm.artist_run_stats(:'top_artist', 'short_term');
SELECT snapshot_date, tracks, best_rank FROM music_tm.artist_history(:'top_artist', 'short_term')
ORDER BY snapshot_date DESC LIMIT 5;

\echo
\echo '== Listening history: a generated data export (tools/gen_history.py), one call per file'
\echo '   endsong_*.json (older generation), Streaming_History_Audio_*.json, the account data;'
\echo '   skips, plays under 30 s, episodes, audiobooks, rows without metadata, offline plays'
CREATE TEMP TABLE history (doc jsonb);
\copy history FROM PROGRAM 'python3 tools/gen_history.py --jsonl' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
SELECT doc->>'file' AS file, r.format, r.entries, r.plays_inserted, r.plays_matched, r.plays_unchanged,
       r.episodes, r.audiobooks, r.without_track, r.unmatched
FROM (SELECT doc FROM history ORDER BY doc->>'file' LIKE 'StreamingHistory%', doc->'entries'->0->>'ts') h,
     LATERAL music_tm.import_streaming_history(h.doc->'entries', 'demo') r;

\echo
\echo '== The newest extended file imported again: nothing written'
SELECT r.entries, r.plays_inserted, r.plays_unchanged
FROM (SELECT doc FROM history WHERE doc->>'file' LIKE 'Streaming_History_Audio%'
      ORDER BY doc->>'file' DESC LIMIT 1) h,
     LATERAL music_tm.import_streaming_history(h.doc->'entries', 'demo') r;

\echo
\echo '== A weekly chart from plays (music_tm.chart_as_of on the plays_week series), top 10'
SELECT max(snapshot_date) - 70 AS week_day FROM music_tm.charts
WHERE listener = 'demo' AND time_range = 'plays_week' \gset
SELECT c.snapshot_date AS week, c.rank, c.status, c.last_position, c.peak, c.periods_on_chart AS weeks, t.name, t.artist_name
FROM music_tm.chart_as_of(:'week_day', 'plays_week', 'demo') c JOIN music_tm.tracks t USING (track_id)
WHERE c.rank <= 10 ORDER BY c.rank;

\echo
\echo '== That week''s number one: its run on the weekly chart, and its sparkline'
SELECT track_id AS no1 FROM music_tm.chart_as_of(:'week_day', 'plays_week', 'demo') WHERE rank = 1 \gset
SELECT track_id, debut, peak, peak_date, periods_on_chart AS weeks, periods_at_no1 AS weeks_at_no1, longest_streak
FROM music_tm.run_stats(:'no1', 'plays_week', 'demo');
SELECT music_tm.sparkline(:'no1', 'plays_week', 'demo') AS weekly_sparkline;

\echo
\echo '== Top artists of 2022 (music_tm.top_artists)'
SELECT * FROM music_tm.top_artists('demo', '2022-01-01', '2023-01-01', 5);

\echo
\echo '== On this day: what was played on the last listen''s date in earlier years (music_tm.on_this_day)'
SELECT (max(ended_at) AT TIME ZONE 'UTC')::date AS last_day FROM music_tm.plays WHERE listener = 'demo' \gset
SELECT year, to_char(ended_at AT TIME ZONE 'UTC', 'HH24:MI') AS at_utc, name, artist_name, ms_played
FROM music_tm.on_this_day('demo', :'last_day') ORDER BY ended_at LIMIT 10;
