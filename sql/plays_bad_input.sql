-- record_recently_played and import_streaming_history reject bad input with a
-- specific SQLSTATE, naming the item or entry and the field, and write
-- nothing.
TRUNCATE music_tm.plays;

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
CREATE FUNCTION pg_temp.rp(payload text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.try(format('SELECT music_tm.record_recently_played(%L::jsonb, %L)', payload, 'bad'))
$$;
CREATE FUNCTION pg_temp.ex(payload text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.try(format('SELECT music_tm.import_streaming_history(%L::jsonb, %L)', payload, 'bad'))
$$;

-- a good item and a good entry first, so that "nothing written" is tested
\set good_item '{"track": {"id": "g1", "name": "Good"}, "played_at": "2026-01-01T00:00:00Z"}'
\set good_entry '{"ts": "2026-01-01T00:00:00Z", "ms_played": 1000, "spotify_track_uri": "spotify:track:g1", "master_metadata_track_name": "Good"}'

SELECT c AS "case", pg_temp.rp(p) AS result
FROM (VALUES
  ('scalar',              '1'),
  ('array',               '[' || :'good_item' || ']'),
  ('no items',            '{"limit": 50}'),
  ('items object',        '{"items": {}}'),
  ('item number',         '{"items": [' || :'good_item' || ', 5]}'),
  ('no played_at',        '{"items": [' || :'good_item' || ', {"track": {"id": "a", "name": "A"}}]}'),
  ('played_at null',      '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": null}]}'),
  ('played_at number',    '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": 1695397413}]}'),
  ('played_at garbage',   '{"items": [' || :'good_item' || ', {"track": {"id": "a", "name": "A"}, "played_at": "yesterday-ish"}]}'),
  ('played_at month 13',  '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": "2026-13-01T00:00:00Z"}]}'),
  ('played_at now',       '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": "now"}]}'),
  ('played_at today',    '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": "today"}]}'),
  ('played_at zone name', '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": "2026-01-01 00:00 Europe/Berlin"}]}'),
  ('played_at infinity',  '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": "infinity"}]}'),
  ('no track',            '{"items": [{"played_at": "2026-01-01T00:00:00Z"}]}'),
  ('track string',        '{"items": [{"track": "a", "played_at": "2026-01-01T00:00:00Z"}]}'),
  ('track no id',         '{"items": [' || :'good_item' || ', {"track": {"name": "A"}, "played_at": "2026-01-01T00:00:00Z"}]}'),
  ('track name number',   '{"items": [{"track": {"id": "a", "name": 1}, "played_at": "2026-01-01T00:00:00Z"}]}'),
  ('context string',      '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": "2026-01-01T00:00:00Z", "context": "x"}]}'),
  ('context uri number',  '{"items": [{"track": {"id": "a", "name": "A"}, "played_at": "2026-01-01T00:00:00Z", "context": {"uri": 1}}]}')
) v(c, p);

SELECT c AS "case", pg_temp.ex(p) AS result
FROM (VALUES
  ('scalar',              '"x"'),
  ('object',              '{"items": []}'),
  ('neither format',      '[{"played_at": "2026-01-01T00:00:00Z"}]'),
  ('entry 0 not object',  '[1]'),
  ('entry not object',    '[' || :'good_entry' || ', [1]]'),
  ('no ts',               '[' || :'good_entry' || ', {"ms_played": 1}]'),
  ('ts number',           '[' || :'good_entry' || ', {"ts": 1, "ms_played": 1}]'),
  ('ts garbage',          '[' || :'good_entry' || ', {"ts": "2026-02-30T00:00:00Z", "ms_played": 1}]'),
  ('ts empty',            '[' || :'good_entry' || ', {"ts": "", "ms_played": 1}]'),
  ('ts epoch word',       '[' || :'good_entry' || ', {"ts": "epoch", "ms_played": 1}]'),
  ('no ms_played',        '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z"}]'),
  ('ms_played null',      '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": null}]'),
  ('ms_played string',    '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": "1000"}]'),
  ('ms_played negative',  '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": -5}]'),
  ('ms_played fraction',  '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1.5}]'),
  ('ms_played too big',   '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 3000000000}]'),
  ('uri number',          '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "spotify_track_uri": 7}]'),
  ('uri not a track',     '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "spotify_track_uri": "spotify:album:x"}]'),
  ('uri empty id',        '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "spotify_track_uri": "spotify:track:"}]'),
  ('track name number',   '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "master_metadata_track_name": 5}]'),
  ('skipped string',      '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "skipped": "false"}]'),
  ('shuffle number',      '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "shuffle": 0}]'),
  ('reason_end number',   '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "reason_end": 1}]'),
  ('offline_ts string',   '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "offline_timestamp": "1"}]'),
  ('offline_ts negative', '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "offline_timestamp": -1}]'),
  ('episode uri number',  '[' || :'good_entry' || ', {"ts": "2026-01-01T00:00:00Z", "ms_played": 1, "spotify_episode_uri": 1}]')
) v(c, p);

-- NULL arguments and an empty listener
SELECT pg_temp.try('SELECT music_tm.record_recently_played(NULL)');
SELECT pg_temp.try('SELECT music_tm.record_recently_played(''{"items": []}'', NULL)');
SELECT pg_temp.try('SELECT music_tm.record_recently_played(''{"items": []}'', '''')');
SELECT pg_temp.try('SELECT music_tm.import_streaming_history(NULL)');
SELECT pg_temp.try('SELECT music_tm.import_streaming_history(''[]'', NULL)');
SELECT pg_temp.try('SELECT music_tm.import_streaming_history(''[]'', '''')');

-- the caps (54000): items of a response, entries and bytes of a file
SELECT pg_temp.rp((SELECT jsonb_build_object('items', jsonb_agg(:'good_item'::jsonb)) FROM generate_series(1, 1001))::text);
SELECT pg_temp.ex((SELECT jsonb_agg(:'good_entry'::jsonb) FROM generate_series(1, 50001))::text);
SELECT pg_temp.ex((SELECT jsonb_agg(jsonb_build_object('ts', '2026-01-01T00:00:00Z', 'ms_played', 1, 'pad', repeat('x', 70000)))
                   FROM generate_series(1, 1000))::text);

-- nothing of any of it was written
SELECT count(*) AS plays FROM music_tm.plays;
SELECT count(*) AS tracks FROM music_tm.tracks WHERE track_id = 'g1';

-- a cancelled import writes nothing either
CREATE TEMP TABLE big AS
SELECT jsonb_agg(jsonb_build_object('ts', '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 minute',
                                    'ms_played', 1000, 'spotify_track_uri', 'spotify:track:c' || g,
                                    'master_metadata_track_name', 'T')) AS f
FROM generate_series(1, 40000) g;
SET statement_timeout = '1ms';
SELECT music_tm.import_streaming_history(f, 'bad') FROM big;
RESET statement_timeout;
SELECT count(*) AS plays FROM music_tm.plays;
