# Dump and restore: a database populated through the functions (three
# listeners, two ranges, four weeks, two pages per chart with relinked
# tracks, null items, local files and repeated tracks, a changed track,
# listens from recently-played and the exports, one unmatched, tenant
# bindings and listener isolation on) goes through pg_dump -Fc and
# pg_restore --exit-on-error into a new database.  Every table of the schema
# must come back row for row (generated columns recomputed alike), the
# isolation policies too, and the functions must give the same answers and
# keep working on the restored copy.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION music_tm');

$node->safe_psql(
	'src', q{
DO $$
DECLARE
    l text; d date; r music_tm.time_range; o int; items jsonb;
BEGIN
    FOR l IN SELECT unnest(ARRAY['ana', 'bo', 'cy']) LOOP
    FOR d IN SELECT generate_series(date '2026-07-01', date '2026-07-22', interval '7 days')::date LOOP
    FOR r IN SELECT unnest(ARRAY['short_term', 'long_term']::music_tm.time_range[]) LOOP
    FOR o IN SELECT unnest(ARRAY[0, 5]) LOOP
        -- track t: relinked when t % 7 = 0; ids repeat within a page at times
        SELECT jsonb_agg(CASE
                 WHEN i = 3 AND o = 0 THEN 'null'::jsonb
                 WHEN i = 4 AND o = 5 THEN jsonb_build_object('id', NULL, 'is_local', true,
                                                              'name', 'Tape of ' || l)
                 ELSE jsonb_build_object(
                   'id', CASE WHEN t % 7 = 0 THEN 'play' || t ELSE 'trk' || t END,
                   'name', 'Track ' || t,
                   'artists', jsonb_build_array(jsonb_build_object('id', 'ar' || t % 4,
                                                                   'name', 'Artist ' || t % 4)),
                   'album', jsonb_build_object('name', 'Album ' || t % 3,
                                               'release_date', (1990 + t)::text),
                   'external_ids', jsonb_build_object('isrc', 'QZ' || lpad(t::text, 10, '0')),
                   'duration_ms', 180000 + t,
                   'linked_from', CASE WHEN t % 7 = 0 THEN jsonb_build_object('id', 'trk' || t) END)
               END ORDER BY i)
          INTO items
          FROM generate_series(0, 4) i,
               LATERAL (SELECT abs(hashtext(l || d || r || (o + i))) % 20 AS t) x;
        PERFORM music_tm.record_top_tracks(r, jsonb_build_object('offset', o, 'items', items), d, l);
    END LOOP; END LOOP; END LOOP; END LOOP;
END
$$;
SELECT music_tm.save_track('{"id": "trk1", "name": "Track 1, remastered", "duration_ms": 180001}');
SELECT music_tm.save_track('{"id": "solo", "name": "Solo"}');
SELECT music_tm.save_snapshot_row('solo', '2026-07-29', 'medium_term', 1, 'ana');
-- listens: a recently-played poll and an export file that confirms one of them
SELECT music_tm.record_recently_played(jsonb_build_object('items', jsonb_build_array(
  jsonb_build_object('played_at', '2026-07-02T10:00:00.500Z', 'track', '{"id": "trk1", "name": "Track 1"}'::jsonb,
                     'context', '{"uri": "spotify:playlist:p"}'::jsonb),
  jsonb_build_object('played_at', '2026-07-02T10:04:00Z', 'track', '{"id": "trk2", "name": "Track 2"}'::jsonb))), 'ana');
SELECT music_tm.import_streaming_history('[
  {"ts": "2026-07-02T10:00:02Z", "ms_played": 180000, "spotify_track_uri": "spotify:track:trk1",
   "master_metadata_track_name": "Track 1", "skipped": false, "ip_addr": "192.0.2.1"},
  {"ts": "2026-07-01T09:00:00Z", "ms_played": 2000, "spotify_track_uri": "spotify:track:new1",
   "master_metadata_track_name": "New 1", "master_metadata_album_artist_name": "Someone",
   "offline_timestamp": 1782896400000}]', 'bo');
SELECT music_tm.import_streaming_history('[
  {"endTime": "2026-07-03 08:00", "artistName": "Artist 1", "trackName": "Track 1, remastered", "msPlayed": 1000},
  {"endTime": "2026-07-03 08:05", "artistName": "Nobody", "trackName": "Unknown", "msPlayed": 2000}]', 'cy');
CREATE ROLE regress_dump_ana IN ROLE music_tm_reader;
INSERT INTO music_tm.listener_roles VALUES ('regress_dump_ana', 'ana');
SELECT music_tm.enable_listener_isolation();
});

# the population is what it should be: not vacuous
my $shape = $node->safe_psql(
	'src', q{
SELECT (SELECT count(DISTINCT listener) FROM music_tm.charts) || ' ' ||
       (SELECT count(*) FILTER (WHERE time_range <= 'long_term') || '+' ||
               count(*) FILTER (WHERE time_range > 'long_term') FROM music_tm.charts) || ' ' ||
       (SELECT count(*) > 40 FROM music_tm.chart_entries) || ' ' ||
       (SELECT count(*) > 0 FROM music_tm.chart_entries WHERE playable_id IS NOT NULL) || ' ' ||
       (SELECT count(*) > 0 FROM music_tm.tracks WHERE updated_at > created_at OR isrc IS NULL)
});
is($shape, '3 25+8 true true true',
	'source: 3 listeners, 25 top-tracks charts and 8 from plays, relinked entries, a changed track');

