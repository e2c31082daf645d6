# Many sessions store the same tracks and chart entries at once (pgbench):
# no errors, one row per key, stored columns agree with the stored JSON, and
# the indexes are intact (pg_amcheck).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', 'max_connections = 40');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION music_tm; CREATE EXTENSION amcheck;');

# Each transaction stores one of 20 tracks, in one of 3 versions, and charts
# it at a random rank on one of 5 dates.
$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=300',
	0,
	[qr{processed: 2400/2400}],
	[qr{^$}],
	'8 clients upsert the same tracks and chart entries without error',
	{
		'001_upsert' => q{
\set t random(1, 20)
\set v random(1, 3)
\set d random(0, 4)
\set r random(1, 50)
BEGIN;
SELECT music_tm.save_track(jsonb_build_object('id', 'track' || :t, 'name', 'Name ' || :t || ' v' || :v,
       'duration_ms', 1000 * :v, 'artists', jsonb_build_array(jsonb_build_object('name', 'Artist ' || :v))));
SELECT music_tm.save_snapshot_row('track' || :t, date '2026-01-01' + :d, 'short_term', :r);
COMMIT;
}
	});

is($node->safe_psql('postgres', 'SELECT count(*) FROM music_tm.tracks'),
	'20', 'one row per track');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM music_tm.tracks
WHERE content_hash <> music_tm.track_hash(raw_json)
   OR name <> raw_json->>'name'
   OR duration_ms <> (raw_json->>'duration_ms')::int
   OR artist_name <> raw_json->'artists'->0->>'name'}),
	'0',
	'columns and content hash agree with the stored object');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM music_tm.chart_entries e
WHERE NOT EXISTS (SELECT FROM music_tm.charts c
                  WHERE (c.listener, c.time_range, c.snapshot_date)
                      = (e.listener, e.time_range, e.snapshot_date))}),
	'0',
	'every entry has its chart header');
is($node->safe_psql('postgres', 'SELECT count(*) FROM music_tm.charts'),
	'5', 'one header per date');

# an identical object stored again writes nothing, whatever the concurrency
my $before = $node->safe_psql('postgres',
	"SELECT string_agg(xmin::text || ctid::text, ',' ORDER BY track_id) FROM music_tm.tracks");
$node->safe_psql('postgres',
	'SELECT music_tm.save_track(raw_json) FROM music_tm.tracks');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(xmin::text || ctid::text, ',' ORDER BY track_id) FROM music_tm.tracks"),
	$before,
	'storing every stored object again leaves every row version in place');

my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT music_tm.save_track(raw_json) = 'unchanged' FROM music_tm.tracks GROUP BY 1");
is($out, 't', 'and reports every track unchanged');

command_ok(
	[
		'pg_amcheck', '--heapallindexed', '--parent-check',
		'--schema', 'music_tm', '--port', $node->port,
		'--host', $node->host, 'postgres'
	],
	'pg_amcheck finds the tables and indexes intact');

$node->stop;
done_testing();
