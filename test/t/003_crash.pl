# kill -9 a backend in the middle of page ingest, 20 times (100 with
# MUSIC_TM_LONG_TESTS=1), and check what survives the crash restart.
#
# Each round records one page of 1000 items of about 4 KB (948 tracks of its
# own, 50 tracks shared by every page whose objects change with each page, a
# null item and a local file) into one of three charts, which each later
# round replaces, and kills the backend:
#  - "statement": at a random moment of the record_top_tracks statement
#    (autocommit);
#  - "commit": the call done inside BEGIN, then COMMIT sent and the backend
#    killed a random 0..2x the measured commit time later (before, during or
#    after the WAL flush);
#  - "syncrep": known to be inside COMMIT: the session commits with
#    synchronous_commit = on and a synchronous standby that never connects, so
#    COMMIT waits in SyncRep after flushing its commit record; the kill comes
#    once pg_stat_activity shows that wait.  The client never hears of the
#    commit, yet the page must be there after the restart.
#
# The client's acknowledgements are logged (psql echoes a marker after the
# call or the COMMIT returned).  After each restart: every logged page is fully
# there; the killed page, unlogged, is either fully there (it committed just
# before the kill) or fully absent, in all three tables at once; every chart is
# exactly one whole page; pg_amcheck --heapallindexed is clean; and ingest
# works again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $rounds = $ENV{MUSIC_TM_LONG_TESTS} ? 100 : 20;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init(allows_streaming => 1);    # max_wal_senders > 0: synchronous commit applies
$node->append_conf(
	'postgresql.conf', q{
restart_after_crash = on
fsync = on
log_statement = none
synchronous_standby_names = 'music_tm_no_such_standby'
synchronous_commit = local
# let a page's WAL wait in the buffers, so that its COMMIT writes and flushes it
wal_buffers = 32MB
wal_writer_delay = 10s
});
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION music_tm;
CREATE EXTENSION amcheck;
CREATE TABLE markets AS
  SELECT jsonb_agg(chr(65 + m / 26) || chr(65 + (m * 7) % 26) ORDER BY m) AS codes FROM generate_series(0, 179) m;
-- item k of page v: tracks 1..50 are shared by every page (their object
-- changes with v), the others belong to page v alone
CREATE FUNCTION crash_item(v int, k int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'id', CASE WHEN k <= 50 THEN 'shared-' || k ELSE 'p' || v || '-' || k END,
    'name', 'Sång ' || v || '.' || k, 'type', 'track', 'version', CASE WHEN k <= 50 THEN v END,
    'href', 'https://api.spotify.com/v1/tracks/' || md5(v || '/' || k), 'uri', 'spotify:track:' || md5(v || '/' || k),
    'preview_url', null, 'is_local', false, 'disc_number', 1, 'track_number', 1 + k % 12,
    'duration_ms', 150000 + k * 97 % 100000, 'popularity', (v * 31 + k) % 101, 'explicit', k % 5 = 0,
    'artists', jsonb_build_array(jsonb_build_object('id', 'art' || k % 40, 'name', 'Ärtist ' || k % 40,
                                                    'type', 'artist')),
    'album', jsonb_build_object('name', 'Album ' || k % 70, 'release_date', (1970 + k % 55) || '-0' || (1 + k % 9),
                                'album_type', 'album', 'id', md5('album' || k % 70), 'total_tracks', 12,
                                'href', 'https://api.spotify.com/v1/albums/' || md5('album' || k % 70),
                                'external_urls', jsonb_build_object('spotify', 'https://open.spotify.com/album/' || md5('album' || k % 70)),
                                'release_date_precision', 'month', 'available_markets', m.codes,
                                'images', jsonb_build_array(jsonb_build_object('url', 'https://i.scdn.co/image/' || md5(k::text),
                                                                               'width', 640, 'height', 640))),
    'available_markets', m.codes,
    'external_ids', jsonb_build_object('isrc', 'SEAAA' || lpad((v * 1000 + k)::text, 7, '0')),
    'external_urls', jsonb_build_object('spotify', 'https://open.spotify.com/track/' || md5(v || '/' || k)))
  FROM markets m
