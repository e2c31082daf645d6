# music_tm on a real Citus cluster: a coordinator and two workers on
# loopback, beside a single node without Citus that gets the same calls.
# music_tm.distribute() sets the cluster up; then every function must answer
# on the coordinator as on the single node, writes must route to one shard
# (one-phase commit when no track changed, nothing written to the reference
# table on a replay), a member of music_tm_writer records pages with new
# tracks, listener isolation holds through the coordinator, 8 concurrent
# clients leave the state a serial replay gives, and DROP EXTENSION leaves no
# table on any node.  Skipped, saying why, when Citus is not installed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/citus';
use MtmCitus;

skip_without_citus();
my @citus = start_citus('c1');
my ($coord, @workers) = @citus;
is($coord->safe_psql('postgres', 'SELECT count(*) FROM citus_get_active_worker_nodes()'),
	'2', 'two workers');

my $single = PostgreSQL::Test::Cluster->new('single');
$single->init;
$single->start;

$_->safe_psql('postgres', 'CREATE EXTENSION music_tm') for ($coord, $single);

# distribute(): what it did, idempotent, refused where it cannot work
is( $coord->safe_psql('postgres', 'SELECT * FROM music_tm.distribute()'),
	"music_tm.tracks|reference|distributed\nmusic_tm.charts|hash(listener)|distributed\n"
	  . "music_tm.plays|hash(listener)|distributed\nmusic_tm.unmatched_plays|hash(listener)|distributed",
	'distribute(): tracks a reference table, charts and plays distributed by listener');
is( $coord->safe_psql('postgres', 'SELECT * FROM music_tm.distribute()'),
	"music_tm.tracks|reference|already distributed\nmusic_tm.charts|hash(listener)|already distributed\n"
	  . "music_tm.plays|hash(listener)|already distributed\nmusic_tm.unmatched_plays|hash(listener)|already distributed",
	'distribute() again does nothing');
is( $coord->safe_psql(
		'postgres', q{
SELECT string_agg(logicalrelid::text || ' ' || partmethod::text, ', ' ORDER BY logicalrelid::text)
  || ' / colocation groups of the hashed ones: ' || count(DISTINCT colocationid) FILTER (WHERE partmethod = 'h')
FROM pg_dist_partition WHERE logicalrelid::text LIKE 'music_tm.%'}),
	'music_tm.charts h, music_tm.plays h, music_tm.tracks n, music_tm.unmatched_plays h / colocation groups of the hashed ones: 1',
	'pg_dist_partition says so: charts and plays colocated');
my ($rc, $out, $err) = $workers[0]->psql('postgres', 'SELECT music_tm.distribute()');
like($err, qr/must run on the coordinator/, 'distribute() on a worker is refused');
($rc, $out, $err) = $single->psql('postgres',
	'\set VERBOSITY verbose' . "\n" . 'SELECT music_tm.distribute()');
like($err, qr/0A000: music_tm.distribute\(\) needs the citus extension/,
	'distribute() without Citus: 0A000');
($rc, $out, $err) = $single->psql('postgres', 'SELECT music_tm.drop_distributed_tables()');
like($err, qr/are not distributed/, 'drop_distributed_tables() refuses a single node');

# Pages: 10 listeners x 5 weeks x 2 ranges x 2 pages (offsets 0 and 5) of 5
# items from a pool of 30 tracks shared by everyone (every 7th relinked, a
# null item and a local file now and then), each call its own transaction.
srand(20261202);
my @listeners = map { sprintf('l%02d', $_) } 1 .. 10;
my @dates = ('2026-09-07', '2026-09-14', '2026-09-21', '2026-09-28', '2026-10-05');

my @pages;
for my $l (@listeners)
{
	for my $d (@dates)
	{
		push @pages, chart_pages($l, $d, $_) for ('short_term', 'long_term');
	}
}
my $script = join("\n", @pages);
is($coord->safe_psql('postgres', $script), $single->safe_psql('postgres', $script),
	scalar(@pages) . ' pages recorded alike through the coordinator and on the single node');

