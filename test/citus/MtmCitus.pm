# What the Citus tests share: starting a coordinator with two workers, the
# pages they record, and the queries that compare a distributed install with
# a single node.
package MtmCitus;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use Exporter 'import';
our @EXPORT = qw(skip_without_citus start_citus chart_pages answers_sql $TABLES_SQL);

# Skip the whole test, saying why, when citus.so is not installed.
sub skip_without_citus
{
	my $pg_config = $ENV{PG_CONFIG} || 'pg_config';
	my $libdir = `$pg_config --pkglibdir`;
	chomp $libdir;
	plan skip_all =>
	  "Citus is not installed for this PostgreSQL ($libdir/citus.so is missing); "
	  . "see the README, Scaling out with Citus"
	  unless -f "$libdir/citus.so";
}

# A coordinator and two workers named PREFIX_coordinator, ..., with citus
# in the database postgres and the workers added; returns the nodes.  Few
# shards (a test, not a benchmark), two-phase commit possible.
sub start_citus
{
	my ($prefix) = @_;
	my %conf = (
		shared_preload_libraries => "'citus'",
		max_prepared_transactions => 100,
		max_connections => 100,
		'citus.shard_count' => 8);
	my @nodes;
	for my $name (qw(coordinator worker1 worker2))
	{
		my $node = PostgreSQL::Test::Cluster->new("${prefix}_$name");
		$node->init;
		$node->append_conf('postgresql.conf',
			join("\n", map { "$_ = $conf{$_}" } sort keys %conf));
		$node->start;
		push @nodes, $node;
	}
	add_workers('postgres', @nodes);
	return @nodes;
}

# In database DB of every node: CREATE EXTENSION citus, then the workers
# added on the coordinator.
sub add_workers
{
	my ($db, $coord, @workers) = @_;
	$_->safe_psql($db, 'CREATE EXTENSION citus') for ($coord, @workers);
	$coord->safe_psql($db,
		"SELECT citus_set_coordinator_host('" . $coord->host . "', " . $coord->port . ")");
	$coord->safe_psql($db, "SELECT citus_add_node('" . $_->host . "', " . $_->port . ")")
	  for @workers;
}

# Track t of a pool shared by every listener: every 7th relinked.
sub track_json
{
	my ($t) = @_;
	my $id = $t % 7 == 0 ? "play$t" : "trk$t";
	my $linked = $t % 7 == 0 ? qq(, "linked_from": {"id": "trk$t"}) : '';
	my $ar = $t % 4;
	return qq({"id": "$id", "name": "Track $t", "duration_ms": ${\ (180000 + $t)}, )
	  . qq("artists": [{"id": "ar$ar", "name": "Artist $ar"}], )
	  . qq("album": {"name": "Album ${\ ($t % 3)}", "release_date": "${\ (1990 + $t)}"}, )
	  . qq("external_ids": {"isrc": "QZ${\ sprintf('%010d', $t)}"}$linked});
}

# The two pages of one chart as record_top_tracks calls: ten distinct tracks
# of 30, ranks 1-5 and 6-10 (a track on both pages would move from one rank
# to the other at each replay), a null item and a local file now and then.
sub chart_pages
{
	my ($listener, $date, $range) = @_;
	my (%seen, @items);
	while (@items < 10)
	{
		my $t = 1 + int(rand(30));
		next if $seen{$t}++;
		push @items, track_json($t);
	}
	$items[2] = 'null' if rand() < 0.1;
	$items[9] = qq({"id": null, "is_local": true, "name": "Tape"}) if rand() < 0.1;
	return map {
		my $page = qq({"offset": $_, "items": [@{[join(', ', @items[$_ .. $_ + 4])]}]});
		"SELECT chart FROM music_tm.record_top_tracks('$range', '$page', '$date', '$listener');"
	} (0, 5);
}

# Every reading function's answers for LISTENERS (array ref) on the tracks
# IDS (a list of quoted literals), short and long term, 7 Sept - 12 Oct
# 2026.  Nothing in FROM but arrays and series: each call runs its own
# statements, which is how a distributed install must be queried.
sub answers_sql
{
	my ($ids, $listeners) = @_;
	my $ls = join(',', map { "'$_'" } @$listeners);
	return qq{
SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
  SELECT 'as_of ' || l || ' ' || r || ' ' || d || ' ' || c::text AS x
  FROM unnest(ARRAY[$ls]) l, unnest(ARRAY['short_term', 'long_term']::music_tm.time_range[]) r,
       generate_series(date '2026-09-07', date '2026-10-12', interval '7 days') d,
       LATERAL music_tm.chart_as_of(d::date, r, l) c
  UNION ALL
  SELECT 'diff ' || l || ' ' || r || ' ' || c::text
  FROM unnest(ARRAY[$ls]) l, unnest(ARRAY['short_term', 'long_term']::music_tm.time_range[]) r,
       LATERAL music_tm.chart_diff('2026-09-07', '2026-10-05', r, l) c
  UNION ALL
  SELECT 'churn ' || l || ' ' || r || ' ' || c::text
  FROM unnest(ARRAY[$ls]) l, unnest(ARRAY['short_term', 'long_term']::music_tm.time_range[]) r,
       LATERAL music_tm.chart_churn('2026-09-07', '2026-10-05', r, l) c
  UNION ALL
  SELECT 'all_stats ' || l || ' ' || r || ' ' || s::text
  FROM unnest(ARRAY[$ls]) l, unnest(ARRAY['short_term', 'long_term']::music_tm.time_range[]) r,
       LATERAL music_tm.all_run_stats(r, l) s
  UNION ALL
  SELECT 'track ' || l || ' ' || t || ' ' || concat_ws(' ', h::text, s::text,
         music_tm.sparkline(t, 'short_term', l), md5(music_tm.run_svg(t, 'short_term', l)))
  FROM unnest(ARRAY[$ls]) l, unnest(ARRAY[$ids]) t,
       LATERAL (SELECT string_agg(h::text, ';') AS h FROM music_tm.rank_history(t, 'short_term', l) h) h,
       LATERAL (SELECT string_agg(s::text, ';') AS s FROM music_tm.run_stats(t, 'short_term', l) s) s
  UNION ALL
  SELECT 'artist ' || l || ' ' || a || ' ' || concat_ws(' ', h::text, s::text)
  FROM unnest(ARRAY[$ls]) l, unnest(ARRAY['ar0', 'ar1', 'ar2', 'ar3']) a,
       LATERAL (SELECT string_agg(h::text, ';') AS h FROM music_tm.artist_history(a, 'long_term', l) h) h,
       LATERAL (SELECT string_agg(s::text, ';') AS s
                FROM music_tm.artist_run_stats('Artist ' || right(a, 1), 'long_term', l) s) s
  UNION ALL
  SELECT 'detail ' || d::text FROM unnest(ARRAY[$ids]) t, LATERAL music_tm.track_detail(t) d) q};
}

# The stored data, timestamps aside, and what check_charts() finds.
our $TABLES_SQL = q{
SELECT (SELECT string_agg(concat_ws(' ', listener, time_range, snapshot_date, rank, track_id, playable_id), E'\n'
                          ORDER BY listener, time_range, snapshot_date, rank)
        FROM music_tm.chart_entries) || E'\n' ||
       (SELECT string_agg(concat_ws(' ', track_id, name, content_hash, isrc, release_year), E'\n' ORDER BY track_id)
        FROM music_tm.tracks) || E'\n' ||
       (SELECT count(*) FROM music_tm.check_charts())};

1;
