"""The local on-disk buffer: SQLite in WAL mode with synchronous=FULL.

Every accepted sample is committed here before its ACK is sent; the writer moves
rows to PostgreSQL in id order and deletes them after the PostgreSQL commit.
A crash between the two replays rows, which the unique keys make harmless.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ..protocol import Sample, ts_datetime

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, ts_us INTEGER NOT NULL,
    a REAL, b REAL, c REAL, board INTEGER, channel INTEGER,
    sensor TEXT, ident TEXT, ichan INTEGER,
    copy_line TEXT  -- mpp rows: the COPY line for mpp_measurement, made once at commit time
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_us INTEGER NOT NULL, origin TEXT, raw TEXT NOT NULL, reason TEXT NOT NULL
);
"""

BufferedRow = tuple  # (id, kind, ts_us, a, b, c, board, channel, sensor, ident, ichan, copy_line)

def copy_number(v) -> str:
    return "\\N" if v is None else repr(v)


def mpp_copy_line(s: Sample) -> str:
    """The row as COPY text for mpp_measurement (timestamp, power, current, voltage, board, channel)."""
    ts = ts_datetime(s.ts_us).isoformat()
    return f"{ts}\t{copy_number(s.a)}\t{copy_number(s.b)}\t{copy_number(s.c)}\t{s.board}\t{s.channel}\n"


class DiskBuffer:
    """Thread-safe: each thread gets its own SQLite connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._conn()
        conn.executescript(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(pending)")}
        if "copy_line" not in columns:  # a buffer file written by an earlier version
            conn.execute("ALTER TABLE pending ADD COLUMN copy_line TEXT")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # survives a power cut, not only a crash
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def append(self, samples: list[Sample], quarantined: list[tuple[int, str, str, str]] = ()) -> None:
        """Commit samples and quarantine items (received_us, origin, raw, reason) durably."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if samples:
                conn.executemany(
                    "INSERT INTO pending (kind, ts_us, a, b, c, board, channel, sensor, ident, ichan, copy_line)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(s.kind, s.ts_us, s.a, s.b, s.c, s.board, s.channel, s.sensor, s.ident, s.ichan,
                      mpp_copy_line(s) if s.kind == "mpp" else None) for s in samples],
                )
            if quarantined:
                conn.executemany("INSERT INTO quarantine (received_us, origin, raw, reason) VALUES (?, ?, ?, ?)", quarantined)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def read_batch(self, limit: int) -> list[BufferedRow]:
        return self._conn().execute(
            "SELECT id, kind, ts_us, a, b, c, board, channel, sensor, ident, ichan, copy_line FROM pending"
            " ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()

    def read_quarantine(self, limit: int) -> list[tuple]:
        return self._conn().execute(
            "SELECT id, received_us, origin, raw, reason FROM quarantine ORDER BY id LIMIT ?", (limit,)
        ).fetchall()

    def delete_upto(self, last_id: int, quarantine_last_id: int | None = None) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM pending WHERE id <= ?", (last_id,))
        if quarantine_last_id is not None:
            conn.execute("DELETE FROM quarantine WHERE id <= ?", (quarantine_last_id,))
        conn.execute("COMMIT")

    def count(self) -> int:
        row = self._conn().execute("SELECT coalesce(max(id) - min(id) + 1, 0) FROM pending").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass  # closed from another thread already
            self._all.clear()
        self._local = threading.local()