# Every function's answers, on every listener, range and date.  Nothing in
# FROM but arrays and series: each call runs its own statements.
my $ids = $single->safe_psql('postgres',
	q{SELECT string_agg(quote_literal(track_id), ',' ORDER BY track_id) FROM music_tm.tracks});
my $functions = answers_sql($ids, \@listeners);
my $tables = $TABLES_SQL;
my $want = $single->safe_psql('postgres', $functions);
cmp_ok(scalar(split /\n/, $want), '>', 1000, 'many answers to compare');
is($coord->safe_psql('postgres', $functions), $want,
	'every reading function answers on the coordinator as on the single node');
is($coord->safe_psql('postgres', $tables), $single->safe_psql('postgres', $tables),
	'chart_entries, tracks and check_charts() alike');

# Routing.  What the coordinator sends to the workers for one call, from
# citus.log_remote_commands.
sub remote_commands
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $coord->psql('postgres',
		"SET citus.log_remote_commands = on;\n$sql", on_error_stop => 1);
	die "failed: $err" if $rc;
	return [ map { /issuing (.*)/ ? $1 : () } split /\n/, $err ];
}
sub shards_named
{
	my ($cmds, $table) = @_;
	my %s;
	/\bmusic_tm\.${table}_(\d+)/ && $s{$1}++ for @$cmds;
	return scalar keys %s;
}
# a replay: reads, no write anywhere, no two-phase commit
my $cmds = remote_commands($pages[0]);
ok(@$cmds > 0, 'the coordinator does send commands (log_remote_commands works)');
is(scalar(grep { /^(INSERT|UPDATE|DELETE|COPY)/i } @$cmds), 0, 'a replay writes nothing on any node')
  or diag explain $cmds;
is(scalar(grep { /PREPARE TRANSACTION/i } @$cmds), 0, 'a replay prepares no transaction');
is(shards_named($cmds, 'charts'), 1, 'a replay reads one chart shard');
# a new chart whose tracks are all stored: one shard, one-phase commit
my ($new_chart) = chart_pages('l01', '2026-10-12', 'short_term');
$cmds = remote_commands($new_chart);
$single->safe_psql('postgres', $new_chart);
is(scalar(grep { /^INSERT INTO music_tm\.charts_\d+/i } @$cmds), 1, 'a new chart: one single-row INSERT')
  or diag explain $cmds;
is(scalar(grep { /music_tm\.tracks_\d+/i && /^(INSERT|UPDATE)/i } @$cmds), 0, 'no track written');
is(shards_named($cmds, 'charts'), 1, 'every charts statement goes to one shard');
is(scalar(grep { /PREPARE TRANSACTION/i } @$cmds), 0, 'one-phase commit');
# a new track: the reference table written once (one statement per node)
my $new_track = q{SELECT chart FROM music_tm.record_top_tracks('short_term', '[{"id": "fresh1", "name": "Fresh"}]', '2026-10-12', 'l02')};
$cmds = remote_commands($new_track);
$single->safe_psql('postgres', $new_track);
cmp_ok(scalar(grep { /^INSERT INTO music_tm\.tracks_\d+/i } @$cmds), '>=', 1, 'a new track is written to the reference table');
is(shards_named($cmds, 'charts'), 1, 'its chart to one shard');

# the history statements route to one shard
like($coord->safe_psql('postgres',
	q{EXPLAIN SELECT snapshot_date, track_ids FROM music_tm.charts WHERE listener = 'l03' AND time_range = 'short_term' ORDER BY snapshot_date}),
	qr/Task Count: 1\b/, 'a listener\'s charts: Task Count 1');