my $dump = $node->basedir . '/src.dump';
command_ok(
	[ 'pg_dump', '-Fc', '-f', $dump, '-h', $node->host, '-p', $node->port, 'src' ],
	'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
command_ok(
	[
		'pg_restore', '--exit-on-error', '-d', 'dst', '-h', $node->host,
		'-p', $node->port, $dump
	],
	'pg_restore without a single error (no policy or row created twice)');

# every table of the schema, row for row, in a fixed order
my $tables = $node->safe_psql(
	'src', q{
SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY c.relname)
FROM pg_class c WHERE c.relnamespace = 'music_tm'::regnamespace AND c.relkind = 'r'});
is($tables,
	'music_tm.charts music_tm.listener_isolation music_tm.listener_roles music_tm.plays music_tm.tracks music_tm.unmatched_plays',
	'the tables of the schema');
for my $t (split / /, $tables)
{
	my $q = "SELECT count(*) || E'\\n' || coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM $t t";
	my $a = $node->safe_psql('src', $q);
	my $b = $node->safe_psql('dst', $q);
	unlike($a, qr/^0\n/, "$t has rows");
	is($b, $a, "$t restored row for row");
}

# the extension, its version, row security and policies came back as they were
my $state = q{
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'music_tm') || E'\n' ||
       string_agg(c.relname || ' rls=' || c.relrowsecurity || ' ' || coalesce(p.polname || ' ' || p.polcmd::text || ' ' ||
                  coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' / ' ||
                  coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''), 'no policy'),
                  E'\n' ORDER BY c.relname, p.polname)
FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
WHERE c.relnamespace = 'music_tm'::regnamespace AND c.relkind = 'r'};
my $src_state = $node->safe_psql('src', $state);
# the version CREATE EXTENSION installs: the control file's default_version
my ($default_version) = slurp_file('music_tm.control') =~ /^default_version = '([^']+)'/m;
like($src_state, qr/^\Q$default_version\E\n.*charts rls=true listener_isolation/s, 'source has the policies');
is($node->safe_psql('src', 'SELECT count(*) FROM music_tm.listener_isolation'), '1',
	'source has isolation on');
is($node->safe_psql('dst', $state), $src_state, 'version, row security and policies restored');

# the functions answer alike on every listener, range and date
my $answers = q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'as_of ' || l || ' ' || r || ' ' || d || ' ' || c::text AS x
  FROM unnest(ARRAY['ana', 'bo', 'cy']) l, unnest(enum_range(NULL::music_tm.time_range)) r,
       generate_series(date '2026-07-01', date '2026-07-29', interval '7 days') d,
       LATERAL music_tm.chart_as_of(d::date, r, l) c
  UNION ALL
  SELECT 'stats ' || l || ' ' || r || ' ' || s::text
  FROM unnest(ARRAY['ana', 'bo', 'cy']) l, unnest(enum_range(NULL::music_tm.time_range)) r,
       LATERAL music_tm.all_run_stats(r, l) s
  UNION ALL
  SELECT 'detail ' || t::text FROM music_tm.tracks, LATERAL music_tm.track_detail(track_id) t) q};
my $src_answers = $node->safe_psql('src', $answers);
cmp_ok(scalar(split /\n/, $src_answers), '>', 100, 'many answers to compare');
is($node->safe_psql('dst', $answers), $src_answers,
	'chart_as_of, all_run_stats and track_detail answer alike after restore');

# isolation still holds on the restored copy for the bound role
is( $node->safe_psql(
		'dst', q{
SET ROLE regress_dump_ana;
SELECT string_agg(DISTINCT listener, ',') FROM music_tm.charts;
SELECT count(*) FROM music_tm.chart_as_of('2026-07-22', 'short_term', 'bo');}),
	"ana\n0",
	'the bound role sees its listener only on the restored copy');

# and the restored copy records as the source does
my $page = q{
SELECT tracks_inserted || ' ' || tracks_unchanged || ' ' || entries_inserted || ' ' ||
       entries_updated || ' ' || entries_removed || ' ' || entries_unchanged
FROM music_tm.record_top_tracks('short_term',
  '[{"id": "trk1", "name": "Track 1, remastered", "duration_ms": 180001}, {"id": "new1", "name": "New"}]',
  '2026-07-22', 'bo')};
my $src_page = $node->safe_psql('src', $page);
is($node->safe_psql('dst', $page), $src_page, "a new page records alike ($src_page)");
my $entries = q{SELECT string_agg(e::text, ',' ORDER BY e::text) FROM music_tm.chart_entries e WHERE listener = 'bo'};
is($node->safe_psql('dst', $entries), $node->safe_psql('src', $entries),
	'and leaves the same entries');

$node->stop;
done_testing();
