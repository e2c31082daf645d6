-- Typed accessors on Spotify track objects, one quirk of real payloads per
-- case (../shared/spotify-payloads.md).  A missing, null or wrong-typed field
-- is NULL, never an error.
\pset null '∅'
SET datestyle = ISO;
SET intervalstyle = postgres;

CREATE TEMP TABLE cases (label text PRIMARY KEY, j jsonb NOT NULL);
INSERT INTO cases VALUES
-- a complete track, every field present
('full', '{
  "id": "3n3Ppam7vgaVa1iaRUc9Lp", "name": "Mr. Brightside", "type": "track",
  "uri": "spotify:track:3n3Ppam7vgaVa1iaRUc9Lp",
  "href": "https://api.spotify.com/v1/tracks/3n3Ppam7vgaVa1iaRUc9Lp",
  "artists": [{"id": "0C0XlULifJtAgn6ZNCW2eu", "name": "The Killers", "type": "artist"},
              {"id": "1xyz", "name": "Guest", "type": "artist"}],
  "album": {"album_type": "album", "id": "4OHNH3sDzIxnmUADXzv2kT", "name": "Hot Fuss",
            "release_date": "2004-06-15", "release_date_precision": "day",
            "images": [{"url": "https://i.scdn.co/image/640", "width": 640, "height": 640},
                       {"url": "https://i.scdn.co/image/300", "width": 300, "height": 300},
                       {"url": "https://i.scdn.co/image/64", "width": 64, "height": 64}]},
  "available_markets": ["SE", "US", "GB"], "disc_number": 1, "duration_ms": 222075,
  "explicit": false, "external_ids": {"isrc": "USIR20400274", "ean": "0602498613986", "upc": "602498613986"},
  "external_urls": {"spotify": "https://open.spotify.com/track/3n3Ppam7vgaVa1iaRUc9Lp"},
  "is_local": false, "popularity": 86, "preview_url": "https://p.scdn.co/mp3-preview/abc",
  "track_number": 2}'),
-- release date precisions
('year',       '{"id": "y", "album": {"release_date": "1981", "release_date_precision": "year"}}'),
('month',      '{"id": "m", "album": {"release_date": "1981-12", "release_date_precision": "month"}}'),
('zero',       '{"id": "z", "album": {"release_date": "0000", "release_date_precision": "year"}}'),
('jan1',       '{"id": "j", "album": {"release_date": "1998-01-01", "release_date_precision": "day"}}'),
('impossible', '{"id": "i", "album": {"release_date": "1981-02-30", "release_date_precision": "day"}}'),
-- a local file: no id, null album fields, empty external objects
('local', '{"album": {"album_type": null, "artists": [], "available_markets": [], "external_urls": {},
            "href": null, "id": null, "images": [], "name": "", "release_date": null,
            "release_date_precision": null, "type": "album", "uri": null},
  "artists": [{"external_urls": {}, "href": null, "id": null, "name": "Tape Deck", "type": "artist", "uri": null}],
  "available_markets": [], "disc_number": 0, "duration_ms": 253000, "explicit": false,
  "external_ids": {}, "external_urls": {}, "href": null, "id": null, "is_local": true,
  "name": "Demo Take 4", "popularity": 0, "preview_url": null, "track_number": 0,
  "type": "track", "uri": "spotify:local:Tape+Deck::Demo+Take+4:253"}'),
-- relinked: the playable twin's id on top, the requested track in linked_from
('relinked', '{"id": "twin", "name": "Song", "is_playable": true,
  "linked_from": {"id": "original", "type": "track", "uri": "spotify:track:original"},
  "external_ids": {"isrc": "GBAAA0000001"}, "album": {"release_date": "2001-05", "release_date_precision": "month"}}'),
('unplayable', '{"id": "u", "is_playable": false, "available_markets": ["SE"]}'),
('linked_bad', '{"id": "lb", "linked_from": {"id": null}}'),
-- an episode shaped as a track, and a real episode object
('episode_as_track', '{"id": "e1", "type": "track", "name": "Monday news",
  "album": {"album_type": "compilation", "name": "The Daily Listen", "release_date": "2025-03-03", "release_date_precision": "day"},
  "artists": [{"id": "s1", "name": "The Daily Listen", "type": "show"}], "duration_ms": 1800000}'),
('episode', '{"id": "e2", "type": "episode", "name": "Tuesday news", "release_date": "2025-03-04",
  "release_date_precision": "day", "duration_ms": 1700000, "explicit": false,
  "show": {"name": "The Daily Listen"}, "uri": "spotify:episode:e2"}'),
