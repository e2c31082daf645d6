-- track_fields: every field from one detoast and one walk, equal to the
-- accessors; and the stored generated columns that make isrc and
-- release-year filters index lookups.
\pset null '∅'
SET datestyle = ISO;
SET intervalstyle = postgres;
TRUNCATE music_tm.tracks, music_tm.charts;

-- every track object of the bundled sample (tools/gen_sample.py), with the
-- same objects wrapped as recently-played and currently-playing items, plus
-- odd objects that are not tracks
CREATE TEMP TABLE sample (doc jsonb);
\copy sample FROM PROGRAM 'gzip -dc data/sample_pages.jsonl.gz' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
CREATE TEMP TABLE objects AS
SELECT DISTINCT item AS j
FROM sample, jsonb_array_elements(doc->'page'->'items') item;
INSERT INTO objects
SELECT jsonb_build_object('track', j, 'played_at', '2026-01-05T08:00:00Z') FROM objects
UNION ALL
SELECT jsonb_build_object('item', j) FROM objects WHERE j->>'id' LIKE 'A%';
INSERT INTO objects VALUES ('{}'), ('[]'), ('"x"'), ('1'), ('null'), ('{"track": null}'),
  ('{"id": 7, "album": [], "artists": {}, "external_ids": "x", "popularity": 1.5,
    "duration_ms": -1, "linked_from": {"id": 3}, "available_markets": {"SE": true}}'),
  ('{"track": true, "item": {"id": "inner", "is_playable": false}}'),
  ('{"id": "eu", "name": "EU", "external_ids": {"ean": "0602498613986", "upc": "602498613986", "isrc": null}}');

-- the set is varied: every quirk of the sample is in it
SELECT count(*) AS objects,
       count(*) FILTER (WHERE j ? 'track' OR j ? 'item') AS wrapped,
       count(*) FILTER (WHERE music_tm.is_local(j)) AS local_files,
       count(*) FILTER (WHERE music_tm.canonical_id(j) <> j->>'id') AS relinked,
       count(*) FILTER (WHERE music_tm.is_episode(j)) AS episodes,
       count(*) FILTER (WHERE music_tm.isrc(j) IS NULL) AS no_isrc,
       count(*) FILTER (WHERE music_tm.album_name(j) = '') AS empty_album_name,
       count(*) FILTER (WHERE j->'album'->'images'->0->'width' = 'null') AS null_image_sizes
FROM objects;
SELECT music_tm.release_date_precision(j) AS precision, count(*)
FROM objects GROUP BY 1 ORDER BY 1;
SELECT count(*) AS zero_dates FROM objects
WHERE coalesce(j->'track', j->'item', j)->'album'->>'release_date' = '0000'
  AND music_tm.release_date(j) IS NULL;

-- track_fields(j, market) equals the accessors, column by column, for every
-- object (a NULL row, for what is not a track, equals all-NULL accessors)
CREATE TEMP TABLE compared AS
SELECT j,
       coalesce(to_jsonb(music_tm.track_fields(j, 'SE')), '{}') AS one_pass,
       to_jsonb(ROW(
         CASE WHEN jsonb_typeof(t->'id') = 'string' THEN t->>'id' END,
         CASE WHEN jsonb_typeof(t->'name') = 'string' THEN t->>'name' END,
         music_tm.canonical_id(j), music_tm.uri(j), music_tm.spotify_url(j), music_tm.preview_url(j),
         music_tm.is_local(j), music_tm.is_episode(j), music_tm.explicit(j), music_tm.popularity(j),
         music_tm.duration_ms(j), music_tm.duration(j), music_tm.track_number(j), music_tm.disc_number(j),
         music_tm.isrc(j), music_tm.ean(j), music_tm.upc(j),
         music_tm.artist_names(j), music_tm.artist_ids(j), music_tm.first_artist(j),
         music_tm.album_name(j), music_tm.album_id(j), music_tm.album_type(j),
         music_tm.release_date(j), music_tm.release_date_precision(j), music_tm.release_year(j),
         music_tm.cover_url(j), music_tm.playable_in(j, 'SE'))::music_tm.track_fields) AS accessors
FROM objects,
     LATERAL (SELECT CASE WHEN jsonb_typeof(j) <> 'object' THEN NULL
                          WHEN jsonb_typeof(j->'track') IN ('object', 'null') THEN j->'track'
                          WHEN jsonb_typeof(j->'item') IN ('object', 'null') THEN j->'item'
                          ELSE j END AS t) s;
