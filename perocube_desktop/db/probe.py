"""Is a database reachable? For the settings dialog's "Test connection" (run in a worker). No Qt."""

from __future__ import annotations

from .. import config
from . import catalog
from .connection import connect, with_password


def server_version(url: str, timeout_s: int = 5) -> str:
    """Connects once and returns 'PostgreSQL 16.4' (plus ', TimescaleDB 2.x' when installed).
    Raises ``ConfigError`` for a URL with a password in it, ``psycopg.Error`` when unreachable."""
    config.check_no_password(url, "URL")
    with connect(with_password(url), connect_timeout=timeout_s, application_name="perocube-settings") as conn:
        version = catalog.server_version(conn)
        tsdb = catalog.timescaledb_version(conn)
    return f"PostgreSQL {version}" + (f", TimescaleDB {tsdb}" if tsdb else "")
