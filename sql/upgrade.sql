-- Upgrading: 1.0, data recorded, 1.1, more data, 2.0 (every chart moves
-- into its one row); every entry survives with its rank and playable id, the
-- functions give 1.1's results, and the upgraded extension equals a fresh 2.0
-- install object for object (as contrib's oldextversions tests do).

-- CASCADE: earlier tests built objects on the extension (the SQL peers)
SET client_min_messages = warning;
DROP EXTENSION music_tm CASCADE;
RESET client_min_messages;
CREATE EXTENSION music_tm VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'music_tm';

-- 1.0 data, written as 1.0's functions wrote it (the library installed is
-- 2.0's, whose functions write the 2.0 layout only): two charts of one
-- series (a relinked track, a rank left empty by a local file), a chart of
-- another listener and range
INSERT INTO music_tm.tracks (track_id, name, artist_name, raw_json, content_hash, created_at, updated_at)
SELECT j->>'id', j->>'name', j->'artists'->0->>'name', j, music_tm.track_hash(j),
       '2026-05-01 10:00+00', '2026-05-01 10:00+00'
FROM jsonb_array_elements('[
  {"id": "u1", "name": "One", "artists": [{"id": "ar1", "name": "Artist"}]},
  {"id": "u3", "name": "Three"}, {"id": "u4", "name": "Four"}]') j;
INSERT INTO music_tm.tracks (track_id, name, raw_json, content_hash, created_at, updated_at)
VALUES ('u2', 'Two', '{"id": "u2p", "name": "Two", "linked_from": {"id": "u2"}}',
        music_tm.track_hash('{"id": "u2p", "name": "Two", "linked_from": {"id": "u2"}}'),
        '2026-05-01 10:00+00', '2026-05-01 10:00+00');
INSERT INTO music_tm.charts VALUES
  ('ana', 'short_term', '2026-05-01', '2026-05-01 10:00+00'),
  ('ana', 'short_term', '2026-05-08', '2026-05-08 10:00+00'),
  ('default', 'long_term', '2026-05-08', '2026-05-08 10:00+00');
INSERT INTO music_tm.chart_entries VALUES
  ('ana', 'short_term', '2026-05-01', 'u1', 1, NULL),
  ('ana', 'short_term', '2026-05-01', 'u2', 2, 'u2p'),
  ('ana', 'short_term', '2026-05-01', 'u3', 4, NULL),
  ('ana', 'short_term', '2026-05-08', 'u3', 1, NULL),
  ('ana', 'short_term', '2026-05-08', 'u1', 2, NULL),
  ('default', 'long_term', '2026-05-08', 'u4', 1, NULL);

-- 1.0 -> 1.1, and a chart recorded under 1.1 (an empty chart, as 1.1 left
-- for a page with no items)
ALTER EXTENSION music_tm UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'music_tm';
INSERT INTO music_tm.charts VALUES ('bo', 'medium_term', '2026-05-09', '2026-05-09 10:00+00');

CREATE TABLE upgrade_before AS
SELECT 'entries' AS what, listener || ' ' || time_range || ' ' || snapshot_date || ' #' || rank
       || ' ' || track_id || coalesce(' via ' || playable_id, '') AS row
FROM music_tm.chart_entries
UNION ALL SELECT 'charts', listener || ' ' || time_range || ' ' || snapshot_date || ' ' || recorded_at
FROM music_tm.charts
UNION ALL SELECT 'tracks', track_id || ' ' || name || ' ' || content_hash || ' ' || created_at || ' ' || updated_at
FROM music_tm.tracks;

ALTER EXTENSION music_tm UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'music_tm';

-- every row survives as it was
SELECT count(*) AS rows_before FROM upgrade_before;
SELECT * FROM (
  SELECT 'entries' AS what, listener || ' ' || time_range || ' ' || snapshot_date || ' #' || rank
         || ' ' || track_id || coalesce(' via ' || playable_id, '') AS row
  FROM music_tm.chart_entries
  UNION ALL SELECT 'charts', listener || ' ' || time_range || ' ' || snapshot_date || ' ' || recorded_at
  FROM music_tm.charts
  UNION ALL SELECT 'tracks', track_id || ' ' || name || ' ' || content_hash || ' ' || created_at || ' ' || updated_at
  FROM music_tm.tracks) now
FULL JOIN upgrade_before b USING (what, row)
WHERE now.what IS NULL OR b.what IS NULL;

-- the functions give 1.1's results on the old data (these outputs are the
-- ones 1.1 gave) and record new data
SELECT rank, track_id, status FROM music_tm.chart_as_of('2026-05-08', 'short_term', 'ana');
SELECT * FROM music_tm.rank_history('u1', 'short_term', 'ana');
SELECT music_tm.sparkline('u3', 'short_term', 'ana');
SELECT tracks_inserted, tracks_unchanged, entries_inserted, entries_removed
FROM music_tm.record_top_tracks('short_term', '[{"id": "u4", "name": "Four"},
  {"id": "u2p", "name": "Two", "linked_from": {"id": "u2"}}]', '2026-05-15', 'ana');
