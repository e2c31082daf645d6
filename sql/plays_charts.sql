-- Charts from plays: weekly and monthly charts of a listener's own listens,
-- stored as four more chart series (plays_week, plays_month by song;
-- plays_week_track, plays_month_track by track), read by every history
-- function, kept current by every call that writes listens, and equal to a
-- full rebuild.
TRUNCATE music_tm.plays, music_tm.unmatched_plays, music_tm.tracks, music_tm.charts;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.ex(listener text, VARIADIC e text[]) RETURNS bigint LANGUAGE sql AS $$
    -- entries: 'track@ts@ms_played'
    SELECT plays_inserted + plays_matched
    FROM music_tm.import_streaming_history((
        SELECT jsonb_agg(jsonb_build_object(
                 'ts', split_part(x, '@', 2), 'ms_played', split_part(x, '@', 3)::int,
                 'spotify_track_uri', 'spotify:track:' || split_part(x, '@', 1),
                 'master_metadata_track_name', 'Song ' || split_part(x, '@', 1),
                 'master_metadata_album_artist_name', 'Artist ' || upper(left(split_part(x, '@', 1), 1))))
        FROM unnest(e) x), listener)
$$;
CREATE FUNCTION pg_temp.chart(l text, rng music_tm.time_range, d date) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT array_to_string(track_ids, ' ', '-') FROM music_tm.charts
                     WHERE listener = l AND time_range = rng AND snapshot_date = d), '(no chart)')
$$;
-- every chart from plays of a listener with its tallies, for comparisons
CREATE FUNCTION pg_temp.tallied(l text) RETURNS TABLE (time_range music_tm.time_range, snapshot_date date,
                                                       tracks text[], plays integer[], ms bigint[], firsts timestamptz[])
LANGUAGE sql AS $$
    SELECT time_range, snapshot_date, track_ids, play_counts, play_ms, first_played FROM music_tm.charts
    WHERE listener = l AND time_range >= 'plays_week'
$$;
CREATE FUNCTION pg_temp.all_charts(l text) RETURNS TABLE (time_range music_tm.time_range, snapshot_date date, tracks text)
LANGUAGE sql AS $$
    SELECT time_range, snapshot_date, array_to_string(track_ids, ' ', '-') FROM music_tm.charts
    WHERE listener = l AND time_range >= 'plays_week' ORDER BY 1, 2
$$;

-- 1. ranking: plays of 30 s or more count; ties by milliseconds, then by
--    the first play.  Week of Monday 2026-01-05 (UTC):
--    a: 2 plays; b: 2 plays, more ms; c: 1 play + 3 skips; d: 1 play, same
--    ms as e, earlier; e: 1 play; f: only skips (not charted)
SELECT pg_temp.ex('ana',
  'a@2026-01-05T10:00:00Z@200000', 'a@2026-01-06T10:00:00Z@200000',
  'b@2026-01-05T11:00:00Z@210000', 'b@2026-01-07T11:00:00Z@210000',
  'c@2026-01-05T12:00:00Z@31000', 'c@2026-01-05T12:01:00Z@29999', 'c@2026-01-05T12:02:00Z@5000', 'c@2026-01-05T12:03:00Z@0',
  'e@2026-01-08T09:00:00Z@180000', 'd@2026-01-08T08:00:00Z@180000',
  'f@2026-01-09T09:00:00Z@10000', 'f@2026-01-09T10:00:00Z@20000');
SELECT * FROM pg_temp.all_charts('ana');

-- 2. the weeks follow ISO weeks in UTC: Sunday 23:59:59 is the old week,
--    Monday 00:00 the new one; months by calendar month
SELECT pg_temp.ex('ana', 'g@2026-01-11T23:59:59Z@200000', 'h@2026-01-12T00:00:00Z@200000',
                         'h@2026-01-31T23:59:59Z@200000', 'g@2026-02-01T00:00:00Z@200000');
SELECT * FROM pg_temp.all_charts('ana');

-- 3. every history function reads them
SELECT * FROM music_tm.chart_as_of('2026-01-07', 'plays_week', 'ana');
SELECT * FROM music_tm.rank_history('h', 'plays_week', 'ana');
SELECT track_id, debut, peak, periods_on_chart FROM music_tm.run_stats('b', 'plays_week', 'ana');
SELECT * FROM music_tm.chart_diff('2026-01-05', '2026-01-12', 'plays_week', 'ana');
SELECT music_tm.sparkline('g', 'plays_week', 'ana');
SELECT snapshot_date, tracks, best_rank FROM music_tm.artist_history('Artist G', 'plays_month', 'ana');

