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

-- Which listeners a role may see and write once listener isolation is on
-- (music_tm.enable_listener_isolation).  Kept by the DBA; roles read only
-- their own rows (policy listener_roles_own, made with the others).
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

-- The policies are made by this function, not by the script: pg_dump dumps
-- the policies of an extension's tables, so policies made by CREATE EXTENSION
-- would be created twice on restore.  Made at run time, they are dumped and
-- restored with the data, and isolation stays on across dump and restore.
-- The functions of music_tm are not SECURITY DEFINER: they run their SQL as
-- the caller, so the policies bound what each of them reads and writes.
CREATE FUNCTION music_tm.enable_listener_isolation()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM pg_catalog.pg_policy
     WHERE polrelid OPERATOR(pg_catalog.=) 'music_tm.listener_roles'::pg_catalog.regclass
       AND polname OPERATOR(pg_catalog.=) 'listener_roles_own';
    IF NOT FOUND THEN
        CREATE POLICY listener_roles_own ON music_tm.listener_roles
            FOR SELECT
            USING (role_name OPERATOR(pg_catalog.=) CURRENT_USER);
    END IF;
    PERFORM FROM pg_catalog.pg_policy
     WHERE polrelid OPERATOR(pg_catalog.=) 'music_tm.charts'::pg_catalog.regclass
       AND polname OPERATOR(pg_catalog.=) 'listener_isolation';
    IF NOT FOUND THEN
        CREATE POLICY listener_isolation ON music_tm.charts
            USING (listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER))
            WITH CHECK (listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER));
    END IF;
    PERFORM FROM pg_catalog.pg_policy
     WHERE polrelid OPERATOR(pg_catalog.=) 'music_tm.chart_entries'::pg_catalog.regclass
       AND polname OPERATOR(pg_catalog.=) 'listener_isolation';
    IF NOT FOUND THEN
        CREATE POLICY listener_isolation ON music_tm.chart_entries
            USING (listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER))
            WITH CHECK (listener OPERATOR(pg_catalog.=) ANY (
                SELECT lr.listener FROM music_tm.listener_roles lr
                 WHERE lr.role_name OPERATOR(pg_catalog.=) CURRENT_USER));
    END IF;
    ALTER TABLE music_tm.listener_roles ENABLE ROW LEVEL SECURITY;
    ALTER TABLE music_tm.charts ENABLE ROW LEVEL SECURITY;
    ALTER TABLE music_tm.chart_entries ENABLE ROW LEVEL SECURITY;
END
$$;
COMMENT ON FUNCTION music_tm.enable_listener_isolation() IS
  'Turn on row-level security on charts, chart_entries and listener_roles: a role (other than the owner, a superuser or a BYPASSRLS role) sees and writes only the listeners bound to it in music_tm.listener_roles; idempotent';

CREATE FUNCTION music_tm.disable_listener_isolation()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    ALTER TABLE music_tm.chart_entries DISABLE ROW LEVEL SECURITY;
    ALTER TABLE music_tm.charts DISABLE ROW LEVEL SECURITY;
    ALTER TABLE music_tm.listener_roles DISABLE ROW LEVEL SECURITY;
    PERFORM FROM pg_catalog.pg_policy
     WHERE polrelid OPERATOR(pg_catalog.=) 'music_tm.chart_entries'::pg_catalog.regclass
       AND polname OPERATOR(pg_catalog.=) 'listener_isolation';
    IF FOUND THEN
        DROP POLICY listener_isolation ON music_tm.chart_entries;
    END IF;
    PERFORM FROM pg_catalog.pg_policy
     WHERE polrelid OPERATOR(pg_catalog.=) 'music_tm.charts'::pg_catalog.regclass
       AND polname OPERATOR(pg_catalog.=) 'listener_isolation';
    IF FOUND THEN
        DROP POLICY listener_isolation ON music_tm.charts;
    END IF;
    PERFORM FROM pg_catalog.pg_policy
     WHERE polrelid OPERATOR(pg_catalog.=) 'music_tm.listener_roles'::pg_catalog.regclass
       AND polname OPERATOR(pg_catalog.=) 'listener_roles_own';
    IF FOUND THEN
        DROP POLICY listener_roles_own ON music_tm.listener_roles;
    END IF;
END
$$;
COMMENT ON FUNCTION music_tm.disable_listener_isolation() IS
  'Turn off listener isolation: drop the policies of music_tm.enable_listener_isolation and disable row-level security; every role with SELECT sees every listener again; idempotent';

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
                music_tm.listener_roles
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
