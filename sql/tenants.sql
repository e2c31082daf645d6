-- Tenants: with listener isolation on, a role bound to one listener in
-- music_tm.listener_roles sees and writes that listener's charts only.  Every
-- function that reads per-listener data is asked about the other listener
-- and gives nothing, every write to the other listener's charts is refused
-- or touches no row, and what the role sees of its own listener equals what
-- the owner sees.

-- Two listeners, three weekly charts each, sharing tracks and an artist.
SELECT listener, snapshot_date, entries_inserted
FROM (VALUES
  ('alice', date '2026-06-01', '[{"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}, {"id": "a1", "name": "A1"}, {"id": "s2", "name": "S2"}]'),
  ('alice', date '2026-06-08', '[{"id": "a1", "name": "A1"}, {"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}, {"id": "a2", "name": "A2"}]'),
  ('alice', date '2026-06-15', '[{"id": "a2", "name": "A2"}, {"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}]'),
  ('bob',   date '2026-06-01', '[{"id": "s2", "name": "S2"}, {"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}, {"id": "b1", "name": "B1"}]'),
  ('bob',   date '2026-06-08', '[{"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}, {"id": "b2p", "name": "B2", "linked_from": {"id": "b2"}}]'),
  ('bob',   date '2026-06-15', '[{"id": "b1", "name": "B1"}, null, {"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}]')
) AS p(listener, snapshot_date, page),
LATERAL music_tm.record_top_tracks('short_term', page::jsonb, snapshot_date, listener)
ORDER BY 1, 2;

-- and one listen of bob's (which makes bob's charts from plays too)
SELECT plays_inserted FROM music_tm.record_recently_played(
  '{"items": [{"track": {"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}, "played_at": "2026-06-20T10:00:00Z"}]}', 'bob');

-- What each function says about a listener: rows, and a digest of them.
CREATE FUNCTION tenant_probe(l text) RETURNS TABLE (fn text, n bigint, digest text)
LANGUAGE sql AS $$
SELECT 'rank_history', count(*), md5(string_agg(r::text, '|')) FROM music_tm.rank_history('s1', 'short_term', l) r
UNION ALL SELECT 'chart_as_of', count(*), md5(string_agg(r::text, '|')) FROM music_tm.chart_as_of('2026-06-30', 'short_term', l) r
UNION ALL SELECT 'chart_diff', count(*), md5(string_agg(r::text, '|')) FROM music_tm.chart_diff('2026-06-01', '2026-06-15', 'short_term', l) r
UNION ALL SELECT 'chart_churn', count(*), md5(string_agg(r::text, '|')) FROM music_tm.chart_churn('2026-06-01', '2026-06-15', 'short_term', l) r WHERE r.from_chart IS NOT NULL
UNION ALL SELECT 'run_stats', count(*), md5(string_agg(r::text, '|')) FROM music_tm.run_stats('s1', 'short_term', l) r
UNION ALL SELECT 'all_run_stats', count(*), md5(string_agg(r::text, '|')) FROM music_tm.all_run_stats('short_term', l) r
UNION ALL SELECT 'artist_history', count(*), md5(string_agg(r::text, '|')) FROM music_tm.artist_history('ars', 'short_term', l) r
UNION ALL SELECT 'artist_run_stats', count(*), md5(string_agg(r::text, '|')) FROM music_tm.artist_run_stats('Shared', 'short_term', l) r WHERE r.tracks_charted > 0
UNION ALL SELECT 'sparkline', count(s), md5(max(s)) FROM music_tm.sparkline('s1', 'short_term', l) s
UNION ALL SELECT 'run_svg', count(s), md5(max(s)) FROM music_tm.run_svg('s1', 'short_term', l) s
UNION ALL SELECT 'charts', count(*), md5(string_agg(c::text, '|' ORDER BY c::text)) FROM music_tm.charts c WHERE c.listener = l
UNION ALL SELECT 'chart_entries', count(*), md5(string_agg(e::text, '|' ORDER BY e::text)) FROM music_tm.chart_entries e WHERE e.listener = l
$$;
-- The error a statement raises, if any.
CREATE FUNCTION sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- the owner (RLS does not apply to it) sees both listeners in every function
CREATE TABLE probe_owner AS
SELECT 'alice' AS listener, * FROM tenant_probe('alice')
UNION ALL SELECT 'bob', * FROM tenant_probe('bob');
GRANT SELECT ON probe_owner TO PUBLIC;
SELECT fn, a.n AS alice, b.n AS bob
FROM probe_owner a JOIN probe_owner b USING (fn)
WHERE a.listener = 'alice' AND b.listener = 'bob' ORDER BY fn;
CREATE TABLE bob_before AS SELECT * FROM probe_owner WHERE listener = 'bob';

