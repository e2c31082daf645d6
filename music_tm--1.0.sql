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
        PRIMARY KEY (listener, time_range, track_id, snapshot_date),
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
-- index serves one chart by date, in rank order.
CREATE INDEX chart_entries_chart_idx
    ON music_tm.chart_entries (listener, time_range, snapshot_date, rank);
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
