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

-- The same figures as the inline SQL on a longer history: 3,000 listens of
-- 45 tracks over 22 months (every 11th without ms_played; tracks 41-45 not
-- stored; some without a duration; ISRCs shared), in UTC and in time zones
-- with daylight saving time (America/Sao_Paulo set its clocks back at
-- midnight on 18 February 2018: the hour before midnight happened twice).
SELECT count(*) FROM (
  SELECT music_tm.save_track(jsonb_build_object(
           'id', 't' || i, 'name', 'Song ' || i,
           'duration_ms', CASE WHEN i % 7 = 0 THEN NULL ELSE 100000 + i * 1000 END,
           'artists', jsonb_build_array(jsonb_build_object('name', 'Artist ' || i % 6)),
           'external_ids', CASE WHEN i % 5 = 0 THEN jsonb_build_object('isrc', 'QZ00000000' || i % 3 || '0')
                                ELSE '{}' END))
  FROM generate_series(1, 40) i) s;
INSERT INTO music_tm.plays (listener, ended_at, track_id, ms_played, export_ts, recorded_at)
SELECT 'eve', t, 't' || (1 + (k * 7919) % 45),
       CASE WHEN k % 11 = 0 THEN NULL ELSE (k * 104729) % 300000 END, t, now()
  FROM (SELECT k, timestamptz '2017-10-01 UTC' + k * interval '5 hours 17 minutes' AS t
          FROM generate_series(1, 3000) k) g;
-- a listen in that hour's first occurrence, one in its second
INSERT INTO music_tm.plays (listener, ended_at, track_id, ms_played, export_ts, recorded_at)
VALUES ('eve', '2018-02-18 02:30 UTC', 't1', 60000, '2018-02-18 02:30 UTC', now()),
       ('eve', '2018-02-18 01:59 UTC', 't2', 60000, '2018-02-18 01:59 UTC', now());

-- a sparser history for streaks: a listen every 29 h, about half of them
-- shorter than 30 s
INSERT INTO music_tm.plays (listener, ended_at, track_id, ms_played, export_ts, recorded_at)
SELECT 'flo', t, 't' || (1 + k % 40), (k * 7001) % 60000, t, now()
  FROM (SELECT k, timestamptz '2017-10-01 UTC' + k * interval '29 hours 13 minutes' AS t
          FROM generate_series(1, 400) k) g;

CREATE FUNCTION pg_temp.ref_time(unit text, tz text, lo timestamptz, hi timestamptz)
RETURNS TABLE (period date, minutes numeric, plays bigint, streams bigint) LANGUAGE sql AS $$
    SELECT date_trunc(unit, timezone(tz, p.ended_at))::date,
           round(sum(coalesce(p.ms_played, (SELECT t.duration_ms FROM music_tm.tracks t
                                             WHERE t.track_id = p.track_id), 0)) / 60000.0, 1),
           count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000), count(*)
      FROM music_tm.plays p
     WHERE p.listener = 'eve' AND p.ended_at >= coalesce(lo, '-infinity') AND p.ended_at < coalesce(hi, 'infinity')
     GROUP BY 1
$$;
CREATE FUNCTION pg_temp.ref_tracks(lo timestamptz, hi timestamptz, how_many int, by_song boolean)
RETURNS TABLE (rank bigint, track_id text, name text, artist_name text, plays bigint, minutes numeric) LANGUAGE sql AS $$
    WITH counted AS (
        SELECT CASE WHEN by_song AND t.isrc IS NOT NULL
                    THEN (SELECT min(o.track_id) FROM music_tm.tracks o WHERE o.isrc = t.isrc)
                    ELSE p.track_id END AS id,
               count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000) AS n,
               sum(coalesce(p.ms_played, t.duration_ms, 0)) AS ms, min(p.ended_at) AS first
          FROM music_tm.plays p LEFT JOIN music_tm.tracks t ON t.track_id = p.track_id
         WHERE p.listener = 'eve' AND p.ended_at >= coalesce(lo, '-infinity') AND p.ended_at < coalesce(hi, 'infinity')
         GROUP BY 1)
    SELECT row_number() OVER (ORDER BY c.n DESC, c.ms DESC, c.first, c.id), c.id, s.name, s.artist_name, c.n,
           round(c.ms / 60000.0, 1)
      FROM counted c LEFT JOIN music_tm.tracks s ON s.track_id = c.id
     WHERE c.n > 0 ORDER BY 1 LIMIT how_many
