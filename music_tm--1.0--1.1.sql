/* music_tm--1.0--1.1.sql: upgrade of music_tm from 1.0 to 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION music_tm UPDATE TO '1.1'" to load this file. \quit

--
-- 1.1: tenants and privileges.
--
-- Two group roles carry every privilege on music_tm: music_tm_reader (read
-- the charts, call the read functions and the accessors) and music_tm_writer
-- (the same, plus record charts through the functions).  PUBLIC gets nothing:
-- not even EXECUTE on the accessors.  Roles are cluster-wide, so the script
-- creates each one only when the cluster has none of that name; a second
-- database's CREATE EXTENSION, or a restore, finds them and only grants.
-- DROP EXTENSION drops the grants with the objects but leaves the roles (other
-- databases may still use them): DROP ROLE them once no database has
-- music_tm.  A role of that name made earlier by someone else is reused as it
-- is: whoever can administer it decides who writes charts.
--
DO $$
BEGIN
    PERFORM FROM pg_catalog.pg_roles
     WHERE rolname OPERATOR(pg_catalog.=) 'music_tm_reader';
    IF NOT FOUND THEN
        CREATE ROLE music_tm_reader NOLOGIN;
        COMMENT ON ROLE music_tm_reader IS
          'music_tm: reads charts and tracks, calls the read functions and the JSONB accessors';
    END IF;
    PERFORM FROM pg_catalog.pg_roles
     WHERE rolname OPERATOR(pg_catalog.=) 'music_tm_writer';
    IF NOT FOUND THEN
        CREATE ROLE music_tm_writer NOLOGIN;
        COMMENT ON ROLE music_tm_writer IS
          'music_tm: what music_tm_reader may do, plus record charts (record_top_tracks, save_snapshot_row) and tracks (save_track)';
    END IF;
END
$$;

-- Which listeners a role may see and write while listener isolation is on
-- (music_tm.enable_listener_isolation).  Kept by the DBA; while isolation is
-- on, roles read only their own rows (policy listener_roles_own).
CREATE TABLE music_tm.listener_roles (
    role_name name NOT NULL,
    listener  text NOT NULL,
    CONSTRAINT listener_roles_pkey PRIMARY KEY (role_name, listener),
    CONSTRAINT listener_roles_listener_check CHECK (listener OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE music_tm.listener_roles IS
  'Tenant bindings: with listener isolation on, a role sees and writes the charts of the listeners bound to it here, and no others';
COMMENT ON COLUMN music_tm.listener_roles.role_name IS
  'A role as CURRENT_USER names it (a login role, or the role an application SET ROLEs to)';
COMMENT ON COLUMN music_tm.listener_roles.listener IS
  'A listener of music_tm.charts and music_tm.chart_entries';
SELECT pg_catalog.pg_extension_config_dump('music_tm.listener_roles', '');

-- The switch: listener isolation is on when this table has its one row.
-- It is data, not DDL, on purpose: pg_dump (15) dumps neither the policies
-- nor the row-security flag of an extension's tables, but it dumps the rows
-- of its configuration tables, so isolation stays on across dump and restore
-- (CREATE EXTENSION makes the policies again, the data turns them on).
CREATE TABLE music_tm.listener_isolation (
    enabled boolean NOT NULL DEFAULT true,
    CONSTRAINT listener_isolation_pkey PRIMARY KEY (enabled),
    CONSTRAINT listener_isolation_enabled_check CHECK (enabled)
);
COMMENT ON TABLE music_tm.listener_isolation IS
  'One row (enabled = true) while listener isolation is on; none while it is off';
COMMENT ON COLUMN music_tm.listener_isolation.enabled IS 'Always true: the row''s presence is the switch';
SELECT pg_catalog.pg_extension_config_dump('music_tm.listener_isolation', '');

-- Row-level security is always enabled on the per-listener tables; while
-- isolation is off the policies let every row through.  The owner, superusers
-- and BYPASSRLS roles are never subject to it.  The functions of music_tm are
-- not SECURITY DEFINER: they run their SQL as the caller, so these policies
-- bound what each of them reads and writes.
CREATE POLICY listener_isolation ON music_tm.charts
    USING (NOT EXISTS (SELECT FROM music_tm.listener_isolation)
           OR listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER))
    WITH CHECK (NOT EXISTS (SELECT FROM music_tm.listener_isolation)
           OR listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER));
COMMENT ON POLICY listener_isolation ON music_tm.charts IS
  'While music_tm.listener_isolation has its row: only the listeners bound to CURRENT_USER in music_tm.listener_roles, for reads and writes';
CREATE POLICY listener_isolation ON music_tm.chart_entries
    USING (NOT EXISTS (SELECT FROM music_tm.listener_isolation)
           OR listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER))
    WITH CHECK (NOT EXISTS (SELECT FROM music_tm.listener_isolation)
           OR listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER));
COMMENT ON POLICY listener_isolation ON music_tm.chart_entries IS
  'While music_tm.listener_isolation has its row: only the listeners bound to CURRENT_USER in music_tm.listener_roles, for reads and writes';
CREATE POLICY listener_roles_own ON music_tm.listener_roles
    FOR SELECT
    USING (NOT EXISTS (SELECT FROM music_tm.listener_isolation)
           OR role_name OPERATOR(pg_catalog.=) CURRENT_USER);
COMMENT ON POLICY listener_roles_own ON music_tm.listener_roles IS
  'While music_tm.listener_isolation has its row: a role reads only its own bindings';
ALTER TABLE music_tm.charts ENABLE ROW LEVEL SECURITY;
ALTER TABLE music_tm.chart_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE music_tm.listener_roles ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION music_tm.enable_listener_isolation()
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO music_tm.listener_isolation (enabled) VALUES (true)
    ON CONFLICT (enabled) DO NOTHING;
$$;
COMMENT ON FUNCTION music_tm.enable_listener_isolation() IS
  'Turn listener isolation on: a role (other than the owner, a superuser or a BYPASSRLS role) sees and writes only the listeners bound to it in music_tm.listener_roles; idempotent';

CREATE FUNCTION music_tm.disable_listener_isolation()
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    DELETE FROM music_tm.listener_isolation;
$$;
COMMENT ON FUNCTION music_tm.disable_listener_isolation() IS
  'Turn listener isolation off: every role with SELECT sees every listener again; idempotent';

--
-- Privileges.  Nothing for PUBLIC: the schema was never usable by PUBLIC (no
-- USAGE), and EXECUTE, which PostgreSQL grants PUBLIC on every new function,
-- is revoked too, so that a later GRANT USAGE ON SCHEMA music_tm TO PUBLIC
-- does not open the writing functions.  Readers read everything but the
-- mapping of other roles; writers also write charts, directly or through the
-- functions.  Nobody but the owner writes music_tm.tracks directly: for a
-- member of music_tm_writer, save_track and record_top_tracks run their one
-- track upsert as the table's owner (shared data, changed only by the
-- functions that check it).  The isolation switches are for the owner alone.
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA music_tm FROM PUBLIC;

GRANT USAGE ON SCHEMA music_tm TO music_tm_reader, music_tm_writer;
GRANT SELECT ON music_tm.tracks, music_tm.charts, music_tm.chart_entries,
                music_tm.listener_roles, music_tm.listener_isolation
    TO music_tm_reader, music_tm_writer;
GRANT INSERT, UPDATE, DELETE ON music_tm.charts, music_tm.chart_entries
    TO music_tm_writer;

GRANT EXECUTE ON FUNCTION
    music_tm.release_date(jsonb), music_tm.release_date_precision(jsonb),
    music_tm.release_year(jsonb), music_tm.isrc(jsonb), music_tm.ean(jsonb),
    music_tm.upc(jsonb), music_tm.artist_names(jsonb),
    music_tm.artist_ids(jsonb), music_tm.first_artist(jsonb),
    music_tm.album_name(jsonb), music_tm.album_id(jsonb),
    music_tm.album_type(jsonb), music_tm.explicit(jsonb),
    music_tm.popularity(jsonb), music_tm.duration_ms(jsonb),
    music_tm.duration(jsonb), music_tm.track_number(jsonb),
    music_tm.disc_number(jsonb), music_tm.cover_url(jsonb, integer),
    music_tm.playable_in(jsonb, text), music_tm.canonical_id(jsonb),
    music_tm.is_local(jsonb), music_tm.is_episode(jsonb), music_tm.uri(jsonb),
    music_tm.spotify_url(jsonb), music_tm.preview_url(jsonb),
    music_tm.track_hash(jsonb), music_tm.track_fields(jsonb),
    music_tm.track_fields(jsonb, text), music_tm.track_detail(text),
    music_tm.rank_history(text, music_tm.time_range, text),
    music_tm.chart_as_of(date, music_tm.time_range, text),
    music_tm.chart_diff(date, date, music_tm.time_range, text),
    music_tm.chart_churn(date, date, music_tm.time_range, text),
    music_tm.run_stats(text, music_tm.time_range, text),
    music_tm.all_run_stats(music_tm.time_range, text),
    music_tm.artist_history(text, music_tm.time_range, text),
    music_tm.artist_run_stats(text, music_tm.time_range, text),
    music_tm.sparkline(text, music_tm.time_range, text, date, date),
    music_tm.run_svg(text, music_tm.time_range, text, date, date, integer, integer)
    TO music_tm_reader, music_tm_writer;
GRANT EXECUTE ON FUNCTION
    music_tm.save_track(jsonb),
    music_tm.save_snapshot_row(text, date, music_tm.time_range, integer, text),
    music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text)
    TO music_tm_writer;