-- 4. a replay writes nothing, charts included
CREATE TABLE pg_temp.before AS SELECT xmin::text AS x, ctid AS tid FROM music_tm.charts;
SELECT pg_temp.ex('ana', 'g@2026-01-11T23:59:59Z@200000', 'h@2026-01-12T00:00:00Z@200000',
                         'h@2026-01-31T23:59:59Z@200000', 'g@2026-02-01T00:00:00Z@200000');
SELECT count(*) AS charts_rewritten FROM music_tm.charts c
WHERE NOT EXISTS (SELECT FROM pg_temp.before b WHERE b.x = c.xmin::text AND b.tid = c.ctid);

-- 5. songs: two ids of one recording (one ISRC) count together, charted
--    under the smaller id; the track series keeps them apart
SELECT music_tm.save_track('{"id": "s1", "name": "Song", "artists": [{"name": "Artist S"}], "external_ids": {"isrc": "QZ0000000099"}}');
SELECT music_tm.save_track('{"id": "s2", "name": "Song (single)", "artists": [{"name": "Artist S"}], "external_ids": {"isrc": "QZ0000000099"}}');
SELECT pg_temp.ex('song', 's1@2026-03-02T10:00:00Z@200000', 's2@2026-03-02T11:00:00Z@200000',
                          's2@2026-03-03T11:00:00Z@200000', 't@2026-03-02T12:00:00Z@200000',
                          't@2026-03-03T12:00:00Z@200000', 't@2026-03-04T12:00:00Z@200000');
SELECT * FROM pg_temp.all_charts('song');

-- 6. recently-played listens count (it lists only listens of 30 s or
--    more); an export that says one was a skip takes it out of the chart
SELECT plays_inserted FROM music_tm.record_recently_played(
  '{"items": [{"played_at": "2026-04-06T10:00:00Z", "track": {"id": "r", "name": "R", "duration_ms": 200000}},
              {"played_at": "2026-04-06T11:00:00Z", "track": {"id": "q", "name": "Q", "duration_ms": 150000}}]}', 'rp');
SELECT pg_temp.chart('rp', 'plays_week', '2026-04-06');
SELECT pg_temp.ex('rp', 'q@2026-04-06T11:00:02Z@12000');
SELECT pg_temp.chart('rp', 'plays_week', '2026-04-06');

-- 7. a listen whose end an export moves into another week changes both
--    weeks: recently-played said Sunday 23:58:00 (the start), the export
--    says Monday 00:01:20; the old week, now without a listen, has no chart
SELECT plays_inserted FROM music_tm.record_recently_played(
  '{"items": [{"played_at": "2026-04-12T23:58:00Z", "track": {"id": "w", "name": "W", "duration_ms": 200000}}]}', 'move');
SELECT pg_temp.chart('move', 'plays_week', '2026-04-06') AS old_week, pg_temp.chart('move', 'plays_week', '2026-04-13') AS new_week;
SELECT pg_temp.ex('move', 'w@2026-04-13T00:01:20Z@200000');
SELECT pg_temp.chart('move', 'plays_week', '2026-04-06') AS old_week, pg_temp.chart('move', 'plays_week', '2026-04-13') AS new_week;

-- 8. incremental equals a full rebuild: files out of order, overlapping, a
--    backfill of an older year, polls and account data in between
SELECT pg_temp.ex('inc', 'k@2026-05-20T10:00:00Z@200000', 'l@2026-05-21T10:00:00Z@200000', 'k@2026-06-02T10:00:00Z@200000');
SELECT pg_temp.ex('inc', 'l@2026-05-11T10:00:00Z@200000', 'm@2026-05-12T10:00:00Z@20000', 'k@2026-05-20T10:00:00Z@200000');
SELECT pg_temp.ex('inc', 'm@2025-12-30T10:00:00Z@200000', 'k@2026-01-02T10:00:00Z@200000', 'l@2026-05-21T10:00:00Z@200000');
SELECT plays_inserted + plays_matched FROM music_tm.record_recently_played(
  '{"items": [{"played_at": "2026-06-02T09:56:40Z", "track": {"id": "k", "name": "Song k", "artists": [{"name": "Artist K"}]}},
              {"played_at": "2026-06-03T10:00:00Z", "track": {"id": "m", "name": "Song m", "artists": [{"name": "Artist M"}]}}]}', 'inc');
