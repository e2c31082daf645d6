-- save_track: insert, update, and an identical object that writes nothing.
TRUNCATE music_tm.tracks, music_tm.charts;

SELECT music_tm.save_track('{
  "id": "4uLU6hMCjMI75M1A2tKUQC", "name": "Never Gonna Give You Up",
  "artists": [{"id": "0gxyHStUsqpMadRV0Di1Qt", "name": "Rick Astley"},
              {"id": "x", "name": "Second Artist"}],
  "album": {"name": "Whenever You Need Somebody", "release_date": "1987-11-12",
            "release_date_precision": "day"},
  "duration_ms": 213573,
  "external_ids": {"isrc": "GBARL9300135"},
  "external_urls": {"spotify": "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"}
}'::jsonb);

SELECT track_id, name, artist_name, album_name, duration_ms, spotify_url,
       content_hash = music_tm.track_hash(raw_json) AS hash_ok,
       created_at = updated_at AS fresh
FROM music_tm.tracks;

-- the same object again, keys in another order: nothing is written
CREATE TEMP TABLE before AS
SELECT xmin::text AS old_xmin, ctid AS old_ctid, updated_at AS old_updated_at
FROM music_tm.tracks;
SELECT music_tm.save_track('{
  "name": "Never Gonna Give You Up", "id": "4uLU6hMCjMI75M1A2tKUQC",
  "duration_ms": 213573,
  "external_urls": {"spotify": "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"},
  "external_ids": {"isrc": "GBARL9300135"},
  "album": {"release_date_precision": "day", "name": "Whenever You Need Somebody",
            "release_date": "1987-11-12"},
  "artists": [{"id": "0gxyHStUsqpMadRV0Di1Qt", "name": "Rick Astley"},
              {"id": "x", "name": "Second Artist"}]
}'::jsonb);
SELECT t.xmin::text = b.old_xmin AS same_xmin, t.ctid = b.old_ctid AS same_ctid,
       t.updated_at = b.old_updated_at AS same_updated_at
FROM music_tm.tracks t, before b;

-- a changed object is updated: new row version, columns follow the JSON
SELECT music_tm.save_track('{
  "id": "4uLU6hMCjMI75M1A2tKUQC", "name": "Never Gonna Give You Up (Remastered)",
  "artists": [], "album": null, "duration_ms": 213000, "external_urls": {}
}'::jsonb);
SELECT track_id, name, artist_name, album_name, duration_ms, spotify_url,
       raw_json ->> 'name' AS json_name
FROM music_tm.tracks;
SELECT t.xmin::text = b.old_xmin AS same_xmin, t.updated_at > b.old_updated_at AS later
FROM music_tm.tracks t, before b;

-- optional fields may be absent or null; non-ASCII text is kept as is
SELECT music_tm.save_track('{"id": "minimal", "name": "Ça plane pour moi — 夜に駆ける"}');
SELECT music_tm.save_track('{"id": "nulls", "name": "N", "artists": null,
  "album": {"name": null}, "duration_ms": null, "external_urls": null}');
SELECT music_tm.save_track('{"id": "whole", "name": "W", "duration_ms": 1.0e5}');
SELECT track_id, name, artist_name, album_name, duration_ms, spotify_url
FROM music_tm.tracks ORDER BY track_id;

-- the hash ignores key order and whitespace but not values
SELECT music_tm.track_hash('{"a": 1, "b": [1, 2]}') = music_tm.track_hash('{"b": [1,2], "a": 1}') AS same,
       music_tm.track_hash('{"a": 1, "b": [1, 2]}') = music_tm.track_hash('{"a": 1, "b": [2, 1]}') AS reordered_array_equal;
