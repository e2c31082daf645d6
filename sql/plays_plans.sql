-- The statements of the plays family (plays.c), planned as
-- record_recently_played and import_streaming_history plan them
-- (enable_seqscan and enable_bitmapscan off) in each state of a database's
-- life: fresh and never analyzed, analyzed while small, grown without a new
-- ANALYZE, analyzed again; generic and custom plans.  Each must read
-- music_tm.plays through its primary key and nothing else.
TRUNCATE music_tm.plays, music_tm.unmatched_plays, music_tm.tracks, music_tm.charts;
ANALYZE music_tm.plays, music_tm.unmatched_plays, music_tm.tracks, music_tm.charts;

CREATE FUNCTION pg_temp.scans(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    plan json;
    found text[] := '{}';
    node json;
    stack json[];
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON, COSTS OFF) ' || stmt INTO plan;
    stack := ARRAY[plan->0->'Plan'];
    WHILE cardinality(stack) > 0 LOOP
        node := stack[1];
        stack := stack[2:];
        IF node->>'Node Type' LIKE '%Scan' AND node->>'Node Type' NOT IN ('Function Scan', 'Table Function Scan') THEN
            found := found || (node->>'Node Type' || coalesce(' using ' || (node->>'Index Name'), '')
                               || coalesce(' on ' || (node->>'Relation Name'), ''));
        END IF;
        IF node->'Plans' IS NOT NULL THEN
            SELECT stack || array_agg(p) INTO stack FROM json_array_elements(node->'Plans') p;
        END IF;
    END LOOP;
    RETURN array_to_string(found, ', ');
END
$$;

PREPARE plays_read(text, timestamptz, timestamptz) AS
SELECT ended_at, track_id, playable_id, ms_played, played_at, export_ts FROM music_tm.plays
 WHERE listener OPERATOR(pg_catalog.=) $1 AND ended_at OPERATOR(pg_catalog.>=) $2
   AND ended_at OPERATOR(pg_catalog.<=) $3;
PREPARE plays_update(text, timestamptz[], text[], timestamptz[], text[], int[]) AS
UPDATE music_tm.plays AS p SET ended_at = u.new_end, playable_id = coalesce(u.playable_id, p.playable_id),
       ms_played = coalesce(u.ms_played, p.ms_played)
  FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),
                  pg_catalog.unnest($5), pg_catalog.unnest($6)) AS u(old_end, track_id, new_end, playable_id, ms_played)
 WHERE p.listener OPERATOR(pg_catalog.=) $1 AND p.ended_at OPERATOR(pg_catalog.=) u.old_end
   AND p.track_id OPERATOR(pg_catalog.=) u.track_id;

PREPARE twins(text[]) AS
SELECT a.track_id, t.track_id FROM pg_catalog.unnest($1) AS u(id)
  JOIN music_tm.tracks a ON a.track_id OPERATOR(pg_catalog.=) u.id
 CROSS JOIN LATERAL (SELECT b.track_id FROM music_tm.tracks b
   WHERE b.isrc OPERATOR(pg_catalog.=) a.isrc AND b.track_id OPERATOR(pg_catalog.<>) a.track_id OFFSET 0) AS t;
PREPARE names(text[], text[]) AS
SELECT t.artist_name, t.name, t.track_id, t.isrc
  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(artist, title)
  JOIN music_tm.tracks t ON t.artist_name OPERATOR(pg_catalog.=) u.artist AND t.name OPERATOR(pg_catalog.=) u.title;
PREPARE unmatched_read(text) AS
SELECT ended_at, artist_name, track_name, ms_played FROM music_tm.unmatched_plays
 WHERE listener OPERATOR(pg_catalog.=) $1 ORDER BY ended_at, artist_name, track_name, ms_played;
PREPARE unmatched_delete(text, timestamptz[], text[], text[], int[]) AS
DELETE FROM music_tm.unmatched_plays AS m
 USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5))
       AS u(ended_at, artist, title, ms)
 WHERE m.listener OPERATOR(pg_catalog.=) $1 AND m.ended_at OPERATOR(pg_catalog.=) u.ended_at
   AND m.artist_name OPERATOR(pg_catalog.=) u.artist AND m.track_name OPERATOR(pg_catalog.=) u.title
   AND m.ms_played OPERATOR(pg_catalog.=) u.ms;

PREPARE period(text, timestamptz, timestamptz) AS
SELECT track_id, ms_played, ended_at FROM music_tm.plays
 WHERE listener OPERATOR(pg_catalog.=) $1 AND ended_at OPERATOR(pg_catalog.>=) $2
   AND ended_at OPERATOR(pg_catalog.<) $3 ORDER BY ended_at;