CREATE ROLE regress_mtm_alice IN ROLE music_tm_writer;
CREATE ROLE regress_mtm_bob IN ROLE music_tm_reader;
INSERT INTO music_tm.listener_roles VALUES
  ('regress_mtm_alice', 'alice'), ('regress_mtm_bob', 'bob');

-- before isolation is turned on, grants alone do not separate listeners
SET ROLE regress_mtm_alice;
SELECT count(DISTINCT listener) AS listeners_seen FROM music_tm.charts;
RESET ROLE;

-- row-level security is always on, the policies let everything through
-- until the switch row is there
SELECT c.relname, c.relrowsecurity, p.polname, p.polcmd
FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
WHERE c.relnamespace = 'music_tm'::regnamespace AND c.relkind = 'r'
ORDER BY 1, 3;
SELECT music_tm.enable_listener_isolation();
SELECT music_tm.enable_listener_isolation();
SELECT * FROM music_tm.listener_isolation;

-- alice's role: bob's data is invisible to every function, its own is whole
SET ROLE regress_mtm_alice;
SELECT fn, o.n AS owner_sees, a.n AS alice_sees, a.digest IS NOT DISTINCT FROM o.digest AS same
FROM probe_owner o JOIN tenant_probe('alice') a USING (fn)
WHERE o.listener = 'alice' ORDER BY fn;
SELECT fn, n AS bob_rows, digest FROM tenant_probe('bob') ORDER BY fn;
SELECT * FROM music_tm.listener_roles;

-- and it cannot write bob's charts
SELECT sqlstate_of($$SELECT music_tm.record_top_tracks('short_term', '[{"id": "x1", "name": "X1"}]', '2026-06-15', 'bob')$$);
SELECT sqlstate_of($$SELECT music_tm.record_top_tracks('short_term', '[{"id": "x1", "name": "X1"}]', '2026-06-22', 'bob')$$);
SELECT sqlstate_of($$SELECT music_tm.save_snapshot_row('s1', '2026-06-15', 'short_term', 9, 'bob')$$);
SELECT sqlstate_of($$SELECT music_tm.save_snapshot_row('s1', '2026-06-22', 'short_term', 1, 'bob')$$);
SELECT sqlstate_of($$INSERT INTO music_tm.charts VALUES ('bob', 'short_term', '2026-06-22', now())$$);
SELECT sqlstate_of($$INSERT INTO music_tm.charts VALUES ('bob', 'short_term', '2026-06-23', now(), '{a1}')$$);
SELECT sqlstate_of($$UPDATE music_tm.charts SET listener = 'bob' WHERE listener = 'alice'$$);
-- chart_entries is a read-only view (2.0) for everyone
SELECT sqlstate_of($$INSERT INTO music_tm.chart_entries VALUES ('bob', 'short_term', '2026-06-15', 'a1', 9)$$);
SELECT sqlstate_of($$INSERT INTO music_tm.listener_roles VALUES ('regress_mtm_alice', 'bob')$$);
UPDATE music_tm.charts SET track_ids = '{a1}' WHERE listener = 'bob';
DELETE FROM music_tm.charts WHERE listener = 'bob';
-- x1 was stored by the refused calls' track upserts and rolled back with them
SELECT count(*) AS x1_tracks FROM music_tm.tracks WHERE track_id = 'x1';

-- its own charts it records as before; the counts are its chart's alone
SELECT entries_inserted, entries_updated, entries_removed, entries_unchanged
FROM music_tm.record_top_tracks('short_term', '[{"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}, {"id": "b1", "name": "B1"}]', '2026-06-22', 'alice');
SELECT rank, track_id, status FROM music_tm.chart_as_of('2026-06-22', 'short_term', 'alice');
RESET ROLE;

-- bob's reader role: bob's data only, and no writes at all
SET ROLE regress_mtm_bob;
SELECT fn, o.n AS owner_sees, b.n AS bob_sees, b.digest IS NOT DISTINCT FROM o.digest AS same
FROM probe_owner o JOIN tenant_probe('bob') b USING (fn)
WHERE o.listener = 'bob' ORDER BY fn;
SELECT fn, n AS alice_rows FROM tenant_probe('alice') WHERE n <> 0;
SELECT sqlstate_of($$SELECT music_tm.save_snapshot_row('s1', '2026-06-15', 'short_term', 9, 'bob')$$);
RESET ROLE;