-- external ids empty or absent, null preview
('ext_empty',  '{"id": "x1", "external_ids": {}, "preview_url": null}'),
('ext_absent', '{"id": "x2"}'),
-- null image sizes: the original upload, listed first
('null_sizes', '{"id": "n", "album": {"images": [
   {"url": "https://i.scdn.co/image/orig", "width": null, "height": null},
   {"url": "https://i.scdn.co/image/300", "width": 300, "height": 300},
   {"url": "https://i.scdn.co/image/64", "width": 64, "height": 64}]}}'),
-- an album name emptied by a takedown; non-ASCII names
('takedown',   '{"id": "t", "album": {"name": ""}}'),
('non_ascii',  '{"id": "na", "name": "夜に駆ける", "artists": [{"id": "a1", "name": "Björk Ødegaard"},
   {"name": "Saša Kovač"}, "not an artist"], "album": {"name": "Sommarnatt på Åland"}}'),
-- fields of the wrong JSON type
('wrong_types', '{"id": 42, "name": ["x"], "uri": 1, "popularity": "86", "explicit": "true",
  "duration_ms": 1.5, "track_number": 1e10, "disc_number": -1, "is_local": 0,
  "artists": {"name": "not an array"}, "album": ["not an object"],
  "external_ids": "USIR20400274", "available_markets": "SE", "linked_from": "x"}'),
('whole_numbers', '{"id": "w", "duration_ms": 2.22075e5, "popularity": 86.0, "track_number": -3}'),
-- not an object at all
('empty',  '{}'),
('string', '"3n3Ppam7vgaVa1iaRUc9Lp"'),
('number', '42'),
('array',  '[{"id": "in an array"}]'),
('json_null', 'null');

-- wrappers: recently-played and playlist items, currently-playing
INSERT INTO cases
SELECT 'wrap_track', jsonb_build_object('track', j, 'played_at', '2023-09-22T15:43:33.750Z', 'context', null)
FROM cases WHERE label = 'full'
UNION ALL
SELECT 'wrap_item', jsonb_build_object('item', j, 'is_playing', true, 'progress_ms', 1000)
FROM cases WHERE label = 'full'
UNION ALL
SELECT 'wrap_null', '{"added_at": "2024-01-01T00:00:00Z", "is_local": false, "track": null}'
UNION ALL
-- playlist track objects carry "track": true, which is not a wrapper
SELECT 'flag_track', j || '{"track": true, "episode": false}' FROM cases WHERE label = 'full'
UNION ALL
-- only one level is unwrapped
SELECT 'wrap_twice', jsonb_build_object('track', jsonb_build_object('track', j)) FROM cases WHERE label = 'full';

-- identity and links
SELECT label, music_tm.canonical_id(j), music_tm.uri(j), music_tm.spotify_url(j),
       music_tm.preview_url(j), music_tm.is_local(j), music_tm.is_episode(j)
FROM cases ORDER BY label;

-- release date, its precision and year
SELECT label, j->'album'->>'release_date' AS sent, j->'album'->>'release_date_precision' AS sent_precision,
       music_tm.release_date(j), music_tm.release_date_precision(j), music_tm.release_year(j)
FROM cases ORDER BY label;

-- numbers and flags
SELECT label, music_tm.explicit(j), music_tm.popularity(j), music_tm.duration_ms(j),
       music_tm.duration(j), music_tm.track_number(j), music_tm.disc_number(j)
FROM cases ORDER BY label;

-- external ids, artists, album
SELECT label, music_tm.isrc(j), music_tm.ean(j), music_tm.upc(j),
       music_tm.artist_names(j), music_tm.artist_ids(j), music_tm.first_artist(j)
FROM cases ORDER BY label;
SELECT label, music_tm.album_name(j), music_tm.album_id(j), music_tm.album_type(j),
       music_tm.album_name(j) = '' AS album_name_empty
FROM cases ORDER BY label;

-- cover image: smallest at least min_width wide; NULL min_width = the largest;
-- an image of unknown width counts as the widest
SELECT label, w AS min_width, music_tm.cover_url(j, w)
FROM cases, (VALUES (NULL::int), (0), (64), (65), (300), (301), (640), (641)) AS m(w)
WHERE label IN ('full', 'null_sizes', 'local')
ORDER BY label, w NULLS FIRST;
SELECT music_tm.cover_url(j) IS NOT DISTINCT FROM music_tm.cover_url(j, NULL) AS default_is_largest
FROM cases WHERE label = 'full';
-- more image edge cases: ties keep the first, images without a url are skipped
SELECT music_tm.cover_url('{"album": {"images": [{"url": "a", "width": 300}, {"url": "b", "width": 300}]}}') AS tie_largest,
       music_tm.cover_url('{"album": {"images": [{"url": "a", "width": 300}, {"url": "b", "width": 300}]}}', 1) AS tie_smallest,
       music_tm.cover_url('{"album": {"images": [{"width": 900}, {"url": null, "width": 800}, {"url": "c", "width": "640"}, 7]}}') AS no_url_skipped,
       music_tm.cover_url('{"album": {"images": []}}') AS no_images,
       music_tm.cover_url('{"album": {"images": {"url": "x"}}}') AS images_not_array,
       music_tm.cover_url(NULL) AS null_track,
       music_tm.cover_url(NULL, 10) AS null_track_with_width;
