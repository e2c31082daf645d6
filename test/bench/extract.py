"""JSONB extraction benchmark: music_tm's accessors and track_fields against
the SQL they replace, on TOASTed track objects, pglz and lz4 side by side.

Every query reads every row of one table and aggregates, so result transfer
does not count; parallel workers and JIT are off so that both sides of a
ratio run the same plan shape.  Each pair of queries is timed alternately,
best of N.  Ratios here are costs: music_tm time / peer time, lower is
better, and the target is an upper bound.
"""
import io
import json
import random

import gen_sample

# (table suffix, compression, stored out of line).  The default layout keeps
# a 4 KB object compressed in the row (about 1.4 KB); with toast_tuple_target
# = 128 the compressed value is moved to the TOAST table, as larger objects
# are, and every detoast also fetches it from there.
LAYOUTS = (("pglz", "pglz", False), ("lz4", "lz4", False),
           ("pglz_ext", "pglz", True), ("lz4_ext", "lz4", True))
TABLES = tuple(name for name, _, _ in LAYOUTS)

# Ten fields a dashboard shows, as operator chains (one detoast each).
CHAIN_FIELDS = [
    "raw_json->>'id'",
    "raw_json->>'name'",
    "raw_json->'artists'->0->>'name'",
    "raw_json->'album'->>'name'",
    "to_date(raw_json->'album'->>'release_date', 'YYYY-MM-DD')",
    "raw_json->'external_ids'->>'isrc'",
    "(raw_json->>'duration_ms')::int",
    "(raw_json->>'popularity')::int",
    "raw_json->'external_urls'->>'spotify'",
    "(raw_json->>'explicit')::boolean",
]
# The same ten from one music_tm.track_fields row f.
ONE_PASS_FIELDS = ["(f).id", "(f).name", "(f).first_artist", "(f).album_name", "(f).release_date",
                   "(f).isrc", "(f).duration_ms", "(f).popularity", "(f).spotify_url", "(f).explicit"]
# The same ten from jsonb_to_record, nested objects with operators.
RECORD_FIELDS = ["r.id", "r.name", "r.artists->0->>'name'", "r.album->>'name'",
                 "to_date(r.album->>'release_date', 'YYYY-MM-DD')", "r.external_ids->>'isrc'",
                 "r.duration_ms", "r.popularity", "r.external_urls->>'spotify'", "r.explicit"]
RECORD_COLUMNS = ("id text, name text, artists jsonb, album jsonb, external_ids jsonb, "
                  "duration_ms int, popularity int, external_urls jsonb, explicit boolean")

# Each typed accessor and the SQL expression it replaces (the shortest one
# that works on this data; several are wrong on real quirks, e.g. to_date
# turns '0000' into 1 BC and raises on '1981-02-30').
ACCESSORS = [
    ("release_date(raw_json)", "to_date(raw_json->'album'->>'release_date', 'YYYY-MM-DD')"),
    ("release_date_precision(raw_json)", "raw_json->'album'->>'release_date_precision'"),
    ("release_year(raw_json)", "substr(raw_json->'album'->>'release_date', 1, 4)::int"),
    ("isrc(raw_json)", "raw_json->'external_ids'->>'isrc'"),
    ("artist_names(raw_json)",
     "ARRAY(SELECT a->>'name' FROM jsonb_array_elements(raw_json->'artists') a)"),
    ("artist_ids(raw_json)",
     "ARRAY(SELECT a->>'id' FROM jsonb_array_elements(raw_json->'artists') a)"),
    ("first_artist(raw_json)", "raw_json->'artists'->0->>'name'"),
    ("album_name(raw_json)", "raw_json->'album'->>'name'"),
    ("album_id(raw_json)", "raw_json->'album'->>'id'"),
    ("album_type(raw_json)", "raw_json->'album'->>'album_type'"),
    ("explicit(raw_json)", "(raw_json->>'explicit')::boolean"),
    ("popularity(raw_json)", "(raw_json->>'popularity')::int"),
    ("duration(raw_json)", "(raw_json->>'duration_ms')::int * interval '1 millisecond'"),
    ("duration_ms(raw_json)", "(raw_json->>'duration_ms')::int"),
    ("track_number(raw_json)", "(raw_json->>'track_number')::int"),
    ("disc_number(raw_json)", "(raw_json->>'disc_number')::int"),
    ("cover_url(raw_json)", "raw_json->'album'->'images'->0->>'url'"),
    ("cover_url(raw_json, 300)", "raw_json->'album'->'images'->1->>'url'"),
    # the same choice in SQL: the widest image (unknown width first), ties to
    # the first listed; the two lines above trust Spotify's order instead
    ("cover_url(raw_json)",
     "(SELECT i->>'url' FROM jsonb_array_elements(raw_json->'album'->'images') WITH ORDINALITY e(i, o) "
     "WHERE jsonb_typeof(i->'url') = 'string' "
     "ORDER BY CASE WHEN jsonb_typeof(i->'width') = 'number' THEN (i->>'width')::numeric END "
     "DESC NULLS FIRST, o LIMIT 1)", "cover_url(raw_json) / the same choice in SQL"),
    ("playable_in(raw_json, 'SE')", "raw_json->'available_markets' ? 'SE'"),
    ("canonical_id(raw_json)", "coalesce(raw_json->'linked_from'->>'id', raw_json->>'id')"),
    ("is_local(raw_json)", "(raw_json->>'is_local')::boolean"),
    ("is_episode(raw_json)",
     "raw_json->>'type' = 'episode' OR raw_json->'artists'->0->>'type' = 'show'"),
    ("uri(raw_json)", "raw_json->>'uri'"),
    ("spotify_url(raw_json)", "raw_json->'external_urls'->>'spotify'"),
    ("preview_url(raw_json)", "raw_json->>'preview_url'"),
]

