-- Script security and privileges.
--
-- An unprivileged role plants objects named like the ones music_tm's scripts
-- and statements use (an = and <> on text, unnest, jsonb_array_elements,
-- pg_extension_config_dump, tables named like ours and like the catalogs the
-- scripts read), before CREATE EXTENSION and again before ALTER EXTENSION
-- UPDATE, and the installing session puts public before pg_catalog and has
-- temp tables named like ours (pg_temp comes first for relations when it is
-- not listed).  Every hostile function records its call in hijack_log: none
-- may be called, no planted table may get a row, and the functions still
-- give the right answers.  Then: PUBLIC has no privilege at all, and roles
-- with no grants, with music_tm_reader and with music_tm_writer can do
-- exactly what the README says.

-- CASCADE: earlier tests built objects on the extension (the SQL peers)
SET client_min_messages = warning;
DROP EXTENSION music_tm CASCADE;
RESET client_min_messages;
CREATE ROLE regress_mtm_hostile NOLOGIN;
GRANT CREATE ON SCHEMA public TO regress_mtm_hostile;
CREATE TABLE public.hijack_log (what text);
GRANT INSERT ON public.hijack_log TO PUBLIC;

SET ROLE regress_mtm_hostile;
CREATE FUNCTION public.hostile_text_eq(text, text) RETURNS boolean LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('= (text, text)'); RETURN true; END$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_text_eq);
CREATE FUNCTION public.hostile_text_ne(text, text) RETURNS boolean LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('<> (text, text)'); RETURN true; END$$;
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_text_ne);
CREATE FUNCTION public.hostile_name_eq(name, text) RETURNS boolean LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('= (name, text)'); RETURN true; END$$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.hostile_name_eq);
CREATE FUNCTION public.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('unnest'); RETURN; END$$;
CREATE FUNCTION public.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('jsonb_array_elements'); RETURN; END$$;
CREATE FUNCTION public.pg_extension_config_dump(regclass, text) RETURNS void LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('pg_extension_config_dump'); END$$;
CREATE FUNCTION public.save_track(jsonb) RETURNS text LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('save_track'); RETURN 'hijacked'; END$$;
CREATE FUNCTION public.isrc(jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('isrc'); RETURN 'hijacked'; END$$;
CREATE TABLE public.tracks (track_id text, name text);
CREATE TABLE public.charts (listener text, time_range text, snapshot_date date);
CREATE TABLE public.chart_entries (listener text, track_id text, rank int);
CREATE TABLE public.pg_roles (rolname name);
CREATE TABLE public.pg_settings (name text, enumvals text[]);
GRANT INSERT ON public.tracks, public.charts, public.chart_entries TO PUBLIC;
RESET ROLE;

-- the installing session's own traps
CREATE TEMP TABLE tracks (track_id text, name text);
CREATE TEMP TABLE charts (listener text, time_range text, snapshot_date date);
CREATE TEMP TABLE chart_entries (listener text, track_id text, rank int);
SET search_path = public, pg_catalog;

CREATE EXTENSION music_tm VERSION '1.0';
-- 1.0 data as 1.0's functions wrote it (the library installed is 2.0's)
INSERT INTO music_tm.tracks (track_id, name, raw_json, content_hash, created_at, updated_at)
SELECT j OPERATOR(pg_catalog.->>) 'id', j OPERATOR(pg_catalog.->>) 'name', j, music_tm.track_hash(j), pg_catalog.now(), pg_catalog.now()
FROM pg_catalog.jsonb_array_elements('[{"id": "h1", "name": "One", "external_ids": {"isrc": "QZ0000000001"}},
  {"id": "h3", "name": "Three"}, {"id": "h4", "name": "Four"}]') j;
INSERT INTO music_tm.tracks (track_id, name, raw_json, content_hash, created_at, updated_at)
VALUES ('h2', 'Two', '{"id": "h2p", "name": "Two", "linked_from": {"id": "h2"}}', 0, pg_catalog.now(), pg_catalog.now());
INSERT INTO music_tm.charts VALUES ('hana', 'short_term', '2026-04-01', pg_catalog.now()),
  ('hana', 'long_term', '2026-04-01', pg_catalog.now());
INSERT INTO music_tm.chart_entries VALUES ('hana', 'short_term', '2026-04-01', 'h1', 1, NULL),
  ('hana', 'short_term', '2026-04-01', 'h2', 2, 'h2p'), ('hana', 'short_term', '2026-04-01', 'h3', 4, NULL),
  ('hana', 'long_term', '2026-04-01', 'h4', 1, NULL);

