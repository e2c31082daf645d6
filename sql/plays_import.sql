-- import_streaming_history, extended format: every generation of the file,
-- each listen once across files, a replay writes nothing, no personal data.
TRUNCATE music_tm.plays, music_tm.tracks, music_tm.charts;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.versions() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(x, ' ' ORDER BY x) FROM (
      SELECT 'p' || xmin::text || ctid::text AS x FROM music_tm.plays
      UNION ALL SELECT 't' || xmin::text || ctid::text FROM music_tm.tracks) s
$$;

-- Streaming_History_Audio_*.json (newer): ip_addr, no username or user
-- agent, audiobook fields, ts with T and Z, offline_timestamp in
-- milliseconds; an episode, an audiobook chapter, a row with null metadata
-- and a local file are counted, not stored
CREATE TABLE new_file AS SELECT '[
 {"ts": "2024-01-05T08:03:20Z", "platform": "android", "ms_played": 200000, "conn_country": "DE",
  "ip_addr": "192.0.2.1", "master_metadata_track_name": "Song A", "master_metadata_album_artist_name": "Ann",
  "master_metadata_album_album_name": "Album A", "spotify_track_uri": "spotify:track:aaaaaaaaaaaaaaaaaaaaaa",
  "episode_name": null, "episode_show_name": null, "spotify_episode_uri": null,
  "audiobook_title": null, "audiobook_uri": null, "audiobook_chapter_uri": null, "audiobook_chapter_title": null,
  "reason_start": "clickrow", "reason_end": "trackdone", "shuffle": false, "skipped": false,
  "offline": true, "offline_timestamp": 1704441600000, "incognito_mode": false},
 {"ts": "2024-01-05T08:03:22Z", "platform": "android", "ms_played": 1500, "conn_country": "DE",
  "ip_addr": "192.0.2.1", "master_metadata_track_name": "Song B", "master_metadata_album_artist_name": "Bob",
  "master_metadata_album_album_name": "Album B", "spotify_track_uri": "spotify:track:bbbbbbbbbbbbbbbbbbbbbb",
  "episode_name": null, "episode_show_name": null, "spotify_episode_uri": null,
  "audiobook_title": null, "audiobook_uri": null, "audiobook_chapter_uri": null, "audiobook_chapter_title": null,
  "reason_start": "trackdone", "reason_end": "fwdbtn", "shuffle": true, "skipped": true,
  "offline": false, "offline_timestamp": 0, "incognito_mode": false},
 {"ts": "2024-01-05T09:00:00Z", "platform": "android", "ms_played": 0, "conn_country": "DE",
  "ip_addr": "192.0.2.1", "master_metadata_track_name": "Song A", "master_metadata_album_artist_name": "Ann",
  "master_metadata_album_album_name": "Album A", "spotify_track_uri": "spotify:track:aaaaaaaaaaaaaaaaaaaaaa",
  "episode_name": null, "episode_show_name": null, "spotify_episode_uri": null,
  "audiobook_title": null, "audiobook_uri": null, "audiobook_chapter_uri": null, "audiobook_chapter_title": null,
  "reason_start": "fwdbtn", "reason_end": "fwdbtn", "shuffle": true, "skipped": true,
  "offline": false, "offline_timestamp": null, "incognito_mode": false},
 {"ts": "2024-01-05T09:30:00Z", "platform": "android", "ms_played": 1200000, "conn_country": "DE",
  "ip_addr": "192.0.2.1", "master_metadata_track_name": null, "master_metadata_album_artist_name": null,
  "master_metadata_album_album_name": null, "spotify_track_uri": null,
  "episode_name": "Ep 1", "episode_show_name": "The Show", "spotify_episode_uri": "spotify:episode:eeeeeeeeeeeeeeeeeeeeee",
  "audiobook_title": null, "audiobook_uri": null, "audiobook_chapter_uri": null, "audiobook_chapter_title": null,
  "reason_start": "clickrow", "reason_end": "endplay", "shuffle": false, "skipped": false,
  "offline": false, "offline_timestamp": 1704447000, "incognito_mode": false},
 {"ts": "2024-01-05T10:00:00Z", "platform": "ios", "ms_played": 600000, "conn_country": "DE",
  "ip_addr": "192.0.2.1", "master_metadata_track_name": null, "master_metadata_album_artist_name": null,
  "master_metadata_album_album_name": null, "spotify_track_uri": null,
  "episode_name": null, "episode_show_name": null, "spotify_episode_uri": null,
  "audiobook_title": "A Book", "audiobook_uri": "spotify:audiobook:x", "audiobook_chapter_uri": "spotify:chapter:y",
  "audiobook_chapter_title": "Chapter 1",
  "reason_start": "clickrow", "reason_end": "endplay", "shuffle": false, "skipped": false,
  "offline": false, "offline_timestamp": null, "incognito_mode": false},
 {"ts": "2024-01-05T10:05:00Z", "platform": "ios", "ms_played": 30000, "conn_country": "DE",
  "ip_addr": "192.0.2.1", "master_metadata_track_name": null, "master_metadata_album_artist_name": null,
  "master_metadata_album_album_name": null, "spotify_track_uri": null,
  "episode_name": null, "episode_show_name": null, "spotify_episode_uri": null,
  "audiobook_title": null, "audiobook_uri": null, "audiobook_chapter_uri": null, "audiobook_chapter_title": null,
  "reason_start": "unknown", "reason_end": "unknown", "shuffle": false, "skipped": null,
  "offline": false, "offline_timestamp": null, "incognito_mode": false},
 {"ts": "2024-01-05T10:09:00Z", "platform": "osx", "ms_played": 100000, "conn_country": "DE",
  "ip_addr": "192.0.2.1", "master_metadata_track_name": "Demo", "master_metadata_album_artist_name": "Me",
  "master_metadata_album_album_name": "", "spotify_track_uri": "spotify:local:Me::Demo:100",
  "episode_name": null, "episode_show_name": null, "spotify_episode_uri": null,
  "reason_start": "clickrow", "reason_end": "trackdone", "shuffle": false, "skipped": false,
  "offline": false, "offline_timestamp": null, "incognito_mode": true}
]'::jsonb AS f;

