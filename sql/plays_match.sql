-- One listen, one row, across sources.  recently-played's played_at is the
-- end or the start of a listen; the export's ts is its end and ms_played its
-- length.  A recently-played item and an export entry of one track are one
-- listen when |ts - played_at| <= 10 s or |ts - ms_played - played_at| <=
-- 10 s, paired one to one, closest first; within one source, only the exact
-- same time is the same listen.
TRUNCATE music_tm.plays;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.rp(listener text, VARIADIC items text[]) RETURNS text LANGUAGE sql AS $$
    -- items: 'track@played_at'; a track xP is relinked from x
    SELECT format('rp: +%s =%s ~%s', plays_inserted, plays_unchanged, plays_matched)
    FROM music_tm.record_recently_played(jsonb_build_object('items', (
        SELECT jsonb_agg(jsonb_build_object(
                 'played_at', split_part(i, '@', 2),
                 'track', jsonb_build_object('id', split_part(i, '@', 1), 'name', 'Song ' || split_part(i, '@', 1),
                                             'duration_ms', 180000)
                          || CASE WHEN split_part(i, '@', 1) LIKE '%P'
                                  THEN jsonb_build_object('linked_from', jsonb_build_object('id', rtrim(split_part(i, '@', 1), 'P')))
                                  ELSE '{}' END))
        FROM unnest(items) i)), listener)
$$;
CREATE FUNCTION pg_temp.ex(listener text, VARIADIC entries text[]) RETURNS text LANGUAGE sql AS $$
    -- entries: 'track@ts@ms_played'
    SELECT format('export: +%s =%s ~%s dup %s', plays_inserted, plays_unchanged, plays_matched, duplicates)
    FROM music_tm.import_streaming_history((
        SELECT jsonb_agg(jsonb_build_object(
                 'ts', split_part(e, '@', 2), 'ms_played', split_part(e, '@', 3)::int,
                 'spotify_track_uri', 'spotify:track:' || split_part(e, '@', 1),
                 'master_metadata_track_name', 'Song ' || split_part(e, '@', 1),
                 'reason_end', 'trackdone', 'skipped', false))
        FROM unnest(entries) e), listener)
$$;
CREATE FUNCTION pg_temp.rows(l text) RETURNS TABLE (ended_at text, track_id text, played_at text, export_ts text, ms_played int)
LANGUAGE sql AS $$
    SELECT to_char(ended_at, 'HH24:MI:SS.MS'), track_id, to_char(played_at, 'HH24:MI:SS.MS'),
           to_char(export_ts, 'HH24:MI:SS'), ms_played
    FROM music_tm.plays WHERE listener = l ORDER BY plays.ended_at, plays.track_id
$$;

-- 1. played_at is the end: recently-played first, then the export (ts 2 s
--    later, whole seconds): one row, now ending at ts, with the export's fields
SELECT pg_temp.rp('end', 'a@2026-01-10T10:03:20.400Z');
SELECT pg_temp.ex('end', 'a@2026-01-10T10:03:22Z@200000');
SELECT * FROM pg_temp.rows('end');

-- 2. played_at is the start: ts - ms_played is played_at (3 s off)
SELECT pg_temp.rp('start', 'a@2026-01-10T10:00:00.000Z');
SELECT pg_temp.ex('start', 'a@2026-01-10T10:03:23Z@200000');
SELECT * FROM pg_temp.rows('start');

-- 3. the export first, recently-played later (a late offline listen): one row
SELECT pg_temp.ex('late', 'a@2026-01-10T10:03:20Z@200000');
SELECT pg_temp.rp('late', 'a@2026-01-10T10:03:25.000Z');
SELECT * FROM pg_temp.rows('late');
-- and polling again changes nothing, nor does importing again
SELECT pg_temp.rp('late', 'a@2026-01-10T10:03:25.000Z');
SELECT pg_temp.ex('late', 'a@2026-01-10T10:03:20Z@200000');

-- 4. the tolerance: 10 s apart is one listen, 11 s apart two (both readings)
SELECT pg_temp.rp('edge', 'a@2026-01-10T10:00:10Z', 'b@2026-01-10T10:00:11Z',
                          'c@2026-01-10T09:56:30Z', 'd@2026-01-10T09:56:29Z');
SELECT pg_temp.ex('edge', 'a@2026-01-10T10:00:00Z@200000', 'b@2026-01-10T10:00:00Z@200000',
                          'c@2026-01-10T10:00:00Z@200000', 'd@2026-01-10T10:00:00Z@200000');
SELECT * FROM pg_temp.rows('edge');

-- 5. two real plays of one track minutes apart, each seen by both sources:
--    two rows, whichever reading of played_at the client used
SELECT pg_temp.rp('twice', 'a@2026-01-10T10:03:20Z', 'a@2026-01-10T10:09:00Z');
SELECT pg_temp.ex('twice', 'a@2026-01-10T10:03:21Z@200000', 'a@2026-01-10T10:09:01Z@200000');
SELECT * FROM pg_temp.rows('twice');
SELECT pg_temp.rp('twice-start', 'a@2026-01-10T10:00:00Z', 'a@2026-01-10T10:05:40Z');
SELECT pg_temp.ex('twice-start', 'a@2026-01-10T10:03:21Z@200000', 'a@2026-01-10T10:09:01Z@200000');
SELECT * FROM pg_temp.rows('twice-start');

