-- Rank history: rank_history, chart_as_of, run_stats, all_run_stats on a
-- small hand-made series with irregular snapshots, an empty rank (a skipped
-- local file), drops and re-entries; then a snapshot backfilled out of order
-- and one recorded again, after which every later figure must follow.
-- Every function is also checked against its SQL peer (test/bench/peers.sql)
-- on every track and every date.  The peers read one row per entry from
-- public.bench_entries: here a view of music_tm.chart_entries.
SET datestyle = ISO;
TRUNCATE music_tm.tracks, music_tm.charts;
\set ECHO none
\set QUIET on
CREATE VIEW public.bench_entries AS
SELECT listener, time_range, snapshot_date, track_id, rank FROM music_tm.chart_entries;
\i test/bench/peers.sql
\set QUIET off
\set ECHO all

SELECT count(music_tm.save_track(jsonb_build_object('id', t, 'name', 'Song ' || upper(t))))
FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) t;

-- snapshots on 1, 2, 4, 5, 8, 9 March: "previous" is the previous snapshot,
-- not the previous day.  Rank 3 of 4 March is empty (a local file).
SELECT count(music_tm.save_snapshot_row(t, d::date, 'short_term', r)) FROM (VALUES
  ('a', '2026-03-01', 1), ('b', '2026-03-01', 2), ('c', '2026-03-01', 3),
  ('b', '2026-03-02', 1), ('a', '2026-03-02', 2), ('c', '2026-03-02', 3),
  ('b', '2026-03-04', 1), ('c', '2026-03-04', 2), ('d', '2026-03-04', 4),
  ('a', '2026-03-05', 1), ('b', '2026-03-05', 2), ('d', '2026-03-05', 3),
  ('a', '2026-03-08', 1), ('b', '2026-03-08', 2), ('c', '2026-03-08', 3),
  ('a', '2026-03-09', 1), ('e', '2026-03-09', 2)) v(t, d, r);
-- another listener and another range with the same tracks must not mix in
SELECT count(music_tm.save_snapshot_row(t, d::date, rg::music_tm.time_range, r, l)) FROM (VALUES
  ('c', '2026-03-03', 'short_term', 1, 'alice'), ('a', '2026-03-03', 'short_term', 2, 'alice'),
  ('e', '2026-03-06', 'short_term', 1, 'alice'),
  ('c', '2026-03-03', 'long_term', 1, 'default'), ('e', '2026-03-07', 'long_term', 1, 'default')) v(t, d, rg, r, l);

-- every function equals its peer on every track and every date (no rows)
CREATE FUNCTION pg_temp.mismatches(l text, rg music_tm.time_range)
RETURNS TABLE (fn text, arg text) LANGUAGE plpgsql AS $$
DECLARE
    t text;
    d date;
BEGIN
    FOR t IN SELECT DISTINCT e.track_id FROM music_tm.chart_entries e UNION SELECT 'unknown' LOOP
        IF (SELECT array_agg(x::text ORDER BY x.snapshot_date) FROM music_tm.rank_history(t, rg, l) x)
           IS DISTINCT FROM
           (SELECT array_agg(x::text ORDER BY x.snapshot_date) FROM peer.rank_history(t, rg, l) x) THEN
            fn := 'rank_history'; arg := t; RETURN NEXT;
        END IF;
        IF (SELECT array_agg(x::text) FROM music_tm.run_stats(t, rg, l) x)
           IS DISTINCT FROM (SELECT array_agg(x::text) FROM peer.run_stats(t, rg, l) x) THEN
            fn := 'run_stats'; arg := t; RETURN NEXT;
        END IF;
    END LOOP;
    FOR d IN SELECT g::date FROM generate_series('2026-02-27'::date, '2026-03-11', '1 day') g LOOP
        IF (SELECT array_agg(x::text ORDER BY x.rank, x.track_id) FROM music_tm.chart_as_of(d, rg, l) x)
           IS DISTINCT FROM
           (SELECT array_agg(x::text ORDER BY x.rank, x.track_id) FROM peer.chart_as_of(d, rg, l) x) THEN
            fn := 'chart_as_of'; arg := d::text; RETURN NEXT;
        END IF;
        IF (SELECT array_agg(x::text ORDER BY x.rank, x.track_id) FROM music_tm.chart_as_of(d, rg, l) x)
           IS DISTINCT FROM
           (SELECT array_agg(x::text ORDER BY x.rank, x.track_id) FROM peer.chart_as_of_lateral(d, rg, l) x) THEN
            fn := 'chart_as_of_lateral'; arg := d::text; RETURN NEXT;
        END IF;
    END LOOP;
    IF (SELECT array_agg(x::text ORDER BY x.track_id) FROM music_tm.all_run_stats(rg, l) x)
       IS DISTINCT FROM
       (SELECT array_agg(x::text ORDER BY x.track_id) FROM peer.all_run_stats(rg, l) x) THEN
        fn := 'all_run_stats'; arg := ''; RETURN NEXT;
    END IF;
    IF (SELECT array_agg(x::text ORDER BY x.track_id) FROM music_tm.all_run_stats(rg, l) x)
       IS DISTINCT FROM
       (SELECT array_agg(x::text ORDER BY x.track_id) FROM peer.all_run_stats_lateral(rg, l) x) THEN
        fn := 'all_run_stats_lateral'; arg := ''; RETURN NEXT;
    END IF;
END
$$;

