"""Is a database reachable? For the settings dialog's "Test connection" (run in a worker). No Qt."""

from __future__ import annotations

from .. import config
from .connection import connect, with_password


def server_version(url: str, timeout_s: int = 5) -> str:
    """Connects once and returns 'PostgreSQL 16.4' (plus ', TimescaleDB 2.x' when installed).
    Raises ``ConfigError`` for a URL with a password in it, ``psycopg.Error`` when unreachable."""
    config.check_no_password(url, "URL")
    with connect(with_password(url), connect_timeout=timeout_s, application_name="perocube-settings") as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        tsdb = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return f"PostgreSQL {version}" + (f", TimescaleDB {tsdb[0]}" if tsdb else "")