PREPARE span_tracks(text[]) AS
SELECT track_id, isrc, duration_ms FROM music_tm.tracks WHERE track_id OPERATOR(pg_catalog.=) ANY ($1);
PREPARE songs(text[]) AS
SELECT isrc, pg_catalog.min(track_id) FROM music_tm.tracks
 WHERE isrc OPERATOR(pg_catalog.=) ANY ($1) GROUP BY isrc;
PREPARE recordings(text[]) AS
SELECT a.track_id, a.isrc, a.duration_ms, b.track_id, b.duration_ms FROM pg_catalog.unnest($1) AS u(id)
  JOIN music_tm.tracks a ON a.track_id OPERATOR(pg_catalog.=) u.id
  LEFT JOIN LATERAL (SELECT t.track_id, t.duration_ms FROM music_tm.tracks t
   WHERE t.isrc OPERATOR(pg_catalog.=) a.isrc OFFSET 0) AS b ON true;
PREPARE span(text) AS
SELECT (SELECT ended_at FROM music_tm.plays WHERE listener OPERATOR(pg_catalog.=) $1 ORDER BY ended_at LIMIT 1),
       (SELECT ended_at FROM music_tm.plays WHERE listener OPERATOR(pg_catalog.=) $1 ORDER BY ended_at DESC LIMIT 1);
PREPARE chart_clear(text, music_tm.time_range, music_tm.time_range, music_tm.time_range, music_tm.time_range) AS
DELETE FROM music_tm.charts WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range IN ($2, $3, $4, $5);
PREPARE chart_lock(text, music_tm.time_range, date) AS
SELECT track_ids, playable_ids, play_counts, play_ms, first_played FROM music_tm.charts
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
   AND snapshot_date OPERATOR(pg_catalog.=) $3 FOR NO KEY UPDATE;
PREPARE chart_update(text, music_tm.time_range, date, text[], text[], integer[], bigint[], timestamptz[]) AS
UPDATE music_tm.charts SET track_ids = $4, playable_ids = $5, play_counts = $6, play_ms = $7, first_played = $8
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
   AND snapshot_date OPERATOR(pg_catalog.=) $3;
PREPARE chart_delete(text, music_tm.time_range, date) AS
DELETE FROM music_tm.charts WHERE listener OPERATOR(pg_catalog.=) $1
   AND time_range OPERATOR(pg_catalog.=) $2 AND snapshot_date OPERATOR(pg_catalog.=) $3;

CREATE TABLE pg_temp.checks (state text, mode text, stmt text, scans text, ok boolean);
CREATE FUNCTION pg_temp.report(label text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    m text;
    s text;
    found text;
BEGIN
    FOREACH m IN ARRAY ARRAY['force_generic_plan', 'force_custom_plan'] LOOP
        PERFORM set_config('plan_cache_mode', m, true);
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_bitmapscan', 'off', true);
        FOREACH s IN ARRAY ARRAY[
            $q$plays_read('big', '2023-03-01', '2023-03-02')$q$,
            $q$plays_update('big', '{2023-03-01 10:00+00}', '{x}', '{2023-03-01 10:00:05+00}', '{NULL}', '{1}')$q$,
            $q$twins('{g1,g2}')$q$, $q$names('{A,B}', '{T,U}')$q$, $q$unmatched_read('big')$q$,
            $q$unmatched_delete('big', '{2023-03-01 10:00+00}', '{A}', '{T}', '{1}')$q$,
            $q$period('big', '2023-03-06', '2023-03-13')$q$, $q$span_tracks('{g1,g2}')$q$,
            $q$songs('{QZ1,QZ2}')$q$, $q$recordings('{g1,g2}')$q$, $q$span('big')$q$,
            $q$chart_clear('big', 'plays_week', 'plays_month', 'plays_week_track', 'plays_month_track')$q$,
            $q$chart_lock('big', 'plays_week', '2023-03-06')$q$,
            $q$chart_update('big', 'plays_week', '2023-03-06', '{x}', NULL, '{1}', '{1}', '{2023-03-06 10:00+00}')$q$,
            $q$chart_delete('big', 'plays_week', '2023-03-06')$q$] LOOP
            found := pg_temp.scans('EXECUTE ' || s);
            INSERT INTO pg_temp.checks VALUES (label, replace(m, '_plan', ''), split_part(s, '(', 1), found,
                found ~ CASE split_part(s, '(', 1)
                          WHEN 'recordings' THEN '^(Index Scan using tracks_pkey on tracks, Index Scan using tracks_isrc_idx on tracks|Index Scan using tracks_isrc_idx on tracks, Index Scan using tracks_pkey on tracks)$'
                          WHEN 'twins' THEN '^(Index Scan using tracks_pkey on tracks, Index Scan using tracks_isrc_idx on tracks|Index Scan using tracks_isrc_idx on tracks, Index Scan using tracks_pkey on tracks)$'
                          WHEN 'names' THEN '^Index Scan using tracks_artist_name_idx on tracks$'
                          WHEN 'unmatched_read' THEN '^Index (Only )?Scan using unmatched_plays_pkey on unmatched_plays$'
                          WHEN 'unmatched_delete' THEN '^Index Scan using unmatched_plays_pkey on unmatched_plays$'
                          WHEN 'period' THEN '^Index Scan using plays_pkey on plays$'
                          WHEN 'span_tracks' THEN '^Index Scan using tracks_pkey on tracks$'
                          WHEN 'songs' THEN '^Index (Only )?Scan using tracks_isrc_idx on tracks$'
                          WHEN 'span' THEN '^Index Only Scan (Backward )?using plays_pkey on plays, Index Only Scan (Backward )?using plays_pkey on plays$'
                          WHEN 'chart_clear' THEN '^Index Scan using charts_pkey on charts$'
                          WHEN 'chart_delete' THEN '^Index Scan using charts_pkey on charts$'
                          WHEN 'chart_lock' THEN '^Index Scan using charts_pkey on charts$'
                          WHEN 'chart_update' THEN '^Index Scan using charts_pkey on charts$'
                          ELSE '^(Index|Index Only) Scan using plays_pkey on plays$' END);
        END LOOP;
    END LOOP;
    RETURN 30;
END
$$;

SELECT pg_temp.report('fresh') AS planned;
-- analyzed while small
SELECT plays_inserted FROM music_tm.import_streaming_history('[{"ts": "2023-03-01T10:00:00Z", "ms_played": 1,
  "spotify_track_uri": "spotify:track:x", "master_metadata_track_name": "X"}]', 'big');