SELECT * FROM music_tm.import_streaming_history((SELECT f FROM new_file), 'ana');
SELECT ended_at, track_id, ms_played, played_at, export_ts, skipped, shuffle, offline, offline_at,
       incognito, reason_start, reason_end
FROM music_tm.plays ORDER BY ended_at;

-- no personal data: plays has no column for it, and tracks got only names
SELECT attname FROM pg_attribute
WHERE attrelid = 'music_tm.plays'::regclass AND attnum > 0 AND NOT attisdropped
  AND attname ~ '^(ip_addr|user_agent|username|platform|conn_country)';
SELECT track_id, name, artist_name, album_name, raw_json FROM music_tm.tracks ORDER BY 1;

-- the same file again: nothing written
SELECT pg_temp.versions() AS before \gset
SELECT * FROM music_tm.import_streaming_history((SELECT f FROM new_file), 'ana');
SELECT pg_temp.versions() = :'before' AS nothing_written;

-- endsong_*.json (older): ip_addr_decrypted, user_agent_decrypted and
-- username present, skipped null, ts without T or Z, offline_timestamp in
-- seconds; the file overlaps the newer one (its first entry is the same
-- listen as new_file[0]): stored once.  A track already stored with a real
-- object is not replaced by the names.
SELECT music_tm.save_track('{"id": "cccccccccccccccccccccc", "name": "Song C (real)", "type": "track",
  "artists": [{"id": "ar-c", "name": "Cy"}], "external_ids": {"isrc": "ISRCC"}}');