-- rank history of c: NEW, SAME, UP, DROPPED, RE-ENTRY, DROPPED
SELECT * FROM music_tm.rank_history('c', 'short_term');
-- a: down on 2 March, dropped on 4 March, back on 5 March
SELECT * FROM music_tm.rank_history('a', 'short_term');
-- d: rows after DROPPED where it stays absent have a NULL status
SELECT * FROM music_tm.rank_history('d', 'short_term');
-- the same track for another listener and another range
SELECT * FROM music_tm.rank_history('c', 'short_term', 'alice');
SELECT * FROM music_tm.rank_history('c', 'long_term');
-- unknown track, unknown listener: empty, not an error
SELECT count(*) FROM music_tm.rank_history('nope', 'short_term');
SELECT count(*) FROM music_tm.rank_history('a', 'short_term', 'nobody');
SELECT count(*) FROM music_tm.rank_history('a', 'medium_term');

-- charts as of dates: before the first chart there is none; 3 March shows
-- the chart of 2 March; 6 and 7 March the chart of 5 March
SELECT count(*) FROM music_tm.chart_as_of('2026-02-28', 'short_term');
SELECT * FROM music_tm.chart_as_of('2026-03-01', 'short_term');
SELECT * FROM music_tm.chart_as_of('2026-03-03', 'short_term');
SELECT * FROM music_tm.chart_as_of('2026-03-04', 'short_term');
SELECT * FROM music_tm.chart_as_of('2026-03-07', 'short_term');
SELECT * FROM music_tm.chart_as_of('infinity', 'short_term');
SELECT count(*) FROM music_tm.chart_as_of('2026-03-09', 'short_term', 'nobody');

-- run statistics
SELECT * FROM music_tm.run_stats('a', 'short_term');
SELECT * FROM music_tm.run_stats('b', 'short_term');
SELECT count(*) FROM music_tm.run_stats('nope', 'short_term');
SELECT * FROM music_tm.all_run_stats('short_term');
-- "the three longest runs" is one query
SELECT track_id, longest_streak, periods_on_chart
FROM music_tm.all_run_stats('short_term')
ORDER BY longest_streak DESC, track_id LIMIT 3;
SELECT count(*) FROM music_tm.all_run_stats('short_term', 'nobody');

SELECT * FROM pg_temp.mismatches('default', 'short_term');
SELECT * FROM pg_temp.mismatches('alice', 'short_term');
SELECT * FROM pg_temp.mismatches('default', 'long_term');

-- Backfill: the chart of 3 March is recorded last (a 1, c 2, b 5).  Every
-- later figure changes: b was SAME on 4 March (1 after 1), now UP from 5;
-- c was UP 3->2 on 4 March, now SAME 2->2; a is DROPPED on 4 March after
-- its rank 1 of 3 March; periods on chart grow by one for a, b, c.
SELECT count(music_tm.save_snapshot_row(t, '2026-03-03', 'short_term', r))
FROM (VALUES ('a', 1), ('c', 2), ('b', 5)) v(t, r);
SELECT * FROM music_tm.chart_as_of('2026-03-04', 'short_term');
SELECT * FROM music_tm.chart_as_of('2026-03-05', 'short_term');
SELECT * FROM music_tm.rank_history('a', 'short_term');
SELECT * FROM music_tm.run_stats('a', 'short_term');
SELECT * FROM music_tm.run_stats('c', 'short_term');
SELECT * FROM pg_temp.mismatches('default', 'short_term');

-- Recorded again: 5 March is recorded anew with other ranks (d 1, a 2, b 3).
-- d now peaks at 1 on 5 March; a's movement and peak figures follow.
SELECT count(music_tm.save_snapshot_row(t, '2026-03-05', 'short_term', r))
FROM (VALUES ('d', 1), ('a', 2), ('b', 3)) v(t, r);
SELECT * FROM music_tm.chart_as_of('2026-03-05', 'short_term');
SELECT * FROM music_tm.chart_as_of('2026-03-08', 'short_term');
SELECT * FROM music_tm.run_stats('d', 'short_term');
SELECT * FROM music_tm.rank_history('b', 'short_term');
SELECT * FROM pg_temp.mismatches('default', 'short_term');

-- a chart recorded again with identical entries changes nothing
CREATE TEMP TABLE before AS SELECT * FROM music_tm.all_run_stats('short_term');
SELECT count(music_tm.save_snapshot_row(track_id, snapshot_date, time_range, rank, listener))
FROM music_tm.chart_entries WHERE snapshot_date = '2026-03-08';
SELECT count(*) AS changed FROM (
  (SELECT * FROM music_tm.all_run_stats('short_term') EXCEPT SELECT * FROM before)
  UNION ALL
  (SELECT * FROM before EXCEPT SELECT * FROM music_tm.all_run_stats('short_term'))) x;

-- a chart deleted: later figures follow again
DELETE FROM music_tm.charts WHERE listener = 'default' AND time_range = 'short_term'
  AND snapshot_date = '2026-03-03';
SELECT * FROM music_tm.chart_as_of('2026-03-04', 'short_term');
SELECT * FROM pg_temp.mismatches('default', 'short_term');

-- a larger random series: functions and peers agree everywhere
SELECT count(music_tm.save_track(jsonb_build_object('id', 'r' || i, 'name', 'R' || i)))
FROM generate_series(1, 30) i;
SELECT setseed(0.5);
SELECT count(music_tm.save_snapshot_row('r' || t, '2026-02-27'::date + d, 'medium_term', rk::int, 'rnd'))
FROM (SELECT d, t, row_number() OVER (PARTITION BY d ORDER BY random()) AS rk
      FROM generate_series(0, 12) d, generate_series(1, 30) t
      WHERE d % 5 <> 3) x
WHERE rk <= 12 AND rk <> 7;
SELECT * FROM pg_temp.mismatches('rnd', 'medium_term');
SELECT count(*) AS tracks, sum(periods_on_chart) AS entries FROM music_tm.all_run_stats('medium_term', 'rnd');