-- 6. a track on repeat, back to back: the second play starts the moment the
--    first ends, so each played_at (the start) is also the previous end;
--    three listens stay three rows
SELECT pg_temp.rp('repeat', 'a@2026-01-10T10:00:00Z', 'a@2026-01-10T10:03:00Z', 'a@2026-01-10T10:06:00Z');
SELECT pg_temp.ex('repeat', 'a@2026-01-10T10:03:00Z@180000', 'a@2026-01-10T10:06:00Z@180000',
                            'a@2026-01-10T10:09:00Z@180000');
SELECT * FROM pg_temp.rows('repeat');

-- 7. the export has more than recently-played: skips under 30 s that
--    recently-played never lists, and listens before its last 50; they are
--    added, the shared listen is matched
SELECT pg_temp.rp('more', 'a@2026-01-10T10:03:20Z');
SELECT pg_temp.ex('more', 'a@2026-01-10T09:00:00Z@180000', 'b@2026-01-10T10:00:02Z@2000',
                          'a@2026-01-10T10:03:20Z@200000', 'a@2026-01-10T10:03:25Z@3000');
SELECT * FROM pg_temp.rows('more');

-- 8. another track at the same time is another listen
SELECT pg_temp.rp('other', 'a@2026-01-10T10:03:20Z');
SELECT pg_temp.ex('other', 'b@2026-01-10T10:03:20Z@200000');
SELECT * FROM pg_temp.rows('other');

-- 9. a relinked track: recently-played charts it under linked_from.id (x),
--    the export names the playable id (xP); one listen, kept under x
SELECT pg_temp.rp('relinked', 'xP@2026-01-10T10:03:20Z');
SELECT pg_temp.ex('relinked', 'xP@2026-01-10T10:03:21Z@200000');
SELECT * FROM pg_temp.rows('relinked');
SELECT playable_id FROM music_tm.plays WHERE listener = 'relinked';

-- 10. within one source, two times are two listens however close: two
--     recently-played items 5 s apart, two export entries 1 s apart
SELECT pg_temp.rp('close', 'a@2026-01-10T10:00:00Z', 'a@2026-01-10T10:00:05Z');
SELECT pg_temp.ex('close2', 'a@2026-01-10T10:00:00Z@0', 'a@2026-01-10T10:00:01Z@1000');
SELECT count(*) FROM music_tm.plays WHERE listener IN ('close', 'close2');

-- 11. one export entry, two recently-played items it could join: it joins
--     the closer one, the other stays a listen of its own
SELECT pg_temp.rp('closest', 'a@2026-01-10T10:00:00Z', 'a@2026-01-10T10:00:08Z');
SELECT pg_temp.ex('closest', 'a@2026-01-10T10:00:07Z@200000');
SELECT * FROM pg_temp.rows('closest');

-- 12. the export's ts becomes the end of a recently-played listen it
--     confirms, unless a stored listen of that track already ends then (an
--     export naming the playable id of a relinked track, and one naming its
--     canonical id, at the same second): the row keeps its time
SELECT pg_temp.ex('keep', 'x@2026-01-10T10:03:20Z@5000');
SELECT pg_temp.rp('keep', 'xP@2026-01-10T10:00:00Z');
SELECT * FROM pg_temp.rows('keep');
SELECT pg_temp.ex('keep', 'x@2026-01-10T10:03:20Z@5000', 'xP@2026-01-10T10:03:20Z@200000');
SELECT * FROM pg_temp.rows('keep');

-- 13. late polls and exports in any order give the same rows
SELECT pg_temp.ex('order1', 'a@2026-01-10T10:03:20Z@200000', 'b@2026-01-10T10:06:30Z@190000', 'a@2026-01-10T10:10:00Z@200000');
SELECT pg_temp.rp('order1', 'a@2026-01-10T10:00:00Z', 'b@2026-01-10T10:06:29Z', 'a@2026-01-10T10:06:40Z');
SELECT pg_temp.rp('order2', 'a@2026-01-10T10:00:00Z', 'b@2026-01-10T10:06:29Z', 'a@2026-01-10T10:06:40Z');
SELECT pg_temp.ex('order2', 'a@2026-01-10T10:03:20Z@200000', 'b@2026-01-10T10:06:30Z@190000', 'a@2026-01-10T10:10:00Z@200000');
SELECT (SELECT array_agg(r ORDER BY r) FROM pg_temp.rows('order1') r)
     = (SELECT array_agg(r ORDER BY r) FROM pg_temp.rows('order2') r) AS same_rows;
SELECT * FROM pg_temp.rows('order2');

-- 14. a poll whose two items of one track could both be an exported listen
--     (one item's played_at its start, the other's its end): the export's
--     row joins one; the other item's key (its played_at, that track) is the
--     stored row's own, so it counts as unchanged and writes nothing,
--     whichever order they come in
SELECT pg_temp.ex('both', 'a@2026-01-10T10:03:20Z@200000');
SELECT plays_inserted, plays_matched, plays_unchanged
FROM music_tm.record_recently_played(jsonb_build_object('items', jsonb_build_array(
    jsonb_build_object('played_at', '2026-01-10T10:03:20Z',
                       'track', jsonb_build_object('id', 'a', 'name', 'Song a', 'duration_ms', 180000)),
    jsonb_build_object('played_at', '2026-01-10T10:00:00Z',
                       'track', jsonb_build_object('id', 'a', 'name', 'Song a', 'duration_ms', 180000)))), 'both');
SELECT * FROM pg_temp.rows('both');
