/* music_tm--1.1--2.0.sql: upgrade of music_tm from 1.1 to 2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION music_tm UPDATE TO '2.0'" to load this file. \quit

--
-- 2.0: a chart is one row.
--
-- music_tm.charts holds the whole chart of a (listener, time_range,
-- snapshot_date): track_ids in rank order (element r is rank r, NULL for an
-- empty rank) and, when any track of it was relinked, playable_ids aligned
-- with it.  Recording a page writes that one row; music_tm.chart_entries,
-- the table of 1.x, becomes a read-only view with the same columns.
--

-- A rank holds one track in 2.0.  1.x allowed two tracks at one rank only
-- through save_snapshot_row; such a chart cannot be moved as it is.
DO $$
DECLARE
    tie record;
BEGIN
    SELECT e.listener, e.time_range, e.snapshot_date, e.rank,
           pg_catalog.string_agg(e.track_id, ', ' ORDER BY e.track_id) AS ids
      INTO tie
      FROM music_tm.chart_entries e
     GROUP BY e.listener, e.time_range, e.snapshot_date, e.rank
    HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot upgrade music_tm to 2.0: a chart has two tracks at one rank'
          USING ERRCODE = 'unique_violation',
                DETAIL = pg_catalog.format('The chart of listener "%s", time range %s on %s has %s at rank %s.',
                                           tie.listener, tie.time_range, tie.snapshot_date, tie.ids, tie.rank),
                HINT = 'In 2.0 a rank holds one track. Move or delete the extra entries of music_tm.chart_entries, then upgrade again.';
    END IF;
END
$$;

ALTER TABLE music_tm.charts
    ADD COLUMN track_ids text[],
    ADD COLUMN playable_ids text[];

-- Every chart's entries into its row: one pass over the entries in primary
-- key order of the chart index, NULL for the ranks nobody holds.
UPDATE music_tm.charts c
   SET track_ids = s.ids,
       playable_ids = CASE WHEN s.relinked THEN s.playable END
  FROM (SELECT h.listener, h.time_range, h.snapshot_date,
               pg_catalog.array_agg(e.track_id ORDER BY g.r) AS ids,
               pg_catalog.array_agg(e.playable_id ORDER BY g.r) AS playable,
               pg_catalog.bool_or(e.playable_id IS NOT NULL) AS relinked
          FROM (SELECT x.listener, x.time_range, x.snapshot_date,
                       pg_catalog.max(x.rank) AS top
                  FROM music_tm.chart_entries x
                 GROUP BY x.listener, x.time_range, x.snapshot_date) h
         CROSS JOIN LATERAL pg_catalog.generate_series(1, h.top) AS g(r)
          LEFT JOIN music_tm.chart_entries e
            ON e.listener OPERATOR(pg_catalog.=) h.listener
           AND e.time_range OPERATOR(pg_catalog.=) h.time_range
           AND e.snapshot_date OPERATOR(pg_catalog.=) h.snapshot_date
           AND e.rank OPERATOR(pg_catalog.=) g.r
         GROUP BY h.listener, h.time_range, h.snapshot_date) s
 WHERE c.listener OPERATOR(pg_catalog.=) s.listener
   AND c.time_range OPERATOR(pg_catalog.=) s.time_range
   AND c.snapshot_date OPERATOR(pg_catalog.=) s.snapshot_date;
UPDATE music_tm.charts SET track_ids = '{}' WHERE track_ids IS NULL;

ALTER TABLE music_tm.charts
    ALTER COLUMN track_ids SET NOT NULL,
    ADD CONSTRAINT charts_track_ids_check CHECK (
        pg_catalog.cardinality(track_ids) OPERATOR(pg_catalog.=) 0
        OR (pg_catalog.array_ndims(track_ids) OPERATOR(pg_catalog.=) 1
            AND pg_catalog.array_lower(track_ids, 1) OPERATOR(pg_catalog.=) 1
            AND pg_catalog.cardinality(track_ids) OPERATOR(pg_catalog.<=) 1000
            AND track_ids[pg_catalog.cardinality(track_ids)] IS NOT NULL
            AND '' OPERATOR(pg_catalog.<>) ALL (track_ids))),
    ADD CONSTRAINT charts_playable_ids_check CHECK (
        pg_catalog.array_ndims(playable_ids) OPERATOR(pg_catalog.=) 1
        AND pg_catalog.array_lower(playable_ids, 1) OPERATOR(pg_catalog.=) 1
        AND pg_catalog.cardinality(playable_ids) OPERATOR(pg_catalog.=) pg_catalog.cardinality(track_ids));

-- A chart row stays in the table up to about 8 KB (some 290 ranks): a chart
-- of Spotify's 99 ranks is 2.8 KB of ids, which by default would be moved
-- out of line into TOAST (ids do not compress), making every read of it a
-- TOAST fetch.  Inline, a walk of a series reads each chart where it lies
-- (about 2x faster, measured), for about a quarter more space per entry.
ALTER TABLE music_tm.charts SET (toast_tuple_target = 8160);

COMMENT ON TABLE music_tm.charts IS
  'One row per recorded chart: a listener''s top tracks of one time range on one date, in rank order';
COMMENT ON COLUMN music_tm.charts.track_ids IS
  'The chart''s track ids in rank order: element r is the track at rank r, NULL for an empty rank (a local file, a null item); no trailing NULLs';
COMMENT ON COLUMN music_tm.charts.playable_ids IS
  'For relinked tracks (charted under linked_from.id): the playable id Spotify returned, aligned with track_ids; NULL when no track of the chart was relinked';

-- out of the extension first, which also takes it off pg_dump's list of
-- configuration tables (a dropped member would leave its OID there)
ALTER EXTENSION music_tm DROP TABLE music_tm.chart_entries;
DROP TABLE music_tm.chart_entries;

CREATE VIEW music_tm.chart_entries WITH (security_invoker = true) AS
SELECT c.listener, c.time_range, c.snapshot_date, e.track_id,
       e.rank::pg_catalog.int4 AS rank,
       c.playable_ids[e.rank::pg_catalog.int4] AS playable_id
  FROM music_tm.charts c
 CROSS JOIN LATERAL pg_catalog.unnest(c.track_ids) WITH ORDINALITY AS e(track_id, rank)
 WHERE e.track_id IS NOT NULL;
COMMENT ON VIEW music_tm.chart_entries IS
  'Chart positions, one row per entry, as the table of music_tm 1.x had them: a read-only view of music_tm.charts';
COMMENT ON COLUMN music_tm.chart_entries.listener IS 'Whose chart';
COMMENT ON COLUMN music_tm.chart_entries.time_range IS 'Spotify time range of the chart';
COMMENT ON COLUMN music_tm.chart_entries.snapshot_date IS 'Date of the chart';
COMMENT ON COLUMN music_tm.chart_entries.track_id IS 'The charted track';
COMMENT ON COLUMN music_tm.chart_entries.rank IS 'Position, 1 = top';
COMMENT ON COLUMN music_tm.chart_entries.playable_id IS
  'For a relinked track (charted under linked_from.id), the playable id Spotify returned that day; NULL otherwise';

CREATE FUNCTION music_tm.chart_entries_read_only() RETURNS trigger
AS 'MODULE_PATHNAME', 'chart_entries_read_only'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.chart_entries_read_only() IS
  'Trigger: writes into the view music_tm.chart_entries fail with a message naming the functions that record charts';
CREATE TRIGGER chart_entries_read_only
    INSTEAD OF INSERT OR UPDATE OR DELETE ON music_tm.chart_entries
    FOR EACH ROW EXECUTE FUNCTION music_tm.chart_entries_read_only();
COMMENT ON TRIGGER chart_entries_read_only ON music_tm.chart_entries IS
  'chart_entries is read-only: record charts with music_tm.record_top_tracks or music_tm.save_snapshot_row';

--
-- Integrity without a foreign key per entry: the writing functions store a
-- track before they chart it; deleting a track that a chart names fails
-- (23503), checked by one scan of the charts per DELETE statement.
--
CREATE FUNCTION music_tm.tracks_lock_charts() RETURNS trigger
AS 'MODULE_PATHNAME', 'tracks_lock_charts'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.tracks_lock_charts() IS
  'Trigger: before a DELETE on music_tm.tracks, lock music_tm.charts against chart writers (EXCLUSIVE) until the transaction ends';
CREATE FUNCTION music_tm.tracks_check_charted() RETURNS trigger
AS 'MODULE_PATHNAME', 'tracks_check_charted'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION music_tm.tracks_check_charted() IS
  'Trigger: a track that a chart names cannot be deleted, renamed or truncated away (SQLSTATE 23503)';

CREATE TRIGGER tracks_lock_charts
    BEFORE DELETE ON music_tm.tracks
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.tracks_lock_charts();
COMMENT ON TRIGGER tracks_lock_charts ON music_tm.tracks IS
  'Holds off chart writers while tracks are deleted, so that no chart names a deleted track';
CREATE TRIGGER tracks_check_charted_delete
    AFTER DELETE ON music_tm.tracks
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.tracks_check_charted();
COMMENT ON TRIGGER tracks_check_charted_delete ON music_tm.tracks IS
  'Fails the DELETE when a chart names a deleted track';
CREATE TRIGGER tracks_check_charted_update
    BEFORE UPDATE OF track_id ON music_tm.tracks
    FOR EACH ROW EXECUTE FUNCTION music_tm.tracks_check_charted();
COMMENT ON TRIGGER tracks_check_charted_update ON music_tm.tracks IS
  'Fails a change of track_id when a chart names the old id';
CREATE TRIGGER tracks_check_charted_truncate
    AFTER TRUNCATE ON music_tm.tracks
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.tracks_check_charted();
COMMENT ON TRIGGER tracks_check_charted_truncate ON music_tm.tracks IS
  'Fails a TRUNCATE of music_tm.tracks while a chart names a track (TRUNCATE music_tm.tracks, music_tm.charts together works)';

CREATE FUNCTION music_tm.check_charts()
RETURNS TABLE (listener text, time_range music_tm.time_range,
               snapshot_date date, rank integer, track_id text, problem text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.listener, c.time_range, c.snapshot_date, e.rank::pg_catalog.int4,
           e.track_id,
           CASE WHEN NOT EXISTS (SELECT FROM music_tm.tracks t
                                  WHERE t.track_id OPERATOR(pg_catalog.=) e.track_id)
                THEN 'track not stored'
                ELSE 'track charted twice (first at rank '
                     OPERATOR(pg_catalog.||) pg_catalog.array_position(c.track_ids, e.track_id)
                     OPERATOR(pg_catalog.||) ')'
           END
      FROM music_tm.charts c
     CROSS JOIN LATERAL pg_catalog.unnest(c.track_ids) WITH ORDINALITY AS e(track_id, rank)
     WHERE e.track_id IS NOT NULL
       AND (NOT EXISTS (SELECT FROM music_tm.tracks t
                         WHERE t.track_id OPERATOR(pg_catalog.=) e.track_id)
            OR pg_catalog.array_position(c.track_ids, e.track_id) OPERATOR(pg_catalog.<>) e.rank)
     ORDER BY 1, 2, 3, 4
$$;
COMMENT ON FUNCTION music_tm.check_charts() IS
  'Charts that name a track not stored in music_tm.tracks, or a track twice: for use after manual edits and partial restores; no row when all is well';

--
-- record_top_tracks: an empty page records nothing unless asked to, and the
-- summary says what became of the chart.
--
DROP FUNCTION music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text);
CREATE FUNCTION music_tm.record_top_tracks(
    time_range        music_tm.time_range,
    payload           jsonb,
    snapshot_date     date DEFAULT CURRENT_DATE,
    listener          text DEFAULT 'default',
    record_empty      boolean DEFAULT false,
    OUT tracks_inserted   bigint,
    OUT tracks_updated    bigint,
    OUT tracks_unchanged  bigint,
    OUT entries_inserted  bigint,
    OUT entries_updated   bigint,
    OUT entries_removed   bigint,
    OUT entries_unchanged bigint,
    OUT items_skipped     bigint,
    OUT skipped           jsonb,
    OUT chart             text)
RETURNS record
AS 'MODULE_PATHNAME', 'record_top_tracks'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
COMMENT ON FUNCTION music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text, boolean) IS
  'Record one GET /v1/me/top/tracks page (paging object or array of tracks) in one call: upsert its tracks, replace its rank range of the chart, return counts of what changed; a page with no items records nothing unless record_empty';

--
-- Plans that hold in every state.  Each statement the C code keeps reads
-- through the index it is written for (a primary key), but a kept plan is
-- made once, from the statistics of that moment: in a database analyzed
-- while small, the planner rightly prefers a sequential scan of a page or
-- two, and the plan stays after the tables grow; a bitmap scan of a series
-- then needs a sort of its wide chart rows.  Every function that runs
-- statements therefore plans them with sequential and bitmap scans priced
-- out: each statement has an index that serves it, in the order it wants
-- (the settings apply to the function's own statements only, and are checked
-- for every statement in every state by the regression test plans).
--
ALTER FUNCTION music_tm.save_track(jsonb) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.save_snapshot_row(text, date, music_tm.time_range, integer, text)
    SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.rank_history(text, music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.chart_as_of(date, music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.chart_diff(date, date, music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.chart_churn(date, date, music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.run_stats(text, music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.all_run_stats(music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.artist_history(text, music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.artist_run_stats(text, music_tm.time_range, text) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.sparkline(text, music_tm.time_range, text, date, date) SET enable_seqscan = off SET enable_bitmapscan = off;
ALTER FUNCTION music_tm.run_svg(text, music_tm.time_range, text, date, date, integer, integer)
    SET enable_seqscan = off SET enable_bitmapscan = off;

COMMENT ON FUNCTION music_tm.save_snapshot_row(text, date, music_tm.time_range, integer, text) IS
  'Record one chart entry idempotently: the track is put at the rank (moved there if it stood elsewhere; a rank holds one track); the track must already be stored';

REVOKE ALL ON FUNCTION
    music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text, boolean),
    music_tm.check_charts(),
    music_tm.chart_entries_read_only(),
    music_tm.tracks_lock_charts(),
    music_tm.tracks_check_charted()
    FROM PUBLIC;
GRANT SELECT ON music_tm.chart_entries TO music_tm_reader, music_tm_writer;
-- writers reach the view's trigger and its message, not "permission denied"
GRANT INSERT, UPDATE, DELETE ON music_tm.chart_entries TO music_tm_writer;
GRANT EXECUTE ON FUNCTION music_tm.check_charts() TO music_tm_reader, music_tm_writer;
GRANT EXECUTE ON FUNCTION
    music_tm.record_top_tracks(music_tm.time_range, jsonb, date, text, boolean)
    TO music_tm_writer;

--
-- issue 15: README fixes
--
-- track_detail's argument is called track_id, as in every other function
-- that takes a track id.  PostgreSQL cannot rename an argument in place
-- (replacing the function refuses it), so it is dropped and made again,
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
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET enable_bitmapscan = off;
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