# Nothing written to the reference table on any worker by a replay of every page
sub tracks_versions
{
	my ($node) = @_;
	my $shard = $node->safe_psql('postgres',
		q{SET citus.show_shards_for_app_name_prefixes = '*';
SELECT relname FROM pg_class WHERE relname ~ '^tracks_[0-9]+$' AND relnamespace = 'music_tm'::regnamespace});
	return $node->safe_psql('postgres',
		qq{SELECT md5(string_agg(xmin::text || ctid::text, ',' ORDER BY track_id)) || ' ' || count(*) FROM music_tm.$shard});
}
# and the workers' write counters of their reference-table shard, once the
# backends that served the coordinator have ended (they report at exit)
sub tracks_writes
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SET citus.show_shards_for_app_name_prefixes = '*';
SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables
WHERE relname ~ '^tracks_[0-9]+$' AND schemaname = 'music_tm'});
}
sub settled_writes
{
	my ($node) = @_;
	my ($last, $now) = (-1, tracks_writes($node));
	for (1 .. 20)
	{
		last if $now == $last
		  && $node->safe_psql('postgres',
			q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()}) == 0;
		sleep 1;
		($last, $now) = ($now, tracks_writes($node));
	}
	return $now;
}
my @before = map { tracks_versions($_) } @workers;
my @writes_before = map { settled_writes($_) } @workers;
$coord->safe_psql('postgres', $script);
is_deeply([ map { tracks_versions($_) } @workers ], \@before,
	'replaying every page leaves the reference table untouched on every worker');
is_deeply([ map { settled_writes($_) } @workers ], \@writes_before,
	'and the workers count no write to it');
# (the counters do move: one new track)
my $one_more = q{SELECT chart FROM music_tm.record_top_tracks('short_term', '[{"id": "fresh2", "name": "Fresh 2"}]', '2026-10-19', 'l09')};
$coord->safe_psql('postgres', $one_more);
$single->safe_psql('postgres', $one_more);
is_deeply([ map { settled_writes($_) - shift(@writes_before) } @workers ], [ 1, 1 ],
	'a new track counts one insert on each worker');

# Dashboards: sparklines for every track a listener ever charted, the ids
# from another function (no distributed table in the query: each function
# routes its own statements), the function called once
my $dash = q{
SELECT string_agg(s.track_id || ' ' || coalesce(s.sparkline, '-'), E'\n')
FROM music_tm.sparklines(ARRAY(SELECT track_id FROM music_tm.all_run_stats('short_term', 'l07') ORDER BY track_id),
                         'short_term', 'l07') s};
my $dash_want = $single->safe_psql('postgres', $dash);
cmp_ok(scalar(split /\n/, $dash_want), '>=', 10, 'a dashboard of many sparklines');
is($coord->safe_psql('postgres', $dash), $dash_want, 'sparklines(ARRAY(SELECT ... FROM all_run_stats(...))) works on Citus');
# what does not: a read function in a query on a distributed table, which
# Citus sends to the shard, where the function cannot reach the other nodes
# (the README says so)
for my $q (
	q{SELECT music_tm.sparkline(e.track_id, 'short_term', 'l07') FROM music_tm.chart_entries e WHERE e.listener = 'l07'},
	q{SELECT * FROM music_tm.sparklines(ARRAY(SELECT id FROM music_tm.charts c, unnest(c.track_ids) id WHERE c.listener = 'l07' AND id IS NOT NULL), 'short_term', 'l07')})
{
	($rc, $out, $err) = $coord->psql('postgres', $q);
	like($err, qr/cannot execute a distributed query from a query on a shard/,
		'a read function inside a query on a distributed table: Citus refuses it');
}

# Listening history through the coordinator: an extended streaming-history
# file and recently-played polls per listener (overlapping, so most listens
# are seen twice), the same on the single node
sub export_file
{
	my ($l) = @_;
	my @e;
	for my $i (0 .. 39)
	{
		my $t = 1 + ($i * 7 + length($l)) % 30;
		my $id = "trk$t";
		my $ts = sprintf('2026-09-%02dT%02d:%02d:00Z', 1 + $i % 28, 8 + $i % 12, $i % 60);
		push @e, qq({"ts": "$ts", "ms_played": ${\ (20000 + 5000 * ($i % 40))}, "spotify_track_uri": "spotify:track:$id", )
		  . qq("master_metadata_track_name": "Track $t", "master_metadata_album_artist_name": "Artist ${\ ($t % 4)}", )
		  . qq("master_metadata_album_album_name": "Album", "reason_start": "trackdone", "reason_end": "trackdone", )
		  . qq("shuffle": false, "skipped": null, "offline": false, "offline_timestamp": null, "incognito_mode": false});
	}
	return "SELECT format || ' ' || plays_inserted FROM music_tm.import_streaming_history('[" . join(', ', @e) . "]', '$l');";
}
sub poll
{
	my ($l, $day) = @_;
	my @items;
	for my $i (0 .. 9)
	{
		my $t = 1 + ($i * 3 + $day) % 30;
		push @items, qq({"track": ${\ MtmCitus::track_json($t)}, "played_at": "2026-10-${\ sprintf('%02d', $day)}T${\ sprintf('%02d', 10 + $i)}:00:00.000Z"});
	}
	return "SELECT plays_inserted FROM music_tm.record_recently_played('{\"items\": [" . join(', ', @items) . "]}', '$l');";
}
my @listening = map { export_file($_) } @listeners[0 .. 3];
for my $l (@listeners[0 .. 3])
{
	push @listening, poll($l, $_) for (1, 2, 2, 3);    # day 2 polled twice
}
my $listening = join("\n", @listening);
is($coord->safe_psql('postgres', $listening), $single->safe_psql('postgres', $listening),
	'imports and polls through the coordinator store what the single node stores');