$$;
CREATE FUNCTION pg_temp.ref_artists(lo timestamptz, hi timestamptz, how_many int)
RETURNS TABLE (rank bigint, artist_name text, plays bigint, minutes numeric, tracks bigint) LANGUAGE sql AS $$
    WITH counted AS (
        SELECT t.artist_name AS artist,
               count(*) FILTER (WHERE p.ms_played IS NULL OR p.ms_played >= 30000) AS n,
               sum(coalesce(p.ms_played, t.duration_ms, 0)) AS ms, count(DISTINCT p.track_id) AS k,
               min(p.ended_at) AS first
          FROM music_tm.plays p JOIN music_tm.tracks t ON t.track_id = p.track_id
         WHERE p.listener = 'eve' AND p.ended_at >= coalesce(lo, '-infinity') AND p.ended_at < coalesce(hi, 'infinity')
           AND t.artist_name IS NOT NULL
         GROUP BY 1)
    SELECT row_number() OVER (ORDER BY c.n DESC, c.ms DESC, c.first, c.artist), c.artist, c.n,
           round(c.ms / 60000.0, 1), c.k
      FROM counted c WHERE c.n > 0 ORDER BY 1 LIMIT how_many
$$;
CREATE FUNCTION pg_temp.ref_discoveries(lo timestamptz, hi timestamptz, by_artist boolean)
RETURNS TABLE (discovered text, first_played timestamptz, plays_since bigint) LANGUAGE sql AS $$
    SELECT d.k, d.first, d.n
      FROM (SELECT CASE WHEN by_artist THEN t.artist_name ELSE p.track_id END AS k,
                   min(p.ended_at) AS first, count(*) AS n
              FROM music_tm.plays p LEFT JOIN music_tm.tracks t ON t.track_id = p.track_id
             WHERE p.listener = 'eve' AND (p.ms_played IS NULL OR p.ms_played >= 30000)
             GROUP BY 1) d
     WHERE d.k IS NOT NULL AND d.first >= coalesce(lo, '-infinity') AND d.first < coalesce(hi, 'infinity')
$$;
CREATE FUNCTION pg_temp.ref_streaks(l text, tz text, min_days int)
RETURNS TABLE (first_day date, last_day date, days integer) LANGUAGE sql AS $$
    SELECT min(g.d), max(g.d), count(*)::integer
      FROM (SELECT s.d, s.d - row_number() OVER (ORDER BY s.d)::integer AS island
              FROM (SELECT DISTINCT timezone(tz, p.ended_at)::date AS d FROM music_tm.plays p
                     WHERE p.listener = l AND (p.ms_played IS NULL OR p.ms_played >= 30000)) s) g
     GROUP BY g.island HAVING count(*) >= min_days
$$;
-- rows that one side has and the other has not, with the rows compared
CREATE FUNCTION pg_temp.differ(ours text, ref text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d bigint; n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) x', ours, ref, ref, ours) INTO d;
    EXECUTE format('SELECT count(*) FROM (%s) x', ours) INTO n;
    RETURN d || ' differ of ' || n;
END
$$;
SELECT u, tz, pg_temp.differ(format('SELECT * FROM music_tm.listening_time(%L, %L, tz => %L)', u, 'eve', tz),
                            format('SELECT * FROM pg_temp.ref_time(%L, %L, NULL, NULL)', u, tz)) AS listening_time
  FROM unnest(ARRAY['day', 'week', 'month', 'year']) u,
       unnest(ARRAY['UTC', 'America/Sao_Paulo', 'Asia/Kolkata', '-05:30']) tz
 ORDER BY 1, 2;
SELECT pg_temp.differ($$SELECT * FROM music_tm.listening_time('day', 'eve', '2018-02-10', '2018-03-01', 'America/Sao_Paulo')$$,
                      $$SELECT * FROM pg_temp.ref_time('day', 'America/Sao_Paulo', '2018-02-10', '2018-03-01')$$);
