-- record_top_tracks: a whole top-tracks page in one call.
TRUNCATE music_tm.tracks, music_tm.charts;

-- page(offset, first, last): a paging object whose items are tracks t<first>..t<last>
CREATE FUNCTION pg_temp.page(off int, first int, last int, extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'href', 'https://api.spotify.com/v1/me/top/tracks?offset=' || off,
        'limit', 50, 'offset', off, 'total', 99, 'previous', NULL, 'next', NULL,
        'items', jsonb_agg(jsonb_build_object(
            'id', 't' || i, 'name', 'Track ' || i, 'duration_ms', 200000 + i,
            'artists', jsonb_build_array(jsonb_build_object('id', 'a' || i % 7, 'name', 'Artist ' || i % 7)),
            'album', jsonb_build_object('name', 'Album ' || i % 11),
            'external_urls', jsonb_build_object('spotify', 'https://open.spotify.com/track/t' || i)
        ) || extra ORDER BY i))
    FROM generate_series(first, last) i
$$;

-- all row versions of the tables (a chart is one row), to tell whether
-- anything was written
CREATE VIEW pg_temp.versions AS
SELECT 'tracks' AS t, track_id AS k, xmin::text AS x, ctid::text AS c FROM music_tm.tracks
UNION ALL SELECT 'charts', listener || time_range || snapshot_date, xmin::text, ctid::text FROM music_tm.charts;

-- Spotify's two pages of one chart: offset 0 (ranks 1..50) and offset 49
-- (ranks 50..99; its first item is page one's last)
SELECT * FROM music_tm.record_top_tracks('short_term', pg_temp.page(0, 1, 50), '2026-04-01');
SELECT * FROM music_tm.record_top_tracks('short_term', pg_temp.page(49, 50, 99), '2026-04-01');
SELECT count(*), min(rank), max(rank), count(DISTINCT rank),
       bool_and(track_id = 't' || rank) AS rank_matches_track
FROM music_tm.chart_entries;
SELECT listener, time_range, snapshot_date FROM music_tm.charts;

-- a replay writes nothing: every row version stays, and the summary says so
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.versions;
SELECT * FROM music_tm.record_top_tracks('short_term', pg_temp.page(0, 1, 50), '2026-04-01');
SELECT * FROM music_tm.record_top_tracks('short_term', pg_temp.page(49, 50, 99), '2026-04-01');
SELECT count(*) AS row_versions_changed
FROM pg_temp.versions v FULL JOIN before b USING (t, k)
WHERE v.x IS DISTINCT FROM b.x OR v.c IS DISTINCT FROM b.c;

-- a page replaces exactly its own rank range: a page of 49 items (ranks
-- 1..49) leaves rank 50 alone; a page of two items replaces ranks 1..2 only:
-- t100 enters at 1, t1 moves to 2, t2 (rank 2 before) leaves
SELECT * FROM music_tm.record_top_tracks('short_term', pg_temp.page(0, 1, 50), '2026-04-02');
SELECT * FROM music_tm.record_top_tracks('short_term',
    jsonb_set(pg_temp.page(0, 1, 50), '{items}',
              (SELECT jsonb_agg(x ORDER BY o) FROM jsonb_array_elements(pg_temp.page(0, 1, 50)->'items')
                   WITH ORDINALITY e(x, o) WHERE o < 50)), '2026-04-02');
SELECT rank, track_id FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-02' AND rank <= 3 ORDER BY rank;
SELECT * FROM music_tm.record_top_tracks('short_term',
    '{"offset": 0, "items": [{"id": "t100", "name": "New"}, {"id": "t1", "name": "Track 1"}]}',
    '2026-04-02');
SELECT rank, track_id FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-02' ORDER BY rank;

-- only changed tracks are written: one changed object among fifty
CREATE TEMP TABLE before2 AS SELECT * FROM pg_temp.versions WHERE t = 'tracks';
SELECT tracks_inserted, tracks_updated, tracks_unchanged
FROM music_tm.record_top_tracks('medium_term',
    jsonb_set(pg_temp.page(0, 1, 50), '{items,4,name}', '"Track 5 (Remastered)"'), '2026-04-01');
SELECT v.k, t.name
FROM pg_temp.versions v JOIN before2 b USING (t, k) JOIN music_tm.tracks t ON t.track_id = v.k
WHERE v.x <> b.x;

-- the listener and the date have defaults; listeners do not see each other
SELECT entries_inserted FROM music_tm.record_top_tracks('long_term', pg_temp.page(0, 1, 3));
SELECT entries_inserted FROM music_tm.record_top_tracks('long_term', pg_temp.page(0, 4, 5), listener => 'alice');
SELECT listener, snapshot_date = current_date AS today, count(*)
FROM music_tm.chart_entries WHERE time_range = 'long_term' GROUP BY 1, 2 ORDER BY 1;

-- a bare array of track objects is a page at offset 0
SELECT entries_inserted, entries_removed
FROM music_tm.record_top_tracks('short_term', pg_temp.page(0, 7, 9)->'items', '2026-04-03');
SELECT rank, track_id FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-03' ORDER BY rank;

-- odd items: a null item, a local file and a repeated track are skipped and
-- reported; their ranks stay empty and later ranks keep their positions
SELECT * FROM music_tm.record_top_tracks('short_term', '{"offset": 0, "items": [
  {"id": "t1", "name": "Track 1"},
  null,
  {"id": null, "is_local": true, "name": "Demo Take", "uri": "spotify:local:Tape+Deck::Demo+Take:253",
   "external_ids": {}, "external_urls": {}, "href": null, "popularity": 0},
  {"id": "t4", "name": "Track 4"},
  {"id": "t1", "name": "Track 1"},
  {"id": "t6", "name": "Track 6"}]}', '2026-04-04');
