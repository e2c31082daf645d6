"""Databases a benchmark makes for itself (and drops): a fresh, never
analyzed database with one extension, on the server libpq's environment
names."""
import psycopg2


def create(name, extension):
    """Drop and create database name with the extension; an autocommit connection to it."""
    admin = psycopg2.connect("")
    admin.autocommit = True
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    admin.cursor().execute(f"CREATE DATABASE {name}")
    admin.close()
    conn = psycopg2.connect(dbname=name)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE EXTENSION {extension}")
    return conn


def drop(conns):
    """Close the connections (name -> connection) and drop their databases."""
    for conn in conns.values():
        conn.close()
    admin = psycopg2.connect("")
    admin.autocommit = True
    for name in conns:
        admin.cursor().execute(f"DROP DATABASE {name}")
    admin.close()
