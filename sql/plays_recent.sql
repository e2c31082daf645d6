-- record_recently_played: a recently-played response per call; its tracks
-- stored as pages store them, each listen once, a replay writes nothing.
SET client_min_messages = warning;
DROP EXTENSION music_tm CASCADE;
CREATE EXTENSION music_tm;
RESET client_min_messages;

-- a track object as Spotify sends it (trimmed)
CREATE FUNCTION pg_temp.tr(id text, name text, artist text, extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', id, 'name', name, 'type', 'track', 'duration_ms', 200000,
                              'uri', 'spotify:track:' || id,
                              'artists', jsonb_build_array(jsonb_build_object('id', 'ar-' || artist, 'name', artist)),
                              'album', jsonb_build_object('name', 'Album of ' || name),
                              'external_ids', jsonb_build_object('isrc', 'ISRC' || id)) || extra
$$;
CREATE FUNCTION pg_temp.item(track jsonb, played_at text, context jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('track', track, 'played_at', played_at, 'context', context)
$$;
CREATE FUNCTION pg_temp.resp(VARIADIC items jsonb[]) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('href', 'https://api.spotify.com/v1/me/player/recently-played?limit=50',
                              'limit', 50, 'next', NULL,
                              'cursors', jsonb_build_object('after', '1', 'before', '0'),
                              'items', to_jsonb(items))
$$;
-- every stored row version, to tell "nothing written" from "written again"
CREATE FUNCTION pg_temp.versions() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(x, ' ' ORDER BY x) FROM (
      SELECT 'p' || xmin::text || ctid::text AS x FROM music_tm.plays
      UNION ALL SELECT 't' || xmin::text || ctid::text FROM music_tm.tracks) s
$$;
CREATE FUNCTION pg_temp.plays() RETURNS TABLE (listener text, ended_at timestamptz, track_id text,
    playable_id text, ms_played int, played_at timestamptz, export_ts timestamptz, context_uri text)
LANGUAGE sql AS $$
    SELECT listener, ended_at, track_id, playable_id, ms_played, played_at, export_ts, context_uri
    FROM music_tm.plays ORDER BY listener, ended_at, track_id
$$;
SET TimeZone = 'UTC';

-- newest first, as Spotify lists them: the same track twice minutes apart
-- (two real plays), a relinked track, a context
SELECT * FROM music_tm.record_recently_played(pg_temp.resp(
  pg_temp.item(pg_temp.tr('t1', 'One', 'Ann'), '2026-03-01T10:08:00.250Z'),
  pg_temp.item(pg_temp.tr('t2p', 'Two', 'Bob', '{"linked_from": {"id": "t2", "type": "track"}}'),
               '2026-03-01T10:04:10.000Z',
               '{"type": "playlist", "uri": "spotify:playlist:pl1", "href": "h", "external_urls": {}}'),
  pg_temp.item(pg_temp.tr('t1', 'One', 'Ann'), '2026-03-01T10:00:30.750Z')), 'ana');
SELECT * FROM pg_temp.plays();
SELECT track_id, name, artist_name FROM music_tm.tracks ORDER BY 1;

-- the same response again: a replay, nothing written
SELECT pg_temp.versions() AS before \gset
SELECT * FROM music_tm.record_recently_played(pg_temp.resp(
  pg_temp.item(pg_temp.tr('t1', 'One', 'Ann'), '2026-03-01T10:08:00.250Z'),
  pg_temp.item(pg_temp.tr('t2p', 'Two', 'Bob', '{"linked_from": {"id": "t2", "type": "track"}}'),
               '2026-03-01T10:04:10.000Z',
               '{"type": "playlist", "uri": "spotify:playlist:pl1", "href": "h", "external_urls": {}}'),
  pg_temp.item(pg_temp.tr('t1', 'One', 'Ann'), '2026-03-01T10:00:30.750Z')), 'ana');
SELECT pg_temp.versions() = :'before' AS nothing_written;

-- the next poll overlaps: one new listen, two already stored; a track whose
-- object changed (popularity) is updated, the others cost a read
SELECT * FROM music_tm.record_recently_played(pg_temp.resp(
  pg_temp.item(pg_temp.tr('t3', 'Three', 'Cy'), '2026-03-01T10:12:00Z'),
  pg_temp.item(pg_temp.tr('t1', 'One', 'Ann', '{"popularity": 50}'), '2026-03-01T10:08:00.250Z'),
  pg_temp.item(pg_temp.tr('t2p', 'Two', 'Bob', '{"linked_from": {"id": "t2", "type": "track"}}'),
               '2026-03-01T10:04:10.000Z')), 'ana');
SELECT count(*) AS plays FROM music_tm.plays;

-- what is skipped, and said: a null item, a null track, a local file, an
-- episode; an item repeated inside one response is one listen
SELECT * FROM music_tm.record_recently_played(pg_temp.resp(
  'null',
  jsonb_build_object('track', NULL, 'played_at', '2026-03-01T11:00:00Z'),
  pg_temp.item('{"id": null, "is_local": true, "name": "Demo", "uri": "spotify:local:A::Demo:100"}',
               '2026-03-01T11:01:00Z'),
  pg_temp.item('{"id": "e1", "type": "episode", "name": "Talk"}', '2026-03-01T11:02:00Z'),
  pg_temp.item(pg_temp.tr('t4', 'Four', 'Di'), '2026-03-01T11:03:00Z'),
  pg_temp.item(pg_temp.tr('t4', 'Four', 'Di'), '2026-03-01T11:03:00Z')), 'ana');

-- listeners are apart: the same response stores for another listener; the
-- default listener is 'default'
SELECT plays_inserted, plays_unchanged, tracks_unchanged FROM music_tm.record_recently_played(pg_temp.resp(
  pg_temp.item(pg_temp.tr('t1', 'One', 'Ann', '{"popularity": 50}'), '2026-03-01T10:08:00.250Z')), 'bo');
SELECT plays_inserted FROM music_tm.record_recently_played(pg_temp.resp(
  pg_temp.item(pg_temp.tr('t1', 'One', 'Ann', '{"popularity": 50}'), '2026-03-01T10:08:00.250Z')));
SELECT listener, count(*) FROM music_tm.plays GROUP BY 1 ORDER BY 1;

-- times are UTC whatever the session's TimeZone: with or without Z, with or
-- without T, with an explicit offset
SET TimeZone = 'Asia/Tokyo';
SELECT plays_inserted FROM music_tm.record_recently_played(pg_temp.resp(
  pg_temp.item(pg_temp.tr('t5', 'Five', 'Ed'), '2026-03-02 09:00:00'),
  pg_temp.item(pg_temp.tr('t5', 'Five', 'Ed'), '2026-03-02T08:00:00Z'),
  pg_temp.item(pg_temp.tr('t5', 'Five', 'Ed'), '2026-03-02T09:00:00+02:00')), 'tz');
SET TimeZone = 'UTC';
SELECT ended_at FROM music_tm.plays WHERE listener = 'tz' ORDER BY 1;

-- an empty response records nothing
SELECT * FROM music_tm.record_recently_played('{"items": [], "limit": 50}', 'ana');

-- a writer (no INSERT on music_tm.tracks) records through the function
CREATE ROLE regress_mtm_plays_writer LOGIN IN ROLE music_tm_writer;
SET ROLE regress_mtm_plays_writer;
SELECT plays_inserted, tracks_inserted FROM music_tm.record_recently_played(pg_temp.resp(
  pg_temp.item(pg_temp.tr('t6', 'Six', 'Fy'), '2026-03-03T10:00:00Z')), 'writer');
SELECT count(*) FROM music_tm.plays WHERE listener = 'writer';
RESET ROLE;
-- a reader may read plays but not record
CREATE ROLE regress_mtm_plays_reader LOGIN IN ROLE music_tm_reader;
SET ROLE regress_mtm_plays_reader;
SELECT count(*) > 0 AS reads FROM music_tm.plays;
SELECT music_tm.record_recently_played('{"items": []}', 'x');
RESET ROLE;
DROP ROLE regress_mtm_plays_writer;
DROP ROLE regress_mtm_plays_reader;
