-- import_streaming_history, account-data format (StreamingHistory_music_*):
-- endTime to the minute, artistName and trackName, no id.  Matched to a
-- stored track by first artist and name where that is one song; a stored
-- listen of such a track at that time is the same listen; anything else is
-- kept in music_tm.unmatched_plays until match_unmatched_plays finds it.
TRUNCATE music_tm.plays, music_tm.unmatched_plays, music_tm.tracks, music_tm.charts;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.acct(listener text, VARIADIC e text[]) RETURNS text LANGUAGE sql AS $$
    -- entries: 'artist|title|endTime|msPlayed'
    SELECT format('account: +%s ~%s =%s dup %s unmatched %s', plays_inserted, plays_matched,
                  plays_unchanged, duplicates, unmatched)
    FROM music_tm.import_streaming_history((
        SELECT jsonb_agg(jsonb_build_object('endTime', split_part(x, '|', 3),
                                            'artistName', split_part(x, '|', 1),
                                            'trackName', split_part(x, '|', 2),
                                            'msPlayed', split_part(x, '|', 4)::int))
        FROM unnest(e) x), listener)
$$;
CREATE FUNCTION pg_temp.rows(l text) RETURNS TABLE (ended_at text, track_id text, played_at text,
    export_ts text, account_end text, ms_played int)
LANGUAGE sql AS $$
    SELECT to_char(ended_at, 'MM-DD HH24:MI:SS.US'), track_id, to_char(played_at, 'HH24:MI:SS'),
           to_char(export_ts, 'HH24:MI:SS'), to_char(account_end, 'HH24:MI'), ms_played
    FROM music_tm.plays WHERE listener = l ORDER BY plays.ended_at, plays.track_id
$$;
CREATE FUNCTION pg_temp.unmatched(l text) RETURNS TABLE (ended_at text, artist_name text, track_name text, ms_played int)
LANGUAGE sql AS $$
    SELECT to_char(ended_at, 'MM-DD HH24:MI'), artist_name, track_name, ms_played
    FROM music_tm.unmatched_plays WHERE listener = l ORDER BY 1, 2, 3, 4
$$;

-- the stored tracks: one song under one id; one recording under two ids
-- (album and single, one ISRC); two different songs of one name and artist
SELECT music_tm.save_track(t) FROM unnest(ARRAY[
  '{"id": "one", "name": "Solo", "artists": [{"name": "Ann"}], "external_ids": {"isrc": "I1"}}',
  '{"id": "alb", "name": "Twin", "artists": [{"name": "Bob"}], "external_ids": {"isrc": "I2"}}',
  '{"id": "sgl", "name": "Twin", "artists": [{"name": "Bob"}], "external_ids": {"isrc": "I2"}}',
  '{"id": "live", "name": "Same", "artists": [{"name": "Cy"}], "external_ids": {"isrc": "I3"}}',
  '{"id": "studio", "name": "Same", "artists": [{"name": "Cy"}], "external_ids": {"isrc": "I4"}}']::jsonb[]) t;

-- 1. alone: one song is a listen of its id (the smaller id for a recording
--    under two ids); several songs, or names of no stored track, are kept
--    apart with their names; the podcast file's entries are counted
SELECT pg_temp.acct('ana', 'Ann|Solo|2024-05-06 18:43|200000', 'Bob|Twin|2024-05-06 18:47|190000',
                           'Cy|Same|2024-05-06 18:51|210000', 'Dee|Unknown|2024-05-06 18:55|180000');
SELECT * FROM pg_temp.rows('ana');
SELECT * FROM pg_temp.unmatched('ana');
SELECT format, entries, episodes, plays_inserted FROM music_tm.import_streaming_history(
  '[{"endTime": "2024-05-06 19:00", "podcastName": "The Show", "episodeName": "Ep 1", "msPlayed": 1800000}]', 'ana');