ONE_PASS_TARGET = 1.2
ACCESSOR_TARGET = 1.1


def make_tracks(n, seed=4):
    """n track objects of about 4 KB from gen_sample.make_track; every 41st is
    relinked (no available_markets), as in the sample."""
    rng = random.Random(seed)
    artists = [gen_sample.make_artist(rng, a) for a in gen_sample.ARTISTS]
    for i in range(n):
        t = gen_sample.make_track(rng, artists, i)
        if i % 41 == 0:
            t = gen_sample.relink(rng, t)
        yield t


def load(cur, rows):
    """Tables of the same rows, raw_json compressed with pglz and lz4, in the
    row and out of line."""
    buf = io.StringIO()
    for t in make_tracks(rows):
        buf.write(json.dumps(t, ensure_ascii=False, separators=(",", ":")) + "\n")
    for name, method, out_of_line in LAYOUTS:
        options = " WITH (toast_tuple_target = 128)" if out_of_line else ""
        cur.execute(f"DROP TABLE IF EXISTS bench_extract_{name}")
        cur.execute(f"CREATE TABLE bench_extract_{name} (n serial, raw_json jsonb COMPRESSION {method}){options}")
        buf.seek(0)
        cur.copy_expert(f"COPY bench_extract_{name} (raw_json) FROM STDIN "
                        "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')", buf)
        cur.execute(f"VACUUM (FREEZE, ANALYZE) bench_extract_{name}")


def describe(cur, name):
    method = dict((n, m) for n, m, _ in LAYOUTS)[name]
    table = f"bench_extract_{name}"
    cur.execute(f"""SELECT count(*), avg(octet_length(raw_json::text))::int,
                           avg(pg_column_size(raw_json))::int,
                           count(*) FILTER (WHERE pg_column_compression(raw_json) = %s),
                           pg_size_pretty(pg_total_relation_size('{table}')),
                           pg_size_pretty(coalesce(pg_total_relation_size(reltoastrelid), 0))
                    FROM {table}, pg_class WHERE pg_class.oid = '{table}'::regclass
                    GROUP BY reltoastrelid""", (method,))
    n, text_len, stored, compressed, total, toast = cur.fetchone()
    print(f"{table}: {n} rows, JSON text {text_len} B/row, stored {stored} B/row "
          f"({compressed} rows {method}-compressed), table {total}, of which TOAST {toast}")