-- more traps before the update: names 1.1 adds
SET ROLE regress_mtm_hostile;
CREATE TABLE public.listener_roles (role_name name, listener text);
GRANT INSERT ON public.listener_roles TO PUBLIC;
CREATE TABLE public.listener_isolation (enabled boolean);
GRANT INSERT ON public.listener_isolation TO PUBLIC;
CREATE FUNCTION public.enable_listener_isolation() RETURNS void LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.hijack_log VALUES ('enable_listener_isolation'); END$$;
RESET ROLE;
CREATE TEMP TABLE listener_roles (role_name name, listener text);

ALTER EXTENSION music_tm UPDATE;
SELECT music_tm.enable_listener_isolation();
SELECT music_tm.enable_listener_isolation();
SELECT tracks_inserted, tracks_unchanged, entries_inserted, entries_removed
FROM music_tm.record_top_tracks('short_term', '[{"id": "h3", "name": "Three"},
  {"id": "h1", "name": "One", "external_ids": {"isrc": "QZ0000000001"}}]', '2026-04-08', 'hana');
SELECT rank, track_id, status, peak FROM music_tm.chart_as_of('2026-04-08', 'short_term', 'hana');
SELECT * FROM music_tm.rank_history('h1', 'short_term', 'hana');
SELECT * FROM music_tm.chart_diff('2026-04-01', '2026-04-08', 'short_term', 'hana');
SELECT track_id, name, isrc FROM music_tm.track_detail('h1');
SELECT music_tm.sparkline('h3', 'short_term', 'hana');
SELECT music_tm.disable_listener_isolation();
RESET search_path;

-- nothing hostile was called, nothing was written to the planted tables
SELECT * FROM public.hijack_log;
SELECT (SELECT count(*) FROM public.tracks) AS public_tracks,
       (SELECT count(*) FROM public.charts) AS public_charts,
       (SELECT count(*) FROM public.chart_entries) AS public_entries,
       (SELECT count(*) FROM public.listener_roles) AS public_roles,
       (SELECT count(*) FROM public.listener_isolation) AS public_switch,
       (SELECT count(*) FROM pg_temp.tracks) AS temp_tracks,
       (SELECT count(*) FROM pg_temp.charts) AS temp_charts,
       (SELECT count(*) FROM pg_temp.chart_entries) AS temp_entries;
SELECT track_id, isrc FROM music_tm.tracks ORDER BY track_id;
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'music_tm' ORDER BY 1;
DROP TABLE pg_temp.tracks, pg_temp.charts, pg_temp.chart_entries, pg_temp.listener_roles;

-- No SECURITY DEFINER function at all (every function runs as its caller,
-- so row-level security applies to it); any there were would have to pin
-- search_path.
SELECT p.oid::regprocedure AS security_definer
FROM pg_proc p WHERE p.pronamespace = 'music_tm'::regnamespace AND p.prosecdef;
-- Every function but the C accessors (immutable, no SQL inside) pins search_path.
SELECT p.oid::regprocedure AS unpinned, l.lanname
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'music_tm'::regnamespace
  AND (l.lanname <> 'c' OR p.provolatile <> 'i' OR p.prosecdef)
  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

-- PUBLIC: no privilege on any function (a NULL proacl would mean EXECUTE for
-- PUBLIC), table or the schema
SELECT p.oid::regprocedure AS public_executes
FROM pg_proc p
WHERE p.pronamespace = 'music_tm'::regnamespace
  AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0));
SELECT c.oid::regclass AS public_reads, a.privilege_type
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'music_tm'::regnamespace AND a.grantee = 0;
SELECT has_schema_privilege('public', 'music_tm', 'USAGE') AS public_usage;

-- who may do what, on tables
SELECT c.relname, a.grantee::regrole AS grantee,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'music_tm'::regnamespace AND c.relkind = 'r'
  AND a.grantee <> c.relowner