-- listens too: alice's role records its own and sees only its own; bob's
-- are invisible to it and its writes to them are refused
SET ROLE regress_mtm_alice;
SELECT plays_inserted FROM music_tm.record_recently_played(
  '{"items": [{"track": {"id": "s1", "name": "S1", "artists": [{"id": "ars", "name": "Shared"}]}, "played_at": "2026-06-21T10:00:00Z"}]}', 'alice');
SELECT listener, count(*) FROM music_tm.plays GROUP BY listener;
SELECT count(*) AS bobs_minutes_rows FROM music_tm.listening_time('day', 'bob');
SELECT sqlstate_of($$SELECT music_tm.record_recently_played('{"items": [{"track": {"id": "s1", "name": "S1"}, "played_at": "2026-06-22T10:00:00Z"}]}', 'bob')$$);
SELECT sqlstate_of($$INSERT INTO music_tm.plays (listener, ended_at, track_id, played_at, recorded_at) VALUES ('bob', now(), 's1', now(), now())$$);
RESET ROLE;
SELECT listener, count(*) FROM music_tm.plays GROUP BY listener ORDER BY 1;

-- a role bound to no listener sees none
CREATE ROLE regress_mtm_carol IN ROLE music_tm_reader;
SET ROLE regress_mtm_carol;
SELECT fn, n FROM tenant_probe('alice') WHERE n <> 0
UNION ALL SELECT fn, n FROM tenant_probe('bob') WHERE n <> 0;
SELECT count(*) AS charts_seen FROM music_tm.charts;
RESET ROLE;

-- a binding added while isolation is on takes effect at once (the trigger
-- on listener_roles rewrites the policies), and so does its removal
INSERT INTO music_tm.listener_roles VALUES ('regress_mtm_carol', 'bob');
SET ROLE regress_mtm_carol;
SELECT count(*) AS charts_seen, count(DISTINCT listener) AS listeners FROM music_tm.charts;
RESET ROLE;
DELETE FROM music_tm.listener_roles WHERE role_name = 'regress_mtm_carol';
SET ROLE regress_mtm_carol;
SELECT count(*) AS charts_seen FROM music_tm.charts;
RESET ROLE;

-- the policies hold no subquery and no table name (a distributed table's
-- policy may not), and pg_policies, which every role reads, shows keys,
-- not who is bound to which listener
SELECT tablename, policyname,
       qual ~* 'select|listener_roles|listener_isolation' AS qual_looks_up,
       with_check ~* 'select|listener_roles|listener_isolation' AS check_looks_up,
       qual ~ 'alice|bob' AS names_shown
FROM pg_policies WHERE schemaname = 'music_tm' ORDER BY 1, 2;
SELECT music_tm.listener_key('regress_mtm_alice', 'alice') = music_tm.listener_key('regress_mtm_alice', 'alice') AS same,
       music_tm.listener_key('regress_mtm_alice', 'alice') <> music_tm.listener_key('regress_mtm_alic', 'ealice') AS split_apart,
       length(music_tm.listener_key('r', '')) AS key_bytes,
       music_tm.listener_key(NULL, 'alice') IS NULL AS strict;

-- bob's data is exactly as it was
SELECT fn FROM (SELECT * FROM bob_before EXCEPT SELECT 'bob', * FROM tenant_probe('bob')) d;

-- turning isolation off lets every role see every listener again; on and
-- off are idempotent, and only the switch row changes
SELECT music_tm.disable_listener_isolation();
SELECT music_tm.disable_listener_isolation();
SELECT count(*) AS switch_rows FROM music_tm.listener_isolation;
SET ROLE regress_mtm_alice;
SELECT count(DISTINCT listener) AS listeners_seen FROM music_tm.charts;
SELECT count(*) AS bindings_seen FROM music_tm.listener_roles;
RESET ROLE;
-- off, the policies are plain true again
SELECT tablename, policyname, qual, with_check FROM pg_policies
WHERE schemaname = 'music_tm' ORDER BY 1, 2;

DROP FUNCTION tenant_probe(text), sqlstate_of(text);
DROP TABLE probe_owner, bob_before;
DELETE FROM music_tm.listener_roles;
DROP ROLE regress_mtm_alice, regress_mtm_bob, regress_mtm_carol;
