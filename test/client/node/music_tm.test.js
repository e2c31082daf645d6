// music_tm from Node.js with node-postgres (pg), the way its users write:
// $n placeholders, a plain object for jsonb (pg serialises it), date columns
// kept as 'YYYY-MM-DD' strings by a type parser (no time-zone shifts), the
// enum as its label, JS arrays for text[], and err.code / err.detail after a
// rejected payload.  Connection settings come from PGHOST, PGPORT, PGUSER.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';

pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);

const DB = 'music_tm_client_node';
const sampleFile = new URL('../../../data/sample_pages.jsonl.gz', import.meta.url);
const days = gunzipSync(readFileSync(sampleFile)).toString('utf8')
  .split('\n').filter(Boolean).map((l) => JSON.parse(l))
  .filter((r) => r.time_range === 'short_term').slice(0, 2);

// [[rank, trackId]] of a record's page, as music_tm should chart it
const chartedId = (t) => (t.linked_from && t.linked_from.id) || t.id;
const chartOf = (r) => r.page.items
  .map((t, i) => [r.page.offset + i + 1, t])
  .filter(([, t]) => t && t.id && (t.type || 'track') === 'track')
  .map(([k, t]) => [k, chartedId(t)]);

const admin = () => new pg.Client({ database: process.env.PGDATABASE || 'postgres' });
let client;

before(async () => {
  const a = admin();
  await a.connect();
  await a.query(`DROP DATABASE IF EXISTS ${DB}`);
  await a.query(`CREATE DATABASE ${DB}`);
  await a.end();
  client = new pg.Client({ database: DB });
  await client.connect();
  await client.query('CREATE EXTENSION music_tm');
  for (const r of days) {
    await client.query('SELECT * FROM music_tm.record_top_tracks($1, $2, $3)',
      ['short_term', r.page, r.snapshot_date]);
  }
});

after(async () => {
  await client.end();
  const a = admin();
  await a.connect();
  await a.query(`DROP DATABASE IF EXISTS ${DB}`);
  await a.end();
});

test('recording the same page again changes nothing', async () => {
  const r = days[1];
  const { rows: [counts] } = await client.query(
    'SELECT * FROM music_tm.record_top_tracks($1, $2, $3)', ['short_term', r.page, r.snapshot_date]);
  // bigint arrives as a string in pg
  assert.equal(counts.tracks_inserted, '0');
  assert.equal(Number(counts.entries_unchanged), chartOf(r).length);
});

test('chart as of a date', async () => {
  const { rows } = await client.query(
    'SELECT snapshot_date, rank, track_id, status FROM music_tm.chart_as_of($1, $2)',
    [days[1].snapshot_date, 'short_term']);
  assert.deepEqual(rows.map((x) => [x.rank, x.track_id]), chartOf(days[1]));
  assert.deepEqual([...new Set(rows.map((x) => x.snapshot_date))], [days[1].snapshot_date]);
});

test("a track's run", async () => {
  const track = chartOf(days[1])[0][1];
  const { rows } = await client.query(
    'SELECT snapshot_date, rank FROM music_tm.rank_history($1, $2)', [track, 'short_term']);
  const expected = [];
  for (const d of days) {
    const hit = chartOf(d).find(([, t]) => t === track);
    if (hit || expected.length) expected.push([d.snapshot_date, hit ? hit[0] : null]);
  }
  assert.deepEqual(rows.map((x) => [x.snapshot_date, x.rank]), expected);
  const { rows: [stats] } = await client.query(
    'SELECT peak, periods_on_chart, debut FROM music_tm.run_stats($1, $2)', [track, 'short_term']);
  const ranks = expected.map(([, k]) => k).filter((k) => k !== null);
  assert.equal(stats.peak, Math.min(...ranks));
  assert.equal(stats.periods_on_chart, ranks.length);
  assert.equal(stats.debut, expected[0][0]);
});

test('enum and text[] values', async () => {
  const { rows: [e] } = await client.query('SELECT $1::music_tm.time_range AS r', ['long_term']);
  assert.equal(e.r, 'long_term');
  const wanted = chartOf(days[1]).slice(0, 3).map(([, t]) => t);
  const { rows } = await client.query(
    'SELECT track_id FROM music_tm.chart_as_of($1, $2) WHERE track_id = ANY($3) ORDER BY rank',
    [days[1].snapshot_date, 'short_term', wanted]);
  assert.deepEqual(rows.map((x) => x.track_id), wanted);
  const item = days[0].page.items[0];
  const { rows: [n] } = await client.query('SELECT music_tm.artist_names($1) AS names', [item]);
  assert.deepEqual(n.names, item.artists.map((a) => a.name));
});

test('a rejected payload: SQLSTATE and detail, nothing written', async () => {
  const bad = { items: [{ id: 'ok1', name: 'A' }, { id: 'ok2', name: 'B' }, { id: 'bad' }] };
  await assert.rejects(
    client.query('SELECT * FROM music_tm.record_top_tracks($1, $2, $3)', ['medium_term', bad, '2026-02-01']),
    (err) => {
      assert.equal(err.code, '22023');
      assert.equal(err.detail, 'Field "name" of items[2] is missing.');
      return true;
    });
  const { rows: [c] } = await client.query(
    'SELECT count(*)::int AS n FROM music_tm.chart_as_of($1, $2)', ['2026-02-01', 'medium_term']);
  assert.equal(c.n, 0);
});
