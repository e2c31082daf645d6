# pgbench load: 16 clients, 8 recording overlapping pages in random order and
# 8 reading histories and charts at the same time.
#
# Writers record 96 pages of 50 tracks of about 4 KB (tools/gen_sample.py's
# objects, each track with one fixed object, so the tracks table does not
# depend on the order): 4 listeners x 2 ranges x 3 dates x both pages of the
# chart (offset 0 and 49, ranks 1..50 and 50..99) x 2 versions, all drawn
# from one pool of 200 tracks.  Readers call chart_as_of, rank_history,
# all_run_stats, run_stats and chart_diff and check, inside the transaction,
# that no chart they see has a rank twice or a track twice (a violation
# raises an error that names it, which pgbench counts).
#
# Then: no error of any kind (pgbench, server log), the final state equals a
# serial replay of the acknowledged calls in commit order (per chart that
# order is the chart row lock's, which each call holds until it commits, so
# the log row's clock_timestamp() inside the transaction orders it), and
# pg_amcheck is clean.  Throughput and latency percentiles come from
# pgbench's per-transaction log.  200 transactions per client (3,200 in
# all); MUSIC_TM_LONG_TESTS=1 runs 25 times as many.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $per_client = $ENV{MUSIC_TM_LONG_TESTS} ? 5000 : 200;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf',
	"max_connections = 40\nfsync = on\nlog_statement = none\ndeadlock_timeout = 100ms\nlog_lock_waits = on");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION music_tm; CREATE EXTENSION amcheck;');

# 200 Spotify-shaped track objects (one day of the generator: no relinked
# twins, no local files)
my $sample = `/usr/bin/python3 tools/gen_sample.py --days 1 --pool 200 --chart-size 200 --seed 4004`;
is($?, 0, 'gen_sample.py made the track pool');
my ($line) = split /\n/, $sample;
die "unexpected sample" if $line =~ /\$pool\$/;
$node->safe_psql(
	'postgres', qq{
CREATE TABLE pool AS
  SELECT ord::int, item FROM jsonb_array_elements(\$pool\$$line\$pool\$::jsonb->'page'->'items') WITH ORDINALITY AS t(item, ord);
});
is( $node->safe_psql('postgres',
		"SELECT count(DISTINCT item->>'id') || ',' || count(*) FILTER (WHERE item ? 'linked_from') FROM pool"),
	'200,0', '200 distinct tracks, none relinked');

$node->safe_psql(
	'postgres', q{
CREATE TABLE load_pages (n int PRIMARY KEY, listener text, time_range music_tm.time_range, day date, payload jsonb);
SELECT setseed(0.4004);
DO $$
DECLARE n int := 0;
BEGIN
  FOR l IN 0 .. 3 LOOP
    FOR r IN 0 .. 1 LOOP
      FOR d IN 0 .. 2 LOOP
        FOR o IN 0 .. 1 LOOP
          FOR v IN 1 .. 2 LOOP
            n := n + 1;
            INSERT INTO load_pages
            SELECT n, 'l' || l, (ARRAY['short_term', 'medium_term'])[r + 1]::music_tm.time_range,
                   date '2026-08-01' + d,
                   jsonb_build_object('href', 'https://api.spotify.com/v1/me/top/tracks?offset=' || o * 49,
                                      'offset', o * 49, 'limit', 50, 'total', 99,
                                      'items', jsonb_agg(item ORDER BY k))
            FROM (SELECT item, random() AS k FROM pool ORDER BY random() LIMIT 50) s;
          END LOOP;
        END LOOP;
      END LOOP;
    END LOOP;
  END LOOP;
END $$;
CREATE TABLE load_log (n int, at timestamptz);
});

my $logdir = "$PostgreSQL::Test::Utils::tmp_check/load_pgbench";
mkdir $logdir;
my $clients = 16;
my $total = $clients * $per_client;
$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --transactions=$per_client --log --log-prefix=$logdir/tx",
	0,
	[ qr{processed: $total/$total}, qr{number of failed transactions: 0 } ],
	[qr{^$}],
	'8 writers and 8 readers: no error',
	{
		'004_load' => q{
\if :client_id < 8
\set p random(1, 96)
BEGIN;
SELECT music_tm.record_top_tracks(time_range, payload, day, listener) FROM load_pages WHERE n = :p;
INSERT INTO load_log VALUES (:p, clock_timestamp());
COMMIT;
\else
\set l random(0, 3)
\set r random(1, 2)
\set d random(0, 3)
\set t random(1, 200)
BEGIN;
SELECT CASE WHEN count(*) <> count(DISTINCT rank) OR count(*) <> count(DISTINCT track_id) OR count(*) > 99
            THEN ('chart_as_of: ' || count(*) || ' rows, ' || count(DISTINCT rank) || ' ranks, '
                  || count(DISTINCT track_id) || ' tracks')::int END
FROM music_tm.chart_as_of(date '2026-08-01' + :d, (ARRAY['short_term', 'medium_term'])[:r]::music_tm.time_range, 'l' || :l);
SELECT count(*) FROM pool p, music_tm.rank_history(p.item->>'id', (ARRAY['short_term', 'medium_term'])[:r]::music_tm.time_range, 'l' || :l)
WHERE p.ord = :t;
SELECT CASE WHEN count(*) <> count(DISTINCT track_id) THEN ('all_run_stats: a track twice in ' || count(*))::int END
FROM music_tm.all_run_stats((ARRAY['short_term', 'medium_term'])[:r]::music_tm.time_range, 'l' || :l);
SELECT count(*) FROM pool p, music_tm.run_stats(p.item->>'id', (ARRAY['short_term', 'medium_term'])[:r]::music_tm.time_range, 'l' || :l)
WHERE p.ord = :t;
SELECT CASE WHEN count(*) <> count(DISTINCT track_id) THEN ('chart_diff: a track twice in ' || count(*))::int END
FROM music_tm.chart_diff(date '2026-08-01', date '2026-08-01' + :d, (ARRAY['short_term', 'medium_term'])[:r]::music_tm.time_range, 'l' || :l);
COMMIT;
\endif
}
	});