SELECT * FROM music_tm.chart_diff('2026-05-08', '2026-05-15', 'short_term', 'ana');
SELECT count(*) AS listener_roles FROM music_tm.listener_roles;

-- Everything an extension object is, as text with no OIDs: membership,
-- definitions, columns, constraints, indexes, types, comments, privileges
-- (and the initial privileges pg_dump compares against), dump config.
CREATE VIEW mtm_objects AS
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'music_tm'),
-- (Array and row types made implicitly with another object are members from
-- PostgreSQL 17 on; they follow their object, so they are left out.)
members AS (
  SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
  WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
    AND NOT EXISTS (SELECT FROM pg_depend i
                    WHERE i.classid = d.classid AND i.objid = d.objid AND i.deptype = 'i'))
SELECT 'member' AS kind, pg_describe_object(classid, objid, objsubid) AS object,
       coalesce(obj_description(objid, (SELECT relname FROM pg_class WHERE oid = classid)), '(no comment)') AS detail
FROM members
UNION ALL
SELECT 'function', p.oid::regprocedure::text,
       pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, 'default')
FROM pg_proc p WHERE p.pronamespace = 'music_tm'::regnamespace
UNION ALL
SELECT 'relation', c.oid::regclass::text,
       c.relkind::text || ' acl=' || coalesce(c.relacl::text, 'default') || ' rls=' || c.relrowsecurity
       || ' force=' || c.relforcerowsecurity || ' options=' || coalesce(c.reloptions::text, '')
       || ' persistence=' || c.relpersistence::text
FROM pg_class c WHERE c.relnamespace = 'music_tm'::regnamespace
UNION ALL
SELECT 'column', a.attrelid::regclass::text || '.' || a.attname,
       a.attnum || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
       || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' generated=' || a.attgenerated::text
       || ' compression=' || a.attcompression::text || ' storage=' || a.attstorage::text
       || ' collation=' || coalesce(a.attcollation::regcollation::text, '')
       || ' acl=' || coalesce(a.attacl::text, '') || ' comment=' || coalesce(col_description(a.attrelid, a.attnum), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE c.relnamespace = 'music_tm'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || conname,
       pg_get_constraintdef(oid) || ' deferrable=' || condeferrable || ' validated=' || convalidated
-- (from PostgreSQL 18 on NOT NULL is a constraint too; columns show it)
FROM pg_constraint WHERE connamespace = 'music_tm'::regnamespace AND contype <> 'n'
UNION ALL
SELECT 'index', indexrelid::regclass::text, pg_get_indexdef(indexrelid)
FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'music_tm'::regnamespace)
UNION ALL
SELECT 'policy', polrelid::regclass::text || ' ' || polname,
       polcmd::text || ' ' || coalesce(pg_get_expr(polqual, polrelid), '') || ' / ' || coalesce(pg_get_expr(polwithcheck, polrelid), '')
