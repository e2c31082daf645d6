-- The statements the rank history functions run (as their C code prepares
-- them): each reads only the rows of one listener and range, and of them only
-- one track or one chart, with index-only scans.
SET datestyle = ISO;
TRUNCATE music_tm.tracks, music_tm.charts;
SELECT count(music_tm.save_track(jsonb_build_object('id', 'g' || i, 'name', 'G' || i)))
FROM generate_series(1, 60) i;
SELECT count(music_tm.save_snapshot_row('g' || ((i * 7 + d * (l + 1)) % 60 + 1),
                                        '2026-01-01'::date + d, rg, i, 'l' || l))
FROM generate_series(0, 59) d, generate_series(1, 20) i, generate_series(1, 4) l,
     unnest(enum_range(NULL::music_tm.time_range)) rg;
VACUUM ANALYZE music_tm.charts, music_tm.chart_entries;
SET plan_cache_mode = force_generic_plan;

-- snapshot dates of a series (rank_history, run_stats, pictures)
PREPARE dates(text, music_tm.time_range, date, date) AS
SELECT snapshot_date FROM music_tm.charts
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND snapshot_date OPERATOR(pg_catalog.>=) $3 AND snapshot_date OPERATOR(pg_catalog.<=) $4
 ORDER BY snapshot_date;
EXPLAIN (COSTS OFF) EXECUTE dates('l1', 'short_term', '-infinity', 'infinity');

-- one track's entries (rank_history, run_stats, pictures)
PREPARE track_run(text, music_tm.time_range, text) AS
SELECT snapshot_date, rank FROM music_tm.chart_entries
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND track_id OPERATOR(pg_catalog.=) $3 ORDER BY snapshot_date;
EXPLAIN (COSTS OFF) EXECUTE track_run('l1', 'short_term', 'g7');

-- chart as of a date: its date and the previous snapshot, then its entries
PREPARE chart_at(text, music_tm.time_range, date) AS
SELECT snapshot_date FROM music_tm.charts
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND snapshot_date OPERATOR(pg_catalog.<=) $3 ORDER BY snapshot_date DESC LIMIT 2;
EXPLAIN (COSTS OFF) EXECUTE chart_at('l1', 'short_term', '2026-02-01');
PREPARE chart_entries(text, music_tm.time_range, date) AS
SELECT track_id, rank FROM music_tm.chart_entries
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 AND snapshot_date OPERATOR(pg_catalog.=) $3 ORDER BY rank;
EXPLAIN (COSTS OFF) EXECUTE chart_entries('l1', 'short_term', '2026-02-01');

-- the histories of a chart's tracks up to its date, in one statement
-- (one descent of the primary key per track)
PREPARE tracks_history(text, music_tm.time_range, text[], date) AS
SELECT e.track_id, e.snapshot_date, e.rank
 FROM pg_catalog.unnest($3) AS t(id),
 LATERAL (SELECT x.track_id, x.snapshot_date, x.rank FROM music_tm.chart_entries x
   WHERE x.listener OPERATOR(pg_catalog.=) $1 AND x.time_range OPERATOR(pg_catalog.=) $2
   AND x.track_id OPERATOR(pg_catalog.=) t.id AND x.snapshot_date OPERATOR(pg_catalog.<=) $4
   OFFSET 0) e;
EXPLAIN (COSTS OFF) EXECUTE tracks_history('l1', 'short_term', ARRAY['g1', 'g2'], '2026-02-01');

-- all_run_stats: the whole series in primary key order
PREPARE series_entries(text, music_tm.time_range) AS
SELECT track_id, snapshot_date, rank FROM music_tm.chart_entries
 WHERE listener OPERATOR(pg_catalog.=) $1 AND time_range OPERATOR(pg_catalog.=) $2
 ORDER BY track_id, snapshot_date;
EXPLAIN (COSTS OFF) EXECUTE series_entries('l1', 'short_term');

-- the index-only scans touch no heap page once the table is vacuumed
CREATE FUNCTION pg_temp.heap_fetches(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    out text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        IF line ~ 'Heap Fetches|Index Only Scan' THEN
            out := out || regexp_replace(line, '^\s+|\s+\(.*$|->\s*', '', 'g') || '; ';
        END IF;
    END LOOP;
    RETURN out;
END
$$;
SELECT pg_temp.heap_fetches($$EXECUTE track_run('l1', 'short_term', 'g7')$$);
SELECT pg_temp.heap_fetches($$EXECUTE chart_entries('l1', 'short_term', '2026-02-01')$$);
SELECT pg_temp.heap_fetches($$EXECUTE tracks_history('l1', 'short_term', ARRAY['g1', 'g2'], '2026-02-01')$$);
RESET plan_cache_mode;
