# The caps of record_top_tracks at the cap and one past it, deep nesting, and
# cancelling the largest payload the caps allow.
#
#  - bytes: a payload of exactly 16 MB (16,777,216 bytes of jsonb) is
#    recorded, one byte more fails with 54000, whether the value comes as a
#    plain datum or compressed from a table (the cap counts raw bytes);
#  - nesting: music_tm has no nesting cap of its own.  None of its code
#    recurses into a JSON value: it reads fixed paths, hashes and copies the
#    binary form.  The only bound is jsonb input itself (check_stack_depth:
#    54001).  The test finds the deepest payload jsonb input accepts, records
#    it, reads it back through every accessor, and shows that one level more
#    fails cleanly in jsonb input, before music_tm is called;
#  - cancel: pg_cancel_backend and statement_timeout against
#    record_top_tracks on 1000 items of about 16 KB (just under 16 MB): the
#    client sees 57014 within 100 ms of the cancel, and nothing is written.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init;
$node->append_conf('postgresql.conf', "log_statement = none\nfsync = on");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION music_tm;');

# ---------------------------------------------------------------- bytes cap
my $cap = 16 * 1024 * 1024;
my $pad_sql = sub {
	my $k = shift;
	return "jsonb_build_object('items', jsonb_build_array(jsonb_build_object('id', 'cap', 'name', 'Cap')),"
	  . " 'zz_padding', repeat('x', $k))";
};
# the binary size grows by one byte per pad character (the pad is the last
# value: keys sort by length, so no aligned container follows it)
my ($s0, $s1) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT pg_column_size(" . $pad_sql->(1000) . ") - 4 || '|' || pg_column_size(" . $pad_sql->(1001) . ") - 4");
is($s1 - $s0, 1, 'one more pad character is one more payload byte');
my $k = $cap - ($s0 - 1000);
is( $node->safe_psql('postgres', "SELECT pg_column_size(" . $pad_sql->($k) . ") - 4"),
	$cap, 'the cap payload has exactly 16,777,216 bytes');

is( $node->safe_psql(
		'postgres',
		"SELECT entries_inserted FROM music_tm.record_top_tracks('short_term', "
		  . $pad_sql->($k) . ", '2026-01-01', 'cap')"),
	'1',
	'a payload of exactly 16 MB is recorded');
my ($rc, $out, $err) = $node->psql(
	'postgres',
	"\\set VERBOSITY verbose\nSELECT music_tm.record_top_tracks('short_term', "
	  . $pad_sql->($k + 1) . ", '2026-01-02', 'cap')");
like($err, qr/ERROR:  54000: payload is too large/, 'one byte more fails with 54000');
like($err, qr/The payload has 16777217 bytes; the limit is 16777216/, 'and says by how much');

# the same two payloads stored compressed: the cap counts raw bytes
$node->safe_psql(
	'postgres', qq{
CREATE TABLE capped (n int, payload jsonb);
INSERT INTO capped VALUES (0, @{[$pad_sql->($k)]}), (1, @{[$pad_sql->($k + 1)]});
});
cmp_ok($node->safe_psql('postgres', 'SELECT max(pg_column_size(payload)) FROM capped'),
	'<', 1024 * 1024, 'the stored payloads are compressed');
is( $node->safe_psql(
		'postgres',
		"SELECT entries_unchanged FROM capped, music_tm.record_top_tracks('short_term', payload, '2026-01-01', 'cap') WHERE n = 0"
	),
	'1',
	'the compressed cap payload is recorded');
($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT music_tm.record_top_tracks('short_term', payload, '2026-01-02', 'cap') FROM capped WHERE n = 1"
);
like($err, qr/ERROR:  54000: payload is too large/,
	'the compressed payload one byte past the cap fails with 54000');
is($node->safe_psql('postgres', "SELECT count(*) FROM music_tm.charts WHERE listener = 'cap'"),
	'1', 'and records nothing');