$$;
-- page v, recorded into chart crash<v % 3>; "entries" is the chart it makes
CREATE TABLE crash_pages (v int PRIMARY KEY, listener text, payload jsonb, entries text, own int);
CREATE FUNCTION make_page(v int) RETURNS void LANGUAGE sql AS $$
  INSERT INTO crash_pages
  SELECT v, 'crash' || v % 3,
         jsonb_build_object('offset', 0, 'limit', 1000, 'total', 1000, 'items', jsonb_agg(item ORDER BY ord)),
         string_agg(item->>'id' || '@' || ord, ',' ORDER BY ord) FILTER (WHERE item->>'id' IS NOT NULL),
         count(*) FILTER (WHERE item->>'id' LIKE 'p%')
  FROM (SELECT row_number() OVER (ORDER BY md5(v || ':' || k)) AS ord,
               CASE WHEN k = 999 THEN 'null'::jsonb
                    WHEN k = 1000 THEN jsonb_build_object('id', null, 'is_local', true, 'name', 'Demo Take ' || v)
                    ELSE crash_item(v, k) END AS item
        FROM generate_series(1, 1000) k) s
$$;
});

my $record = sub {
	my $v = shift;
	return "SELECT r.entries_inserted + r.entries_updated + r.entries_unchanged FROM crash_pages p,"
	  . " music_tm.record_top_tracks('short_term', p.payload, '2026-03-01', p.listener) r WHERE p.v = $v";
};

# what the database must hold: per chart the last page committed on it, the
# pages whose own tracks are there, the version of the shared tracks
my %chart_page;
my %committed;
my $shared_version;
my %page_listener;

sub expect_committed
{
	my $v = shift;
	$committed{$v} = 1;
	$chart_page{ $page_listener{$v} } = $v;
	$shared_version = $v;
}

sub new_page
{
	my $v = shift;
	$node->safe_psql('postgres', "SELECT make_page($v)");
	$page_listener{$v} = 'crash' . $v % 3;
}

# round 0 calibrates: the statement and the COMMIT, timed apart
new_page(0);
my $s = $node->background_psql('postgres');
my $t0 = time;
$s->query_safe('BEGIN');
is($s->query_safe($record->(0)), '998', 'a page of 1000 items charts 998 tracks');
my $t1 = time;
$s->query_safe('COMMIT');
my $t2 = time;
$s->quit;
expect_committed(0);
my ($stmt_s, $commit_s) = ($t1 - $t0, $t2 - $t1);
my $page_bytes = $node->safe_psql('postgres', 'SELECT octet_length(payload::text) FROM crash_pages WHERE v = 0');
note sprintf "page of 1000 items, %d bytes of JSON: record_top_tracks %.0f ms, COMMIT %.1f ms",
  $page_bytes, 1000 * $stmt_s, 1000 * $commit_s;

