/* music_tm--1.0.sql: install script of music_tm 1.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION music_tm" to load this file. \quit

-- The schema itself is made by CREATE EXTENSION from the control file.
COMMENT ON SCHEMA music_tm IS
  'music_tm: Spotify top-track charts, rank history and typed JSONB accessors';

CREATE TYPE music_tm.time_range AS ENUM ('short_term', 'medium_term', 'long_term');
COMMENT ON TYPE music_tm.time_range IS
  'Spotify top-items time range: short_term (about 4 weeks), medium_term (about 6 months), long_term (about 1 year)';

--
-- Tables.  Every unique key of per-listener data starts with the listener, so
-- a large service can distribute charts and chart_entries by listener
-- (Citus) and keep tracks as a reference table.
--

CREATE TABLE music_tm.tracks (
    track_id     text        NOT NULL,
    name         text        NOT NULL,
    artist_name  text,
    album_name   text,
    duration_ms  integer,
    spotify_url  text,
    raw_json     jsonb       NOT NULL,
    content_hash bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT tracks_pkey PRIMARY KEY (track_id),
    CONSTRAINT tracks_track_id_check CHECK (track_id OPERATOR(pg_catalog.<>) ''),
    CONSTRAINT tracks_duration_ms_check CHECK (duration_ms OPERATOR(pg_catalog.>=) 0)
);
COMMENT ON TABLE music_tm.tracks IS
  'Spotify track objects, one row per track id, shared by all listeners';
COMMENT ON COLUMN music_tm.tracks.track_id IS 'Spotify track id (the object''s "id")';
COMMENT ON COLUMN music_tm.tracks.name IS 'Track name';
COMMENT ON COLUMN music_tm.tracks.artist_name IS 'Name of the first credited artist';
COMMENT ON COLUMN music_tm.tracks.album_name IS 'Album name';
COMMENT ON COLUMN music_tm.tracks.duration_ms IS 'Duration in milliseconds';
COMMENT ON COLUMN music_tm.tracks.spotify_url IS 'external_urls.spotify';
COMMENT ON COLUMN music_tm.tracks.raw_json IS 'The whole track object as last received';
COMMENT ON COLUMN music_tm.tracks.content_hash IS
  'music_tm.track_hash(raw_json): tells an unchanged payload without comparing jsonb values';
COMMENT ON COLUMN music_tm.tracks.created_at IS 'Start of the transaction that first stored the track';
COMMENT ON COLUMN music_tm.tracks.updated_at IS 'Start of the transaction that last changed the stored object';

-- lz4 makes every later read of raw_json 2-3x faster than pglz; use it when
-- the server was built with it.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_settings
               WHERE name OPERATOR(pg_catalog.=) 'default_toast_compression'
                 AND 'lz4' OPERATOR(pg_catalog.=) ANY (enumvals)) THEN
        ALTER TABLE music_tm.tracks ALTER COLUMN raw_json SET COMPRESSION lz4;
    END IF;
END
$$;

CREATE TABLE music_tm.charts (
    listener      text                NOT NULL DEFAULT 'default',
    time_range    music_tm.time_range NOT NULL,
    snapshot_date date                NOT NULL,
    recorded_at   timestamptz         NOT NULL,
    CONSTRAINT charts_pkey PRIMARY KEY (listener, time_range, snapshot_date),
    CONSTRAINT charts_listener_check CHECK (listener OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE music_tm.charts IS
  'One row per recorded chart: a listener''s top tracks of one time range on one date';
COMMENT ON COLUMN music_tm.charts.listener IS 'Whose chart; ''default'' for single-user apps';
COMMENT ON COLUMN music_tm.charts.time_range IS 'Spotify time range of the chart';
COMMENT ON COLUMN music_tm.charts.snapshot_date IS 'Date the chart was fetched';
COMMENT ON COLUMN music_tm.charts.recorded_at IS 'Start of the transaction that first recorded the chart';

CREATE TABLE music_tm.chart_entries (
    listener      text                NOT NULL DEFAULT 'default',
    time_range    music_tm.time_range NOT NULL,
    snapshot_date date                NOT NULL,
    track_id      text                NOT NULL,
    rank          integer             NOT NULL,
    playable_id   text,
    CONSTRAINT chart_entries_pkey
        PRIMARY KEY (listener, time_range, track_id, snapshot_date) INCLUDE (rank),
    CONSTRAINT chart_entries_rank_check
        CHECK (rank OPERATOR(pg_catalog.>=) 1 AND rank OPERATOR(pg_catalog.<=) 1000),
    CONSTRAINT chart_entries_chart_fkey
        FOREIGN KEY (listener, time_range, snapshot_date)
        REFERENCES music_tm.charts (listener, time_range, snapshot_date)
        ON DELETE CASCADE,
    CONSTRAINT chart_entries_track_fkey
        FOREIGN KEY (track_id) REFERENCES music_tm.tracks (track_id)
);
-- The primary key serves one track's history for a listener and range; this
-- index serves one chart by date, in rank order.  Each INCLUDEs the one
-- column the other holds (rank, track_id), so that the rank history
-- functions read both with index-only scans.  It costs no HOT updates: rank
-- is already a key column of the chart index, so a rank change was never HOT.
CREATE INDEX chart_entries_chart_idx
    ON music_tm.chart_entries (listener, time_range, snapshot_date, rank)
    INCLUDE (track_id);
COMMENT ON TABLE music_tm.chart_entries IS
  'Chart positions: track_id stood at rank in the listener''s chart of time_range on snapshot_date';
COMMENT ON COLUMN music_tm.chart_entries.listener IS 'Whose chart';
COMMENT ON COLUMN music_tm.chart_entries.time_range IS 'Spotify time range of the chart';
COMMENT ON COLUMN music_tm.chart_entries.snapshot_date IS 'Date of the chart';
COMMENT ON COLUMN music_tm.chart_entries.track_id IS 'The charted track';
COMMENT ON COLUMN music_tm.chart_entries.rank IS 'Position, 1 = top';
COMMENT ON COLUMN music_tm.chart_entries.playable_id IS
  'For a relinked track (charted under linked_from.id), the playable id Spotify returned that day; NULL otherwise';
COMMENT ON INDEX music_tm.chart_entries_chart_idx IS 'One chart by date, in rank order';

-- pg_dump must dump the rows, not only the definitions.
SELECT pg_catalog.pg_extension_config_dump('music_tm.tracks', '');
SELECT pg_catalog.pg_extension_config_dump('music_tm.charts', '');
SELECT pg_catalog.pg_extension_config_dump('music_tm.chart_entries', '');

--
-- Snapshot upsert
--

CREATE FUNCTION music_tm.save_track(track jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'save_track'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.save_track(jsonb) IS
  'Upsert a Spotify track object into music_tm.tracks; returns inserted, updated or unchanged (an identical object writes nothing)';

CREATE FUNCTION music_tm.save_snapshot_row(
    track_id      text,
    snapshot_date date,
    time_range    music_tm.time_range,
    rank          integer,
    listener      text DEFAULT 'default')
RETURNS void
AS 'MODULE_PATHNAME', 'save_snapshot_row'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.save_snapshot_row(text, date, music_tm.time_range, integer, text) IS
  'Record one chart entry idempotently (rank updated on conflict); the track must already be stored';

CREATE FUNCTION music_tm.record_top_tracks(
    time_range        music_tm.time_range,
    payload           jsonb,
    snapshot_date     date DEFAULT CURRENT_DATE,
    listener          text DEFAULT 'default',
    OUT tracks_inserted   bigint,
    OUT tracks_updated    bigint,
    OUT tracks_unchanged  bigint,
    OUT entries_inserted  bigint,
    OUT entries_updated   bigint,
    OUT entries_removed   bigint,
    OUT entries_unchanged bigint,
    OUT items_skipped     bigint,
    OUT skipped           jsonb)
RETURNS record
AS 'MODULE_PATHNAME', 'record_top_tracks'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text) IS
  'Record one GET /v1/me/top/tracks page (paging object or array of tracks) in one call: upsert its tracks, replace its rank range of the chart, return counts of what changed';

CREATE FUNCTION music_tm.track_hash(track jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'track_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.track_hash(jsonb) IS
  'Content hash of a jsonb value (64-bit hash of its canonical binary form), as stored in tracks.content_hash';

--
-- JSONB extraction
--

CREATE FUNCTION music_tm.track_detail(id text)
RETURNS TABLE (track_id text, name text, artist_name text, album_name text,
               duration_ms integer, spotify_url text, release_date text,
               isrc text)
AS 'MODULE_PATHNAME', 'track_detail'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.track_detail(text) IS
  'Display columns of a stored track plus album release date and ISRC from its JSON; no row for an unknown id';

--
-- Rank history.  Every figure is computed at read time from chart_entries
-- and the chart headers, so backfilled or re-recorded snapshots change every
-- later figure at once.  "Previous" is the listener's previous snapshot of
-- the range, never the previous calendar day.
--

CREATE FUNCTION music_tm.rank_history(
    track_id   text,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (snapshot_date date, rank integer, previous_rank integer,
               movement integer, status text)
AS 'MODULE_PATHNAME', 'rank_history'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.rank_history(text, music_tm.time_range, text) IS
  'One row per snapshot of the listener''s range from the track''s debut on: rank (NULL when absent), previous snapshot''s rank, movement (positive = up), status NEW, UP, DOWN, SAME, DROPPED or RE-ENTRY (NULL while it stays absent)';

CREATE FUNCTION music_tm.chart_as_of(
    as_of      date,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (snapshot_date date, rank integer, track_id text,
               last_position integer, movement integer, status text,
               peak integer, periods_on_chart integer, debut date)
AS 'MODULE_PATHNAME', 'chart_as_of'
LANGUAGE C STABLE PARALLEL SAFE ROWS 50
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.chart_as_of(date, music_tm.time_range, text) IS
  'The listener''s latest chart of the range on or before as_of, with Billboard columns computed from snapshots up to that chart only: last position, movement, status, peak, periods on chart, debut';

CREATE FUNCTION music_tm.chart_diff(
    from_date  date,
    to_date    date,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (track_id text, change text, from_rank integer,
               to_rank integer, movement integer)
AS 'MODULE_PATHNAME', 'chart_diff'
LANGUAGE C STABLE PARALLEL SAFE ROWS 60
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.chart_diff(date, date, music_tm.time_range, text) IS
  'Chart as of from_date against chart as of to_date: ENTERED, UP, DOWN, SAME in the later chart''s order, then EXITED';

CREATE FUNCTION music_tm.chart_churn(
    from_date  date,
    to_date    date,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (from_chart date, to_chart date, from_tracks integer,
               to_tracks integer, shared integer, entered integer,
               exited integer, jaccard double precision,
               footrule double precision)
AS 'MODULE_PATHNAME', 'chart_churn'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.chart_churn(date, date, music_tm.time_range, text) IS
  'Churn between the charts as of two dates: Jaccard overlap and Spearman''s footrule over the shared tracks normalised to 0 (same order) .. 1 (reversed)';

CREATE FUNCTION music_tm.run_stats(
    track_id   text,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (track_id text, debut date, last_seen date, peak integer,
               peak_date date, periods_on_chart integer,
               periods_at_peak integer, periods_at_no1 integer,
               longest_streak integer, current_streak integer)
AS 'MODULE_PATHNAME', 'run_stats'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.run_stats(text, music_tm.time_range, text) IS
  'Run statistics of a track in the listener''s range: debut, last seen, peak and when first reached, periods on chart / at peak / at #1, longest and current streak of consecutive snapshots';

CREATE FUNCTION music_tm.all_run_stats(
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (track_id text, debut date, last_seen date, peak integer,
               peak_date date, periods_on_chart integer,
               periods_at_peak integer, periods_at_no1 integer,
               longest_streak integer, current_streak integer)
AS 'MODULE_PATHNAME', 'all_run_stats'
LANGUAGE C STABLE PARALLEL SAFE ROWS 200
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.all_run_stats(music_tm.time_range, text) IS
  'music_tm.run_stats for every track the listener''s range ever charted, in one scan';

CREATE FUNCTION music_tm.artist_history(
    artist     text,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (snapshot_date date, tracks integer, best_rank integer,
               best_track_id text)
AS 'MODULE_PATHNAME', 'artist_history'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.artist_history(text, music_tm.time_range, text) IS
  'Per snapshot from the artist''s debut on: how many tracks crediting the artist (exact id or name, any credited artist) were on the chart, and the best placed';

CREATE FUNCTION music_tm.artist_run_stats(
    artist     text,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default')
RETURNS TABLE (artist text, tracks_charted integer, debut date,
               last_seen date, peak integer, peak_date date,
               periods_on_chart integer, periods_at_peak integer,
               periods_at_no1 integer, longest_streak integer,
               current_streak integer, most_tracks integer)
AS 'MODULE_PATHNAME', 'artist_run_stats'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.artist_run_stats(text, music_tm.time_range, text) IS
  'Run statistics of an artist''s presence in the listener''s range (a snapshot counts when any of their tracks is on it, at their best rank), plus tracks charted and most tracks on one chart';

CREATE FUNCTION music_tm.sparkline(
    track_id   text,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default',
    from_date  date DEFAULT NULL,
    to_date    date DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'sparkline'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.sparkline(text, music_tm.time_range, text, date, date) IS
  'One character per snapshot from from_date (default: debut) to to_date (default: latest): bars higher for better ranks (full block = #1, lowest = the track''s worst rank in the window rounded up to a multiple of 10), a middle dot when absent; NULL when nothing to draw';

CREATE FUNCTION music_tm.run_svg(
    track_id   text,
    time_range music_tm.time_range,
    listener   text DEFAULT 'default',
    from_date  date DEFAULT NULL,
    to_date    date DEFAULT NULL,
    width      integer DEFAULT 640,
    height     integer DEFAULT 240)
RETURNS text
AS 'MODULE_PATHNAME', 'run_svg'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.run_svg(text, music_tm.time_range, text, date, date, integer, integer) IS
  'SVG document (text) of a chart run: dates along x to scale, rank axis inverted (#1 at the top); NULL when nothing to draw';
