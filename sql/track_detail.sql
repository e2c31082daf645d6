-- track_detail: the seed's get_track_detail.
TRUNCATE music_tm.tracks, music_tm.charts, music_tm.chart_entries;

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
-- unknown id: no row, not an error
SELECT count(*) FROM music_tm.track_detail('nope');
-- as a lateral call over several tracks
SELECT d.track_id, d.release_date
FROM music_tm.tracks t, LATERAL music_tm.track_detail(t.track_id) d
ORDER BY 1;