srand(3003);
my %tally;
my @modes = qw(syncrep statement commit statement commit);
for my $v (1 .. $rounds)
{
	my $mode = $modes[ $v % 5 ];
	new_page($v);
	my $log_offset = -s $node->logfile;
	my $ses = $node->background_psql('postgres');
	my $pid = $ses->query_safe('SELECT pg_backend_pid()');
	my $delay;

	if ($mode eq 'statement')
	{
		$delay = rand(1.1 * $stmt_s);
		$ses->{stdin} .= $record->($v) . ";\n\\echo acked-$v\n";
		$ses->{run}->pump_nb;
		usleep(int(1e6 * $delay));
	}
	elsif ($mode eq 'commit')
	{
		$ses->query_safe('BEGIN');
		$ses->query_safe($record->($v));
		$delay = rand() < 0.25 ? 0 : rand(2 * $commit_s);
		$ses->{stdin} .= "COMMIT;\n\\echo acked-$v\n";
		$ses->{run}->pump_nb;
		usleep(int(1e6 * $delay)) if $delay > 0;
	}
	else
	{
		$ses->query_safe('SET synchronous_commit = on');
		$ses->query_safe('BEGIN');
		$ses->query_safe($record->($v));
		$ses->{stdin} .= "COMMIT;\n\\echo acked-$v\n";
		$ses->{run}->pump_nb;
		$node->poll_query_until('postgres',
			"SELECT wait_event = 'SyncRep' AND query LIKE 'COMMIT%' FROM pg_stat_activity WHERE pid = $pid")
		  or die "COMMIT never waited in SyncRep";
		$delay = 0;
	}
	kill 'KILL', $pid;

	# the crash restart: our backend's death, then recovery (the postmaster
	# calls it a "server process" up to 17 and a "client backend" from 18 on)
	$node->wait_for_log(qr/(?:server process|client backend) \(PID $pid\) was terminated by signal 9/,
		$log_offset);
	$node->wait_for_log(qr/database system is ready to accept connections/, $log_offset);
	$node->poll_query_until('postgres', 'SELECT true') or die "server did not come back";
	# psql exits once its connection is lost; what it printed before is the log
	eval { $ses->{run}->finish; };
	my $acked = $ses->{stdout} =~ /acked-$v/ ? 1 : 0;

	# which state is the killed page in?
	my $own = $node->safe_psql('postgres', "SELECT count(*) FROM music_tm.tracks WHERE track_id LIKE 'p$v-%'");
	my $expected_own = $node->safe_psql('postgres', "SELECT own FROM crash_pages WHERE v = $v");
	ok($own == 0 || $own == $expected_own,
		"round $v ($mode): the killed page's own tracks are all there or none ($own of $expected_own)");
	my $present = $own > 0 ? 1 : 0;
	ok($present, "round $v ($mode): a page the client heard committed is there") if $acked;
	ok($present, "round $v ($mode): a COMMIT killed in SyncRep, after its WAL flush, is there")
	  if $mode eq 'syncrep';
	expect_committed($v) if $present;
	$tally{$mode}{ $acked ? 'acked' : $present ? 'unacked, present' : 'unacked, absent' }++;
	note sprintf "round %d: %s, kill after %.1f ms, %s", $v, $mode, 1000 * $delay,
	  $acked ? 'acked' : $present ? 'not acked, committed' : 'not acked, absent';

	# every page, every chart, the shared tracks: whole pages only
	my $pages = $node->safe_psql('postgres',
		"SELECT string_agg(p || ':' || n, ',' ORDER BY p) FROM (SELECT split_part(track_id, '-', 1) p, count(*) n"
		  . " FROM music_tm.tracks WHERE track_id LIKE 'p%' GROUP BY 1) s");
	my $want_pages = join(',', map { "p$_:$expected_own" } sort keys %committed);
	is($pages, $want_pages, "round $v: the own tracks of every committed page, and only those");
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) || ':' || string_agg(DISTINCT raw_json->>'version', ',') FROM music_tm.tracks WHERE track_id LIKE 'shared-%'"
		),
		"50:$shared_version",
		"round $v: the shared tracks are all from the last committed page");
	is( $node->safe_psql(
			'postgres', q{
SELECT string_agg(c.listener || '=' || coalesce((SELECT min(p.v)::text FROM crash_pages p
                                                  WHERE p.listener = c.listener AND p.entries = c.entries), 'mixed'),
                  ',' ORDER BY c.listener)
FROM (SELECT h.listener, string_agg(e.track_id || '@' || e.rank, ',' ORDER BY e.rank) AS entries
      FROM music_tm.charts h LEFT JOIN music_tm.chart_entries e USING (listener, time_range, snapshot_date)
      WHERE h.listener LIKE 'crash%' GROUP BY 1) c}),
		join(',', map { "$_=$chart_page{$_}" } sort keys %chart_page),
		"round $v: each chart is exactly the last page committed on it");

	command_ok(
		[
			'pg_amcheck', '--heapallindexed', '--parent-check',
			'--schema', 'music_tm', '--port', $node->port,
			'--host', $node->host, 'postgres'
		],
		"round $v: pg_amcheck finds the tables and indexes intact");
	is( $node->safe_psql(
			'postgres',
			"SELECT entries_inserted FROM music_tm.record_top_tracks('short_term',"
			  . " '[{\"id\": \"after-$v-a\", \"name\": \"After\"}, {\"id\": \"after-$v-b\", \"name\": \"After\"}]',"
			  . " date '2026-04-01' + $v, 'after')"),
		'2',
		"round $v: ingest works after the restart");
}

my @crashes = slurp_file($node->logfile) =~ /was terminated by signal 9/g;
is(scalar @crashes, $rounds, "$rounds backends were killed, each once");
diag "crash rounds: " . join('; ',
	map { my $m = $_; "$m: " . join(', ', map { "$tally{$m}{$_} $_" } sort keys %{ $tally{$m} }) }
	  sort keys %tally);
diag sprintf "page of 1000 items, %d bytes of JSON: record_top_tracks %.0f ms, COMMIT %.1f ms",
  $page_bytes, 1000 * $stmt_s, 1000 * $commit_s;

$node->stop;
done_testing();