CREATE TABLE old_file AS SELECT '[
 {"ts": "2024-01-05 08:03:20", "username": "ana1987", "platform": "Android OS 9 API 28 (samsung, SM-G960F)",
  "ms_played": 200000, "conn_country": "DE", "ip_addr_decrypted": "198.51.100.7",
  "user_agent_decrypted": "unknown", "master_metadata_track_name": "Song A",
  "master_metadata_album_artist_name": "Ann", "master_metadata_album_album_name": "Album A",
  "spotify_track_uri": "spotify:track:aaaaaaaaaaaaaaaaaaaaaa", "episode_name": null, "episode_show_name": null,
  "spotify_episode_uri": null, "reason_start": "clickrow", "reason_end": "trackdone", "shuffle": false,
  "skipped": null, "offline": true, "offline_timestamp": 1704441600, "incognito_mode": false},
 {"ts": "2021-11-15 13:41:44", "username": "ana1987", "platform": "Android OS 9 API 28 (samsung, SM-G960F)",
  "ms_played": 185000, "conn_country": "DE", "ip_addr_decrypted": "198.51.100.7",
  "user_agent_decrypted": "unknown", "master_metadata_track_name": "Song C",
  "master_metadata_album_artist_name": "Cy", "master_metadata_album_album_name": "Album C",
  "spotify_track_uri": "spotify:track:cccccccccccccccccccccc", "episode_name": null, "episode_show_name": null,
  "spotify_episode_uri": null, "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": false,
  "skipped": null, "offline": false, "offline_timestamp": 1636983519, "incognito_mode": false},
 {"ts": "2021-11-15 13:41:44", "username": "ana1987", "platform": "Android OS 9 API 28 (samsung, SM-G960F)",
  "ms_played": 185000, "conn_country": "DE", "ip_addr_decrypted": "198.51.100.7",
  "user_agent_decrypted": "unknown", "master_metadata_track_name": "Song C",
  "master_metadata_album_artist_name": "Cy", "master_metadata_album_album_name": "Album C",
  "spotify_track_uri": "spotify:track:cccccccccccccccccccccc", "episode_name": null, "episode_show_name": null,
  "spotify_episode_uri": null, "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": false,
  "skipped": null, "offline": false, "offline_timestamp": 1636983519, "incognito_mode": false}
]'::jsonb AS f;
SELECT * FROM music_tm.import_streaming_history((SELECT f FROM old_file), 'ana');
SELECT ended_at, track_id, ms_played, skipped, offline_at FROM music_tm.plays ORDER BY ended_at;
SELECT track_id, name FROM music_tm.tracks WHERE track_id LIKE 'c%';

-- a newer export repeats everything of the older one and adds a listen:
-- only that one is written
SELECT * FROM music_tm.import_streaming_history(
  (SELECT f || '[{"ts": "2024-02-01T12:00:00Z", "ms_played": 90000,
    "master_metadata_track_name": "Song B", "master_metadata_album_artist_name": "Bob",
    "master_metadata_album_album_name": "Album B", "spotify_track_uri": "spotify:track:bbbbbbbbbbbbbbbbbbbbbb",
    "reason_start": "clickrow", "reason_end": "trackdone", "shuffle": false, "skipped": false,
    "offline": false, "offline_timestamp": null, "incognito_mode": false}]' FROM new_file), 'ana');
SELECT count(*) AS plays FROM music_tm.plays WHERE listener = 'ana';

-- another listener's import of the same file is apart
SELECT plays_inserted, tracks_inserted FROM music_tm.import_streaming_history((SELECT f FROM new_file), 'bo');

-- an empty file, and the default listener
SELECT * FROM music_tm.import_streaming_history('[]');
SELECT plays_inserted FROM music_tm.import_streaming_history('[{"ts": "2024-03-01T00:00:00Z", "ms_played": 31000,
  "spotify_track_uri": "spotify:track:dddddddddddddddddddddd", "master_metadata_track_name": null}]');
SELECT listener, track_id FROM music_tm.plays WHERE track_id LIKE 'd%';
-- a track id without names gets no partial track object
SELECT count(*) FROM music_tm.tracks WHERE track_id LIKE 'd%';

-- a larger file: 20,000 entries of 500 tracks over a year, imported, then
-- imported again with nothing written
CREATE TABLE big_file AS
SELECT jsonb_agg(jsonb_build_object(
         'ts', to_char(timestamptz '2023-01-01 00:00+00' + g * interval '26 minutes', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'ms_played', (g * 7919) % 240000,
         'master_metadata_track_name', 'Track ' || (g % 500),
         'master_metadata_album_artist_name', 'Artist ' || (g % 37),
         'master_metadata_album_album_name', 'Album ' || (g % 90),
         'spotify_track_uri', 'spotify:track:big' || lpad((g % 500)::text, 19, '0'),
         'reason_start', 'trackdone', 'reason_end', 'trackdone',
         'shuffle', g % 2 = 0, 'skipped', g % 5 = 0, 'offline', false,
         'offline_timestamp', 0, 'incognito_mode', false,
         'ip_addr', '203.0.113.9', 'platform', 'linux')) AS f
FROM generate_series(1, 20000) g;
SELECT format, entries, plays_inserted, plays_unchanged, tracks_inserted
FROM music_tm.import_streaming_history((SELECT f FROM big_file), 'big');
SELECT format, entries, plays_inserted, plays_unchanged, tracks_inserted
FROM music_tm.import_streaming_history((SELECT f FROM big_file), 'big');
SELECT count(*), min(ended_at), max(ended_at) FROM music_tm.plays WHERE listener = 'big';

DROP TABLE new_file, old_file, big_file;