SELECT f, by_song, pg_temp.differ(format('SELECT * FROM music_tm.top_tracks(%L, %L, %L, 20, %L)', 'eve', f, f + interval '1 year', by_song),
                                  format('SELECT * FROM pg_temp.ref_tracks(%L, %L, 20, %L)', f, f + interval '1 year', by_song)) AS top_tracks
  FROM unnest(ARRAY['2017-01-01', '2018-03-15']::timestamptz[]) f, unnest(ARRAY[true, false]) by_song ORDER BY 1, 2;
SELECT pg_temp.differ($$SELECT * FROM music_tm.top_tracks('eve', how_many => 1000)$$,
                      $$SELECT * FROM pg_temp.ref_tracks(NULL, NULL, 1000, true)$$) AS top_tracks_all;
SELECT f, pg_temp.differ(format('SELECT * FROM music_tm.top_artists(%L, %L, %L, %s)', 'eve', f, f + interval '1 year', n),
                         format('SELECT * FROM pg_temp.ref_artists(%L, %L, %s)', f, f + interval '1 year', n)) AS top_artists
  FROM unnest(ARRAY['2017-01-01', '2018-03-15']::timestamptz[]) f, (VALUES (3), (100)) n(n) ORDER BY 1, 2;
SELECT by_artist, pg_temp.differ(format('SELECT * FROM music_tm.discoveries(%L, %L, %L, %L)', 'eve', '2017-10-03', '2018-01-01', by_artist),
                                 format('SELECT * FROM pg_temp.ref_discoveries(%L, %L, %L)', '2017-10-03', '2018-01-01', by_artist)) AS discoveries
  FROM unnest(ARRAY[false, true]) by_artist ORDER BY 1;
SELECT l, tz, m, pg_temp.differ(format('SELECT * FROM music_tm.listening_streaks(%L, %L, %s)', l, tz, m),
                                format('SELECT * FROM pg_temp.ref_streaks(%L, %L, %s)', l, tz, m)) AS listening_streaks
  FROM unnest(ARRAY['eve', 'flo']) l, unnest(ARRAY['UTC', 'America/Sao_Paulo', 'Pacific/Kiritimati']) tz,
       unnest(ARRAY[1, 3]) m ORDER BY 1, 2, 3;
-- a listener with no listens
SELECT (SELECT count(*) FROM music_tm.listening_time('day', 'nobody')) AS periods,
       (SELECT count(*) FROM music_tm.top_tracks('nobody')) AS tracks,
       (SELECT count(*) FROM music_tm.top_artists('nobody')) AS artists,
       (SELECT count(*) FROM music_tm.discoveries('nobody', by_artist => true)) AS discoveries,
       (SELECT count(*) FROM music_tm.listening_streaks('nobody')) AS streaks;

-- Each reads the primary key of plays for one listener, then the tracks'
-- by theirs, planned as the functions plan (sequential and bitmap scans
-- off), generic plans, on a table never analyzed and after ANALYZE.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET plan_cache_mode = force_generic_plan;
PREPARE walk(text, timestamptz, timestamptz, text) AS
SELECT ended_at, ms_played, track_id, pg_catalog.timezone($4, ended_at) FROM music_tm.plays
 WHERE listener OPERATOR(pg_catalog.=) $1 AND ended_at OPERATOR(pg_catalog.>=) $2
   AND ended_at OPERATOR(pg_catalog.<) $3 ORDER BY ended_at;
PREPARE tracks(text[]) AS
SELECT track_id, name, artist_name, isrc, duration_ms FROM music_tm.tracks
 WHERE track_id OPERATOR(pg_catalog.=) ANY ($1);
EXPLAIN (COSTS OFF) EXECUTE walk('ana', '-infinity', 'infinity', 'UTC');
EXPLAIN (COSTS OFF) EXECUTE tracks('{t1,t2}');
ANALYZE music_tm.plays, music_tm.tracks;
EXPLAIN (COSTS OFF) EXECUTE walk('eve', '-infinity', 'infinity', 'UTC');
EXPLAIN (COSTS OFF) EXECUTE tracks('{t1,t2}');
RESET plan_cache_mode;
RESET enable_seqscan;
RESET enable_bitmapscan;
