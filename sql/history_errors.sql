-- Bad arguments of the rank history functions: clear errors with SQLSTATEs;
-- unknown listeners and tracks give empty results instead.
SET datestyle = ISO;
TRUNCATE music_tm.tracks, music_tm.charts;

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
    n bigint;
BEGIN
    EXECUTE sql;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN 'ok: ' || n || ' rows';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' | ' || nullif(detail, ''), '');
END
$$;

SELECT c AS "case", pg_temp.try(s) AS result
FROM (VALUES
  ('history null track',   $q$SELECT * FROM music_tm.rank_history(NULL, 'short_term')$q$),
  ('history null range',   $q$SELECT * FROM music_tm.rank_history('a', NULL)$q$),
  ('history null listener',$q$SELECT * FROM music_tm.rank_history('a', 'short_term', NULL)$q$),
  ('history bad range',    $q$SELECT * FROM music_tm.rank_history('a', 'all_time')$q$),
  ('as_of null date',      $q$SELECT * FROM music_tm.chart_as_of(NULL, 'short_term')$q$),
  ('as_of null range',     $q$SELECT * FROM music_tm.chart_as_of('2026-01-01', NULL)$q$),
  ('as_of null listener',  $q$SELECT * FROM music_tm.chart_as_of('2026-01-01', 'long_term', NULL)$q$),
  ('diff null from',       $q$SELECT * FROM music_tm.chart_diff(NULL, '2026-01-02', 'short_term')$q$),
  ('diff null to',         $q$SELECT * FROM music_tm.chart_diff('2026-01-01', NULL, 'short_term')$q$),
  ('diff null range',      $q$SELECT * FROM music_tm.chart_diff('2026-01-01', '2026-01-02', NULL)$q$),
  ('diff reversed',        $q$SELECT * FROM music_tm.chart_diff('2026-01-02', '2026-01-01', 'short_term')$q$),
  ('churn reversed',       $q$SELECT * FROM music_tm.chart_churn('2026-01-02', '2026-01-01', 'short_term')$q$),
  ('churn null listener',  $q$SELECT * FROM music_tm.chart_churn('2026-01-01', '2026-01-02', 'short_term', NULL)$q$),
  ('run_stats null track', $q$SELECT * FROM music_tm.run_stats(NULL, 'short_term')$q$),
  ('run_stats null range', $q$SELECT * FROM music_tm.run_stats('a', NULL)$q$),
  ('all_run null range',   $q$SELECT * FROM music_tm.all_run_stats(NULL)$q$),
  ('all_run null listener',$q$SELECT * FROM music_tm.all_run_stats('short_term', NULL)$q$),
  ('artist null',          $q$SELECT * FROM music_tm.artist_history(NULL, 'short_term')$q$),
  ('artist null range',    $q$SELECT * FROM music_tm.artist_run_stats('x', NULL)$q$),
  ('sparkline null range', $q$SELECT music_tm.sparkline('a', NULL)$q$),
  ('sparkline reversed',   $q$SELECT music_tm.sparkline('a', 'short_term', 'default', '2026-02-01', '2026-01-01')$q$),
  ('svg reversed',         $q$SELECT music_tm.run_svg('a', 'short_term', 'default', '2026-02-01', '2026-01-01')$q$),
  ('svg tiny',             $q$SELECT music_tm.run_svg('a', 'short_term', width => 10)$q$),
  ('svg null height',      $q$SELECT music_tm.run_svg('a', 'short_term', height => NULL)$q$),
  ('sparklines null ids',  $q$SELECT * FROM music_tm.sparklines(NULL, 'short_term')$q$),
  ('sparklines null range',$q$SELECT * FROM music_tm.sparklines('{a}', NULL)$q$),
  ('sparklines null listener', $q$SELECT * FROM music_tm.sparklines('{a}', 'short_term', NULL)$q$),
  ('sparklines null item', $q$SELECT * FROM music_tm.sparklines('{a,NULL}', 'short_term')$q$),
  ('sparklines 2-D',       $q$SELECT * FROM music_tm.sparklines('{{a},{b}}', 'short_term')$q$),
  ('sparklines too many',  $q$SELECT * FROM music_tm.sparklines(array_fill('a'::text, ARRAY[1001]), 'short_term')$q$),
  ('sparklines reversed',  $q$SELECT * FROM music_tm.sparklines('{a}', 'short_term', 'default', '2026-02-01', '2026-01-01')$q$),
  -- empty, not errors
  ('history unknown',      $q$SELECT * FROM music_tm.rank_history('nope', 'short_term', 'nobody')$q$),
  ('as_of unknown',        $q$SELECT * FROM music_tm.chart_as_of('2026-01-01', 'short_term', 'nobody')$q$),
  ('diff unknown',         $q$SELECT * FROM music_tm.chart_diff('2026-01-01', '2026-01-01', 'short_term', 'nobody')$q$),
  ('churn unknown',        $q$SELECT * FROM music_tm.chart_churn('2026-01-01', '2026-01-02', 'short_term', 'nobody')$q$),
  ('run_stats unknown',    $q$SELECT * FROM music_tm.run_stats('nope', 'short_term')$q$),
  ('all_run unknown',      $q$SELECT * FROM music_tm.all_run_stats('short_term', 'nobody')$q$),
  ('artist unknown',       $q$SELECT * FROM music_tm.artist_history('Nobody', 'short_term')$q$),
  ('artist stats unknown', $q$SELECT * FROM music_tm.artist_run_stats('Nobody', 'short_term')$q$),
  ('sparkline unknown',    $q$SELECT music_tm.sparkline('nope', 'short_term') WHERE music_tm.sparkline('nope', 'short_term') IS NOT NULL$q$),
  ('svg unknown',          $q$SELECT music_tm.run_svg('nope', 'short_term') WHERE music_tm.run_svg('nope', 'short_term') IS NOT NULL$q$),
  ('sparklines empty',     $q$SELECT * FROM music_tm.sparklines('{}', 'short_term')$q$),
  ('sparklines at the cap',$q$SELECT * FROM music_tm.sparklines(array_fill('a'::text, ARRAY[1000]), 'short_term', 'nobody')$q$)
) AS cases(c, s);

-- the full report of one error
\set VERBOSITY default
SELECT * FROM music_tm.chart_diff('2026-03-09', '2026-03-01', 'short_term');
SELECT * FROM music_tm.rank_history('a', NULL);
