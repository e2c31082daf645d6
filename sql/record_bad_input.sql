-- record_top_tracks rejects bad payloads with a specific SQLSTATE, naming the
-- item and field, and writes nothing.
TRUNCATE music_tm.tracks, music_tm.charts;

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

CREATE FUNCTION pg_temp.rec(payload text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.try(format('SELECT music_tm.record_top_tracks(%L, %L::jsonb, %L)',
                              'short_term', payload, '2026-06-01'))
$$;

SELECT c AS "case", pg_temp.rec(p) AS result
FROM (VALUES
  ('scalar payload',     '42'),
  ('string payload',     '"items"'),
  ('no items',           '{"offset": 0}'),
  ('items object',       '{"items": {"id": "x"}}'),
  ('items null',         '{"items": null}'),
  ('item scalar',        '{"items": [{"id": "a", "name": "A"}, 7]}'),
  ('item array',         '{"items": [[1]]}'),
  ('item no id',         '{"items": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}, {"name": "C"}]}'),
  ('item null id',       '{"items": [{"id": null, "name": "C"}]}'),
  ('item id number',     '{"items": [{"id": 5, "name": "C"}]}'),
  ('item no name',       '{"items": [{"id": "a"}]}'),
  ('item name number',   '{"items": [{"id": "a", "name": 1}]}'),
  ('item duration text', '{"items": [{"id": "a", "name": "A", "duration_ms": "1"}]}'),
  ('item artists text',  '{"items": [{"id": "a", "name": "A", "artists": "x"}]}'),
  ('linked_from text',   '{"items": [{"id": "a", "name": "A", "linked_from": "b"}]}'),
  ('linked_from no id',  '{"items": [{"id": "a", "name": "A", "linked_from": {}}]}'),
  ('linked_from id 1',   '{"items": [{"id": "a", "name": "A", "linked_from": {"id": 1}}]}'),
  ('bare array item',    '[{"id": "a", "name": "A"}, "x"]'),
  ('offset negative',    '{"offset": -1, "items": []}'),
  ('offset fraction',    '{"offset": 1.5, "items": []}'),
  ('offset string',      '{"offset": "49", "items": []}'),
  ('offset huge',        '{"offset": 1e30, "items": []}'),
  ('offset past cap',    '{"offset": 1000, "items": []}'),
  ('ranks past cap',     '{"offset": 990, "items": [' || (SELECT string_agg('{"id": "i' || i || '", "name": "n"}', ',') FROM generate_series(1, 11) i) || ']}'),
  ('items past cap',     (SELECT jsonb_build_object('items', jsonb_agg(jsonb_build_object('id', 'i' || i, 'name', 'n')))::text FROM generate_series(1, 1001) i)),
  ('bytes past cap',     jsonb_build_object('items', '[]'::jsonb, 'pad', repeat('x', 16 * 1024 * 1024))::text)
) AS cases(c, p);

-- items at the caps are accepted: 1000 items, ranks up to 1000
SELECT entries_inserted FROM music_tm.record_top_tracks('long_term',
    (SELECT jsonb_build_object('items', jsonb_agg(jsonb_build_object('id', 'i' || i, 'name', 'n')))
     FROM generate_series(1, 1000) i), '2026-06-02');
SELECT entries_inserted FROM music_tm.record_top_tracks('medium_term',
    '{"offset": 999, "items": [{"id": "i1", "name": "n"}]}', '2026-06-02');
SELECT max(rank) FROM music_tm.chart_entries;
TRUNCATE music_tm.tracks, music_tm.charts;

SELECT c AS "case", pg_temp.try(s) AS result
FROM (VALUES
  ('null range',     $q$SELECT music_tm.record_top_tracks(NULL, '[]', '2026-06-01')$q$),
  ('null payload',   $q$SELECT music_tm.record_top_tracks('short_term', NULL, '2026-06-01')$q$),
  ('null date',      $q$SELECT music_tm.record_top_tracks('short_term', '[]', NULL)$q$),
  ('null listener',  $q$SELECT music_tm.record_top_tracks('short_term', '[]', '2026-06-01', NULL)$q$),
  ('empty listener', $q$SELECT music_tm.record_top_tracks('short_term', '[]', '2026-06-01', '')$q$),
  ('unknown range',  $q$SELECT music_tm.record_top_tracks('forever', '[]', '2026-06-01')$q$),
  ('infinite date',  $q$SELECT music_tm.record_top_tracks('short_term', '[]', '-infinity')$q$),
  ('plays range',    $q$SELECT music_tm.record_top_tracks('plays_week', '[{"id": "a", "name": "A"}]', '2026-06-01')$q$)
) AS cases(c, s);

-- a bad item late in the page: nothing of the page is written
SELECT pg_temp.rec('{"items": [{"id": "ok1", "name": "A"}, {"id": "ok2", "name": "B"}, {"id": "bad"}]}');
SELECT (SELECT count(*) FROM music_tm.tracks) AS tracks,
       (SELECT count(*) FROM music_tm.charts) AS charts,
       (SELECT count(*) FROM music_tm.chart_entries) AS entries;

-- the full report of one error
\set VERBOSITY default
SELECT music_tm.record_top_tracks('short_term', '{"items": [{"id": "a", "name": "A"}, {"id": "b", "name": "B", "duration_ms": "3:45"}]}');