-- widths compare as numbers (whole or not, a negative one is narrower than
-- any real image); a string (to_jsonb turns NaN and Infinity into strings)
-- counts as unknown: in the largest-image form the first unknown wins over a
-- later null width
SELECT music_tm.cover_url(j, 299) AS at_299, music_tm.cover_url(j, 300) AS at_300,
       music_tm.cover_url(j, 301) AS at_301, music_tm.cover_url(j, 2000000000) AS at_2e9,
       music_tm.cover_url(j) AS largest
FROM (VALUES ('{"album": {"images": [{"url": "frac", "width": 300.5}, {"url": "big", "width": 3e9},
  {"url": "small", "width": 299}, {"url": "whole", "width": 299.0}]}}'::jsonb)) AS v(j);
SELECT w AS width, music_tm.cover_url(jsonb_build_object('album', jsonb_build_object('images',
         jsonb_build_array(jsonb_build_object('url', 'odd', 'width', w),
                           '{"url": "null_width", "width": null}'::jsonb)))) AS largest,
       music_tm.cover_url(jsonb_build_object('album', jsonb_build_object('images',
         jsonb_build_array(jsonb_build_object('url', 'odd', 'width', w),
                           '{"url": "ok", "width": 64}'::jsonb))), 100) AS at_100
FROM (VALUES ('-1'::jsonb), ('"640"'), (to_jsonb('NaN'::numeric)), (to_jsonb('Infinity'::numeric))) AS v(w);

-- playable in a market: is_playable wins, else available_markets, else NULL
SELECT label, music_tm.playable_in(j, 'SE') AS se, music_tm.playable_in(j, 'se') AS se_lower,
       music_tm.playable_in(j, 'JP') AS jp
FROM cases ORDER BY label;
SELECT music_tm.playable_in('{"id": "x"}', NULL) AS null_market;

-- release dates in every shape
SELECT d AS release_date, p AS precision,
       music_tm.release_date(t), music_tm.release_date_precision(t), music_tm.release_year(t)
FROM (VALUES ('2000-02-29', 'day'), ('1900-02-29', 'day'), ('1981-12-15', 'year'),
             ('1981-12-15', 'month'), ('1981', 'day'), ('1981-12', 'week'), ('1981-12', NULL),
             ('1981-13', 'month'), ('1981-00', 'month'), ('1981-12-00', 'day'), ('1981-12-32', 'day'),
             ('81-12-15', 'day'), ('1981/12/15', 'day'), ('1981-1-15', 'day'), ('19811', 'year'),
             (' 1981', 'year'), ('', 'year'), ('９９９９', 'year'), ('9999-12-31', 'day'),
             ('0001-01-01', 'day'), ('1981-12-15T00:00:00Z', 'day')) AS v(d, p),
     LATERAL (SELECT jsonb_build_object('album', jsonb_build_object('release_date', d,
                                                                    'release_date_precision', p)) AS t) s;
SELECT music_tm.release_date('{"album": {"release_date": 1981}}') AS numeric_date,
       music_tm.release_date('{"album": "1981"}') AS album_string,
       music_tm.release_date('{"release_date": "1981"}') AS top_level_date;

-- the accessors run no SQL: immutable, strict (but cover_url), parallel safe,
-- and without a SET clause
SELECT p.oid::regprocedure AS accessor, p.provolatile, p.proisstrict, p.proparallel, p.proconfig
FROM pg_proc p
WHERE p.pronamespace = 'music_tm'::regnamespace
  AND p.prorettype <> 'record'::regtype AND p.provolatile = 'i'
ORDER BY p.oid::regprocedure::text;

-- an object with an "id" of its own is a track, not a wrapper, even when it
-- carries an object-valued "track" or "item" key: the accessors read what
-- save_track stores
SELECT music_tm.isrc(j) AS isrc, music_tm.canonical_id(j) AS id, (music_tm.track_fields(j)).name AS name
FROM (VALUES ('{"id": "outer", "name": "Outer", "external_ids": {"isrc": "OUTER0000001"},
                "track": {"id": "inner", "name": "Inner", "external_ids": {"isrc": "INNER0000001"}}}'::jsonb),
             ('{"id": null, "name": "Local", "is_local": true, "item": {"id": "inner", "name": "Inner"}}'),
             ('{"track": {"id": "inner", "name": "Inner", "external_ids": {"isrc": "INNER0000001"}}}')) v(j);