my $plays_sql = q{
SELECT (SELECT string_agg(concat_ws(' ', listener, ended_at, track_id, ms_played, played_at, export_ts), E'\n'
                          ORDER BY listener, ended_at, track_id) FROM music_tm.plays) || E'\n' ||
       (SELECT string_agg(x, E'\n' ORDER BY x) FROM (
          SELECT 'time ' || l || ' ' || t::text AS x FROM unnest(ARRAY['l01', 'l02', 'l03', 'l04']) l,
                 LATERAL music_tm.listening_time('week', l) t
          UNION ALL SELECT 'top ' || l || ' ' || t::text FROM unnest(ARRAY['l01', 'l02', 'l03', 'l04']) l,
                 LATERAL music_tm.top_tracks(l) t
          UNION ALL SELECT 'artists ' || l || ' ' || t::text FROM unnest(ARRAY['l01', 'l02', 'l03', 'l04']) l,
                 LATERAL music_tm.top_artists(l) t
          UNION ALL SELECT 'weekly ' || l || ' ' || c::text FROM unnest(ARRAY['l01', 'l02', 'l03', 'l04']) l,
                 LATERAL music_tm.chart_as_of('2026-10-31', 'plays_week', l) c
          UNION ALL SELECT 'monthly ' || l || ' ' || s::text FROM unnest(ARRAY['l01', 'l02', 'l03', 'l04']) l,
                 LATERAL music_tm.all_run_stats('plays_month_track', l) s) q)};
my $plays_want = $single->safe_psql('postgres', $plays_sql);
cmp_ok(scalar(split /\n/, $plays_want), '>', 150, 'many listens and answers to compare');
is($coord->safe_psql('postgres', $plays_sql), $plays_want,
	'listens, statistics and charts from plays alike on the coordinator');
# a poll seen before: reads only; a new listen of a stored track: one worker,
# one-phase commit (its plays and charts shards are colocated)
$cmds = remote_commands(poll('l01', 3));
is(scalar(grep { /^(INSERT|UPDATE|DELETE|COPY)/i } @$cmds), 0, 'a poll seen before writes nothing')
  or diag explain $cmds;
my $new_poll = poll('l01', 4);
$cmds = remote_commands($new_poll);
$single->safe_psql('postgres', $new_poll);
cmp_ok(scalar(grep { /^INSERT INTO music_tm\.plays_\d+/i } @$cmds), '>=', 1, 'a new poll inserts into plays');
is(scalar(grep { /music_tm\.tracks_\d+/i && /^(INSERT|UPDATE)/i } @$cmds), 0, 'its tracks, all stored, are not written');
is(scalar(grep { /PREPARE TRANSACTION/i } @$cmds), 0, 'one-phase commit')
  or diag explain $cmds;
my %nodes;
/^(?:INSERT|UPDATE|DELETE|SELECT).*music_tm\.(?:plays|charts)_(\d+)/i && $nodes{$1}++ for @$cmds;
cmp_ok(scalar(keys %nodes), '<=', 2, 'one plays shard and one charts shard (colocated)');

