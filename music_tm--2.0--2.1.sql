/* music_tm--2.0--2.1.sql: upgrade of music_tm from 2.0 to 2.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION music_tm UPDATE TO '2.1'" to load this file. \quit

--
-- 2.1, part 1: listener isolation without subqueries, and Citus.
--

-- The policies of 1.1 and 2.0 looked up music_tm.listener_isolation and
-- music_tm.listener_roles in subqueries, which a distributed table's policy
-- may not do (Citus: "subqueries are not supported in policies on
-- distributed tables").  From 2.1 the policies hold the bindings
-- themselves: music_tm.apply_listener_isolation() rewrites them from the two
-- tables, and triggers on the tables call it whenever they change.  A
-- binding is written as its key, listener_key(role, listener), so that
-- pg_policies (readable by every role) does not show who sees which
-- listener.
CREATE FUNCTION music_tm.listener_key(role_name name, listener text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'listener_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.listener_key(name, text) IS
  'Key of a (role, listener) binding in the listener isolation policies: SHA-256 over the role name''s length, the role name and the listener';

CREATE FUNCTION music_tm.apply_listener_isolation()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rows_expr text;
    roles_expr text;
BEGIN
    IF NOT EXISTS (SELECT FROM music_tm.listener_isolation) THEN
        rows_expr := 'true';
        roles_expr := 'true';
    ELSE
        SELECT CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) 0 THEN 'false'
                    ELSE pg_catalog.format(
                        'music_tm.listener_key(CURRENT_USER, listener) OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.bytea[])',
                        pg_catalog.array_agg(music_tm.listener_key(lr.role_name, lr.listener)
                                             ORDER BY music_tm.listener_key(lr.role_name, lr.listener)))
               END
          INTO rows_expr
          FROM music_tm.listener_roles lr;
        roles_expr := 'role_name OPERATOR(pg_catalog.=) CURRENT_USER';
    END IF;
    EXECUTE pg_catalog.format('ALTER POLICY listener_isolation ON music_tm.charts USING (%s) WITH CHECK (%s)',
                              rows_expr, rows_expr);
    EXECUTE pg_catalog.format('ALTER POLICY listener_roles_own ON music_tm.listener_roles USING (%s)',
                              roles_expr);
END
$$;
COMMENT ON FUNCTION music_tm.apply_listener_isolation() IS
  'Rewrite the listener isolation policies from music_tm.listener_isolation and music_tm.listener_roles; their triggers call it on every change (call it yourself after a restore with --disable-triggers)';

CREATE FUNCTION music_tm.listener_isolation_changed()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM music_tm.apply_listener_isolation();
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION music_tm.listener_isolation_changed() IS
  'Trigger function of music_tm.listener_roles and music_tm.listener_isolation: rewrites the listener isolation policies';

CREATE TRIGGER listener_roles_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON music_tm.listener_roles
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.listener_isolation_changed();
COMMENT ON TRIGGER listener_roles_changed ON music_tm.listener_roles IS
  'A binding added, changed or removed: rewrite the listener isolation policies';
CREATE TRIGGER listener_isolation_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON music_tm.listener_isolation
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.listener_isolation_changed();
COMMENT ON TRIGGER listener_isolation_changed ON music_tm.listener_isolation IS
  'Isolation turned on or off: rewrite the listener isolation policies';

COMMENT ON POLICY listener_isolation ON music_tm.charts IS
  'Written by music_tm.apply_listener_isolation(): true while isolation is off; while on, only the listeners bound to CURRENT_USER in music_tm.listener_roles, for reads and writes';
COMMENT ON POLICY listener_roles_own ON music_tm.listener_roles IS
  'Written by music_tm.apply_listener_isolation(): true while isolation is off; while on, a role reads only its own bindings';

REVOKE ALL ON FUNCTION music_tm.apply_listener_isolation(),
    music_tm.listener_isolation_changed() FROM PUBLIC;
-- the policies call it as the querying role
REVOKE ALL ON FUNCTION music_tm.listener_key(name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION music_tm.listener_key(name, text)
    TO music_tm_reader, music_tm_writer;

-- Scaling out on Citus: music_tm.distribute(), run once on the coordinator.
-- Charts are distributed by listener (every query of a function names one
-- listener, so it goes to one shard); tracks, shared by every listener, is
-- a reference table (a copy on every node), written once per new or
-- changed track.  The tables of listener isolation stay on the coordinator:
-- the policies carry what they need (see above).  Citus refuses a table with
-- triggers, so the integrity triggers of music_tm.tracks are dropped; on a
-- distributed install deleting a charted track is not refused, and
-- music_tm.check_charts() finds what such a delete left behind.
CREATE FUNCTION music_tm.distribute()
RETURNS TABLE (table_name regclass, distribution text, action text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    method "char";
    trig name;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension
                    WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION 'music_tm.distribute() needs the citus extension'
          USING ERRCODE = 'feature_not_supported',
                DETAIL = pg_catalog.format('The extension citus is not installed in database "%s".',
                                           pg_catalog.current_database()),
                HINT = 'Load citus (shared_preload_libraries = ''citus''), CREATE EXTENSION citus, add the workers, then call music_tm.distribute() on the coordinator.';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'music_tm.distribute() must run on the coordinator'
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Connect to the coordinator (citus_set_coordinator_host names it) and call it there.';
    END IF;

    -- tracks: a reference table, without the triggers Citus refuses
    SELECT p.partmethod INTO method FROM pg_catalog.pg_dist_partition p
     WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'music_tm.tracks'::pg_catalog.regclass;
    table_name := 'music_tm.tracks'::pg_catalog.regclass;
    distribution := 'reference';
    IF method IS NULL THEN
        FOR trig IN SELECT t.tgname FROM pg_catalog.pg_trigger t
                     WHERE t.tgrelid OPERATOR(pg_catalog.=) 'music_tm.tracks'::pg_catalog.regclass
                       AND t.tgname OPERATOR(pg_catalog.=) ANY ('{tracks_lock_charts,tracks_check_charted_delete,tracks_check_charted_update,tracks_check_charted_truncate}'::name[])
                     ORDER BY t.tgname
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON music_tm.tracks', trig);
        END LOOP;
        PERFORM pg_catalog.create_reference_table('music_tm.tracks'::pg_catalog.regclass);
        action := 'distributed';
    ELSIF method OPERATOR(pg_catalog.=) 'n' THEN
        action := 'already distributed';
    ELSE
        RAISE EXCEPTION 'music_tm.tracks is distributed in another way'
          USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = pg_catalog.format('Its distribution method is "%s"; music_tm makes it a reference table.', method);
    END IF;
    RETURN NEXT;

    -- charts: distributed by listener
    method := NULL;
    SELECT p.partmethod INTO method FROM pg_catalog.pg_dist_partition p
     WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'music_tm.charts'::pg_catalog.regclass;
    table_name := 'music_tm.charts'::pg_catalog.regclass;
    distribution := 'hash(listener)';
    IF method IS NULL THEN
        PERFORM pg_catalog.create_distributed_table('music_tm.charts'::pg_catalog.regclass, 'listener');
        action := 'distributed';
    ELSIF method OPERATOR(pg_catalog.=) 'h' AND pg_catalog.column_to_column_name(
              'music_tm.charts'::pg_catalog.regclass,
              (SELECT p.partkey FROM pg_catalog.pg_dist_partition p
                WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'music_tm.charts'::pg_catalog.regclass))
          OPERATOR(pg_catalog.=) 'listener' THEN
        action := 'already distributed';
    ELSE
        RAISE EXCEPTION 'music_tm.charts is distributed in another way'
          USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = 'music_tm distributes it by hash of listener.';
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION music_tm.distribute() IS
  'On a Citus coordinator: make music_tm.tracks a reference table (dropping its integrity triggers, which Citus refuses) and distribute music_tm.charts by listener; idempotent; one row per table with what it did';
REVOKE ALL ON FUNCTION music_tm.distribute() FROM PUBLIC;

-- DROP EXTENSION cannot remove distributed tables by itself: the
-- coordinator's copy of the reference table depends on the functions of its
-- generated columns and is no member of the extension.  This takes the
-- distributed tables out of the extension and drops them, which makes Citus
-- drop their shards on every node; DROP EXTENSION music_tm then succeeds.
CREATE FUNCTION music_tm.drop_distributed_tables()
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t pg_catalog.regclass;
    distributed boolean := false;
BEGIN
    -- (pg_dist_partition exists only where citus is installed)
    IF EXISTS (SELECT FROM pg_catalog.pg_extension
                WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
        SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 INTO distributed
          FROM pg_catalog.pg_dist_partition p
         WHERE p.logicalrelid OPERATOR(pg_catalog.=) ANY (
               ARRAY['music_tm.charts', 'music_tm.tracks']::pg_catalog.regclass[]);
    END IF;
    IF NOT distributed THEN
        RAISE EXCEPTION 'music_tm''s tables are not distributed'
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Only a distributed install needs this before DROP EXTENSION; elsewhere DROP EXTENSION music_tm is enough.';
    END IF;
    ALTER EXTENSION music_tm DROP VIEW music_tm.chart_entries;
    DROP VIEW music_tm.chart_entries;
    FOREACH t IN ARRAY ARRAY['music_tm.charts', 'music_tm.tracks']::pg_catalog.regclass[] LOOP
        EXECUTE pg_catalog.format('ALTER EXTENSION music_tm DROP TABLE %s', t);
        RETURN NEXT t::pg_catalog.text;
        EXECUTE pg_catalog.format('DROP TABLE %s', t);
    END LOOP;
END
$$;
COMMENT ON FUNCTION music_tm.drop_distributed_tables() IS
  'On a distributed install, before DROP EXTENSION music_tm: drop music_tm.charts, music_tm.tracks (every chart and track, on every node) and the view chart_entries; refuses when the tables are not distributed';
REVOKE ALL ON FUNCTION music_tm.drop_distributed_tables() FROM PUBLIC;

-- Dashboards: sparklines of many tracks in one call (one walk of the
-- series), so that nobody needs sparkline() per row of a query on a
-- distributed table, which Citus cannot run.
CREATE FUNCTION music_tm.sparklines(
    track_ids  text[],
    time_range music_tm.time_range,
    listener   text DEFAULT 'default',
    from_date  date DEFAULT NULL,
    to_date    date DEFAULT NULL)
RETURNS TABLE (track_id text, sparkline text)
AS 'MODULE_PATHNAME', 'sparklines'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.sparklines(text[], music_tm.time_range, text, date, date) IS
  'music_tm.sparkline for each element of track_ids (at most 1000), in their order, from one read of the series: for dashboards, and on Citus instead of sparkline() per row of a query on a distributed table';
REVOKE ALL ON FUNCTION music_tm.sparklines(text[], music_tm.time_range, text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION music_tm.sparklines(text[], music_tm.time_range, text, date, date)
    TO music_tm_reader, music_tm_writer;

-- the policies of this database, in the new form
SELECT music_tm.apply_listener_isolation();

--
-- 2.1, part 2: listening history (plays).
--