-- 2. the same file again: nothing written
SELECT pg_temp.acct('ana', 'Ann|Solo|2024-05-06 18:43|200000', 'Bob|Twin|2024-05-06 18:47|190000',
                           'Cy|Same|2024-05-06 18:51|210000', 'Dee|Unknown|2024-05-06 18:55|180000');
SELECT count(*) AS plays, (SELECT count(*) FROM music_tm.unmatched_plays) AS unmatched FROM music_tm.plays;

-- 3. the extended export of the same listens, afterwards: each joins its
--    account-data listen (ts within the minute's span, same milliseconds);
--    the export names the other id of the twin, and the live version
SELECT plays_inserted, plays_matched, tracks_inserted FROM music_tm.import_streaming_history('[
  {"ts": "2024-05-06T18:43:31Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"},
  {"ts": "2024-05-06T18:47:12Z", "ms_played": 190000, "spotify_track_uri": "spotify:track:sgl", "master_metadata_track_name": "Twin"},
  {"ts": "2024-05-06T18:51:40Z", "ms_played": 210000, "spotify_track_uri": "spotify:track:live", "master_metadata_track_name": "Same"}
]', 'ana');
SELECT * FROM pg_temp.rows('ana');
-- the "Same" listen was kept apart: now that a stored listen of one of its
-- songs is there at that time, match_unmatched_plays joins it; Dee stays
SELECT * FROM music_tm.match_unmatched_plays('ana');
SELECT * FROM pg_temp.rows('ana');
SELECT * FROM pg_temp.unmatched('ana');
-- Dee's track gets stored (a poll), and the listen moves over
SELECT plays_inserted FROM music_tm.record_recently_played(
  '{"items": [{"played_at": "2024-05-07T10:00:00Z", "track": {"id": "dee1", "name": "Unknown", "artists": [{"name": "Dee"}]}}]}', 'ana');
SELECT * FROM music_tm.match_unmatched_plays('ana');
SELECT * FROM pg_temp.unmatched('ana');
SELECT * FROM pg_temp.rows('ana');
-- and the account file once more: still nothing written
SELECT pg_temp.acct('ana', 'Ann|Solo|2024-05-06 18:43|200000', 'Bob|Twin|2024-05-06 18:47|190000',
                           'Cy|Same|2024-05-06 18:51|210000', 'Dee|Unknown|2024-05-06 18:55|180000');

-- 4. the extended export first, then account data: names of several songs
--    join the stored listen at that time; the minute's span: ts 18:42:20 is
--    40 s before the minute, 18:44:10 70 s after it; 18:44:11 is not
SELECT plays_inserted FROM music_tm.import_streaming_history('[
  {"ts": "2024-05-06T18:42:20Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:studio", "master_metadata_track_name": "Same"},
  {"ts": "2024-05-06T18:54:10Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"},
  {"ts": "2024-05-06T19:04:11Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"}
]', 'bo');
SELECT pg_temp.acct('bo', 'Cy|Same|2024-05-06 18:43|200000', 'Ann|Solo|2024-05-06 18:53|200000',
                          'Ann|Solo|2024-05-06 19:03|200000');
SELECT * FROM pg_temp.rows('bo');

-- 5. two skips of one track in one minute are two listens; the same minute,
--    track and milliseconds twice in one file is one
SELECT pg_temp.acct('skips', 'Ann|Solo|2024-05-06 18:43|1000', 'Ann|Solo|2024-05-06 18:43|2500',
                             'Ann|Solo|2024-05-06 18:43|2500');
SELECT * FROM pg_temp.rows('skips');
-- and the export of those two skips joins them, the one with the same
-- milliseconds each
SELECT plays_matched FROM music_tm.import_streaming_history('[
  {"ts": "2024-05-06T18:43:05Z", "ms_played": 2500, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"},
  {"ts": "2024-05-06T18:43:02Z", "ms_played": 1000, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"}
]', 'skips');
SELECT * FROM pg_temp.rows('skips');

-- 5b. a full play and a skip of one track a moment later end in the same
--     second of the extended export: two listens (told apart by their
--     milliseconds); importing the file again writes nothing; the account
--     data of both joins each
SELECT plays_inserted, plays_unchanged FROM music_tm.import_streaming_history('[
  {"ts": "2024-05-07T10:00:01Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"},
  {"ts": "2024-05-07T10:00:01Z", "ms_played": 0, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"}
]', 'same');
SELECT plays_inserted, plays_unchanged FROM music_tm.import_streaming_history('[
  {"ts": "2024-05-07T10:00:01Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"},
  {"ts": "2024-05-07T10:00:01Z", "ms_played": 0, "spotify_track_uri": "spotify:track:one", "master_metadata_track_name": "Solo"}
]', 'same');
SELECT pg_temp.acct('same', 'Ann|Solo|2024-05-07 10:00|200000', 'Ann|Solo|2024-05-07 10:00|0');
SELECT * FROM pg_temp.rows('same');

-- 6. recently-played and account data: played_at the start (played_at +
--    msPlayed in the span) or the end
SELECT plays_inserted FROM music_tm.record_recently_played(
  '{"items": [{"played_at": "2024-05-06T18:40:00Z", "track": {"id": "one", "name": "Solo", "artists": [{"name": "Ann"}]}},
              {"played_at": "2024-05-06T18:50:30Z", "track": {"id": "one", "name": "Solo", "artists": [{"name": "Ann"}]}}]}', 'rp');
SELECT pg_temp.acct('rp', 'Ann|Solo|2024-05-06 18:43|200000', 'Ann|Solo|2024-05-06 18:50|200000');
SELECT * FROM pg_temp.rows('rp');

-- 7. bad account-data entries: SQLSTATE, entry and field, nothing written
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' | ' || nullif(detail, ''), '');
END
$$;
\set good '{"endTime": "2024-01-01 00:00", "artistName": "Ann", "trackName": "Solo", "msPlayed": 1}'
SELECT c AS "case", pg_temp.try(format('SELECT music_tm.import_streaming_history(%L::jsonb, %L)', p, 'bad')) AS result
FROM (VALUES
  ('entry not object',  '[' || :'good' || ', "x"]'),
  ('no endTime',        '[' || :'good' || ', {"artistName": "A", "trackName": "T", "msPlayed": 1}]'),
  ('endTime number',    '[' || :'good' || ', {"endTime": 5, "artistName": "A", "trackName": "T", "msPlayed": 1}]'),
  ('endTime garbage',   '[' || :'good' || ', {"endTime": "2024-01-01 25:00", "artistName": "A", "trackName": "T", "msPlayed": 1}]'),
  ('no msPlayed',       '[' || :'good' || ', {"endTime": "2024-01-01 00:00", "artistName": "A", "trackName": "T"}]'),
  ('msPlayed negative', '[' || :'good' || ', {"endTime": "2024-01-01 00:00", "artistName": "A", "trackName": "T", "msPlayed": -1}]'),
  ('msPlayed string',   '[' || :'good' || ', {"endTime": "2024-01-01 00:00", "artistName": "A", "trackName": "T", "msPlayed": "1"}]'),
  ('no artistName',     '[' || :'good' || ', {"endTime": "2024-01-01 00:00", "trackName": "T", "msPlayed": 1}]'),
  ('trackName number',  '[' || :'good' || ', {"endTime": "2024-01-01 00:00", "artistName": "A", "trackName": 1, "msPlayed": 1}]')
) v(c, p);
SELECT count(*) AS written FROM music_tm.plays WHERE listener = 'bad';
SELECT count(*) AS written FROM music_tm.unmatched_plays WHERE listener = 'bad';
SELECT pg_temp.try('SELECT music_tm.match_unmatched_plays(NULL)');
SELECT pg_temp.try('SELECT music_tm.match_unmatched_plays('''')');
