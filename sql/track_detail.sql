-- track_detail: the seed's get_track_detail.
SET datestyle = ISO;
SET intervalstyle = postgres;
TRUNCATE music_tm.tracks, music_tm.charts;

SELECT music_tm.save_track('{
  "id": "3n3Ppam7vgaVa1iaRUc9Lp", "name": "Mr. Brightside",
  "artists": [{"name": "The Killers"}],
  "album": {"name": "Hot Fuss", "release_date": "2004-06-15", "release_date_precision": "day"},
  "duration_ms": 222075,
  "external_ids": {"isrc": "USIR20400274"},
  "external_urls": {"spotify": "https://open.spotify.com/track/3n3Ppam7vgaVa1iaRUc9Lp"}
}');
SELECT music_tm.save_track('{
  "id": "yearonly", "name": "Björk Ødegaard — Ñandú",
  "album": {"name": "", "release_date": "1981", "release_date_precision": "year"},
  "external_ids": {}
}');
SELECT music_tm.save_track('{"id": "bare", "name": "Bare", "album": "not-an-object-is-an-error"}');
SELECT music_tm.save_track('{"id": "bare", "name": "Bare", "external_ids": {"isrc": null}}');

SELECT * FROM music_tm.track_detail('3n3Ppam7vgaVa1iaRUc9Lp');
SELECT * FROM music_tm.track_detail('yearonly');
SELECT * FROM music_tm.track_detail('bare');
-- named notation: the argument is track_id, as in every other function (2.0)
SELECT track_id, name FROM music_tm.track_detail(track_id => '3n3Ppam7vgaVa1iaRUc9Lp');
SELECT pg_get_function_arguments('music_tm.track_detail(text)'::regprocedure);
-- unknown id: no row, not an error
SELECT count(*) FROM music_tm.track_detail('nope');
-- as a lateral call over several tracks
SELECT d.track_id, d.release_date
FROM music_tm.tracks t, LATERAL music_tm.track_detail(t.track_id) d
ORDER BY 1;
-- precision from the date's shape, cross-checked with release_date_precision;
-- '0000' and impossible dates give NULL
SELECT music_tm.save_track(jsonb_build_object('id', 'd' || n, 'name', d,
         'album', jsonb_build_object('release_date', d, 'release_date_precision', p)))
FROM (VALUES (1, '1981-12', 'month'), (2, '0000', 'year'), (3, '1981-02-30', 'day'),
             (4, '1981-12-15', 'year')) AS v(n, d, p);
SELECT d.track_id, d.name AS sent, d.release_date, d.release_date_precision
FROM music_tm.tracks t, LATERAL music_tm.track_detail(t.track_id) d
WHERE t.track_id LIKE 'd_' ORDER BY 1;