# an export that confirms listens a poll stored (same track, its ts the
# poll's played_at): an UPDATE of plays routed to the listener's shard
my @confirm;
for my $i (0 .. 9)
{
	my $t = 1 + ($i * 3 + 4) % 30;
	push @confirm, qq({"ts": "2026-10-04T${\ sprintf('%02d', 10 + $i)}:00:00Z", "ms_played": 180000, )
	  . qq("spotify_track_uri": "spotify:track:${\ ($t % 7 == 0 ? "trk$t" : "trk$t")}", "master_metadata_track_name": "Track $t", )
	  . qq("master_metadata_album_artist_name": "Artist ${\ ($t % 4)}", "master_metadata_album_album_name": "Album", )
	  . qq("reason_start": "trackdone", "reason_end": "trackdone", "shuffle": false, "skipped": false, )
	  . qq("offline": false, "offline_timestamp": null, "incognito_mode": false});
}
my $confirm = "SELECT plays_matched FROM music_tm.import_streaming_history('[" . join(', ', @confirm) . "]', 'l01');";
$cmds = remote_commands($confirm);
my $matched = $single->safe_psql('postgres', $confirm);
cmp_ok($matched, '>', 0, 'the export confirms listens the poll stored');
cmp_ok(scalar(grep { /^UPDATE music_tm\.plays_\d+/i } @$cmds), '>=', 1, 'confirming them is an UPDATE of plays');
is(scalar(grep { /PREPARE TRANSACTION/i } @$cmds), 0, 'in one phase')
  or diag explain $cmds;
is($coord->safe_psql('postgres', $plays_sql), $single->safe_psql('postgres', $plays_sql),
	'and the listens and answers stay alike');

# A member of music_tm_writer (not the tables' owner) records pages with
# new tracks, and save_track then save_snapshot_row in one transaction.
my $writes = q{
SELECT chart FROM music_tm.record_top_tracks('short_term', '[{"id": "w1", "name": "W1"}, {"id": "trk1", "name": "Track 1"}]', '2026-10-19', 'l04');
BEGIN;
SELECT music_tm.save_track('{"id": "w2", "name": "W2"}');
SELECT music_tm.save_snapshot_row('w2', '2026-10-19', 'long_term', 1, 'l04');
SELECT chart FROM music_tm.record_top_tracks('long_term', '{"offset": 1, "items": [{"id": "w3", "name": "W3"}]}', '2026-10-19', 'l04');
COMMIT;
SELECT string_agg(concat_ws(' ', time_range, rank, track_id), ', ' ORDER BY time_range, rank)
FROM music_tm.chart_entries WHERE listener = 'l04' AND snapshot_date = '2026-10-19';};
$coord->safe_psql('postgres', 'CREATE ROLE app_writer LOGIN IN ROLE music_tm_writer');
$single->safe_psql('postgres', 'CREATE ROLE app_writer LOGIN IN ROLE music_tm_writer');
my $got = $coord->safe_psql('postgres', "SET ROLE app_writer;\n$writes");
is($got =~ s/.*\n//sr, 'short_term 1 w1, short_term 2 trk1, long_term 1 w2, long_term 2 w3',
	'a member of music_tm_writer records pages with new tracks through the coordinator');
is($got, $single->safe_psql('postgres', "SET ROLE app_writer;\n$writes"), 'as on the single node');

# Listener isolation through the coordinator: a role bound to l05 reads and
# writes l05 only, on every node the query reaches.
$coord->safe_psql('postgres', q{
CREATE ROLE tenant5 LOGIN IN ROLE music_tm_writer;
INSERT INTO music_tm.listener_roles VALUES ('tenant5', 'l05');
SELECT music_tm.enable_listener_isolation();});
is( $coord->safe_psql('postgres',
		q{SET ROLE tenant5; SELECT count(DISTINCT listener) || ' ' || min(listener) FROM music_tm.charts}),
	'1 l05', 'the tenant sees its listener only');
is( $coord->safe_psql('postgres',
		q{SET ROLE tenant5; SELECT count(*) FROM music_tm.chart_as_of('2026-10-05', 'short_term', 'l06')}),
	'0', 'a function asked about another listener gives nothing');
