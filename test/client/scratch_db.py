"""A database of its own for each client test module, with music_tm in it.

Connection settings come from the libpq environment (PGHOST, PGPORT, ...);
PGDATABASE (default postgres) is only used to create and drop the scratch
database.
"""
import os

import psycopg2


def _admin():
    conn = psycopg2.connect(dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    return conn


def create(name):
    """Create the database name afresh and CREATE EXTENSION music_tm in it."""
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    conn = psycopg2.connect(dbname=name)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION music_tm")
    conn.commit()
    conn.close()


def drop(name):
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
    conn.close()