SELECT plays_inserted + plays_matched FROM music_tm.import_streaming_history(
  '[{"endTime": "2026-06-03 10:00", "artistName": "Artist M", "trackName": "Song m", "msPlayed": 200000},
    {"endTime": "2026-06-04 10:00", "artistName": "Artist L", "trackName": "Song l", "msPlayed": 200000}]', 'inc');
SELECT pg_temp.ex('inc', 'm@2024-02-29T10:00:00Z@200000');
CREATE TABLE pg_temp.incremental AS SELECT * FROM pg_temp.tallied('inc');
SELECT count(*) AS charts FROM pg_temp.incremental;
SELECT music_tm.rebuild_play_charts('inc') AS periods;
SELECT count(*) AS differences FROM (
  (SELECT * FROM pg_temp.incremental EXCEPT ALL SELECT * FROM pg_temp.tallied('inc'))
  UNION ALL
  (SELECT * FROM pg_temp.tallied('inc') EXCEPT ALL SELECT * FROM pg_temp.incremental)) d;
-- and for every listener of this file
CREATE TABLE pg_temp.everything AS
SELECT listener, time_range, snapshot_date, track_ids, play_counts, play_ms, first_played
FROM music_tm.charts WHERE time_range >= 'plays_week';
SELECT sum(music_tm.rebuild_play_charts(l)) > 0 AS rebuilt FROM (SELECT DISTINCT listener AS l FROM music_tm.plays) s;
SELECT count(*) AS differences FROM (
  (SELECT * FROM pg_temp.everything
   EXCEPT ALL SELECT listener, time_range, snapshot_date, track_ids, play_counts, play_ms, first_played
              FROM music_tm.charts WHERE time_range >= 'plays_week')
  UNION ALL
  (SELECT listener, time_range, snapshot_date, track_ids, play_counts, play_ms, first_played
   FROM music_tm.charts WHERE time_range >= 'plays_week'
   EXCEPT ALL SELECT * FROM pg_temp.everything)) d;

-- 9. the top 100 only, and top-tracks charts untouched
SELECT pg_temp.ex('many', VARIADIC (SELECT array_agg('x' || g || '@2026-07-0' || (1 + g % 5) || 'T10:00:00Z@' || (40000 + g))
                                    FROM generate_series(1, 120) g));
SELECT time_range, cardinality(track_ids) FROM music_tm.charts WHERE listener = 'many' ORDER BY 1;
SELECT count(*) AS top_tracks_charts FROM music_tm.charts WHERE time_range < 'plays_week';