cmp_ok( $coord->safe_psql('postgres',
		q{SET ROLE tenant5; SELECT count(*) FROM music_tm.chart_as_of('2026-10-05', 'short_term', 'l05')}),
	'>', 0, 'and its own chart whole');
($rc, $out, $err) = $coord->psql('postgres',
	q{SET ROLE tenant5; SELECT music_tm.record_top_tracks('short_term', '[{"id": "trk1", "name": "Track 1"}]', '2026-10-26', 'l06')});
like($err, qr/row-level security/, 'writing another listener\'s chart is refused');
is( $coord->safe_psql('postgres',
		q{SET ROLE tenant5; SELECT chart FROM music_tm.record_top_tracks('short_term', '[{"id": "trk1", "name": "Track 1"}]', '2026-10-26', 'l05')}),
	'created', 'its own is recorded');
$single->safe_psql('postgres',
	q{SELECT music_tm.record_top_tracks('short_term', '[{"id": "trk1", "name": "Track 1"}]', '2026-10-26', 'l05')});
$coord->safe_psql('postgres', 'SELECT music_tm.disable_listener_isolation()');

# 8 clients through the coordinator: new charts for every listener, pages
# sharing tracks (some new), in random order; no error, and the state a
# serial replay of the same pages gives on the single node.
my @soak;
for my $l (@listeners)
{
	for my $d ('2026-11-02', '2026-11-09')
	{
		for my $r ('short_term', 'medium_term')
		{
			push @soak, map { s/"Track 1"/"Track 1 (live)"/r } chart_pages($l, $d, $r);
		}
	}
}
my @values = map { my $q = $soak[$_] =~ s/'/''/gr; "(" . ($_ + 1) . ", '$q')" } 0 .. $#soak;
$coord->safe_psql('postgres', "CREATE TABLE soak_pages (n int PRIMARY KEY, stmt text);\n"
	. "INSERT INTO soak_pages VALUES " . join(",\n", @values));
my $script_file = $coord->basedir . '/soak.sql';
PostgreSQL::Test::Utils::append_to_file($script_file, q{
\set n random(1, } . scalar(@soak) . q{)
SELECT stmt AS s FROM soak_pages WHERE n = :n \gset
:s
});
my $n_tx = 8 * 40;
$coord->command_checks_all(
	[ 'pgbench', '--no-vacuum', '--client=8', '--jobs=2', "--transactions=40",
	  '-f', $script_file, '-h', $coord->host, '-p', $coord->port, 'postgres' ],
	0,
	[ qr{processed: $n_tx/$n_tx}, qr{number of failed transactions: 0} ],
	[ qr{^$} ],
	'8 clients record overlapping pages through the coordinator without an error');
# every page once more (pgbench drew at random), then the same serially on
# the single node: pages of one chart cover distinct ranks, so order does
# not matter
$coord->safe_psql('postgres', join("\n", @soak));
$single->safe_psql('postgres', join("\n", @soak));
is($coord->safe_psql('postgres', $tables), $single->safe_psql('postgres', $tables),
	'after the concurrent run: charts and tracks equal a serial replay');
is($coord->safe_psql('postgres', $functions), $single->safe_psql('postgres', $functions),
	'and every function answers alike');

# DROP EXTENSION on a distributed install: drop_distributed_tables() first;
# then no table of music_tm is left on any node.
$coord->safe_psql('postgres', 'DROP TABLE soak_pages');
is( $coord->safe_psql('postgres',
		'BEGIN; SELECT music_tm.drop_distributed_tables(); DROP EXTENSION music_tm; COMMIT;'),
	"music_tm.charts\nmusic_tm.plays\nmusic_tm.unmatched_plays\nmusic_tm.tracks",
	'drop_distributed_tables(), then DROP EXTENSION');
for my $node (@citus)
{
	is( $node->safe_psql('postgres',
			q{SET citus.show_shards_for_app_name_prefixes = '*';
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'music_tm'}),
		'0', $node->name . ': no relation of music_tm left');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'music_tm'}),
		'0', $node->name . ': the extension is gone');
}

done_testing();