ANALYZE music_tm.plays, music_tm.unmatched_plays, music_tm.tracks, music_tm.charts;
SELECT pg_temp.report('small, analyzed') AS planned;
-- grown: 8 listeners x 20,000 listens, no new ANALYZE
SELECT sum(plays_inserted) FROM generate_series(1, 8) l,
  LATERAL music_tm.import_streaming_history(
    (SELECT jsonb_agg(jsonb_build_object('ts', to_char(timestamptz '2023-01-01 00:00+00' + g * interval '17 minutes',
                                                       'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                         'ms_played', 200000, 'spotify_track_uri', 'spotify:track:g' || (g % 300),
                                         'master_metadata_track_name', 'G'))
     FROM generate_series(1, 20000) g), CASE WHEN l = 1 THEN 'big' ELSE 'l' || l END);
SELECT sum(unmatched) AS unmatched FROM generate_series(1, 4) l,
  LATERAL music_tm.import_streaming_history(
    (SELECT jsonb_agg(jsonb_build_object('endTime', to_char(timestamptz '2023-01-01 00:00+00' + g * interval '17 minutes',
                                                            'YYYY-MM-DD HH24:MI'),
                                         'artistName', 'Nobody', 'trackName', 'Song ' || (g % 50), 'msPlayed', 1000))
     FROM generate_series(1, 5000) g), CASE WHEN l = 1 THEN 'big' ELSE 'l' || l END);
SELECT pg_temp.report('grown, stale statistics') AS planned;
ANALYZE music_tm.plays, music_tm.unmatched_plays, music_tm.tracks, music_tm.charts;
SELECT pg_temp.report('grown, analyzed') AS planned;

SELECT count(*) AS checks, count(*) FILTER (WHERE ok) AS using_the_key FROM pg_temp.checks;
SELECT * FROM pg_temp.checks WHERE NOT ok;

-- the insert checks the key for conflicts and reads nothing else
EXPLAIN (COSTS OFF) INSERT INTO music_tm.plays (listener, recorded_at, ended_at, track_id, ms_played, export_ts)
  SELECT 'big', now(), u.* FROM ROWS FROM (pg_catalog.unnest('{2023-03-01 10:00+00}'::timestamptz[]),
    pg_catalog.unnest('{x}'::text[]), pg_catalog.unnest('{1}'::int[]),
    pg_catalog.unnest('{2023-03-01 10:00+00}'::timestamptz[])) AS u
  ON CONFLICT (listener, ended_at, track_id) DO NOTHING;

-- a replay of a whole file after all that: nothing written
SELECT plays_inserted, plays_unchanged FROM music_tm.import_streaming_history(
    (SELECT jsonb_agg(jsonb_build_object('ts', to_char(timestamptz '2023-01-01 00:00+00' + g * interval '17 minutes',
                                                       'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                         'ms_played', 200000, 'spotify_track_uri', 'spotify:track:g' || (g % 300),
                                         'master_metadata_track_name', 'G'))
     FROM generate_series(1, 20000) g), 'l2');