-- 10. a recording is charted under its smallest stored id, played or not,
--     and ids break exact ties at the 100th rank: 99 songs of two plays,
--     then one play each of the recording QZ0000000077 (played as tie_z,
--     also stored as tie_a) and of tie_m, at the same time for the same
--     milliseconds.  By song tie_a (the recording's id) takes rank 100; by
--     track tie_m does (before tie_z).
SELECT music_tm.save_track('{"id": "tie_a", "name": "Twin, never played", "external_ids": {"isrc": "QZ0000000077"}}');
SELECT music_tm.save_track('{"id": "tie_z", "name": "Twin", "external_ids": {"isrc": "QZ0000000077"}}');
SELECT pg_temp.ex('tie', VARIADIC (SELECT array_agg('top' || lpad(g::text, 2, '0') || '@'
                                     || to_char(timestamp '2026-08-03' + (2 * g + twice) * interval '10 minutes', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                     || '@200000')
                                   FROM generate_series(1, 99) g, generate_series(0, 1) twice)
                                || ARRAY['tie_z@2026-08-05T10:00:00Z@100000', 'tie_m@2026-08-05T10:00:00Z@100000']);
SELECT time_range, cardinality(track_ids), track_ids[99:100]
FROM music_tm.charts WHERE listener = 'tie' AND time_range IN ('plays_week', 'plays_week_track') ORDER BY 1;
CREATE TABLE pg_temp.tie AS SELECT * FROM pg_temp.tallied('tie');
SELECT music_tm.rebuild_play_charts('tie') AS periods;
SELECT count(*) AS differences FROM (
  (SELECT * FROM pg_temp.tie EXCEPT ALL SELECT * FROM pg_temp.tallied('tie'))
  UNION ALL
  (SELECT * FROM pg_temp.tallied('tie') EXCEPT ALL SELECT * FROM pg_temp.tie)) d;

-- 11. a poll that only adds listens updates each chart from its stored
--     tallies (play_counts, play_ms, first_played): the entries it holds
--     grow by the listens added, the songs it did not hold are counted
--     from the period's listens; a period without a chart yet, or a poll
--     that changes a stored track's ISRC or duration, counts the period
--     again.  Items: 'id@played_at@isrc@duration_ms'.
CREATE FUNCTION pg_temp.poll(l text, VARIADIC items text[]) RETURNS bigint LANGUAGE sql AS $$
    SELECT plays_inserted FROM music_tm.record_recently_played(jsonb_build_object('items', (
        SELECT jsonb_agg(jsonb_build_object('played_at', split_part(x, '@', 2),
                 'track', jsonb_build_object('id', split_part(x, '@', 1), 'name', 'Song ' || split_part(x, '@', 1),
                                             'duration_ms', split_part(x, '@', 4)::int)
                          || CASE WHEN split_part(x, '@', 3) = '' THEN '{}'::jsonb
                                  ELSE jsonb_build_object('external_ids', jsonb_build_object('isrc', split_part(x, '@', 3))) END))
        FROM unnest(items) x)), l)
$$;
-- a new week and month: counted
SELECT pg_temp.poll('add', 'pa@2026-09-07T10:00:00Z@QZ0000000011@200000', 'pb@2026-09-07T10:05:00Z@@180000',
                           'pc@2026-09-07T10:10:00Z@QZ0000000022@150000');
-- added to held songs (pa, and pd: another id of pa's recording), and a new song (pe)
SELECT pg_temp.poll('add', 'pa@2026-09-07T11:00:00Z@QZ0000000011@200000', 'pd@2026-09-07T11:05:00Z@QZ0000000011@210000',
                           'pe@2026-09-07T11:10:00Z@@100000', 'pb@2026-09-07T11:15:00Z@@180000');
SELECT time_range, track_ids, play_counts, play_ms FROM music_tm.charts
WHERE listener = 'add' AND time_range IN ('plays_week', 'plays_week_track') ORDER BY 1;
-- a poll that changes pb's duration: counted again
SELECT pg_temp.poll('add', 'pb@2026-09-07T12:00:00Z@@190000');
SELECT play_ms FROM music_tm.charts WHERE listener = 'add' AND time_range = 'plays_week_track';
-- a smaller id of the recording QZ0000000011 (0a): the song is charted under it
SELECT pg_temp.poll('add', '0a@2026-09-07T13:00:00Z@QZ0000000011@200000', 'pe@2026-09-07T13:05:00Z@@100000');
SELECT track_ids, play_counts FROM music_tm.charts WHERE listener = 'add' AND time_range = 'plays_week';
-- the next week (counted: no chart yet) in the same month (updated)
SELECT pg_temp.poll('add', 'pc@2026-09-14T10:00:00Z@QZ0000000022@150000', 'pf@2026-09-14T10:05:00Z@@120000');
CREATE TABLE pg_temp.added AS SELECT * FROM pg_temp.tallied('add');
SELECT count(*) AS charts FROM pg_temp.added;
SELECT music_tm.rebuild_play_charts('add') AS periods;
SELECT count(*) AS differences FROM (
  (SELECT * FROM pg_temp.added EXCEPT ALL SELECT * FROM pg_temp.tallied('add'))
  UNION ALL
  (SELECT * FROM pg_temp.tallied('add') EXCEPT ALL SELECT * FROM pg_temp.added)) d;
-- top-tracks charts have no tallies
SELECT count(*) AS tallied_top_tracks_charts FROM music_tm.charts
WHERE time_range < 'plays_week' AND (play_counts IS NOT NULL OR play_ms IS NOT NULL OR first_played IS NOT NULL);

SELECT music_tm.rebuild_play_charts(NULL);
SELECT music_tm.rebuild_play_charts('');
SELECT music_tm.rebuild_play_charts('nobody');
