"""Throughput through a Citus coordinator against a single node.

Four clusters on this machine, all with the same settings: a single node
(no Citus) and a Citus coordinator with two workers, music_tm distributed
by music_tm.distribute().  The same pages (50 tracks, about 4 KB each) are
recorded on both by 1 and by 4 clients at once, every client its own
listeners, in three phases:
  - first ingest: every track new (the reference table written on every
    node, a two-phase commit per page);
  - a new day: the same pages as new charts, every track already stored
    (one single-row INSERT on one worker, one-phase commit);
  - replay: the new day's pages again (reads only).
The ratio is single-node time / coordinator time: the coordinator's pages per
second as a share of the single node's.  It also measures, on the single
node, what the capacity model in the README is computed from: bytes per
chart row and per stored track (heap and indexes), and WAL per page.

Skipped, saying why, when Citus is not installed for this PostgreSQL.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import psycopg2

import ingest


def pg_bin(name):
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return os.path.join(out.stdout.strip(), name)


def citus_missing():
    out = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True, check=True)
    lib = os.path.join(out.stdout.strip(), "citus.so")
    return None if os.path.exists(lib) else f"{lib} is missing"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, base, name, citus):
        self.dir = os.path.join(base, name)
        self.host = base
        self.port = free_port()
        subprocess.run([pg_bin("initdb"), "-D", self.dir, "-A", "trust"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = ''\nunix_socket_directories = '{base}'\n"
                    "max_connections = 100\nmax_prepared_transactions = 100\n"
                    "shared_buffers = 256MB\nfsync = on\n")
            if citus:
                f.write("shared_preload_libraries = 'citus'\n")
        subprocess.run([pg_bin("pg_ctl"), "-D", self.dir, "-l", self.dir + ".log", "-w", "start"],
                       check=True, stdout=subprocess.DEVNULL)

    def connect(self):
        conn = psycopg2.connect(host=self.host, port=self.port, dbname="postgres")
        return conn

    def sql(self, *stmts):
        conn = self.connect()
        conn.autocommit = True
        cur = conn.cursor()
        rows = None
        for s in stmts:
            cur.execute(s)
            rows = cur.fetchall() if cur.description else None
        conn.close()
        return rows

    def stop(self):
        subprocess.run([pg_bin("pg_ctl"), "-D", self.dir, "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def record(node, pages, clients, day_shift=0):
    """Record pages with `clients` connections, client c taking the pages of
    every listener whose number % clients == c; returns the seconds taken."""
    texts = [ingest.json.dumps(p["payload"], ensure_ascii=False) for p in pages]
    listeners = sorted({p["listener"] for p in pages})
    owner = {l: i % clients for i, l in enumerate(listeners)}
    errors = []

    def run(c):
        try:
            conn = node.connect()
            cur = conn.cursor()
            for i, p in enumerate(pages):
                if owner[p["listener"]] != c:
                    continue
                cur.execute("SELECT music_tm.record_top_tracks(%s, %s::jsonb, %s::date + %s, %s)",
                            (p["time_range"], texts[i], p["day"], day_shift, p["listener"]))
                conn.commit()
            conn.close()
        except Exception as e:  # reported below: a benchmark that errs is no benchmark
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return took


def phases(node, pages, clients, repeat):
    """Best times of first ingest, new day and replay."""
    best = {"first": [], "day": [], "replay": []}
    for _ in range(repeat):
        node.sql("TRUNCATE music_tm.tracks, music_tm.charts", "CHECKPOINT")
        best["first"].append(record(node, pages, clients))
        best["day"].append(record(node, pages, clients, day_shift=1))
        best["replay"].append(record(node, pages, clients, day_shift=1))
    return {k: min(v) for k, v in best.items()}


def capacity(single, pages):
    """Bytes per chart row and per track, WAL per page, on the single node."""
    single.sql("TRUNCATE music_tm.tracks, music_tm.charts", "CHECKPOINT")
    lsn0 = single.sql("SELECT pg_current_wal_lsn()")[0][0]
    record(single, pages, 1)
    lsn1 = single.sql("SELECT pg_current_wal_lsn()")[0][0]
    record(single, pages, 1, day_shift=1)
    lsn2 = single.sql("SELECT pg_current_wal_lsn()")[0][0]
    record(single, pages, 1, day_shift=1)
    lsn3 = single.sql("SELECT pg_current_wal_lsn()")[0][0]
    (wal_first, wal_day, wal_replay, chart_bytes, track_bytes, charts, tracks) = single.sql(
        "VACUUM ANALYZE music_tm.charts, music_tm.tracks",
        f"""SELECT pg_wal_lsn_diff('{lsn1}', '{lsn0}') / {len(pages)},
                   pg_wal_lsn_diff('{lsn2}', '{lsn1}') / {len(pages)},
                   pg_wal_lsn_diff('{lsn3}', '{lsn2}') / {len(pages)},
                   pg_total_relation_size('music_tm.charts')::float8 / (SELECT count(*) FROM music_tm.charts),
                   pg_total_relation_size('music_tm.tracks')::float8 / (SELECT count(*) FROM music_tm.tracks),
                   (SELECT count(*) FROM music_tm.charts), (SELECT count(*) FROM music_tm.tracks)""")[0]
    print(f"  capacity figures (single node, {charts} charts of 50 tracks, {tracks} tracks of ~4 KB):")
    print(f"    chart row with its index share: {chart_bytes:,.0f} bytes; stored track: {track_bytes:,.0f} bytes")
    print(f"    WAL per page: first ingest {wal_first:,.0f} bytes, new day (tracks known) {wal_day:,.0f} bytes, "
          f"replay {wal_replay:,.0f} bytes", flush=True)


def run(report, pages_count=240, repeat=3):
    why = citus_missing()
    if why:
        print(f"\nCitus throughput: SKIPPED, Citus is not installed for this PostgreSQL ({why});"
              " see the README, Scaling out with Citus", flush=True)
        return
    base = tempfile.mkdtemp(prefix="mtm_citus_bench_")
    os.chmod(base, 0o700)
    nodes = []
    try:
        single = Node(base, "single", False)
        nodes.append(single)
        coord, w1, w2 = (Node(base, n, True) for n in ("coordinator", "worker1", "worker2"))
        nodes += [coord, w1, w2]
        for n in (coord, w1, w2):
            n.sql("CREATE EXTENSION citus")
        coord.sql(f"SELECT citus_set_coordinator_host('{base}', {coord.port})",
                  f"SELECT citus_add_node('{base}', {w1.port})",
                  f"SELECT citus_add_node('{base}', {w2.port})",
                  "CREATE EXTENSION music_tm", "SELECT * FROM music_tm.distribute()")
        single.sql("CREATE EXTENSION music_tm")
        pages = ingest.make_pages(pages_count)
        listeners = len({p["listener"] for p in pages})
        print(f"\nCitus throughput, {pages_count} pages of 50 new ~4 KB tracks, {listeners} listeners; "
              "coordinator + 2 workers vs a single node, all on this machine:", flush=True)
        targets = {"first": 0.8, "day": 0.8, "replay": 0.9}
        names = {"first": "first ingest (new tracks)", "day": "new day (tracks known)", "replay": "replay"}
        for clients in (1, 4):
            s = phases(single, pages, clients, repeat)
            c = phases(coord, pages, clients, repeat)
            for k in ("first", "day", "replay"):
                report.ratio(f"coordinator vs single node, {clients} client{'s' if clients > 1 else ''}, "
                             f"{names[k]}", c[k], s[k], targets[k])
        capacity(single, pages)
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(base, ignore_errors=True)
