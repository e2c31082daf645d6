# Mutation fuzzing of every public function: test/fuzz/fuzz.py sends 10,000
# mutants of Spotify-shaped pages and track objects (100,000 with
# MUSIC_TM_LONG_TESTS=1) through one connection, with a fixed seed, and
# reports what happened.  Every call must succeed or fail with a documented
# SQLSTATE (never XX000 or anything unlisted), the accessors must never fail
# on a track jsonb accepted, a failing write must leave the tables unchanged
# and a successful record_top_tracks must have stored its whole page.  Then
# the server must be the same server: no backend died (the log), the
# postmaster did not restart, the connection was never lost.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $mutants = $ENV{MUSIC_TM_LONG_TESTS} ? 100_000 : 10_000;

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf', "log_statement = none\nlog_min_messages = warning");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION music_tm;');
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[ '/usr/bin/python3', 'test/fuzz/fuzz.py', '--dsn', $node->connstr('postgres'),
	  '--mutants', $mutants, '--seed', 5005 ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'fuzz.py ran to the end') or diag $stderr;
my $report = eval { JSON::PP->new->utf8(0)->decode($stdout) } // {};

ok(!$report->{aborted}, 'the connection was never lost');
cmp_ok($report->{mutants} // 0, '>=', $mutants, "$mutants mutants were sent");
is(scalar @{ $report->{violations} // ['no report'] }, 0, 'no call failed in an undocumented way, no partial write')
  or diag explain $report->{violations};

my %calls = %{ $report->{calls} // {} };
for my $fn (
	qw(record_top_tracks save_track save_snapshot_row track_detail accessors),
	'accessors with arguments',
	qw(chart_as_of rank_history run_stats all_run_stats chart_diff chart_churn
	  artist_history artist_run_stats sparkline run_svg))
{
	cmp_ok($calls{$fn} // 0, '>', 0, "$fn was called");
}
my %out = %{ $report->{outcomes} // {} };
for my $o ('ok', '22004', '22023', '23503', '54000', '22P02 input', '22P05 input', '54001 input')
{
	cmp_ok($out{$o} // 0, '>', 0, "some calls ended: $o");
}

# the checks can fail: with 22023 taken off the documented list, a short run
# must report violations
IPC::Run::run(
	[ '/usr/bin/python3', 'test/fuzz/fuzz.py', '--dsn', $node->connstr('postgres'),
	  '--mutants', 200, '--seed', 5006, '--forbid', '22023' ],
	'>', \$stdout, '2>', \$stderr);
my $canary = eval { JSON::PP->new->utf8(0)->decode($stdout) } // {};
cmp_ok($canary->{outcomes}{'violation: SQLSTATE 22023'} // 0, '>', 0,
	'with 22023 undocumented, the fuzzer reports its calls as violations');

is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$started, 'the server is still up and never restarted');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|exited with exit code [1-9]|PANIC|TRAP:/,
	'no backend died');

diag sprintf "fuzz: %d mutants, %d calls in %.0f s; outcomes: %s",
  $report->{mutants} // 0, eval { my $n = 0; $n += $_ for values %calls; $n }, $report->{seconds} // 0,
  join(', ', map { "$_ $out{$_}" } sort keys %out);
note "mutations: " . join(', ', map { "$_ $report->{by_mutation}{$_}" } sort keys %{ $report->{by_mutation} // {} });

$node->stop;
done_testing();