SELECT rank, track_id FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-04' ORDER BY rank;

-- relinking: the playable twin is charted under linked_from.id, and the
-- playable id of the day is kept; the song has one history however the id changes
SELECT tracks_inserted, entries_inserted FROM music_tm.record_top_tracks('short_term', '[
  {"id": "twinA", "name": "Song", "is_playable": true,
   "linked_from": {"id": "orig", "type": "track", "uri": "spotify:track:orig"}}]', '2026-04-05');
SELECT tracks_updated, entries_updated FROM music_tm.record_top_tracks('short_term', '[
  {"id": "twinB", "name": "Song", "is_playable": true,
   "linked_from": {"id": "orig", "type": "track", "uri": "spotify:track:orig"}}]', '2026-04-05');
SELECT entries_inserted FROM music_tm.record_top_tracks('short_term', '[
  {"id": "orig", "name": "Song"}]', '2026-04-06');
SELECT snapshot_date, rank, track_id, playable_id FROM music_tm.chart_entries
WHERE track_id IN ('orig', 'twinA', 'twinB') ORDER BY 1;
SELECT track_id, raw_json->>'id' AS playable FROM music_tm.tracks WHERE track_id IN ('orig', 'twinA', 'twinB');
-- save_track stores a relinked object under linked_from.id too
SELECT music_tm.save_track('{"id": "twinC", "name": "Song", "linked_from": {"id": "orig"}}');
SELECT count(*) FROM music_tm.tracks WHERE track_id LIKE 'twin%';

-- An empty page (Spotify returns one past offset 49, and one with no items
-- for a listener with little history) records nothing by default: a
-- transient empty response must not end every run on that date.
SELECT * FROM music_tm.record_top_tracks('short_term', '{"offset": 50, "items": []}', '2026-04-07');
SELECT count(*) FROM music_tm.charts WHERE snapshot_date = '2026-04-07';
SELECT * FROM music_tm.record_top_tracks('short_term', '{"offset": 0, "items": [], "total": 0}', '2026-04-02');
SELECT count(*) AS still_charted FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-02';
SELECT status FROM music_tm.rank_history('t1', 'short_term') WHERE snapshot_date = '2026-04-07';
-- a listener who really has no top tracks is recorded as such when asked:
-- the chart is empty from the page's offset on
SELECT chart, entries_removed FROM music_tm.record_top_tracks('short_term', '{"offset": 0, "items": []}',
  '2026-04-08', 'quiet', record_empty => true);
SELECT listener, snapshot_date, track_ids FROM music_tm.charts WHERE listener = 'quiet';
SELECT chart FROM music_tm.record_top_tracks('short_term', '{"offset": 0, "items": []}',
  '2026-04-08', 'quiet', record_empty => true);
SELECT count(*) FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-02';
SELECT chart, entries_removed FROM music_tm.record_top_tracks('short_term', '{"offset": 2, "items": []}',
  '2026-04-02', record_empty => true);
SELECT count(*) FROM music_tm.chart_entries WHERE snapshot_date = '2026-04-02';
SELECT * FROM music_tm.record_top_tracks('short_term', '{"offset": 0, "items": []}', '2026-04-09',
  record_empty => NULL);
