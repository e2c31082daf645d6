"""The connection pool, as the seed app (shared/seeds/000) sets it up: a
psycopg2 ThreadedConnectionPool configured from DATABASE_URL."""
import os
from contextlib import contextmanager

from psycopg2.pool import ThreadedConnectionPool

pool = None


def init_db_pool():
    global pool
    if pool is None:
        pool = ThreadedConnectionPool(
            minconn=2, maxconn=10,
            dsn=os.getenv("DATABASE_URL", "postgresql://localhost/music_time_machine_pg"))


def close_db_pool():
    if pool is not None:
        pool.closeall()


@contextmanager
def connection():
    """Borrow a connection for one unit of work; commit it or roll it back."""
    init_db_pool()
    conn = pool.getconn()
    try:
        yield conn
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        pool.putconn(conn)
