-- sparkline and run_svg.
SET datestyle = ISO;
TRUNCATE music_tm.tracks, music_tm.charts;
SELECT music_tm.save_track('{"id": "p", "name": "Rock & <Roll>"}');
SELECT music_tm.save_track('{"id": "q", "name": "Other"}');
-- p: #1, #5, absent, #10, #3 on the snapshots of 1, 2, 3, 5, 6 June
SELECT count(music_tm.save_snapshot_row(t, d::date, 'short_term', r)) FROM (VALUES
  ('p', '2026-06-01', 1), ('q', '2026-06-01', 2),
  ('p', '2026-06-02', 5), ('q', '2026-06-02', 1),
  ('q', '2026-06-03', 1),
  ('p', '2026-06-05', 10), ('q', '2026-06-05', 1),
  ('p', '2026-06-06', 3), ('q', '2026-06-06', 1)) v(t, d, r);

-- full block = #1, lowest bar = the worst rank in the window rounded up to a
-- multiple of 10 (#10), dot = absent
SELECT music_tm.sparkline('p', 'short_term');
-- windows: the worst rank is taken within the window; a track between #1
-- and #5 is drawn on a scale down to #10
SELECT music_tm.sparkline('p', 'short_term', 'default', '2026-05-30', '2026-06-05');
SELECT music_tm.sparkline('p', 'short_term', 'default', '2026-06-02');
SELECT music_tm.sparkline('p', 'short_term', to_date => '2026-06-02');
-- always #1: all full blocks; never charted in the range: NULL
SELECT music_tm.sparkline('q', 'short_term', from_date => '2026-06-02');
SELECT music_tm.sparkline('p', 'long_term') IS NULL AS no_run;
-- a window with snapshots but none of the track's: only dots
SELECT music_tm.sparkline('p', 'short_term', 'default', '2026-06-03', '2026-06-04');

-- sparklines: sparkline() for many tracks from one read of the series, a
-- row per element in their order (repeats too), NULL where nothing to draw
SELECT * FROM music_tm.sparklines('{q,p,nope,p}', 'short_term');
SELECT * FROM music_tm.sparklines('{p,q}', 'short_term', 'default', '2026-05-30', '2026-06-05');
SELECT * FROM music_tm.sparklines('{p,q}', 'short_term', from_date => '2026-06-02', to_date => '2026-06-05');
SELECT * FROM music_tm.sparklines('{p}', 'long_term');
-- and they equal sparkline() for every track, listener, range and window
SELECT count(*) AS compared,
       count(*) FILTER (WHERE s.sparkline IS DISTINCT FROM
                        music_tm.sparkline(s.track_id, r, 'default', f, t)) AS different
FROM unnest(enum_range(NULL::music_tm.time_range)) r,
     (VALUES (NULL::date, NULL::date), ('2026-06-02', NULL), (NULL, '2026-06-03'),
             ('2026-05-01', '2026-06-30'), ('2026-06-04', '2026-06-04')) w(f, t),
     LATERAL music_tm.sparklines('{p,q,nope}', r, 'default', f, t) s;

-- the SVG parses as an XML document
SELECT xmlparse(DOCUMENT music_tm.run_svg('p', 'short_term')) IS DOCUMENT AS parses;
SELECT music_tm.run_svg('p', 'short_term', width => 320, height => 160);
-- root element, title with the escaped name, one circle per entry, one
-- polyline per stretch of consecutive snapshots (1-2 June, 5-6 June)
WITH svg AS (SELECT xmlparse(DOCUMENT music_tm.run_svg('p', 'short_term')) AS x),
     ns AS (SELECT ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']] AS n)
SELECT (xpath('name(/*)', x))[1]::text AS root,
       (xpath('/s:svg/s:title/text()', x, n))[1]::text AS title,
       (xpath('count(//s:circle)', x, n))[1]::text AS circles,
       (xpath('count(//s:polyline)', x, n))[1]::text AS polylines
FROM svg, ns;
-- rank axis inverted: the better the rank, the smaller y; dates along x:
-- the later the date, the larger x, to scale (3 days from 2 to 5 June)
WITH svg AS (SELECT xmlparse(DOCUMENT music_tm.run_svg('p', 'short_term')) AS x),
     ns AS (SELECT ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']] AS n),
     c AS (SELECT (xpath('/*/@data-date', c))[1]::text::date AS d,
                  (xpath('/*/@data-rank', c))[1]::text::int AS rank,
                  (xpath('/*/@cx', c))[1]::text::numeric AS cx,
                  (xpath('/*/@cy', c))[1]::text::numeric AS cy
           FROM svg, ns, unnest(xpath('//s:circle', x, n)) c)
SELECT d, rank, cx, cy,
       rank(*) OVER (ORDER BY cy) = rank(*) OVER (ORDER BY rank) AS y_follows_rank,
       rank(*) OVER (ORDER BY cx) = rank(*) OVER (ORDER BY d) AS x_follows_date
FROM c ORDER BY d;
-- nothing to draw: NULL
SELECT music_tm.run_svg('nope', 'short_term') IS NULL AS no_run;
