-- Listening statistics over music_tm.plays: minutes per period, top tracks
-- and artists, discoveries, on this day, streaks; each checked against a
-- hand count.
TRUNCATE music_tm.plays, music_tm.unmatched_plays, music_tm.tracks, music_tm.charts;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.ex(listener text, VARIADIC e text[]) RETURNS bigint LANGUAGE sql AS $$
    -- entries: 'track@ts@ms_played'; artist: the track's first letter
    SELECT plays_inserted
    FROM music_tm.import_streaming_history((
        SELECT jsonb_agg(jsonb_build_object(
                 'ts', split_part(x, '@', 2), 'ms_played', split_part(x, '@', 3)::int,
                 'spotify_track_uri', 'spotify:track:' || split_part(x, '@', 1),
                 'master_metadata_track_name', 'Song ' || split_part(x, '@', 1),
                 'master_metadata_album_artist_name', 'Artist ' || upper(left(split_part(x, '@', 1), 1))))
        FROM unnest(e) x), listener)
$$;
SELECT music_tm.save_track('{"id": "s1", "name": "Song s1", "duration_ms": 240000, "artists": [{"name": "Artist S"}], "external_ids": {"isrc": "QZ0000000077"}}');
SELECT music_tm.save_track('{"id": "s2", "name": "Song s2", "artists": [{"name": "Artist S"}], "external_ids": {"isrc": "QZ0000000077"}}');

-- 2024-03-01 (a Friday) .. 2026-03-03; one recently-played listen (no
-- ms_played: its track's duration counts)
SELECT pg_temp.ex('ana',
  'a1@2024-03-01T10:00:00Z@180000', 'a1@2024-03-02T10:00:00Z@120000', 'b1@2024-03-02T23:30:00Z@60000',
  'a2@2024-03-03T10:00:00Z@10000',  'b1@2024-03-05T10:00:00Z@240000', 's2@2024-03-05T11:00:00Z@200000',
  'a1@2025-03-01T08:00:00Z@200000', 'c1@2025-03-01T09:00:00Z@30000',  'c1@2025-12-31T23:00:00Z@90000',
  'b2@2026-03-01T10:00:00Z@100000');
SELECT plays_inserted FROM music_tm.record_recently_played(
  '{"items": [{"played_at": "2026-03-03T12:00:00Z", "track": {"id": "s1", "name": "Song s1", "duration_ms": 240000,
    "artists": [{"name": "Artist S"}], "external_ids": {"isrc": "QZ0000000077"}}}]}', 'ana');

-- minutes, counted plays (30 s or more) and streams per period
SELECT * FROM music_tm.listening_time('day', 'ana', '2024-03-01', '2024-03-06');
SELECT * FROM music_tm.listening_time('week', 'ana', '2024-02-26', '2024-03-11');
SELECT * FROM music_tm.listening_time('month', 'ana');
SELECT * FROM music_tm.listening_time('year', 'ana');
-- in another time zone, 23:30 UTC on 2 March is 3 March
SELECT * FROM music_tm.listening_time('day', 'ana', '2024-03-02', '2024-03-04', 'Asia/Tokyo');

-- top tracks of 2024 and of all time: by song (s1 and s2 share an ISRC:
-- counted together under s1) or by track
SELECT * FROM music_tm.top_tracks('ana', '2024-01-01', '2025-01-01');
SELECT * FROM music_tm.top_tracks('ana');
SELECT * FROM music_tm.top_tracks('ana', how_many => 3, by_song => false);
SELECT * FROM music_tm.top_artists('ana', '2024-01-01', '2025-01-01');
SELECT * FROM music_tm.top_artists('ana', how_many => 2);

-- discoveries: first counted play (a2 never counted: 10 s)
SELECT * FROM music_tm.discoveries('ana');
SELECT * FROM music_tm.discoveries('ana', '2025-01-01', '2026-01-01');
SELECT * FROM music_tm.discoveries('ana', by_artist => true);

-- on this day: 1 March of earlier years; 29 February only in leap years
SELECT year, ended_at, track_id, name, artist_name, ms_played FROM music_tm.on_this_day('ana', '2026-03-01');
SELECT count(*) FROM music_tm.on_this_day('ana', '2027-02-28');
SELECT count(*) FROM music_tm.on_this_day('nobody', '2026-03-01');

-- streaks of days with a counted play: 1-2 March 2024 (3 March was only a
-- skip), in UTC; in Tokyo 23:30 UTC on 2 March moves to the 3rd
SELECT * FROM music_tm.listening_streaks('ana');
SELECT * FROM music_tm.listening_streaks('ana', min_days => 1);
SELECT * FROM music_tm.listening_streaks('ana', 'Asia/Tokyo');

-- bad arguments
SELECT * FROM music_tm.listening_time('hour', 'ana');
SELECT * FROM music_tm.listening_time(NULL, 'ana');
SELECT * FROM music_tm.top_tracks('ana', how_many => -1);
SELECT * FROM music_tm.top_artists(NULL);
SELECT * FROM music_tm.on_this_day('ana', NULL);
SELECT * FROM music_tm.listening_streaks('ana', 'No/Such_Zone');

-- each reads the primary key of plays for one listener, planned as the
-- functions plan (sequential and bitmap scans off), on a never-analyzed table
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT p.ended_at FROM music_tm.plays p
 WHERE p.listener OPERATOR(pg_catalog.=) 'ana' AND p.ended_at OPERATOR(pg_catalog.>=) '2024-01-01'
   AND p.ended_at OPERATOR(pg_catalog.<) '2025-01-01';
RESET enable_seqscan;
RESET enable_bitmapscan;
