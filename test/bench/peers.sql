-- SQL peers of the rank history functions: what a DBA would write for the
-- same outputs, with window functions (lag), gaps-and-islands for streaks and
-- as-of figures by window, and for the chart as of a date and the run
-- statistics of every track also with lateral subqueries (the benchmark
-- times each and compares with the fastest).  They live in a schema of their own, "peer", and
-- are used twice: the regression tests check that every music_tm function
-- returns exactly what its peer returns, and the benchmark (history.py)
-- times each function against its peer on the same data.
--
-- They are plain LANGUAGE sql STABLE functions without SET clauses, so the
-- planner inlines them into the calling query.

CREATE SCHEMA peer;

-- rank history: every snapshot from the debut on, lag() over the snapshots
CREATE FUNCTION peer.rank_history(p_track text, p_range music_tm.time_range,
                                  p_listener text DEFAULT 'default')
RETURNS TABLE (snapshot_date date, rank integer, previous_rank integer,
               movement integer, status text)
LANGUAGE sql STABLE AS $$
  WITH h AS (
    SELECT c.snapshot_date, e.rank,
           lag(e.rank) OVER w AS prev,
           row_number() OVER w AS n
    FROM music_tm.charts c
    LEFT JOIN public.bench_entries e
           ON e.listener = c.listener AND e.time_range = c.time_range
          AND e.snapshot_date = c.snapshot_date AND e.track_id = p_track
    WHERE c.listener = p_listener AND c.time_range = p_range
      AND c.snapshot_date >= (SELECT min(x.snapshot_date) FROM public.bench_entries x
                              WHERE x.listener = p_listener AND x.time_range = p_range
                                AND x.track_id = p_track)
    WINDOW w AS (ORDER BY c.snapshot_date))
  SELECT snapshot_date, rank, prev, prev - rank,
         CASE WHEN rank IS NOT NULL THEN
                CASE WHEN n = 1 THEN 'NEW' WHEN prev IS NULL THEN 'RE-ENTRY'
                     WHEN rank < prev THEN 'UP' WHEN rank > prev THEN 'DOWN' ELSE 'SAME' END
              WHEN prev IS NOT NULL THEN 'DROPPED' END
  FROM h ORDER BY snapshot_date
$$;

-- chart as of a date: window figures over the series up to the chart's date
CREATE FUNCTION peer.chart_as_of(p_as_of date, p_range music_tm.time_range,
                                 p_listener text DEFAULT 'default')
RETURNS TABLE (snapshot_date date, rank integer, track_id text,
               last_position integer, movement integer, status text,
               peak integer, periods_on_chart integer, debut date)
LANGUAGE sql STABLE AS $$
  WITH c AS (
    SELECT max(ch.snapshot_date) AS d FROM music_tm.charts ch
    WHERE ch.listener = p_listener AND ch.time_range = p_range
      AND ch.snapshot_date <= p_as_of),
  dates AS (
    SELECT ch.snapshot_date, lag(ch.snapshot_date) OVER (ORDER BY ch.snapshot_date) AS prev_date
    FROM music_tm.charts ch, c
    WHERE ch.listener = p_listener AND ch.time_range = p_range AND ch.snapshot_date <= c.d),
  h AS (
    SELECT e.track_id, e.snapshot_date, e.rank, d.prev_date,
           lag(e.snapshot_date) OVER t AS prev_seen, lag(e.rank) OVER t AS prev_rank,
           min(e.rank) OVER t AS peak, count(*) OVER t AS periods,
           first_value(e.snapshot_date) OVER t AS debut
    FROM public.bench_entries e JOIN dates d ON d.snapshot_date = e.snapshot_date
    WHERE e.listener = p_listener AND e.time_range = p_range
    WINDOW t AS (PARTITION BY e.track_id ORDER BY e.snapshot_date))
  SELECT h.snapshot_date, h.rank, h.track_id,
         CASE WHEN h.prev_seen = h.prev_date THEN h.prev_rank END,
         CASE WHEN h.prev_seen = h.prev_date THEN h.prev_rank - h.rank END,
         CASE WHEN h.prev_seen = h.prev_date THEN
                CASE WHEN h.rank < h.prev_rank THEN 'UP' WHEN h.rank > h.prev_rank THEN 'DOWN' ELSE 'SAME' END
              WHEN h.periods = 1 THEN 'NEW' ELSE 'RE-ENTRY' END,
         h.peak, h.periods::integer, h.debut
  FROM h, c WHERE h.snapshot_date = c.d
  ORDER BY h.rank, h.track_id
