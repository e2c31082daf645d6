/* music_tm--2.0.sql: install script of music_tm 2.0, made by make from install_guard.sql, music_tm--1.1.sql and music_tm--1.1--2.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION music_tm" to load this file. \quit

-- CREATE EXTENSION installs into the schema music_tm, and uses one that
-- already exists.  If another role made it, that role could later drop and
-- replace the extension's objects: refuse to install into it.
DO $$
DECLARE
    owner name;
BEGIN
    SELECT r.rolname INTO owner
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'music_tm';
    IF owner OPERATOR(pg_catalog.<>) CURRENT_USER THEN
        RAISE EXCEPTION 'schema music_tm already exists and is owned by role "%"', owner
          USING ERRCODE = 'insufficient_privilege',
                DETAIL = pg_catalog.format('music_tm installs into the schema music_tm; the installing role is "%s".', CURRENT_USER),
                HINT = 'Drop that schema, or make the installing role its owner (ALTER SCHEMA music_tm OWNER TO ...), after checking what it holds.';
    END IF;
END
$$;

-- The schema itself is made by CREATE EXTENSION from the control file.
COMMENT ON SCHEMA music_tm IS
  'music_tm: Spotify top-track charts, rank history and typed JSONB accessors';

CREATE TYPE music_tm.time_range AS ENUM ('short_term', 'medium_term', 'long_term');
COMMENT ON TYPE music_tm.time_range IS
  'Spotify top-items time range: short_term (about 4 weeks), medium_term (about 6 months), long_term (about 1 year)';

--
-- JSONB extraction: typed accessors.
--
-- Each takes a Spotify track object (or a {"track": ...} / {"item": ...}
-- wrapper, read as the track inside) and returns one field, typed; NULL when
-- the field is absent, JSON null or of the wrong JSON type, and NULL for an
-- argument that is not an object.  They run no SQL, so they are declared
-- IMMUTABLE STRICT PARALLEL SAFE without a SET clause: a SET clause would
-- send every call through fmgr_security_definer's GUC save/restore, several
-- times the cost of the extraction itself.  They come before the tables
-- because music_tm.tracks computes generated columns with them.
--

CREATE FUNCTION music_tm.release_date(track jsonb) RETURNS date
AS 'MODULE_PATHNAME', 'release_date' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.release_date(jsonb) IS
  'album.release_date as a date: ''1981'' is 1981-01-01, ''1981-12'' is 1981-12-01; NULL for ''0000'', impossible or malformed dates';

CREATE FUNCTION music_tm.release_date_precision(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'release_date_precision' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.release_date_precision(jsonb) IS
  'Precision of music_tm.release_date: year, month or day (the string''s shape, made coarser by album.release_date_precision); NULL when there is no date';

CREATE FUNCTION music_tm.release_year(track jsonb) RETURNS integer
AS 'MODULE_PATHNAME', 'release_year' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.release_year(jsonb) IS
  'Year of music_tm.release_date; NULL when there is no valid date';

CREATE FUNCTION music_tm.isrc(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'isrc' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.isrc(jsonb) IS 'external_ids.isrc (International Standard Recording Code)';

CREATE FUNCTION music_tm.ean(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'ean' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.ean(jsonb) IS 'external_ids.ean (International Article Number)';

CREATE FUNCTION music_tm.upc(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'upc' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.upc(jsonb) IS 'external_ids.upc (Universal Product Code)';

CREATE FUNCTION music_tm.artist_names(track jsonb) RETURNS text[]
AS 'MODULE_PATHNAME', 'artist_names' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.artist_names(jsonb) IS
  'artists[*].name in credit order; a NULL element for an artist without a string name; empty for []';

CREATE FUNCTION music_tm.artist_ids(track jsonb) RETURNS text[]
AS 'MODULE_PATHNAME', 'artist_ids' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.artist_ids(jsonb) IS
  'artists[*].id in credit order, aligned with music_tm.artist_names; a NULL element for an artist without a string id';

CREATE FUNCTION music_tm.first_artist(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'first_artist' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.first_artist(jsonb) IS 'artists[0].name';

CREATE FUNCTION music_tm.album_name(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'album_name' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.album_name(jsonb) IS 'album.name, as sent ('''' after a takedown and for local files)';

CREATE FUNCTION music_tm.album_id(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'album_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.album_id(jsonb) IS 'album.id';

CREATE FUNCTION music_tm.album_type(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'album_type' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.album_type(jsonb) IS 'album.album_type: album, single or compilation';

CREATE FUNCTION music_tm.explicit(track jsonb) RETURNS boolean
AS 'MODULE_PATHNAME', 'explicit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.explicit(jsonb) IS 'explicit: whether the track has explicit lyrics';

CREATE FUNCTION music_tm.popularity(track jsonb) RETURNS integer
AS 'MODULE_PATHNAME', 'popularity' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.popularity(jsonb) IS 'popularity (0..100; NULL unless a whole number)';

CREATE FUNCTION music_tm.duration_ms(track jsonb) RETURNS integer
AS 'MODULE_PATHNAME', 'duration_ms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.duration_ms(jsonb) IS 'duration_ms; NULL unless a whole number 0 .. 2147483647';

CREATE FUNCTION music_tm.duration(track jsonb) RETURNS interval
AS 'MODULE_PATHNAME', 'duration' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.duration(jsonb) IS 'duration_ms as an interval (222075 is 00:03:42.075)';

CREATE FUNCTION music_tm.track_number(track jsonb) RETURNS integer
AS 'MODULE_PATHNAME', 'track_number' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.track_number(jsonb) IS 'track_number on its disc';

CREATE FUNCTION music_tm.disc_number(track jsonb) RETURNS integer
AS 'MODULE_PATHNAME', 'disc_number' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.disc_number(jsonb) IS 'disc_number';

-- Not STRICT: a NULL min_width asks for the largest image.
CREATE FUNCTION music_tm.cover_url(track jsonb, min_width integer DEFAULT NULL) RETURNS text
AS 'MODULE_PATHNAME', 'cover_url' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.cover_url(jsonb, integer) IS
  'URL of the smallest album image at least min_width pixels wide (NULL min_width: the largest); an image of unknown width counts as the widest';

CREATE FUNCTION music_tm.playable_in(track jsonb, market text) RETURNS boolean
AS 'MODULE_PATHNAME', 'playable_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.playable_in(jsonb, text) IS
  'Whether the track plays in a market (two-letter code): is_playable when present, else whether available_markets lists it; NULL when neither is known';

CREATE FUNCTION music_tm.canonical_id(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'canonical_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.canonical_id(jsonb) IS
  'linked_from.id of a relinked track, else id: the same song keeps one id across relinking';

CREATE FUNCTION music_tm.is_local(track jsonb) RETURNS boolean
AS 'MODULE_PATHNAME', 'is_local' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.is_local(jsonb) IS 'is_local: a local file of the listener (no Spotify id)';

CREATE FUNCTION music_tm.is_episode(track jsonb) RETURNS boolean
AS 'MODULE_PATHNAME', 'is_episode' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.is_episode(jsonb) IS
  'Whether the item is a podcast episode: type episode, or an episode shaped as a track (first artist of type show)';

CREATE FUNCTION music_tm.uri(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'uri' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.uri(jsonb) IS 'uri (spotify:track:..., spotify:local:... for local files)';

CREATE FUNCTION music_tm.spotify_url(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'spotify_url' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.spotify_url(jsonb) IS 'external_urls.spotify';

CREATE FUNCTION music_tm.preview_url(track jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'preview_url' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.preview_url(jsonb) IS 'preview_url (null for many tracks and for all apps created since late 2024)';

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
    isrc         text        GENERATED ALWAYS AS (music_tm.isrc(raw_json)) STORED,
    release_year integer     GENERATED ALWAYS AS (music_tm.release_year(raw_json)) STORED,
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
COMMENT ON COLUMN music_tm.tracks.isrc IS 'music_tm.isrc(raw_json), stored so that WHERE isrc = ... is an index lookup';
COMMENT ON COLUMN music_tm.tracks.release_year IS 'music_tm.release_year(raw_json), stored so that release-year filters are index lookups';

-- Several track ids can share an ISRC (relinked twins, re-releases): not unique.
CREATE INDEX tracks_isrc_idx ON music_tm.tracks (isrc);
COMMENT ON INDEX music_tm.tracks_isrc_idx IS 'Tracks by ISRC';
CREATE INDEX tracks_release_year_idx ON music_tm.tracks (release_year);
COMMENT ON INDEX music_tm.tracks_release_year_idx IS 'Tracks by album release year';

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
-- JSONB extraction: one pass, and track detail
--

CREATE TYPE music_tm.track_fields AS (
    id                     text,
    name                   text,
    canonical_id           text,
    uri                    text,
    spotify_url            text,
    preview_url            text,
    is_local               boolean,
    is_episode             boolean,
    explicit               boolean,
    popularity             integer,
    duration_ms            integer,
    duration               interval,
    track_number           integer,
    disc_number            integer,
    isrc                   text,
    ean                    text,
    upc                    text,
    artist_names           text[],
    artist_ids             text[],
    first_artist           text,
    album_name             text,
    album_id               text,
    album_type             text,
    release_date           date,
    release_date_precision text,
    release_year           integer,
    cover_url              text,
    playable               boolean
);
COMMENT ON TYPE music_tm.track_fields IS
  'Every field of a track object that the accessors read, as returned by music_tm.track_fields; id and name are the object''s strings';

-- Like the accessors: no SQL inside, so no SET clause.
CREATE FUNCTION music_tm.track_fields(track jsonb) RETURNS music_tm.track_fields
AS 'MODULE_PATHNAME', 'track_fields' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.track_fields(jsonb) IS
  'All fields of a track object from one detoast and one walk; equal to the accessors (cover_url: the largest image; playable: NULL, no market given)';

CREATE FUNCTION music_tm.track_fields(track jsonb, market text) RETURNS music_tm.track_fields
AS 'MODULE_PATHNAME', 'track_fields' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.track_fields(jsonb, text) IS
  'All fields of a track object from one detoast and one walk, with playable = music_tm.playable_in(track, market)';

CREATE FUNCTION music_tm.track_detail(id text)
RETURNS TABLE (track_id text, name text, artist_name text, album_name text,
               duration_ms integer, spotify_url text, release_date date,
               release_date_precision text, isrc text)
AS 'MODULE_PATHNAME', 'track_detail'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.track_detail(text) IS
  'Display columns of a stored track plus its album release date (music_tm.release_date and its precision) and ISRC; no row for an unknown id';

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

--
-- 2.0: a chart is one row.
--
-- music_tm.charts holds the whole chart of a (listener, time_range,
-- snapshot_date): track_ids in rank order (element r is rank r, NULL for an
-- empty rank) and, when any track of it was relinked, playable_ids aligned
-- with it.  Recording a page writes that one row; music_tm.chart_entries,
-- the table of 1.x, becomes a read-only view with the same columns.
--

-- A rank holds one track in 2.0.  1.x allowed two tracks at one rank only
-- through save_snapshot_row; such a chart cannot be moved as it is.
DO $$
DECLARE
    tie record;
BEGIN
    SELECT e.listener, e.time_range, e.snapshot_date, e.rank,
           pg_catalog.string_agg(e.track_id, ', ' ORDER BY e.track_id) AS ids
      INTO tie
      FROM music_tm.chart_entries e
     GROUP BY e.listener, e.time_range, e.snapshot_date, e.rank
    HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot upgrade music_tm to 2.0: a chart has two tracks at one rank'
          USING ERRCODE = 'unique_violation',
                DETAIL = pg_catalog.format('The chart of listener "%s", time range %s on %s has %s at rank %s.',
                                           tie.listener, tie.time_range, tie.snapshot_date, tie.ids, tie.rank),
                HINT = 'In 2.0 a rank holds one track. Move or delete the extra entries of music_tm.chart_entries, then upgrade again.';
    END IF;
END
$$;

ALTER TABLE music_tm.charts
    ADD COLUMN track_ids text[],
    ADD COLUMN playable_ids text[];

-- Every chart's entries into its row: one pass over the entries in primary
-- key order of the chart index, NULL for the ranks nobody holds.
UPDATE music_tm.charts c
   SET track_ids = s.ids,
       playable_ids = CASE WHEN s.relinked THEN s.playable END
  FROM (SELECT h.listener, h.time_range, h.snapshot_date,
               pg_catalog.array_agg(e.track_id ORDER BY g.r) AS ids,
               pg_catalog.array_agg(e.playable_id ORDER BY g.r) AS playable,
               pg_catalog.bool_or(e.playable_id IS NOT NULL) AS relinked
          FROM (SELECT x.listener, x.time_range, x.snapshot_date,
                       pg_catalog.max(x.rank) AS top
                  FROM music_tm.chart_entries x
                 GROUP BY x.listener, x.time_range, x.snapshot_date) h
         CROSS JOIN LATERAL pg_catalog.generate_series(1, h.top) AS g(r)
          LEFT JOIN music_tm.chart_entries e
            ON e.listener OPERATOR(pg_catalog.=) h.listener
           AND e.time_range OPERATOR(pg_catalog.=) h.time_range
           AND e.snapshot_date OPERATOR(pg_catalog.=) h.snapshot_date
           AND e.rank OPERATOR(pg_catalog.=) g.r
         GROUP BY h.listener, h.time_range, h.snapshot_date) s
 WHERE c.listener OPERATOR(pg_catalog.=) s.listener
   AND c.time_range OPERATOR(pg_catalog.=) s.time_range
   AND c.snapshot_date OPERATOR(pg_catalog.=) s.snapshot_date;
UPDATE music_tm.charts SET track_ids = '{}' WHERE track_ids IS NULL;

ALTER TABLE music_tm.charts
    ALTER COLUMN track_ids SET NOT NULL,
    ADD CONSTRAINT charts_track_ids_check CHECK (
        pg_catalog.cardinality(track_ids) OPERATOR(pg_catalog.=) 0
        OR (pg_catalog.array_ndims(track_ids) OPERATOR(pg_catalog.=) 1
            AND pg_catalog.array_lower(track_ids, 1) OPERATOR(pg_catalog.=) 1
            AND pg_catalog.cardinality(track_ids) OPERATOR(pg_catalog.<=) 1000
            AND track_ids[pg_catalog.cardinality(track_ids)] IS NOT NULL
            AND '' OPERATOR(pg_catalog.<>) ALL (track_ids))),
    ADD CONSTRAINT charts_playable_ids_check CHECK (
        pg_catalog.array_ndims(playable_ids) OPERATOR(pg_catalog.=) 1
        AND pg_catalog.array_lower(playable_ids, 1) OPERATOR(pg_catalog.=) 1
        AND pg_catalog.cardinality(playable_ids) OPERATOR(pg_catalog.=) pg_catalog.cardinality(track_ids));

COMMENT ON TABLE music_tm.charts IS
  'One row per recorded chart: a listener''s top tracks of one time range on one date, in rank order';
COMMENT ON COLUMN music_tm.charts.track_ids IS
  'The chart''s track ids in rank order: element r is the track at rank r, NULL for an empty rank (a local file, a null item); no trailing NULLs';
COMMENT ON COLUMN music_tm.charts.playable_ids IS
  'For relinked tracks (charted under linked_from.id): the playable id Spotify returned, aligned with track_ids; NULL when no track of the chart was relinked';

-- out of the extension first, which also takes it off pg_dump's list of
-- configuration tables (a dropped member would leave its OID there)
ALTER EXTENSION music_tm DROP TABLE music_tm.chart_entries;
DROP TABLE music_tm.chart_entries;

CREATE VIEW music_tm.chart_entries WITH (security_invoker = true) AS
SELECT c.listener, c.time_range, c.snapshot_date, e.track_id,
       e.rank::pg_catalog.int4 AS rank,
       c.playable_ids[e.rank::pg_catalog.int4] AS playable_id
  FROM music_tm.charts c
 CROSS JOIN LATERAL pg_catalog.unnest(c.track_ids) WITH ORDINALITY AS e(track_id, rank)
 WHERE e.track_id IS NOT NULL;
COMMENT ON VIEW music_tm.chart_entries IS
  'Chart positions, one row per entry, as the table of music_tm 1.x had them: a read-only view of music_tm.charts';
COMMENT ON COLUMN music_tm.chart_entries.listener IS 'Whose chart';
COMMENT ON COLUMN music_tm.chart_entries.time_range IS 'Spotify time range of the chart';
COMMENT ON COLUMN music_tm.chart_entries.snapshot_date IS 'Date of the chart';
COMMENT ON COLUMN music_tm.chart_entries.track_id IS 'The charted track';
COMMENT ON COLUMN music_tm.chart_entries.rank IS 'Position, 1 = top';
COMMENT ON COLUMN music_tm.chart_entries.playable_id IS
  'For a relinked track (charted under linked_from.id), the playable id Spotify returned that day; NULL otherwise';

CREATE FUNCTION music_tm.chart_entries_read_only() RETURNS trigger
AS 'MODULE_PATHNAME', 'chart_entries_read_only'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.chart_entries_read_only() IS
  'Trigger: writes into the view music_tm.chart_entries fail with a message naming the functions that record charts';
CREATE TRIGGER chart_entries_read_only
    INSTEAD OF INSERT OR UPDATE OR DELETE ON music_tm.chart_entries
    FOR EACH ROW EXECUTE FUNCTION music_tm.chart_entries_read_only();
COMMENT ON TRIGGER chart_entries_read_only ON music_tm.chart_entries IS
  'chart_entries is read-only: record charts with music_tm.record_top_tracks or music_tm.save_snapshot_row';

--
-- Integrity without a foreign key per entry: the writing functions store a
-- track before they chart it; deleting a track that a chart names fails
-- (23503), checked by one scan of the charts per DELETE statement.
--
CREATE FUNCTION music_tm.tracks_lock_charts() RETURNS trigger
AS 'MODULE_PATHNAME', 'tracks_lock_charts'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.tracks_lock_charts() IS
  'Trigger: before a DELETE on music_tm.tracks, lock music_tm.charts against chart writers (EXCLUSIVE) until the transaction ends';
CREATE FUNCTION music_tm.tracks_check_charted() RETURNS trigger
AS 'MODULE_PATHNAME', 'tracks_check_charted'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.tracks_check_charted() IS
  'Trigger: a track that a chart names cannot be deleted, renamed or truncated away (SQLSTATE 23503)';

CREATE TRIGGER tracks_lock_charts
    BEFORE DELETE ON music_tm.tracks
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.tracks_lock_charts();
COMMENT ON TRIGGER tracks_lock_charts ON music_tm.tracks IS
  'Holds off chart writers while tracks are deleted, so that no chart names a deleted track';
CREATE TRIGGER tracks_check_charted_delete
    AFTER DELETE ON music_tm.tracks
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.tracks_check_charted();
COMMENT ON TRIGGER tracks_check_charted_delete ON music_tm.tracks IS
  'Fails the DELETE when a chart names a deleted track';
CREATE TRIGGER tracks_check_charted_update
    BEFORE UPDATE OF track_id ON music_tm.tracks
    FOR EACH ROW EXECUTE FUNCTION music_tm.tracks_check_charted();
COMMENT ON TRIGGER tracks_check_charted_update ON music_tm.tracks IS
  'Fails a change of track_id when a chart names the old id';
CREATE TRIGGER tracks_check_charted_truncate
    AFTER TRUNCATE ON music_tm.tracks
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.tracks_check_charted();
COMMENT ON TRIGGER tracks_check_charted_truncate ON music_tm.tracks IS
  'Fails a TRUNCATE of music_tm.tracks while a chart names a track (TRUNCATE music_tm.tracks, music_tm.charts together works)';

CREATE FUNCTION music_tm.check_charts()
RETURNS TABLE (listener text, time_range music_tm.time_range,
               snapshot_date date, rank integer, track_id text, problem text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.listener, c.time_range, c.snapshot_date, e.rank::pg_catalog.int4,
           e.track_id,
           CASE WHEN NOT EXISTS (SELECT FROM music_tm.tracks t
                                  WHERE t.track_id OPERATOR(pg_catalog.=) e.track_id)
                THEN 'track not stored'
                ELSE 'track charted twice (first at rank '
                     OPERATOR(pg_catalog.||) pg_catalog.array_position(c.track_ids, e.track_id)
                     OPERATOR(pg_catalog.||) ')'
           END
      FROM music_tm.charts c
     CROSS JOIN LATERAL pg_catalog.unnest(c.track_ids) WITH ORDINALITY AS e(track_id, rank)
     WHERE e.track_id IS NOT NULL
       AND (NOT EXISTS (SELECT FROM music_tm.tracks t
                         WHERE t.track_id OPERATOR(pg_catalog.=) e.track_id)
            OR pg_catalog.array_position(c.track_ids, e.track_id) OPERATOR(pg_catalog.<>) e.rank)
     ORDER BY 1, 2, 3, 4
$$;
COMMENT ON FUNCTION music_tm.check_charts() IS
  'Charts that name a track not stored in music_tm.tracks, or a track twice: for use after manual edits and partial restores; no row when all is well';

--
-- record_top_tracks: an empty page records nothing unless asked to, and the
-- summary says what became of the chart.
--
DROP FUNCTION music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text);
CREATE FUNCTION music_tm.record_top_tracks(
    time_range        music_tm.time_range,
    payload           jsonb,
    snapshot_date     date DEFAULT CURRENT_DATE,
    listener          text DEFAULT 'default',
    record_empty      boolean DEFAULT false,
    OUT tracks_inserted   bigint,
    OUT tracks_updated    bigint,
    OUT tracks_unchanged  bigint,
    OUT entries_inserted  bigint,
    OUT entries_updated   bigint,
    OUT entries_removed   bigint,
    OUT entries_unchanged bigint,
    OUT items_skipped     bigint,
    OUT skipped           jsonb,
    OUT chart             text)
RETURNS record
AS 'MODULE_PATHNAME', 'record_top_tracks'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off;
COMMENT ON FUNCTION music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text, boolean) IS
  'Record one GET /v1/me/top/tracks page (paging object or array of tracks) in one call: upsert its tracks, replace its rank range of the chart, return counts of what changed; a page with no items records nothing unless record_empty';

--
-- Plans that hold in every state.  Each statement the C code keeps reads
-- through the index it is written for (a primary key), but a kept plan is
-- made once, from the statistics of that moment: in a database analyzed
-- while small, the planner rightly prefers a sequential scan of a page or
-- two, and the plan stays after the tables grow.  Every function that runs
-- statements therefore plans them with sequential scans priced out; each
-- statement has an index that serves it, so nothing else changes (the
-- setting applies to the function's own statements only, and is checked for
-- every statement in every state by the regression test plans).
--
ALTER FUNCTION music_tm.save_track(jsonb) SET enable_seqscan = off;
ALTER FUNCTION music_tm.save_snapshot_row(text, date, music_tm.time_range, integer, text)
    SET enable_seqscan = off;
ALTER FUNCTION music_tm.track_detail(text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.rank_history(text, music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.chart_as_of(date, music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.chart_diff(date, date, music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.chart_churn(date, date, music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.run_stats(text, music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.all_run_stats(music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.artist_history(text, music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.artist_run_stats(text, music_tm.time_range, text) SET enable_seqscan = off;
ALTER FUNCTION music_tm.sparkline(text, music_tm.time_range, text, date, date) SET enable_seqscan = off;
ALTER FUNCTION music_tm.run_svg(text, music_tm.time_range, text, date, date, integer, integer)
    SET enable_seqscan = off;

COMMENT ON FUNCTION music_tm.save_snapshot_row(text, date, music_tm.time_range, integer, text) IS
  'Record one chart entry idempotently: the track is put at the rank (moved there if it stood elsewhere; a rank holds one track); the track must already be stored';

REVOKE ALL ON FUNCTION
    music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text, boolean),
    music_tm.check_charts(),
    music_tm.chart_entries_read_only(),
    music_tm.tracks_lock_charts(),
    music_tm.tracks_check_charted()
    FROM PUBLIC;
GRANT SELECT ON music_tm.chart_entries TO music_tm_reader, music_tm_writer;
-- writers reach the view's trigger and its message, not "permission denied"
GRANT INSERT, UPDATE, DELETE ON music_tm.chart_entries TO music_tm_writer;
GRANT EXECUTE ON FUNCTION music_tm.check_charts() TO music_tm_reader, music_tm_writer;
GRANT EXECUTE ON FUNCTION
    music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text, boolean)
    TO music_tm_writer;