# ---------------------------------------------------------------- nesting
# payload {"items": [{"id": ..., "name": ..., "nested": [[...[]...]]}]}:
# nesting depth 3 + $d
$node->safe_psql('postgres', 'CREATE TABLE deep (d int, payload jsonb)');
my $deep_insert = sub {
	my $d = shift;
	return $node->psql('postgres',
		"\\set VERBOSITY verbose\nINSERT INTO deep SELECT $d, ('{\"items\": [{\"id\": \"deep\", \"name\": \"Deep\", \"nested\": '"
		  . " || repeat('[', $d) || repeat(']', $d) || '}]}')::jsonb");
};
my ($lo, $hi) = (1, 2_000_000);    # accepted, rejected
($rc, $out, $err) = $deep_insert->($hi);
like($err, qr/54001: stack depth limit exceeded/,
	'jsonb input refuses absurd nesting with 54001');
while ($hi - $lo > 1)
{
	my $mid = int(($lo + $hi) / 2);
	($rc) = $deep_insert->($mid);
	if   ($rc == 0) { $lo = $mid }
	else            { $hi = $mid }
}
note "deepest payload jsonb input accepts: " . ($lo + 3) . " levels";
cmp_ok($lo, '>', 1000, 'jsonb input accepts more than 1000 levels');
($rc, $out, $err) = $deep_insert->($lo + 1);
like($err, qr/54001: stack depth limit exceeded/,
	'one level more fails in jsonb input with 54001, before music_tm is called');
$node->safe_psql('postgres', "DELETE FROM deep WHERE d <> $lo");
is( $node->safe_psql(
		'postgres',
		"SELECT tracks_inserted || ',' || entries_inserted FROM deep, music_tm.record_top_tracks('short_term', payload, '2026-01-01', 'deep')"
	),
	'1,1',
	'the deepest payload is recorded');
is( $node->safe_psql(
		'postgres', q{
SELECT t.raw_json = d.payload->'items'->0 AND t.content_hash = music_tm.track_hash(d.payload->'items'->0)
       AND length(t.raw_json::text) = length((d.payload->'items'->0)::text)
FROM music_tm.tracks t, deep d WHERE t.track_id = 'deep'}),
	't',
	'it is stored unchanged and reads back as text');
is( $node->safe_psql(
		'postgres', q{
SELECT music_tm.save_track(payload->'items'->0) || ',' || (music_tm.track_detail('deep')).name
       || ',' || num_nulls(music_tm.isrc(j), music_tm.release_date(j), music_tm.release_year(j),
                           music_tm.artist_names(j), music_tm.cover_url(j), music_tm.playable_in(j, 'SE'))
       || ',' || music_tm.canonical_id(j) || ',' || (music_tm.track_fields(j, 'SE')).name
FROM deep, LATERAL (SELECT payload->'items'->0 AS j) s}),
	'unchanged,Deep,6,deep,Deep',
	'save_track, track_detail, the accessors and track_fields read it');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');

# ---------------------------------------------------------------- cancel
# 1000 distinct tracks of ~16.7 KB: a Spotify-shaped object (180 markets)
# plus an incompressible "lyrics" string, just under 16 MB in all.
$node->safe_psql(
	'postgres', q{
CREATE TABLE big (payload jsonb);
INSERT INTO big
SELECT jsonb_build_object('href', 'https://api.spotify.com/v1/me/top/tracks?offset=0&limit=1000',
         'offset', 0, 'limit', 1000, 'total', 1000, 'next', null, 'previous', null,
         'items', jsonb_agg(item ORDER BY i))
FROM (SELECT i, jsonb_build_object(
        'id', 'big' || lpad(i::text, 19, '0'), 'name', 'Sång nummer ' || i, 'type', 'track',
        'duration_ms', 180000 + i, 'explicit', false, 'popularity', i % 101,
        'artists', jsonb_build_array(jsonb_build_object('id', 'art' || i % 37, 'name', 'Ärtist ' || i % 37)),
        'album', jsonb_build_object('name', 'Album ' || i % 90, 'release_date', '2019-05-17',
                                    'release_date_precision', 'day'),
        'available_markets', (SELECT jsonb_agg(chr(65 + m / 26) || chr(65 + m % 26)) FROM generate_series(0, 179) m),
        'external_ids', jsonb_build_object('isrc', 'SEAAA' || lpad(i::text, 7, '0')),
        'lyrics', (SELECT string_agg(md5(i || '.' || j), ' ') FROM generate_series(1, 448) j)) AS item
      FROM generate_series(1, 1000) i) s;
});
my ($bytes, $items) = split /\|/, $node->safe_psql('postgres',
	"SELECT pg_column_size(payload::text::jsonb) - 4 || '|' || jsonb_array_length(payload->'items') FROM big");