FROM pg_policy WHERE polrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'music_tm'::regnamespace)
UNION ALL
SELECT 'type', t.oid::regtype::text,
       t.typtype::text || ' acl=' || coalesce(t.typacl::text, 'default') || ' labels='
       || coalesce((SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid), '')
FROM pg_type t WHERE t.typnamespace = 'music_tm'::regnamespace
UNION ALL
SELECT 'init_privs', pg_describe_object(classoid, objoid, objsubid), privtype::text || ' ' || initprivs::text
FROM pg_init_privs
WHERE (classoid = 'pg_proc'::regclass AND objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'music_tm'::regnamespace))
   OR (classoid = 'pg_class'::regclass AND objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'music_tm'::regnamespace))
   OR (classoid = 'pg_namespace'::regclass AND objoid = 'music_tm'::regnamespace)
   OR (classoid = 'pg_type'::regclass AND objoid IN (SELECT oid FROM pg_type WHERE typnamespace = 'music_tm'::regnamespace))
UNION ALL
SELECT 'schema', nspname, 'acl=' || coalesce(nspacl::text, 'default') || ' comment=' || coalesce(obj_description(oid, 'pg_namespace'), '')
FROM pg_namespace WHERE nspname = 'music_tm'
UNION ALL
SELECT 'dump_config', c::regclass::text, coalesce(ext.extcondition[i], '')
FROM ext, unnest(ext.extconfig) WITH ORDINALITY AS u(c, i);

CREATE TABLE upgraded_objects AS SELECT * FROM mtm_objects;

-- a fresh 2.0 install
DROP EXTENSION music_tm;
CREATE EXTENSION music_tm;
SELECT extversion FROM pg_extension WHERE extname = 'music_tm';

-- not vacuous: every kind of object is there
SELECT kind, count(*) FROM upgraded_objects GROUP BY kind ORDER BY kind;

-- object for object: nothing in one that is not in the other
(SELECT 'only upgraded' AS side, * FROM upgraded_objects EXCEPT ALL SELECT 'only upgraded', * FROM mtm_objects)
UNION ALL
(SELECT 'only fresh', * FROM mtm_objects EXCEPT ALL SELECT 'only fresh', * FROM upgraded_objects);

-- and the comparison does see a difference: one changed comment
COMMENT ON COLUMN music_tm.listener_roles.listener IS 'changed';
SELECT kind, object FROM (SELECT * FROM mtm_objects EXCEPT ALL SELECT * FROM upgraded_objects) d;
COMMENT ON COLUMN music_tm.listener_roles.listener IS
  'A listener of music_tm.charts and music_tm.chart_entries';

DROP VIEW mtm_objects;
DROP TABLE upgraded_objects, upgrade_before;

-- 1.x let save_snapshot_row put two tracks at one rank; 2.0 cannot hold
-- that, and the upgrade stops and says where
DROP EXTENSION music_tm;
CREATE EXTENSION music_tm VERSION '1.1';
INSERT INTO music_tm.tracks (track_id, name, raw_json, content_hash, created_at, updated_at)
SELECT id, id, jsonb_build_object('id', id), 0, now(), now() FROM unnest('{x1,x2}'::text[]) id;
INSERT INTO music_tm.charts VALUES ('ana', 'short_term', '2026-05-01', now());
INSERT INTO music_tm.chart_entries VALUES ('ana', 'short_term', '2026-05-01', 'x1', 1),
  ('ana', 'short_term', '2026-05-01', 'x2', 1);
-- (no CONTEXT: PostgreSQL 18 adds the script's file and line to it)
\set VERBOSITY default
\set SHOW_CONTEXT never
ALTER EXTENSION music_tm UPDATE;
\set SHOW_CONTEXT errors
SELECT extversion FROM pg_extension WHERE extname = 'music_tm';
DELETE FROM music_tm.chart_entries WHERE track_id = 'x2';
ALTER EXTENSION music_tm UPDATE;
SELECT snapshot_date, track_ids FROM music_tm.charts;
DROP EXTENSION music_tm;
CREATE EXTENSION music_tm;
