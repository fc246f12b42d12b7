"""Which database to use, and how to connect to it.

Precedence: ``--db URL`` > ``PEROCUBE_DB_URL`` > ``database.url`` in the config > the
embedded server. Passwords: libpq's own ``PGPASSWORD`` and ``.pgpass`` work as usual;
``PEROCUBE_DB_PASSWORD`` or the OS keyring (service ``perocube-desktop``, user
``user@host``) are added when the URL has none.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..config import Settings
from .embedded import EmbeddedServer

log = logging.getLogger(__name__)

KEYRING_SERVICE = "perocube-desktop"


@dataclass
class DatabaseTarget:
    conninfo: str
    embedded: EmbeddedServer | None = None

    @property
    def description(self) -> str:
        parts = conninfo_to_dict(self.conninfo)
        if self.embedded is not None:
            return f"embedded PostgreSQL ({self.embedded.pgdata})"
        host = parts.get("host", "localhost")
        return f"{parts.get('user', '')}@{host}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def keyring_user(conninfo: str) -> str:
    parts = conninfo_to_dict(conninfo)
    return f"{parts.get('user', '')}@{parts.get('host', 'localhost')}"


def with_password(conninfo: str) -> str:
    parts = conninfo_to_dict(conninfo)
    if parts.get("password") or os.environ.get("PGPASSWORD"):
        return conninfo
    password = os.environ.get("PEROCUBE_DB_PASSWORD")
    if not password:
        try:
            import keyring

            password = keyring.get_password(KEYRING_SERVICE, keyring_user(conninfo))
        except Exception as exc:  # keyring backends raise many kinds; no keyring is fine
            log.debug("no OS keyring available: %s", exc)
    return make_conninfo(conninfo, password=password) if password else conninfo


def resolve(settings: Settings, cli_url: str | None = None, start_embedded: bool = True) -> DatabaseTarget:
    url = cli_url or os.environ.get("PEROCUBE_DB_URL") or settings.database.url
    if url:
        return DatabaseTarget(with_password(url))
    server = EmbeddedServer(settings.embedded_dir())
    if start_embedded:
        return DatabaseTarget(server.start(), embedded=server)
    return DatabaseTarget("", embedded=server)


def open_database(settings: Settings, url: str | None = None, migrate: bool = True) -> DatabaseTarget:
    """The database a command works on (``url`` from ``--db`` or the usual precedence), migrated."""
    from . import migrate as mig

    target = resolve(settings, url)
    if migrate:
        result = mig.migrate(target.conninfo, settings.database.compress_after_days)
        if result.applied:
            log.info("database migrated to version %d", result.version)
    return target


def connect(conninfo: str, **kwargs) -> psycopg.Connection:
    kwargs.setdefault("connect_timeout", 5)
    kwargs.setdefault("application_name", "perocube-desktop")
    return psycopg.connect(conninfo, **kwargs)