GROUP BY 1, 2 ORDER BY 1, 2;
-- and on functions: every reader function is a writer function too; these
-- are for writers only, or for neither (the owner's switches)
SELECT p.oid::regprocedure AS function,
       has_function_privilege('music_tm_reader', p.oid, 'EXECUTE') AS reader,
       has_function_privilege('music_tm_writer', p.oid, 'EXECUTE') AS writer
FROM pg_proc p
WHERE p.pronamespace = 'music_tm'::regnamespace
  AND NOT (has_function_privilege('music_tm_reader', p.oid, 'EXECUTE')
           AND has_function_privilege('music_tm_writer', p.oid, 'EXECUTE'))
ORDER BY 1;
SELECT count(*) AS functions_for_both
FROM pg_proc p
WHERE p.pronamespace = 'music_tm'::regnamespace
  AND has_function_privilege('music_tm_reader', p.oid, 'EXECUTE')
  AND has_function_privilege('music_tm_writer', p.oid, 'EXECUTE');
SELECT rolname, rolcanlogin, rolsuper, rolinherit FROM pg_roles
WHERE rolname IN ('music_tm_reader', 'music_tm_writer') ORDER BY 1;

-- a role with no grants can use nothing, even once it may use the schema
CREATE ROLE regress_mtm_nobody;
SET ROLE regress_mtm_nobody;
SELECT music_tm.isrc('{}');
SELECT count(*) FROM music_tm.tracks;
RESET ROLE;
GRANT USAGE ON SCHEMA music_tm TO regress_mtm_nobody;
SET ROLE regress_mtm_nobody;
SELECT music_tm.isrc('{}');
SELECT music_tm.save_track('{"id": "n1", "name": "Nobody"}');
SELECT * FROM music_tm.chart_as_of('2026-04-08', 'short_term', 'hana');
SELECT count(*) FROM music_tm.charts;
RESET ROLE;
REVOKE USAGE ON SCHEMA music_tm FROM regress_mtm_nobody;

-- a reader reads and calls the read functions, and writes nothing
CREATE ROLE regress_mtm_reader IN ROLE music_tm_reader;
SET ROLE regress_mtm_reader;
SELECT count(*) FROM music_tm.tracks;
SELECT rank, track_id FROM music_tm.chart_as_of('2026-04-08', 'short_term', 'hana');
SELECT music_tm.isrc(raw_json) FROM music_tm.tracks WHERE track_id = 'h1';
SELECT music_tm.save_track('{"id": "r1", "name": "Reader"}');
SELECT * FROM music_tm.record_top_tracks('short_term', '[]', '2026-04-08', 'hana');
SELECT music_tm.save_snapshot_row('h1', '2026-04-08', 'short_term', 9, 'hana');
DELETE FROM music_tm.charts;
SELECT music_tm.enable_listener_isolation();
RESET ROLE;

-- a writer records through the functions; music_tm.tracks, shared by all
-- listeners, changes only through them (they write it as its owner)
CREATE ROLE regress_mtm_writer IN ROLE music_tm_writer;
SET ROLE regress_mtm_writer;
SELECT music_tm.save_track('{"id": "w1", "name": "Writer"}');
SELECT music_tm.save_track('{"id": "w1", "name": "Writer, again"}');
SELECT tracks_inserted, entries_inserted
FROM music_tm.record_top_tracks('short_term', '[{"id": "w2", "name": "Two"}, {"id": "w1", "name": "Writer, again"}]', '2026-04-15', 'hana');
SELECT music_tm.save_snapshot_row('h4', '2026-04-15', 'short_term', 3, 'hana');
SELECT rank, track_id FROM music_tm.chart_as_of('2026-04-15', 'short_term', 'hana');
UPDATE music_tm.tracks SET name = 'vandal' WHERE track_id = 'w1';
INSERT INTO music_tm.tracks (track_id, name, raw_json, content_hash, created_at, updated_at)
VALUES ('w3', 'Direct', '{}', 0, now(), now());
DELETE FROM music_tm.tracks WHERE track_id = 'w1';
INSERT INTO music_tm.listener_roles VALUES ('regress_mtm_writer', 'hana');
SELECT music_tm.disable_listener_isolation();
-- its own chart rows it may change directly
DELETE FROM music_tm.charts WHERE snapshot_date = '2026-04-15' AND time_range = 'short_term';
RESET ROLE;
SELECT track_id, name, created_at = updated_at AS never_updated FROM music_tm.tracks
WHERE track_id LIKE 'w%' ORDER BY 1;
SELECT count(*) AS entries_left FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-15';

-- A schema named music_tm made before CREATE EXTENSION by a role that may
-- create schemas: installing into it would let that role drop and replace
-- the extension's objects later, so CREATE EXTENSION refuses (2.0).  (DROP
-- EXTENSION leaves the schema that CREATE EXTENSION made: drop it too.)
DROP EXTENSION music_tm;
DROP SCHEMA music_tm;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_mtm_hostile', current_database()) \gexec
SET ROLE regress_mtm_hostile;
CREATE SCHEMA music_tm;
RESET ROLE;
-- (no CONTEXT: PostgreSQL 18 adds the script's file and line to it)
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE EXTENSION music_tm;
\set SHOW_CONTEXT errors
\set VERBOSITY terse
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'music_tm';
-- once the schema is the installing role's, the install goes ahead
ALTER SCHEMA music_tm OWNER TO CURRENT_USER;
CREATE EXTENSION music_tm;
SELECT extversion FROM pg_extension WHERE extname = 'music_tm';
DROP EXTENSION music_tm;
DROP SCHEMA music_tm;
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_mtm_hostile', current_database()) \gexec

DROP OWNED BY regress_mtm_hostile;
DROP ROLE regress_mtm_hostile, regress_mtm_nobody, regress_mtm_reader, regress_mtm_writer;
DROP TABLE public.hijack_log;
CREATE EXTENSION music_tm;