SELECT count(*) AS compared,
       count(*) FILTER (WHERE jsonb_strip_nulls(one_pass) = jsonb_strip_nulls(accessors)) AS equal
FROM compared;
-- the columns that differ, if any
SELECT a.key, count(*)
FROM compared, jsonb_each(accessors) a
WHERE a.value IS DISTINCT FROM coalesce(one_pass->a.key, 'null')
GROUP BY 1 ORDER BY 1;
-- and every column is non-NULL somewhere, so no column is compared as NULL only
SELECT a.key AS never_set
FROM compared, jsonb_each(accessors) a
GROUP BY 1 HAVING bool_and(a.value = 'null') ORDER BY 1;

-- without a market, playable is NULL and the rest is the same
SELECT count(*) FILTER (WHERE to_jsonb(music_tm.track_fields(j)) - 'playable'
                              IS NOT DISTINCT FROM to_jsonb(music_tm.track_fields(j, 'SE')) - 'playable') AS same,
       count(*) FILTER (WHERE (music_tm.track_fields(j)).playable IS NOT NULL) AS playable_set
FROM objects;

-- one relinked track, every column
\x on
SELECT (music_tm.track_fields(j, 'SE')).*
FROM (SELECT j FROM objects WHERE music_tm.canonical_id(j) <> j->>'id'
      ORDER BY j->>'id' LIMIT 1) s;
\x off
-- the usual form for many rows: one call per row
SELECT (f).id, (f).first_artist, (f).release_date, (f).release_date_precision, (f).isrc
FROM (SELECT music_tm.track_fields(j) AS f FROM objects WHERE j->>'id' IS NOT NULL
      ORDER BY j->>'id' LIMIT 3 OFFSET 0) s;

--
-- Generated columns isrc and release_year on music_tm.tracks
--
SELECT music_tm.save_track(j) AS result, count(*)
FROM objects WHERE j->>'id' IS NOT NULL AND jsonb_typeof(j->'id') = 'string' AND j->'track' IS NULL AND j->'item' IS NULL
GROUP BY 1;
SELECT count(*) AS tracks,
       count(*) FILTER (WHERE isrc IS DISTINCT FROM music_tm.isrc(raw_json)) AS isrc_differs,
       count(*) FILTER (WHERE release_year IS DISTINCT FROM music_tm.release_year(raw_json)) AS year_differs,
       count(isrc) AS with_isrc, count(release_year) AS with_year
FROM music_tm.tracks;
ANALYZE music_tm.tracks;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT track_id, name FROM music_tm.tracks WHERE isrc = 'USIR20400274';
EXPLAIN (COSTS OFF)
SELECT count(*) FROM music_tm.tracks WHERE release_year BETWEEN 1990 AND 1999;
RESET enable_seqscan;
-- the index finds what a scan with the accessor finds (a relinked track, stored
-- under its canonical id, keeps the ISRC of the playable object)
SELECT x.isrc IS NOT NULL AS have_isrc,
       (SELECT array_agg(track_id ORDER BY track_id) FROM music_tm.tracks WHERE isrc = x.isrc)
     = (SELECT array_agg(track_id ORDER BY track_id) FROM music_tm.tracks
        WHERE music_tm.isrc(raw_json) = x.isrc) AS same_tracks
FROM (SELECT min(isrc) AS isrc FROM music_tm.tracks WHERE raw_json->>'id' <> track_id) x;
SELECT release_year / 10 * 10 AS decade, count(*)
FROM music_tm.tracks GROUP BY 1 ORDER BY 1 NULLS LAST;

-- the columns follow the JSON when a track changes
SELECT music_tm.save_track('{"id": "gen", "name": "G", "external_ids": {"isrc": "SEAAA2600001"},
                             "album": {"release_date": "1999-05", "release_date_precision": "month"}}');
SELECT track_id, isrc, release_year FROM music_tm.tracks WHERE track_id = 'gen';
SELECT music_tm.save_track('{"id": "gen", "name": "G", "external_ids": {},
                             "album": {"release_date": "0000", "release_date_precision": "year"}}');
SELECT track_id, isrc, release_year FROM music_tm.tracks WHERE track_id = 'gen';
-- generated columns cannot be written
INSERT INTO music_tm.tracks (track_id, name, raw_json, content_hash, created_at, updated_at, isrc)
VALUES ('x', 'x', '{}', 0, now(), now(), 'X');