def timed_pair(cur, repeat, ours, peer):
    """Best of repeat for two queries, run alternately."""
    import time
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, sql in enumerate((ours, peer)):
            t0 = time.perf_counter()
            cur.execute(sql)
            cur.fetchall()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def row_of_constants(cur):
    """ROW(raw_json->>'id', <27 constants>)::music_tm.track_fields, the
    constants being one sample object's track_fields values.  Forming this
    row per row read is what any function returning the composite must at
    least do after the detoast: a floor for track_fields."""
    cur.execute("SELECT (music_tm.track_fields(raw_json, 'SE')).* FROM bench_extract_lz4 "
                "WHERE raw_json ? 'available_markets' ORDER BY n LIMIT 1")
    values = cur.fetchone()
    cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'music_tm.track_fields'::regclass AND attnum > 0 ORDER BY attnum")
    types = [r[0] for r in cur.fetchall()]
    consts = [cur.mogrify("%s::" + t, (v,)).decode() for v, t in zip(values[1:], types[1:])]
    return "ROW(raw_json->>'id', " + ", ".join(consts) + ")::music_tm.track_fields"


def bench_extract(cur, report, repeat, rows):
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET jit = off")
    load(cur, rows)
    floor_row = row_of_constants(cur)
    for method in TABLES:
        describe(cur, method)
    nfields = len(CHAIN_FIELDS)
    for method in TABLES:
        table = f"bench_extract_{method}"
        single = f"SELECT count(raw_json->>'id') FROM {table}"
        whole = f"SELECT count(music_tm.track_fields(raw_json)) FROM {table}"
        one_pass = (f"SELECT sum(num_nonnulls({', '.join(ONE_PASS_FIELDS)})) FROM "
                    f"(SELECT music_tm.track_fields(raw_json) AS f FROM {table} OFFSET 0) s")
        lateral = (f"SELECT sum(num_nonnulls({', '.join(ONE_PASS_FIELDS)})) FROM {table} t "
                   f"CROSS JOIN LATERAL music_tm.track_fields(t.raw_json) f")
        chain = f"SELECT sum(num_nonnulls({', '.join(CHAIN_FIELDS)})) FROM {table}"
        record = (f"SELECT sum(num_nonnulls({', '.join(RECORD_FIELDS)})) FROM {table} t, "
                  f"jsonb_to_record(t.raw_json) AS r({RECORD_COLUMNS})")
        print(f"\n{method}: {nfields} fields per row, best of {repeat}:")
        t_whole, t_single = timed_pair(cur, repeat, whole, single)
        report.cost(f"[{method}] track_fields (whole row) / one ->> (one detoast)",
                    t_whole, t_single, ONE_PASS_TARGET)
        t_floor, t_single_f = timed_pair(cur, repeat, f"SELECT count({floor_row}) FROM {table}", single)
        report.cost(f"[{method}] floor: ->> + forming a row of 28 constants / one ->>",
                    t_floor, t_single_f,
                    note=f" (row formation alone: {(t_floor - t_single_f) / rows * 1e6:.2f} us/row; "
                         f"the 1.2x target leaves {0.2 * t_single_f / rows * 1e6:.2f} us/row)")
        t_one, t_single = timed_pair(cur, repeat, one_pass, single)
        report.cost(f"[{method}] track_fields, {nfields} fields read / one ->>", t_one, t_single,
                    note=" (adds the executor's FieldSelect per field read)")
        t_one2, t_chain = timed_pair(cur, repeat, one_pass, chain)
        report.cost(f"[{method}] track_fields / {nfields}-field operator chain", t_one2, t_chain)
        t_one3, t_record = timed_pair(cur, repeat, one_pass, record)
        report.cost(f"[{method}] track_fields / jsonb_to_record + operators", t_one3, t_record)
        t_lat, t_single2 = timed_pair(cur, repeat, lateral, single)
        report.cost(f"[{method}] track_fields in LATERAL / one ->>", t_lat, t_single2,
                    note=" (FROM-clause form: a FunctionScan per row)")
        print(f"  {method}: each typed accessor / the ->> expression it replaces:")
        for entry in ACCESSORS:
            ours_expr, peer_expr = entry[:2]
            label = entry[2] if len(entry) > 2 else ours_expr
            ours = f"SELECT count(music_tm.{ours_expr}) FROM {table}"
            peer = f"SELECT count({peer_expr}) FROM {table}"
            t_ours, t_peer = timed_pair(cur, repeat, ours, peer)
            report.cost(f"[{method}] {label}", t_ours, t_peer, ACCESSOR_TARGET)