$$;

-- chart as of a date, the other way a DBA writes it: the chart's entries,
-- each with a lateral aggregate over its own entries up to that date (the
-- primary key's range for the track, an index-only scan) and a join to the
-- previous chart for its last position.  No window over the whole series.
CREATE FUNCTION peer.chart_as_of_lateral(p_as_of date, p_range music_tm.time_range,
                                         p_listener text DEFAULT 'default')
RETURNS TABLE (snapshot_date date, rank integer, track_id text,
               last_position integer, movement integer, status text,
               peak integer, periods_on_chart integer, debut date)
LANGUAGE sql STABLE AS $$
  WITH c AS (
    SELECT ch.snapshot_date AS d FROM music_tm.charts ch
    WHERE ch.listener = p_listener AND ch.time_range = p_range
      AND ch.snapshot_date <= p_as_of
    ORDER BY ch.snapshot_date DESC LIMIT 1),
  p AS (
    SELECT (SELECT ch.snapshot_date FROM music_tm.charts ch
            WHERE ch.listener = p_listener AND ch.time_range = p_range
              AND ch.snapshot_date < c.d
            ORDER BY ch.snapshot_date DESC LIMIT 1) AS prev_date
    FROM c)
  SELECT c.d, e.rank, e.track_id, l.rank, l.rank - e.rank,
         CASE WHEN l.rank IS NOT NULL THEN
                CASE WHEN e.rank < l.rank THEN 'UP' WHEN e.rank > l.rank THEN 'DOWN' ELSE 'SAME' END
              WHEN s.periods = 1 THEN 'NEW' ELSE 'RE-ENTRY' END,
         s.peak, s.periods::integer, s.debut
  FROM c CROSS JOIN p
  JOIN public.bench_entries e
    ON e.listener = p_listener AND e.time_range = p_range AND e.snapshot_date = c.d
  LEFT JOIN public.bench_entries l
    ON l.listener = p_listener AND l.time_range = p_range
   AND l.snapshot_date = p.prev_date AND l.track_id = e.track_id
  CROSS JOIN LATERAL (
    SELECT min(x.rank) AS peak, count(*) AS periods, min(x.snapshot_date) AS debut
    FROM public.bench_entries x
    WHERE x.listener = p_listener AND x.time_range = p_range
      AND x.track_id = e.track_id AND x.snapshot_date <= c.d) s
  ORDER BY e.rank, e.track_id
$$;

-- run statistics of every track: gaps-and-islands over snapshot numbers
CREATE FUNCTION peer.all_run_stats(p_range music_tm.time_range,
                                   p_listener text DEFAULT 'default')
RETURNS TABLE (track_id text, debut date, last_seen date, peak integer,
               peak_date date, periods_on_chart integer,
               periods_at_peak integer, periods_at_no1 integer,
               longest_streak integer, current_streak integer)
LANGUAGE sql STABLE AS $$
  WITH d AS (
    SELECT ch.snapshot_date, row_number() OVER (ORDER BY ch.snapshot_date) AS n,
           count(*) OVER () AS total
    FROM music_tm.charts ch
    WHERE ch.listener = p_listener AND ch.time_range = p_range),
  e AS (
    SELECT e.track_id, e.snapshot_date, e.rank, d.n, d.total,
           d.n - row_number() OVER (PARTITION BY e.track_id ORDER BY e.snapshot_date) AS island,
           min(e.rank) OVER (PARTITION BY e.track_id) AS peak
    FROM public.bench_entries e JOIN d ON d.snapshot_date = e.snapshot_date
    WHERE e.listener = p_listener AND e.time_range = p_range),
  islands AS (
    SELECT e.track_id, count(*) AS len, max(e.n) AS last_n, max(e.total) AS total
    FROM e GROUP BY e.track_id, e.island),
  runs AS (
    SELECT i.track_id, max(i.len) AS longest,
           coalesce(max(i.len) FILTER (WHERE i.last_n = i.total), 0) AS cur
    FROM islands i GROUP BY i.track_id)
  SELECT e.track_id, min(e.snapshot_date), max(e.snapshot_date), min(e.rank),
         min(e.snapshot_date) FILTER (WHERE e.rank = e.peak),
         count(*)::integer, (count(*) FILTER (WHERE e.rank = e.peak))::integer,
         (count(*) FILTER (WHERE e.rank = 1))::integer,
         r.longest::integer, r.cur::integer
  FROM e JOIN runs r ON r.track_id = e.track_id
  GROUP BY e.track_id, r.longest, r.cur
  ORDER BY e.track_id
$$;

-- run statistics of one track: the same, for that track's entries only
CREATE FUNCTION peer.run_stats(p_track text, p_range music_tm.time_range,
                               p_listener text DEFAULT 'default')
RETURNS TABLE (track_id text, debut date, last_seen date, peak integer,
               peak_date date, periods_on_chart integer,
               periods_at_peak integer, periods_at_no1 integer,
               longest_streak integer, current_streak integer)
LANGUAGE sql STABLE AS $$
  WITH d AS (
    SELECT ch.snapshot_date, row_number() OVER (ORDER BY ch.snapshot_date) AS n,
           count(*) OVER () AS total
    FROM music_tm.charts ch
    WHERE ch.listener = p_listener AND ch.time_range = p_range),
  e AS (
    SELECT e.track_id, e.snapshot_date, e.rank, d.n, d.total,
           d.n - row_number() OVER (ORDER BY e.snapshot_date) AS island,
           min(e.rank) OVER () AS peak
    FROM public.bench_entries e JOIN d ON d.snapshot_date = e.snapshot_date
    WHERE e.listener = p_listener AND e.time_range = p_range AND e.track_id = p_track),
  islands AS (
    SELECT count(*) AS len, max(e.n) AS last_n, max(e.total) AS total
    FROM e GROUP BY e.island),
  runs AS (
    SELECT max(i.len) AS longest,
           coalesce(max(i.len) FILTER (WHERE i.last_n = i.total), 0) AS cur
    FROM islands i)
  SELECT e.track_id, min(e.snapshot_date), max(e.snapshot_date), min(e.rank),
         min(e.snapshot_date) FILTER (WHERE e.rank = e.peak),
         count(*)::integer, (count(*) FILTER (WHERE e.rank = e.peak))::integer,
         (count(*) FILTER (WHERE e.rank = 1))::integer,
         r.longest::integer, r.cur::integer
  FROM e, runs r
  GROUP BY e.track_id, r.longest, r.cur
$$;

-- run statistics of every track, lateral: each charted track's own run
-- statistics (peer.run_stats above, from its primary key range)
CREATE FUNCTION peer.all_run_stats_lateral(p_range music_tm.time_range,
                                           p_listener text DEFAULT 'default')
RETURNS TABLE (track_id text, debut date, last_seen date, peak integer,
               peak_date date, periods_on_chart integer,
               periods_at_peak integer, periods_at_no1 integer,
               longest_streak integer, current_streak integer)
LANGUAGE sql STABLE AS $$
  SELECT r.*
  FROM (SELECT DISTINCT e.track_id FROM public.bench_entries e
        WHERE e.listener = p_listener AND e.time_range = p_range) t
  CROSS JOIN LATERAL peer.run_stats(t.track_id, p_range, p_listener) r
  ORDER BY r.track_id
$$;
