-- Every bad input is an ERROR with a specific SQLSTATE, a message naming the
-- field and a detail saying where; nothing is written.
TRUNCATE music_tm.tracks, music_tm.charts;

-- try(sql): run sql and show "SQLSTATE: message | detail" for its error
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

SELECT music_tm.save_track('{"id": "t", "name": "T"}');

SELECT c AS "case", pg_temp.try(s) AS result
FROM (VALUES
  ('null track',        $q$SELECT music_tm.save_track(NULL)$q$),
  ('array',             $q$SELECT music_tm.save_track('[1, 2]')$q$),
  ('scalar',            $q$SELECT music_tm.save_track('"a string"')$q$),
  ('no id',             $q$SELECT music_tm.save_track('{"name": "no id"}')$q$),
  ('local file',        $q$SELECT music_tm.save_track('{"id": null, "name": "L", "is_local": true}')$q$),
  ('numeric id',        $q$SELECT music_tm.save_track('{"id": 42, "name": "n"}')$q$),
  ('empty id',          $q$SELECT music_tm.save_track('{"id": "", "name": "n"}')$q$),
  ('no name',           $q$SELECT music_tm.save_track('{"id": "x"}')$q$),
  ('null name',         $q$SELECT music_tm.save_track('{"id": "x", "name": null}')$q$),
  ('array name',        $q$SELECT music_tm.save_track('{"id": "x", "name": ["a"]}')$q$),
  ('string duration',   $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "duration_ms": "213573"}')$q$),
  ('fraction duration', $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "duration_ms": 1.5}')$q$),
  ('negative duration', $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "duration_ms": -1}')$q$),
  ('huge duration',     $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "duration_ms": 2147483648}')$q$),
  ('artists object',    $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "artists": {"name": "a"}}')$q$),
  ('artist string',     $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "artists": ["a"]}')$q$),
  ('artist name 7',     $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "artists": [{"name": 7}]}')$q$),
  ('album array',       $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "album": []}')$q$),
  ('album name false',  $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "album": {"name": false}}')$q$),
  ('urls string',       $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "external_urls": "u"}')$q$),
  ('url number',        $q$SELECT music_tm.save_track('{"id": "x", "name": "n", "external_urls": {"spotify": 1}}')$q$),
  ('null track_id',     $q$SELECT music_tm.save_snapshot_row(NULL, '2026-01-01', 'short_term', 1)$q$),
  ('null date',         $q$SELECT music_tm.save_snapshot_row('t', NULL, 'short_term', 1)$q$),
  ('null range',        $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', NULL, 1)$q$),
  ('null rank',         $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'short_term', NULL)$q$),
  ('null listener',     $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'short_term', 1, NULL)$q$),
  ('unknown range',     $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'all_time', 1)$q$),
  ('plays range',       $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'plays_month', 1)$q$),
  ('rank 0',            $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'short_term', 0)$q$),
  ('rank -3',           $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'short_term', -3)$q$),
  ('rank 1001',         $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'short_term', 1001)$q$),
  ('rank int max',      $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'short_term', 2147483647)$q$),
  ('infinite date',     $q$SELECT music_tm.save_snapshot_row('t', 'infinity', 'short_term', 1)$q$),
  ('empty listener',    $q$SELECT music_tm.save_snapshot_row('t', '2026-01-01', 'short_term', 1, '')$q$),
  ('unknown track',     $q$SELECT music_tm.save_snapshot_row('nope', '2026-01-01', 'short_term', 1)$q$),
  ('null detail id',    $q$SELECT music_tm.track_detail(NULL)$q$),
  ('min_width -1',      $q$SELECT music_tm.cover_url('{}', -1)$q$),
  ('min_width -1, null track', $q$SELECT music_tm.cover_url(NULL, -1)$q$),
  ('min_width int min', $q$SELECT music_tm.cover_url('{"album": {"images": [{"url": "u", "width": 1}]}}', -2147483648)$q$),
  ('market SWE',        $q$SELECT music_tm.playable_in('{}', 'SWE')$q$),
  ('market S',          $q$SELECT music_tm.playable_in('{}', 'S')$q$),
  ('market empty',      $q$SELECT music_tm.playable_in('{}', '')$q$),
  ('market S1',         $q$SELECT music_tm.playable_in('{}', 'S1')$q$),
  ('market non-ASCII',  $q$SELECT music_tm.playable_in('{}', 'ÅÖ')$q$),
  ('market space',      $q$SELECT music_tm.playable_in('{"available_markets": ["SE"]}', ' SE')$q$),
  ('fields market',     $q$SELECT music_tm.track_fields('{}', 'sweden')$q$),
  ('fields market, not an object', $q$SELECT music_tm.track_fields('[]', 'X')$q$),
  ('accessor on array', $q$SELECT music_tm.isrc('[1]')$q$),
  ('accessor on scalar', $q$SELECT music_tm.release_date('"1981"')$q$)
) AS cases(c, s);

-- the full report of one error, with its hint
\set VERBOSITY default
SELECT music_tm.save_track('{"id": null, "name": "Demo Take", "is_local": true}');

-- nothing but the one good track was written
SELECT (SELECT count(*) FROM music_tm.tracks) AS tracks,
       (SELECT count(*) FROM music_tm.charts) AS charts,
       (SELECT count(*) FROM music_tm.chart_entries) AS entries;

-- an error inside a transaction leaves nothing of that transaction
BEGIN;
SELECT music_tm.save_track('{"id": "u", "name": "U"}');
SELECT music_tm.save_snapshot_row('u', '2026-01-01', 'short_term', 1);
SELECT music_tm.save_snapshot_row('missing', '2026-01-01', 'short_term', 2);
COMMIT;
SELECT count(*) AS tracks FROM music_tm.tracks;
SELECT count(*) AS entries FROM music_tm.chart_entries;
