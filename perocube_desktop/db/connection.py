"""Which database to use, and how to connect to it.

Precedence: ``--db URL`` > ``PEROCUBE_DB_URL`` > ``database.url`` in the config > the
embedded server. ``--demo`` never uses the real database: it takes an explicit ``--db URL``
or else an embedded server of its own in ``<data>/demo``. Passwords: libpq's own ``PGPASSWORD`` and ``.pgpass`` work as usual;
``PEROCUBE_DB_PASSWORD`` or the OS keyring (service ``perocube-desktop``, user
``user@host``) are added when the URL has none.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..config import Settings, check_postgresql
from ..errors import first_line
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
    if cli_url:
        url, where = cli_url, "--db"
    elif settings.demo:  # the demo's simulated data never goes to the lab's database
        url, where = None, ""
    elif os.environ.get("PEROCUBE_DB_URL"):
        url, where = os.environ["PEROCUBE_DB_URL"], "PEROCUBE_DB_URL"
    else:
        url, where = settings.database.url, f"{settings.source or 'config'}: database.url"
    if url:
        check_postgresql(url, where)
        return DatabaseTarget(with_password(url))
    server = EmbeddedServer(settings.embedded_dir())
    if start_embedded:
        return DatabaseTarget(server.start(), embedded=server)
    return DatabaseTarget("", embedded=server)


READ_URL_ENV = "PEROCUBE_DB_READ_URL"


def read_conninfo(settings: Settings, fallback: str) -> str:
    """Where the reading parts (viewer mode, read API, reports) read: ``PEROCUBE_DB_READ_URL`` >
    ``database.read_url`` > ``fallback`` (the database everything else uses). The demo never
    reads a lab replica."""
    if settings.demo:
        return fallback
    url: str | None
    if os.environ.get(READ_URL_ENV):
        url, where = os.environ[READ_URL_ENV], READ_URL_ENV
    else:
        url, where = settings.database.read_url, f"{settings.source or 'config'}: database.read_url"
    if not url:
        return fallback
    check_postgresql(url, where)
    return with_password(url)


def open_database(settings: Settings, url: str | None = None, migrate: bool = True) -> DatabaseTarget:
    """The database a command works on (``url`` from ``--db`` or the usual precedence), migrated."""
    from . import migrate as mig

    target = resolve(settings, url)
    if migrate:
        result = mig.migrate(target.conninfo, settings.database.compress_after_days)
        if result.applied:
            log.info("database migrated to version %d", result.version)
    return target


def migrate_when_reachable(conninfo: str, compress_after_days: int, stop: threading.Event,
                           on_ready: Callable[[], None] | None = None, interval_s: float = 5.0) -> threading.Thread:
    """Keep trying to reach and migrate the database in a thread; call ``on_ready`` once it worked.

    For a start without the database (a lab PC that boots before the network): receiving goes on
    into the local buffer meanwhile, and the writer drains it when the database answers.
    """
    from . import migrate

    def run() -> None:
        last = None
        while not stop.is_set():
            try:
                result = migrate.migrate(conninfo, compress_after_days)
            except psycopg.OperationalError as exc:
                text = first_line(exc)
                if text != last:
                    log.warning("database still unreachable, retrying every %.0f s: %s", interval_s, text)
                    last = text
                stop.wait(interval_s)
                continue
            except Exception:  # a schema problem will not cure itself: say so, stop retrying
                log.exception("database reachable but cannot be migrated")
                return
            log.info("database reachable again; schema at version %d", result.version)
            if on_ready is not None:
                on_ready()
            return

    thread = threading.Thread(target=run, name="db-wait", daemon=True)
    thread.start()
    return thread


def connect(conninfo: str, **kwargs) -> psycopg.Connection:
    from .session import connect as session_connect

    return session_connect(conninfo, **kwargs)