note "cancel payload: $items items, $bytes bytes";
is($items, 1000, 'the cancel payload has 1000 items');
ok($bytes <= $cap && $bytes > $cap - 512 * 1024, "it is just under 16 MB ($bytes bytes)");

my $ses = $node->background_psql('postgres', on_error_stop => 0);
my $ctl = $node->background_psql('postgres');
my $pid = $ses->query_safe('SELECT pg_backend_pid()');
$ses->query_safe('\set VERBOSITY verbose');

my $call = "SELECT r.entries_inserted FROM big, music_tm.record_top_tracks('short_term', big.payload, '2026-02-01', 'big') r";

# how long a full call takes (rolled back, so that every trial is a first ingest)
my @full;
for (1 .. 3)
{
	my $t0 = time;
	my $o = $ses->query_safe("BEGIN; $call; ROLLBACK;");
	push @full, time - $t0;
	is($o, '1000', 'a full call records 1000 entries') if $_ == 1;
}
my ($full) = sort { $a <=> $b } @full;
note sprintf "full call, rolled back: %.0f ms (best of 3)", 1000 * $full;

# pump a session until its stderr shows a cancel error: (when, why)
sub wait_cancel_error
{
	my ($sess) = @_;
	my $deadline = time + 60;
	my $re = qr/ERROR:  57014: canceling statement due to (user request|statement timeout)/;
	until ($sess->{stderr} =~ $re)
	{
		die "no cancel error: $sess->{stderr}" if time > $deadline;
		$sess->{run}->pump_nb;
		usleep(200);
	}
	my $t = time;
	$sess->{stderr} =~ $re;
	return ($t, $1);
}

srand(6006);
my @latency;
my $late = 0;
for my $trial (1 .. 12)
{
	my $frac = 0.05 + rand(0.6);
	my $use_timeout = $trial % 2 == 0;
	my ($t_cancel, $t_err, $why);
	$ses->{stderr} = '';
	if ($use_timeout)
	{
		my $ms = int(1000 * $full * $frac) + 1;
		$ses->query_safe("SET statement_timeout = $ms");
		$t_cancel = time + $ms / 1000;    # the server starts later than this: an upper bound
		$ses->{stdin} .= "$call;\n";
		$ses->{run}->pump_nb;
		($t_err, $why) = wait_cancel_error($ses);
		$ses->{stderr} = '';
		$ses->query_safe('RESET statement_timeout');
		is($why, 'statement timeout', "trial $trial: statement_timeout after $ms ms cancels the call");
	}
	else
	{
		$ses->{stdin} .= "$call;\n";
		$ses->{run}->pump_nb;
		usleep(int(1e6 * $full * $frac));
		$t_cancel = time;
		is($ctl->query_safe("SELECT pg_cancel_backend($pid)"), 't',
			"trial $trial: pg_cancel_backend after " . int(1000 * $full * $frac) . " ms");
		($t_err, $why) = wait_cancel_error($ses);
		$ses->{stderr} = '';
	}
	my $ms = 1000 * ($t_err - $t_cancel);
	push @latency, $ms;
	note sprintf "trial %d (%s at %.0f%%): error %.1f ms after the cancel", $trial,
	  $use_timeout ? 'statement_timeout' : 'pg_cancel_backend', 100 * $frac, $ms;
	is($ses->query_safe("SELECT count(*) FROM music_tm.tracks WHERE track_id LIKE 'big%'"),
		'0', "trial $trial: nothing of the page is written");
}
my @sorted = sort { $a <=> $b } @latency;
diag sprintf "cancel latency of record_top_tracks on %d items / %d bytes: median %.1f ms, max %.1f ms (%d trials)",
  $items, $bytes, $sorted[ $#sorted / 2 ], $sorted[-1], scalar @sorted;
cmp_ok($sorted[-1], '<', 100, 'every cancel is seen by the client within 100 ms');

is($ses->query_safe("$call"), '1000', 'after the cancels the page is recorded');
$ses->quit;
$ctl->quit;
$node->stop;
done_testing();