# throughput and latency from the per-transaction log:
# client_id transaction_no time_us script_no epoch_s epoch_us
my (%lat, $first, $last);
for my $f (glob "$logdir/tx.*")
{
	open my $fh, '<', $f or die "$f: $!";
	while (<$fh>)
	{
		my ($client, $tx, $us, $script, $sec, $usec) = split;
		my $end = $sec + $usec / 1e6;
		my $start = $end - $us / 1e6;
		push @{ $lat{ $client < 8 ? 'write' : 'read' } }, $us / 1000;
		$first = $start if !defined $first || $start < $first;
		$last = $end if !defined $last || $end > $last;
	}
}
is(scalar @{ $lat{write} } + scalar @{ $lat{read} }, $total, 'the pgbench log has every transaction');
my $wall = $last - $first;
for my $role ('write', 'read')
{
	my @ms = sort { $a <=> $b } @{ $lat{$role} };
	my $pct = sub { $ms[ int($_[0] / 100 * $#ms + 0.5) ] };
	diag sprintf "%s: %d transactions, %.1f/s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms",
	  $role eq 'write' ? 'writers (one page each)' : 'readers (5 history calls each)',
	  scalar @ms, @ms / $wall, $pct->(50), $pct->(99), $ms[-1];
}
diag sprintf "16 clients, %.1f s wall", $wall;

is($node->safe_psql('postgres', 'SELECT count(*) FROM load_log'),
	8 * $per_client, 'every acknowledged call is logged');
my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR|deadlock detected/, 'the server logged no error');

$node->safe_psql(
	'postgres', q{
CREATE TABLE final_entries AS
  SELECT listener, time_range, snapshot_date, track_id, rank, playable_id FROM music_tm.chart_entries;
CREATE TABLE final_charts AS SELECT listener, time_range, snapshot_date FROM music_tm.charts;
CREATE TABLE final_tracks AS SELECT track_id, name, content_hash, raw_json::text AS raw FROM music_tm.tracks;
TRUNCATE music_tm.tracks, music_tm.charts;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT p.* FROM load_log l JOIN load_pages p USING (n) ORDER BY l.at LOOP
    PERFORM music_tm.record_top_tracks(r.time_range, r.payload, r.day, r.listener);
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
  (SELECT listener, time_range, snapshot_date FROM music_tm.charts EXCEPT ALL SELECT * FROM final_charts)
  UNION ALL (SELECT * FROM final_charts EXCEPT ALL SELECT listener, time_range, snapshot_date FROM music_tm.charts)) d}),
	'0',
	'chart rows equal the serial replay');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  (SELECT track_id, name, content_hash, raw_json::text FROM music_tm.tracks EXCEPT ALL SELECT * FROM final_tracks)
  UNION ALL (SELECT * FROM final_tracks EXCEPT ALL SELECT track_id, name, content_hash, raw_json::text FROM music_tm.tracks)) d}),
	'0',
	'tracks equal the serial replay');
my ($entries, $charts, $twice) = split /\|/, $node->safe_psql(
	'postgres', q{
SELECT (SELECT count(*) FROM final_entries), (SELECT count(*) FROM final_charts),
       (SELECT count(*) FROM (SELECT 1 FROM final_entries GROUP BY listener, time_range, snapshot_date, rank
                              HAVING count(*) > 1) d)});
is($charts, '24', "every chart was recorded ($entries entries)");
is($twice, '0', 'no rank is held by two tracks in one chart');

command_ok(
	[
		'pg_amcheck', '--heapallindexed', '--parent-check',
		'--schema', 'music_tm', '--port', $node->port,
		'--host', $node->host, 'postgres'
	],
	'pg_amcheck finds the tables and indexes intact');

$node->stop;
done_testing();
