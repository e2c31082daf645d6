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
    t text;
BEGIN
    PERFORM FROM music_tm.listener_isolation;
    IF NOT FOUND THEN
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
    -- every per-listener table (charts, and plays and unmatched_plays below)
    FOREACH t IN ARRAY ARRAY['music_tm.charts', 'music_tm.plays', 'music_tm.unmatched_plays'] LOOP
        EXECUTE pg_catalog.format('ALTER POLICY listener_isolation ON %s USING (%s) WITH CHECK (%s)',
                                  t, rows_expr, rows_expr);
    END LOOP;
    EXECUTE pg_catalog.format('ALTER POLICY listener_roles_own ON music_tm.listener_roles USING (%s)',
                              roles_expr);
END
$$;
COMMENT ON FUNCTION music_tm.apply_listener_isolation() IS
  'Rewrite the listener isolation policies (of charts, plays, unmatched_plays, listener_roles) from music_tm.listener_isolation and music_tm.listener_roles; their triggers call it on every change (call it yourself after a restore with --disable-triggers)';

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
    rel pg_catalog.regclass;
BEGIN
    PERFORM FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus';
    IF NOT FOUND THEN
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

    -- the per-listener tables: distributed by listener, colocated with charts
    -- (a listener's charts and plays on the same node)
    FOREACH rel IN ARRAY ARRAY['music_tm.charts', 'music_tm.plays', 'music_tm.unmatched_plays']::pg_catalog.regclass[] LOOP
        method := NULL;
        SELECT p.partmethod INTO method FROM pg_catalog.pg_dist_partition p
         WHERE p.logicalrelid OPERATOR(pg_catalog.=) rel;
        table_name := rel;
        distribution := 'hash(listener)';
        IF method IS NULL THEN
            IF rel OPERATOR(pg_catalog.=) 'music_tm.charts'::pg_catalog.regclass THEN
                PERFORM pg_catalog.create_distributed_table(rel, 'listener');
            ELSE
                PERFORM pg_catalog.create_distributed_table(rel, 'listener', colocate_with => 'music_tm.charts');
            END IF;
            action := 'distributed';
        ELSIF method OPERATOR(pg_catalog.=) 'h' AND pg_catalog.column_to_column_name(rel,
                  (SELECT p.partkey FROM pg_catalog.pg_dist_partition p
                    WHERE p.logicalrelid OPERATOR(pg_catalog.=) rel))
              OPERATOR(pg_catalog.=) 'listener' THEN
            action := 'already distributed';
        ELSE
            RAISE EXCEPTION '% is distributed in another way', rel
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = 'music_tm distributes it by hash of listener.';
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION music_tm.distribute() IS
  'On a Citus coordinator: make music_tm.tracks a reference table (dropping its integrity triggers, which Citus refuses) and distribute music_tm.charts, plays and unmatched_plays by listener, colocated; idempotent; one row per table with what it did';
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
    FOREACH t IN ARRAY ARRAY['music_tm.charts', 'music_tm.plays', 'music_tm.unmatched_plays',
                             'music_tm.tracks']::pg_catalog.regclass[] LOOP
        EXECUTE pg_catalog.format('ALTER EXTENSION music_tm DROP TABLE %s', t);
        RETURN NEXT t::pg_catalog.text;
        EXECUTE pg_catalog.format('DROP TABLE %s', t);
    END LOOP;
END
$$;
COMMENT ON FUNCTION music_tm.drop_distributed_tables() IS
  'On a distributed install, before DROP EXTENSION music_tm: drop music_tm.charts, plays, unmatched_plays, tracks (every chart, listen and track, on every node) and the view chart_entries; refuses when the tables are not distributed';
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


--
-- 2.1, part 2: listening history (plays).
--
--
-- music_tm.plays holds one row per listen of a listener: what
-- record_recently_played and import_streaming_history learn, merged.  A
-- listen seen by several sources (recently-played, the extended streaming
-- history export) is one row: each source's own time of it is kept in its
-- own column (played_at, export_ts), and ended_at is the best known end.
-- Personal data of the exports (IP addresses, user agents, usernames,
-- platform, country) is never read.
--
-- The key is (listener, ended_at, track_id): it starts with the listener
-- (the table is distributed by listener on Citus) and serves the reads by
-- time range that matching, charts and statistics make.
--
CREATE TABLE music_tm.plays (
    listener      text        NOT NULL DEFAULT 'default',
    ended_at      timestamptz NOT NULL,
    track_id      text        NOT NULL,
    playable_id   text,
    ms_played     integer,
    played_at     timestamptz,
    export_ts     timestamptz,
    account_end   timestamptz,
    skipped       boolean,
    shuffle       boolean,
    offline       boolean,
    offline_at    timestamptz,
    incognito     boolean,
    reason_start  text,
    reason_end    text,
    context_uri   text,
    recorded_at   timestamptz NOT NULL,
    CONSTRAINT plays_pkey PRIMARY KEY (listener, ended_at, track_id),
    CONSTRAINT plays_listener_check CHECK (listener OPERATOR(pg_catalog.<>) ''),
    CONSTRAINT plays_track_id_check CHECK (track_id OPERATOR(pg_catalog.<>) ''),
    CONSTRAINT plays_ms_played_check CHECK (ms_played OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT plays_source_check CHECK (played_at IS NOT NULL OR export_ts IS NOT NULL OR account_end IS NOT NULL)
);
COMMENT ON TABLE music_tm.plays IS
  'One row per listen of a listener, merged across recently-played and streaming-history exports';
COMMENT ON COLUMN music_tm.plays.listener IS 'Whose listen';
COMMENT ON COLUMN music_tm.plays.ended_at IS
  'When the listen ended: the extended export''s ts when it has the listen, else the time of the source that first reported it (recently-played''s played_at, account data''s endTime)';
COMMENT ON COLUMN music_tm.plays.track_id IS
  'The track: canonical Spotify id (linked_from.id of a relinked track) from recently-played, the id of spotify_track_uri from an export';
COMMENT ON COLUMN music_tm.plays.playable_id IS
  'For a relinked track seen by recently-played, the playable id Spotify returned; NULL otherwise';
COMMENT ON COLUMN music_tm.plays.ms_played IS
  'Milliseconds played (export''s ms_played); NULL while only recently-played has seen the listen (it does not say)';
COMMENT ON COLUMN music_tm.plays.played_at IS
  'recently-played''s played_at for this listen (sometimes its start, sometimes its end); NULL when recently-played has not seen it';
COMMENT ON COLUMN music_tm.plays.export_ts IS
  'The extended streaming history''s ts (end of the listen, UTC); NULL when no export has brought the listen';
COMMENT ON COLUMN music_tm.plays.account_end IS
  'The account-data export''s endTime (to the minute, UTC); NULL when no account-data export has brought the listen';
COMMENT ON COLUMN music_tm.plays.skipped IS 'Export''s skipped (NULL in older files and for recently-played)';
COMMENT ON COLUMN music_tm.plays.shuffle IS 'Export''s shuffle: played in shuffle mode';
COMMENT ON COLUMN music_tm.plays.offline IS 'Export''s offline: played offline';
COMMENT ON COLUMN music_tm.plays.offline_at IS
  'Export''s offline_timestamp (epoch seconds or milliseconds; 0 is NULL) as a time';
COMMENT ON COLUMN music_tm.plays.incognito IS 'Export''s incognito_mode';
COMMENT ON COLUMN music_tm.plays.reason_start IS 'Export''s reason_start: why the stream started (trackdone, fwdbtn, clickrow, ...)';
COMMENT ON COLUMN music_tm.plays.reason_end IS 'Export''s reason_end: why the stream ended (trackdone, fwdbtn, endplay, ...)';
COMMENT ON COLUMN music_tm.plays.context_uri IS
  'recently-played''s context.uri: the playlist, album or artist played from; NULL when none was given';
COMMENT ON COLUMN music_tm.plays.recorded_at IS 'Start of the transaction that first stored the listen';
SELECT pg_catalog.pg_extension_config_dump('music_tm.plays', '');

CREATE FUNCTION music_tm.record_recently_played(
    payload   jsonb,
    listener  text DEFAULT 'default',
    OUT items             bigint,
    OUT plays_inserted    bigint,
    OUT plays_matched     bigint,
    OUT plays_unchanged   bigint,
    OUT items_skipped     bigint,
    OUT skipped           jsonb,
    OUT tracks_inserted   bigint,
    OUT tracks_updated    bigint,
    OUT tracks_unchanged  bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'record_recently_played'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.record_recently_played(jsonb, text) IS
  'Record one GET /v1/me/player/recently-played response: store its tracks as pages do and each listen once (a listen already stored, from an earlier poll or an export, is not written again); returns counts';

CREATE FUNCTION music_tm.import_streaming_history(
    payload   jsonb,
    listener  text DEFAULT 'default',
    OUT format            text,
    OUT entries           bigint,
    OUT plays_inserted    bigint,
    OUT plays_matched     bigint,
    OUT plays_unchanged   bigint,
    OUT duplicates        bigint,
    OUT episodes          bigint,
    OUT audiobooks        bigint,
    OUT without_track     bigint,
    OUT unmatched         bigint,
    OUT tracks_inserted   bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'import_streaming_history'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.import_streaming_history(jsonb, text) IS
  'Import one file of a Spotify streaming-history export (extended: Streaming_History_Audio_*.json, endsong_*.json; account data: StreamingHistory_music_*.json): each listen stored once across files and sources; returns counts';

--
-- Account data names a listen's track by artist and title only.  A listen
-- whose names are no stored track, or several songs, waits here with its
-- names (nothing is lost) until match_unmatched_plays finds its track.
--
CREATE TABLE music_tm.unmatched_plays (
    listener     text        NOT NULL DEFAULT 'default',
    ended_at     timestamptz NOT NULL,
    artist_name  text        NOT NULL,
    track_name   text        NOT NULL,
    ms_played    integer     NOT NULL,
    recorded_at  timestamptz NOT NULL,
    CONSTRAINT unmatched_plays_pkey PRIMARY KEY (listener, ended_at, artist_name, track_name, ms_played),
    CONSTRAINT unmatched_plays_listener_check CHECK (listener OPERATOR(pg_catalog.<>) ''),
    CONSTRAINT unmatched_plays_ms_played_check CHECK (ms_played OPERATOR(pg_catalog.>=) 0)
);
COMMENT ON TABLE music_tm.unmatched_plays IS
  'Listens of the account-data export whose artist and title name no single stored song yet; match_unmatched_plays moves them into music_tm.plays';
COMMENT ON COLUMN music_tm.unmatched_plays.listener IS 'Whose listen';
COMMENT ON COLUMN music_tm.unmatched_plays.ended_at IS 'endTime: when the listen ended, to the minute, UTC';
COMMENT ON COLUMN music_tm.unmatched_plays.artist_name IS 'artistName as exported';
COMMENT ON COLUMN music_tm.unmatched_plays.track_name IS 'trackName as exported';
COMMENT ON COLUMN music_tm.unmatched_plays.ms_played IS 'msPlayed: milliseconds played';
COMMENT ON COLUMN music_tm.unmatched_plays.recorded_at IS 'Start of the transaction that stored the listen';
SELECT pg_catalog.pg_extension_config_dump('music_tm.unmatched_plays', '');

-- account data is matched to tracks by first artist and name
CREATE INDEX tracks_artist_name_idx ON music_tm.tracks (artist_name, name);
COMMENT ON INDEX music_tm.tracks_artist_name_idx IS
  'Tracks by first artist and name: matching the account-data export''s listens';

CREATE FUNCTION music_tm.match_unmatched_plays(
    listener  text DEFAULT 'default',
    OUT matched    bigint,
    OUT remaining  bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'match_unmatched_plays'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.match_unmatched_plays(text) IS
  'Match the listener''s unmatched account-data listens again (after more tracks were stored): the ones whose artist and title now name one song, or a stored listen of one at that time, move into music_tm.plays; returns how many moved and remain';

REVOKE ALL ON FUNCTION
    music_tm.record_recently_played(jsonb, text),
    music_tm.import_streaming_history(jsonb, text),
    music_tm.match_unmatched_plays(text)
    FROM PUBLIC;
GRANT SELECT ON music_tm.plays, music_tm.unmatched_plays TO music_tm_reader, music_tm_writer;
GRANT INSERT, UPDATE, DELETE ON music_tm.plays, music_tm.unmatched_plays TO music_tm_writer;
GRANT EXECUTE ON FUNCTION
    music_tm.record_recently_played(jsonb, text),
    music_tm.import_streaming_history(jsonb, text),
    music_tm.match_unmatched_plays(text)
    TO music_tm_writer;

--
-- Charts from plays.  A listener's weekly and monthly charts of what they
-- played are stored in music_tm.charts as four more series next to
-- Spotify's three, so that every history function reads them unchanged:
--   plays_week, plays_month:             songs (a recording by ISRC when the
--                                        stored track has one, else the
--                                        track), charted under the
--                                        recording's smallest stored id;
--   plays_week_track, plays_month_track: each track id on its own.
-- A chart is dated by the first day of its period (ISO weeks, UTC).  The
-- functions that write listens keep them current; rebuild_play_charts makes
-- them anew.  (A value added here cannot be used before this script's
-- transaction commits; nothing here uses them.)
--
ALTER TYPE music_tm.time_range ADD VALUE 'plays_week';
ALTER TYPE music_tm.time_range ADD VALUE 'plays_month';
ALTER TYPE music_tm.time_range ADD VALUE 'plays_week_track';
ALTER TYPE music_tm.time_range ADD VALUE 'plays_month_track';
COMMENT ON TYPE music_tm.time_range IS
  'A chart series: Spotify''s top-items time ranges short_term (about 4 weeks), medium_term (about 6 months), long_term (about 1 year); charts from the listener''s plays plays_week, plays_month (by song) and plays_week_track, plays_month_track (by track)';
COMMENT ON COLUMN music_tm.charts.time_range IS
  'The chart''s series: a Spotify time range, or a chart from plays (plays_week, plays_month, plays_week_track, plays_month_track)';

-- Each entry's tally, for charts from plays (NULL in top-tracks charts):
-- what ranked it, readable with plain SQL, and what lets a call that only
-- adds listens update a chart from the listens it adds instead of counting
-- the whole period again.  Derived data: rebuild_play_charts makes them
-- anew.
ALTER TABLE music_tm.charts
    ADD COLUMN play_counts  integer[],
    ADD COLUMN play_ms      bigint[],
    ADD COLUMN first_played timestamptz[];
COMMENT ON COLUMN music_tm.charts.play_counts IS
  'Charts from plays: each entry''s listens counted (30 s or more), aligned with track_ids; NULL for top-tracks charts';
COMMENT ON COLUMN music_tm.charts.play_ms IS
  'Charts from plays: each entry''s milliseconds played in the period (a listen without them counts its track''s duration), aligned with track_ids; NULL for top-tracks charts';
COMMENT ON COLUMN music_tm.charts.first_played IS
  'Charts from plays: when each entry''s first listen of the period ended, aligned with track_ids; NULL for top-tracks charts';

CREATE FUNCTION music_tm.rebuild_play_charts(listener text DEFAULT 'default')
RETURNS bigint
AS 'MODULE_PATHNAME', 'rebuild_play_charts'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.rebuild_play_charts(text) IS
  'Make every chart from plays of the listener anew from the stored listens (the four plays_* series); returns the number of weeks and months built';
REVOKE ALL ON FUNCTION music_tm.rebuild_play_charts(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION music_tm.rebuild_play_charts(text) TO music_tm_writer;

--
-- Listening statistics: C over the primary key of music_tm.plays
-- (src/plays_stats.c: one ordered read of the listener's range, then the
-- distinct tracks' rows; on_this_day is SQL, one range per year).  A play counts
-- (plays) when 30 s or more were played, or when only recently-played has
-- seen it (it lists no shorter listens); minutes add up what was played
-- (a listen without ms_played, its track's duration).  Days, weeks, months
-- and years are those of the time zone tz (UTC by default).
--
CREATE FUNCTION music_tm.listening_time(
    unit       text,
    listener   text DEFAULT 'default',
    from_time  timestamptz DEFAULT NULL,
    to_time    timestamptz DEFAULT NULL,
    tz         text DEFAULT 'UTC')
RETURNS TABLE (period date, minutes numeric, plays bigint, streams bigint)
AS 'MODULE_PATHNAME', 'listening_time'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.listening_time(text, text, timestamptz, timestamptz, text) IS
  'Minutes listened, plays counted (30 s or more) and streams per day, week, month or year of the listener, in time zone tz';

CREATE FUNCTION music_tm.top_tracks(
    listener   text DEFAULT 'default',
    from_time  timestamptz DEFAULT NULL,
    to_time    timestamptz DEFAULT NULL,
    how_many   integer DEFAULT 10,
    by_song    boolean DEFAULT true)
RETURNS TABLE (rank bigint, track_id text, name text, artist_name text, plays bigint, minutes numeric)
AS 'MODULE_PATHNAME', 'top_tracks'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.top_tracks(text, timestamptz, timestamptz, integer, boolean) IS
  'The listener''s most played songs (by_song: ISRC, else track id) or tracks between two times, ranked as charts from plays are';

CREATE FUNCTION music_tm.top_artists(
    listener   text DEFAULT 'default',
    from_time  timestamptz DEFAULT NULL,
    to_time    timestamptz DEFAULT NULL,
    how_many   integer DEFAULT 10)
RETURNS TABLE (rank bigint, artist_name text, plays bigint, minutes numeric, tracks bigint)
AS 'MODULE_PATHNAME', 'top_artists'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.top_artists(text, timestamptz, timestamptz, integer) IS
  'The listener''s most played artists (first credited artist of each track) between two times, with minutes and distinct tracks';

CREATE FUNCTION music_tm.discoveries(
    listener   text DEFAULT 'default',
    from_time  timestamptz DEFAULT NULL,
    to_time    timestamptz DEFAULT NULL,
    by_artist  boolean DEFAULT false)
RETURNS TABLE (discovered text, first_played timestamptz, plays_since bigint)
AS 'MODULE_PATHNAME', 'discoveries'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.discoveries(text, timestamptz, timestamptz, boolean) IS
  'Tracks (or artists) whose first counted play by the listener falls between two times: when, and how many counted plays since';

CREATE FUNCTION music_tm.on_this_day(
    listener  text DEFAULT 'default',
    day       date DEFAULT CURRENT_DATE,
    tz        text DEFAULT 'UTC')
RETURNS TABLE (year integer, ended_at timestamptz, track_id text, name text, artist_name text, ms_played integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off
AS $$
DECLARE
    first_year integer;
BEGIN
    IF listener IS NULL OR day IS NULL OR tz IS NULL THEN
        RAISE EXCEPTION 'arguments "listener", "day" and "tz" must not be null'
          USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT pg_catalog.date_part('year', pg_catalog.timezone(tz, p.ended_at))::integer
      INTO first_year
      FROM music_tm.plays p
     WHERE p.listener OPERATOR(pg_catalog.=) on_this_day.listener
     ORDER BY p.ended_at LIMIT 1;
    IF first_year IS NULL THEN
        RETURN;
    END IF;
    -- the same date of each earlier year (29 February: only in leap years),
    -- one range of the primary key per year
    RETURN QUERY
    SELECT y.y, p.ended_at, p.track_id, t.name, t.artist_name, p.ms_played
      FROM pg_catalog.generate_series(first_year,
                                      pg_catalog.date_part('year', day)::integer OPERATOR(pg_catalog.-) 1) AS y(y)
     CROSS JOIN LATERAL (SELECT pg_catalog.make_date(y.y, pg_catalog.date_part('month', day)::integer, 1)
                                OPERATOR(pg_catalog.+) (pg_catalog.date_part('day', day)::integer OPERATOR(pg_catalog.-) 1) AS d) dd
      JOIN music_tm.plays p
        ON p.listener OPERATOR(pg_catalog.=) on_this_day.listener
       AND p.ended_at OPERATOR(pg_catalog.>=) pg_catalog.timezone(tz, dd.d::timestamp)
       AND p.ended_at OPERATOR(pg_catalog.<) pg_catalog.timezone(tz, (dd.d OPERATOR(pg_catalog.+) 1)::timestamp)
      LEFT JOIN music_tm.tracks t ON t.track_id OPERATOR(pg_catalog.=) p.track_id
     WHERE pg_catalog.date_part('month', dd.d) OPERATOR(pg_catalog.=) pg_catalog.date_part('month', day)
     ORDER BY p.ended_at;
END
$$;
COMMENT ON FUNCTION music_tm.on_this_day(text, date, text) IS
  'What the listener played on this date (month and day, in time zone tz) in earlier years';

CREATE FUNCTION music_tm.listening_streaks(
    listener  text DEFAULT 'default',
    tz        text DEFAULT 'UTC',
    min_days  integer DEFAULT 2)
RETURNS TABLE (first_day date, last_day date, days integer)
AS 'MODULE_PATHNAME', 'listening_streaks'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.listening_streaks(text, text, integer) IS
  'Runs of consecutive days (in time zone tz) on which the listener made a counted play, of at least min_days days';

REVOKE ALL ON FUNCTION
    music_tm.listening_time(text, text, timestamptz, timestamptz, text),
    music_tm.top_tracks(text, timestamptz, timestamptz, integer, boolean),
    music_tm.top_artists(text, timestamptz, timestamptz, integer),
    music_tm.discoveries(text, timestamptz, timestamptz, boolean),
    music_tm.on_this_day(text, date, text),
    music_tm.listening_streaks(text, text, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    music_tm.listening_time(text, text, timestamptz, timestamptz, text),
    music_tm.top_tracks(text, timestamptz, timestamptz, integer, boolean),
    music_tm.top_artists(text, timestamptz, timestamptz, integer),
    music_tm.discoveries(text, timestamptz, timestamptz, boolean),
    music_tm.on_this_day(text, date, text),
    music_tm.listening_streaks(text, text, integer)
    TO music_tm_reader, music_tm_writer;

--
-- 2.1, part 3: the per-listener tables of part 2 under listener isolation.
--
CREATE POLICY listener_isolation ON music_tm.plays USING (true) WITH CHECK (true);
COMMENT ON POLICY listener_isolation ON music_tm.plays IS
  'Written by music_tm.apply_listener_isolation(): true while isolation is off; while on, only the listeners bound to CURRENT_USER in music_tm.listener_roles, for reads and writes';
CREATE POLICY listener_isolation ON music_tm.unmatched_plays USING (true) WITH CHECK (true);
COMMENT ON POLICY listener_isolation ON music_tm.unmatched_plays IS
  'Written by music_tm.apply_listener_isolation(): true while isolation is off; while on, only the listeners bound to CURRENT_USER in music_tm.listener_roles, for reads and writes';
ALTER TABLE music_tm.plays ENABLE ROW LEVEL SECURITY;
ALTER TABLE music_tm.unmatched_plays ENABLE ROW LEVEL SECURITY;

-- the policies of this database, in the new form
SELECT music_tm.apply_listener_isolation();
