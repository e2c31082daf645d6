/* music_tm--1.1--2.0.sql: upgrade of music_tm from 1.1 to 2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION music_tm UPDATE TO '2.0'" to load this file. \quit

--
-- issue 15: README fixes
--
-- track_detail's argument is called track_id, as in every other function
-- that takes a track id.  PostgreSQL cannot rename an argument in place
-- (CREATE OR REPLACE refuses), so the function is dropped and made again,
-- with its comment and privileges.  Positional calls are unaffected; a call
-- in named notation must say track_id => instead of id =>.  A view of the
-- user's that calls track_detail makes this DROP fail, and with it the whole
-- update, which then changes nothing: drop the view, update, create it again.
--
DROP FUNCTION music_tm.track_detail(text);
CREATE FUNCTION music_tm.track_detail(track_id text)
RETURNS TABLE (track_id text, name text, artist_name text, album_name text,
               duration_ms integer, spotify_url text, release_date date,
               release_date_precision text, isrc text)
AS 'MODULE_PATHNAME', 'track_detail'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.track_detail(text) IS
  'Display columns of a stored track plus its album release date (music_tm.release_date and its precision) and ISRC; no row for an unknown id';
REVOKE ALL ON FUNCTION music_tm.track_detail(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION music_tm.track_detail(text) TO music_tm_reader, music_tm_writer;

-- The columns of music_tm.track_fields, as \d+ music_tm.track_fields shows
-- them: what each one is read from.
COMMENT ON COLUMN music_tm.track_fields.id IS
  'The object''s id (a string; NULL for a local file), as sent, not canonical';
COMMENT ON COLUMN music_tm.track_fields.name IS
  'The object''s name (a string)';
COMMENT ON COLUMN music_tm.track_fields.canonical_id IS
  'linked_from.id of a relinked track, else id: music_tm.canonical_id';
COMMENT ON COLUMN music_tm.track_fields.uri IS
  'uri: music_tm.uri';
COMMENT ON COLUMN music_tm.track_fields.spotify_url IS
  'external_urls.spotify: music_tm.spotify_url';
COMMENT ON COLUMN music_tm.track_fields.preview_url IS
  'preview_url (often null): music_tm.preview_url';
COMMENT ON COLUMN music_tm.track_fields.is_local IS
  'is_local: music_tm.is_local';
COMMENT ON COLUMN music_tm.track_fields.is_episode IS
  'type is episode, or an episode shaped as a track: music_tm.is_episode';
COMMENT ON COLUMN music_tm.track_fields.explicit IS
  'explicit: music_tm.explicit';
COMMENT ON COLUMN music_tm.track_fields.popularity IS
  'popularity, a whole number: music_tm.popularity';
COMMENT ON COLUMN music_tm.track_fields.duration_ms IS
  'duration_ms, a whole number >= 0: music_tm.duration_ms';
COMMENT ON COLUMN music_tm.track_fields.duration IS
  'duration_ms as an interval: music_tm.duration';
COMMENT ON COLUMN music_tm.track_fields.track_number IS
  'track_number: music_tm.track_number';
COMMENT ON COLUMN music_tm.track_fields.disc_number IS
  'disc_number: music_tm.disc_number';
COMMENT ON COLUMN music_tm.track_fields.isrc IS
  'external_ids.isrc: music_tm.isrc';
COMMENT ON COLUMN music_tm.track_fields.ean IS
  'external_ids.ean: music_tm.ean';
COMMENT ON COLUMN music_tm.track_fields.upc IS
  'external_ids.upc: music_tm.upc';
COMMENT ON COLUMN music_tm.track_fields.artist_names IS
  'artists[*].name in credit order, NULL element where an artist has no string name: music_tm.artist_names';
COMMENT ON COLUMN music_tm.track_fields.artist_ids IS
  'artists[*].id, aligned with artist_names: music_tm.artist_ids';
COMMENT ON COLUMN music_tm.track_fields.first_artist IS
  'artists[0].name: music_tm.first_artist';
COMMENT ON COLUMN music_tm.track_fields.album_name IS
  'album.name, an empty string kept: music_tm.album_name';
COMMENT ON COLUMN music_tm.track_fields.album_id IS
  'album.id: music_tm.album_id';
COMMENT ON COLUMN music_tm.track_fields.album_type IS
  'album.album_type: music_tm.album_type';
COMMENT ON COLUMN music_tm.track_fields.release_date IS
  'album.release_date as a date (1981 is 1981-01-01, 1981-12 is 1981-12-01; NULL for 0000 and impossible dates): music_tm.release_date';
COMMENT ON COLUMN music_tm.track_fields.release_date_precision IS
  'year, month or day: the date string''s shape, made coarser by album.release_date_precision: music_tm.release_date_precision';
COMMENT ON COLUMN music_tm.track_fields.release_year IS
  'Year of release_date: music_tm.release_year';
COMMENT ON COLUMN music_tm.track_fields.cover_url IS
  'URL of the largest album image (unknown width counts as widest): music_tm.cover_url(track)';
COMMENT ON COLUMN music_tm.track_fields.playable IS
  'music_tm.playable_in(track, market) in the two-argument form; NULL in the one-argument form';
