# pgbench soak of record_top_tracks: 8 clients record overlapping pages
# (shared tracks, both pages of the same charts) in random order.  Then:
# no errors, and the final state equals a serial replay of the calls in the
# order they committed (per chart that order is fixed by the chart row lock,
# which each call holds until commit).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 40\ndeadlock_timeout = 100ms");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION music_tm; CREATE EXTENSION amcheck;');

# 4 listeners x 2 dates x 2 pages (offset 0 and 49) x 3 versions = 48 pages,
# each 50 tracks drawn from a pool of 150 (each track has one fixed object).
srand(20261121);
my @pool = map { sprintf('trk%03d', $_) } 1 .. 150;
my @rows;
my $n = 0;
for my $listener (qw(ana bo chen dee))
{
	for my $date ('2026-08-01', '2026-08-02')
	{
		for my $offset (0, 49)
		{
			for my $version (1 .. 3)
			{
				my %seen;
				my @ids;
				while (@ids < 50)
				{
					my $id = $pool[ int(rand(@pool)) ];
					push @ids, $id unless $seen{$id}++;
				}
				my $items = join(',',
					map { qq({"id": "$_", "name": "Sång $_", "duration_ms": 180000, "artists": [{"name": "Ärtist"}]}) } @ids);
				$n++;
				push @rows,
				  "($n, '$listener', '$date', '{\"offset\": $offset, \"limit\": 50, \"items\": [$items]}')";
			}
		}
	}
}
$node->safe_psql(
	'postgres', qq{
CREATE TABLE soak_pages (n int PRIMARY KEY, listener text, day date, payload jsonb);
INSERT INTO soak_pages VALUES @{[join(",\n", @rows)]};
CREATE TABLE soak_log (n int, at timestamptz);
});

$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=60',
	0,
	[qr{processed: 480/480}, qr{number of failed transactions: 0}],
	[qr{^$}],
	'8 clients record overlapping pages in random order without error',
	{
		'002_record' => q{
\set p random(1, 48)
BEGIN;
SELECT music_tm.record_top_tracks('short_term', payload, day, listener) FROM soak_pages WHERE n = :p;
INSERT INTO soak_log VALUES (:p, clock_timestamp());
COMMIT;
}
	});

is($node->safe_psql('postgres', 'SELECT count(*) FROM soak_log'),
	'480', 'every call is logged');

$node->safe_psql(
	'postgres', q{
CREATE TABLE final_entries AS
  SELECT listener, time_range, snapshot_date, track_id, rank, playable_id FROM music_tm.chart_entries;
CREATE TABLE final_charts AS SELECT listener, time_range, snapshot_date FROM music_tm.charts;
CREATE TABLE final_tracks AS SELECT track_id, name, content_hash FROM music_tm.tracks;
TRUNCATE music_tm.tracks, music_tm.charts;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT p.* FROM soak_log l JOIN soak_pages p USING (n) ORDER BY l.at LOOP
    PERFORM music_tm.record_top_tracks('short_term', r.payload, r.day, r.listener);
  END LOOP;
END $$;
});

is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  (SELECT listener, time_range, snapshot_date, track_id, rank, playable_id FROM music_tm.chart_entries
   EXCEPT ALL SELECT * FROM final_entries)
  UNION ALL
  (SELECT * FROM final_entries
   EXCEPT ALL SELECT listener, time_range, snapshot_date, track_id, rank, playable_id FROM music_tm.chart_entries)) d}),
	'0',
	'chart entries equal a serial replay in commit order');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  (SELECT listener, time_range, snapshot_date FROM music_tm.charts EXCEPT SELECT * FROM final_charts)
  UNION ALL (SELECT * FROM final_charts EXCEPT SELECT listener, time_range, snapshot_date FROM music_tm.charts)) d}),
	'0',
	'chart rows equal the serial replay');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  (SELECT track_id, name, content_hash FROM music_tm.tracks EXCEPT SELECT * FROM final_tracks)
  UNION ALL (SELECT * FROM final_tracks EXCEPT SELECT track_id, name, content_hash FROM music_tm.tracks)) d}),
	'0',
	'tracks equal the serial replay');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (SELECT listener, snapshot_date, rank FROM final_entries
                      GROUP BY 1, 2, 3 HAVING count(*) > 1) d}),
	'0',
	'no rank is held by two tracks in one chart');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM final_entries'),
	'>', 0, 'the soak recorded entries');

command_ok(
	[
		'pg_amcheck', '--heapallindexed', '--parent-check',
		'--schema', 'music_tm', '--port', $node->port,
		'--host', $node->host, 'postgres'
	],
	'pg_amcheck finds the tables and indexes intact');

$node->stop;
done_testing();
