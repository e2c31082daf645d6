-- Every statement music_tm's C code keeps, planned as its functions plan it
-- (enable_seqscan and enable_bitmapscan off, see
-- music_tm--1.1--2.0.sql) in each state of a
-- database's life: fresh and never analyzed, analyzed while small, grown
-- without a new ANALYZE, analyzed again; with generic plans (what a kept plan
-- becomes) and custom ones.  Each must read through the index it is written
-- for, and nothing else.
SET client_min_messages = warning;
DROP EXTENSION music_tm CASCADE;
CREATE EXTENSION music_tm;
RESET client_min_messages;

-- The scans of a plan, one word each: "Index Scan using charts_pkey", ...
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
        IF node->>'Node Type' LIKE '%Scan' AND node->>'Node Type' <> 'Function Scan' THEN
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

PREPARE hashes(text[]) AS SELECT track_id, content_hash FROM music_tm.tracks
 WHERE track_id OPERATOR(pg_catalog.=) ANY ($1);
PREPARE track_exists(text) AS SELECT 1 FROM music_tm.tracks WHERE track_id OPERATOR(pg_catalog.=) $1;
PREPARE lock(text, music_tm.time_range, date) AS SELECT track_ids, playable_ids FROM music_tm.charts
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND snapshot_date OPERATOR(pg_catalog.=) $3 FOR NO KEY UPDATE;
PREPARE upd(text, music_tm.time_range, date, text[], text[]) AS UPDATE music_tm.charts SET track_ids = $4, playable_ids = $5
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND snapshot_date OPERATOR(pg_catalog.=) $3;
PREPARE scan(text, music_tm.time_range, date, date) AS SELECT snapshot_date, track_ids FROM music_tm.charts
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND snapshot_date OPERATOR(pg_catalog.>=) $3 AND snapshot_date OPERATOR(pg_catalog.<=) $4
 ORDER BY snapshot_date;
PREPARE at(text, music_tm.time_range, date) AS SELECT snapshot_date, track_ids FROM music_tm.charts
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND snapshot_date OPERATOR(pg_catalog.<=) $3 ORDER BY snapshot_date DESC LIMIT 2;
PREPARE artist_tracks(text[], text) AS SELECT t.track_id FROM music_tm.tracks t
 WHERE t.track_id OPERATOR(pg_catalog.=) ANY ($1)
 AND ((t.raw_json OPERATOR(pg_catalog.->) 'artists')
      OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('id', $2))
   OR (t.raw_json OPERATOR(pg_catalog.->) 'artists')
      OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('name', $2)));

CREATE TABLE pg_temp.checks (state text, mode text, stmt text, scans text, ok boolean);
CREATE FUNCTION pg_temp.report(label text) RETURNS TABLE (state text, mode text, stmt text, scans text)
LANGUAGE plpgsql AS $$
DECLARE
    m text;
    s text;
BEGIN
    FOREACH m IN ARRAY ARRAY['force_generic_plan', 'force_custom_plan'] LOOP
        PERFORM set_config('plan_cache_mode', m, true);
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_bitmapscan', 'off', true);
        FOREACH s IN ARRAY ARRAY[
            $q$hashes('{a,b,c}')$q$, $q$track_exists('a')$q$,
            $q$lock('l1', 'short_term', '2026-01-05')$q$,
            $q$upd('l1', 'short_term', '2026-01-05', '{a}', NULL)$q$,
            $q$scan('l1', 'short_term', '-infinity', 'infinity')$q$,
            $q$at('l1', 'short_term', '2026-01-05')$q$,
            $q$artist_tracks('{a,b,c}', 'Someone')$q$] LOOP
            state := label; mode := replace(m, '_plan', ''); stmt := split_part(s, '(', 1);
            scans := pg_temp.scans('EXECUTE ' || s);
            INSERT INTO pg_temp.checks VALUES (state, mode, stmt, scans,
                scans ~ ('^(Index|Index Only) Scan using '
                         || CASE WHEN stmt IN ('hashes', 'track_exists', 'artist_tracks') THEN 'tracks_pkey' ELSE 'charts_pkey' END
                         || ' on [a-z]+$'));
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;

SELECT count(*) AS planned FROM pg_temp.report('fresh');
-- analyzed while small
SELECT count(music_tm.record_top_tracks('short_term', jsonb_build_array(jsonb_build_object('id', 'a', 'name', 'A')), '2026-01-01', 'l1'));
ANALYZE music_tm.tracks, music_tm.charts;
SELECT count(*) AS planned FROM pg_temp.report('small, analyzed');
-- grown: 40 listeners x Spotify's 3 ranges x 60 days, 600 tracks, no new ANALYZE
SELECT count(music_tm.record_top_tracks(rg,
         (SELECT jsonb_agg(jsonb_build_object('id', 't' || ((i * 7 + d * l) % 600), 'name', 'T')) FROM generate_series(1, 20) i),
         '2026-01-01'::date + d, 'l' || l))
FROM generate_series(0, 59) d, generate_series(1, 40) l, unnest(enum_range(NULL, 'long_term'::music_tm.time_range)) rg;
SELECT count(*) AS planned FROM pg_temp.report('grown, stale statistics');
ANALYZE music_tm.tracks, music_tm.charts;
SELECT count(*) AS planned FROM pg_temp.report('grown, analyzed');

-- every statement, every state, both plan modes: the index, nothing else
SELECT count(*) AS checks, count(*) FILTER (WHERE ok) AS using_their_index FROM pg_temp.checks;
SELECT * FROM pg_temp.checks WHERE NOT ok;
-- and the functions that run them plan that way
SELECT p.oid::regprocedure AS without_the_setting
FROM pg_proc p
WHERE p.pronamespace = 'music_tm'::regnamespace AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
  AND p.proconfig IS NOT NULL AND p.prorettype <> 'trigger'::regtype
  AND NOT ('enable_seqscan=off' = ANY (p.proconfig) AND 'enable_bitmapscan=off' = ANY (p.proconfig))
ORDER BY 1;
