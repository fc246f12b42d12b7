"""The read API's own small connection pool: read-only sessions in UTC, failing fast.

Not psycopg_pool: when the database is down a request must fail at once with the reason
(an HTTP 503), not wait for a pool timeout, and a connection broken by a server restart is
replaced transparently (every API query is a read, so one retry is always safe).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg

from ..db import catalog
from ..db import session as db_session

log = logging.getLogger(__name__)

T = TypeVar("T")


class PoolBusy(Exception):
    """Every connection is in use for longer than the wait limit."""


class ReadOnlyPool:
    def __init__(self, conninfo: str, max_size: int = 8, statement_timeout_s: float = 60.0,
                 wait_s: float = 10.0, connect_timeout_s: int = 5) -> None:
        self.conninfo = conninfo
        self.max_size = max_size
        self.statement_timeout_s = statement_timeout_s
        self.wait_s = wait_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_size)
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        # each request is one transaction (``_request``): BEGIN READ ONLY whatever the role may do,
        # and its settings for that transaction only, so that the pool works behind a
        # transaction-pooling PgBouncer and leaves nothing on the server's sessions (docs/dba.md)
        conn = db_session.connect(self.conninfo, connect_timeout=self.connect_timeout_s, application_name="perocube-api",
                                  autocommit=True)
        conn.read_only = True
        return conn

    @contextmanager
    def _request(self, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
        """One read-only transaction in UTC with the statement timeout (sql/queries/server.sql)."""
        with conn.transaction():
            conn.execute(catalog.q("local_read_api"), (f"{int(self.statement_timeout_s * 1000)}ms",))
            yield conn

    def _take(self) -> tuple[psycopg.Connection, bool]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and not conn.broken:
                    return conn, True
        return self._connect(), False

    def _give_back(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken or self._closed:
            conn.close()
            return
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.rollback()  # a transaction left open by an error: nothing to keep
            except psycopg.Error:
                conn.close()
                return
        with self._lock:
            self._idle.append(conn)

    def _discard_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection for one request (or one stream). Fails fast when the database is down."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise PoolBusy(f"all {self.max_size} database connections are busy")
        try:
            conn, _ = self._take()
            try:
                with self._request(conn):
                    yield conn
            finally:
                self._give_back(conn)
        finally:
            self._slots.release()

    def run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """``fn(conn)``; retried once on a fresh connection when a reused one turns out dead."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise PoolBusy(f"all {self.max_size} database connections are busy")
        try:
            conn, reused = self._take()

            def call(c: psycopg.Connection) -> T:
                with self._request(c):
                    return fn(c)

            try:
                return call(conn)
            except psycopg.OperationalError:
                if not reused or not conn.broken:
                    raise
                log.info("database connection lost; retrying on a new connection")
                self._discard_idle()
                conn.close()
                conn = self._connect()
                return call(conn)
            finally:
                self._give_back(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        self._discard_idle()
