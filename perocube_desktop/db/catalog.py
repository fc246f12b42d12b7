"""What the server is and has (version, TimescaleDB, tables, functions) and the session settings
the app's connections use. One home for these catalogue queries (``sql/queries/server.sql``);
every other module asks here."""

from __future__ import annotations

import psycopg

from . import queries


def q(name: str) -> str:
    return queries.get("server", name)


def _one(conn: psycopg.Connection, name: str, params: tuple | None = None):
    """The first column of the query's row, None when there is no row (an absent extension)."""
    row = conn.execute(q(name), params).fetchone()
    return row[0] if row else None


def server_version(conn: psycopg.Connection) -> str:
    """'16.4' (the server's own spelling)."""
    return str(_one(conn, "server_version"))


def server_major(conn: psycopg.Connection) -> int:
    return conn.info.server_version // 10000


def database_exists(conn: psycopg.Connection, name: str) -> bool:
    return bool(_one(conn, "database_exists", (name,)))


def timescaledb_available(conn: psycopg.Connection) -> bool:
    """The server has the TimescaleDB package (it may still be neither preloaded nor created)."""
    return bool(_one(conn, "timescaledb_available"))


def timescaledb_active(conn: psycopg.Connection) -> bool:
    """The extension exists in this database."""
    return bool(_one(conn, "timescaledb_active"))


def timescaledb_version(conn: psycopg.Connection) -> str | None:
    return _one(conn, "timescaledb_version")


def has_table(conn: psycopg.Connection, name: str) -> bool:
    return bool(_one(conn, "has_table", (name,)))


def has_function(conn: psycopg.Connection, name: str) -> bool:
    return bool(_one(conn, "has_function", (name,)))


def preload_setting(conn: psycopg.Connection) -> str:
    """shared_preload_libraries; raises InsufficientPrivilege for a role that may not read it."""
    return str(_one(conn, "preload_setting") or "")


def timescaledb_launcher_running(conn: psycopg.Connection) -> bool:
    return bool(_one(conn, "timescaledb_launcher_running"))


def set_local_timezone(conn: psycopg.Connection, timezone: str) -> None:
    """The time zone for the current transaction only (pooler-safe; see db/session.py)."""
    conn.execute(q("local_timezone"), (timezone,))
