"""The local on-disk buffer: SQLite in WAL mode with synchronous=FULL.

Every accepted sample is committed here before its ACK is sent; the writer moves the
rows to PostgreSQL in id order and deletes them after the PostgreSQL commit. A crash
between the two replays rows, which the unique keys make harmless.

Rows are stored as *segments*: one SQLite row per kind and group commit, holding the rows'
COPY text as one blob (MPP: the ``mpp_measurement`` COPY format the writer sends as it is;
temperature/irradiance: the ``_stage_ingest`` format). A 1000-row batch is therefore one
insert here and one string join in the writer, not a thousand of each.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..db import queries
from ..protocol import MPP, Request, Sample, mpp_copy_line
from ..values import copy_number




def _q(name: str) -> str:
    """The buffer's SQLite statements (sql/queries/disk_buffer.sql)."""
    return queries.get("disk_buffer", name)


# COPY columns of each body format
MPP_COPY_COLUMNS = '"timestamp", power, current, voltage, tracking_channel_board, tracking_channel_channel'
STAGE_COPY_COLUMNS = "kind, ts_us, a, b, c, board, channel, sensor, ident, ichan"


@dataclass(slots=True)
class Segment:
    id: int
    kind: str
    rows: int
    t_lo: int | None
    t_hi: int | None
    channels: str | None
    body: str

    def channel_pairs(self) -> set[tuple[int, int]]:
        out = set()
        for pair in (self.channels or "").split():
            b, c = pair.split("/")
            out.add((int(b), int(c)))
        return out


def _txt(v: str | None) -> str:
    if v is None:
        return "\\N"
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def stage_copy_line(s: Sample) -> str:
    """A temperature/irradiance (or MPP) row in the ``_stage_ingest`` COPY format."""
    return (f"{s.kind}\t{s.ts_us}\t{copy_number(s.a)}\t{copy_number(s.b)}\t{copy_number(s.c)}\t"
            f"{copy_number(s.board)}\t{copy_number(s.channel)}\t{_txt(s.sensor)}\t{_txt(s.ident)}\t"
            f"{copy_number(s.ichan)}\n")


class _Builder:
    """Collects one group commit's rows into one segment per kind."""

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {}
        self.rows: dict[str, int] = {}
        self.lo: dict[str, int] = {}
        self.hi: dict[str, int] = {}
        self.channels: set[tuple[int, int]] = set()

    def _range(self, kind: str, lo: int | None, hi: int | None, rows: int) -> None:
        self.rows[kind] = self.rows.get(kind, 0) + rows
        if lo is not None and hi is not None:
            self.lo[kind] = min(self.lo.get(kind, lo), lo)
            self.hi[kind] = max(self.hi.get(kind, hi), hi)

    def add_request(self, r: Request) -> None:
        if not r.accepted:
            return
        kind = r.data_type
        if kind == MPP:
            self.parts.setdefault(MPP, []).append(r.mpp_copy)
            self.channels |= r.channels
        else:
            self.parts.setdefault(kind, []).append("".join(stage_copy_line(s) for s in r.samples))
        self._range(kind, r.t_lo, r.t_hi, r.accepted)

    def add_samples(self, samples: Iterable[Sample]) -> None:
        for s in samples:
            if s.kind == MPP:
                self.parts.setdefault(MPP, []).append(mpp_copy_line(s))
                self.channels.add((s.board, s.channel))  # type: ignore[arg-type]
            else:
                self.parts.setdefault(s.kind, []).append(stage_copy_line(s))
            self._range(s.kind, s.ts_us, s.ts_us, 1)

    def rows_to_insert(self) -> list[tuple]:
        out = []
        for kind, parts in self.parts.items():
            channels = " ".join(f"{b}/{c}" for b, c in sorted(self.channels)) if kind == MPP else None
            out.append((kind, self.rows[kind], self.lo.get(kind), self.hi.get(kind), channels, "".join(parts)))
        return out


class DiskBuffer:
    """Thread-safe: each thread gets its own SQLite connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._conn()
        conn.executescript(_q("schema"))
        self._upgrade(conn)
        # rows waiting, kept up to date by append/delete: the status asks often, and summing a
        # long outage's segments would take a while
        self._count = int(conn.execute(_q("rows_waiting")).fetchone()[0])

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

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        """A buffer file of an earlier version kept one row per sample in ``pending``: convert them."""
        if not conn.execute(_q("has_pending_table")).fetchone():
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            builder = _Builder()
            builder.add_samples(Sample(*row) for row in conn.execute(_q("pending_rows")))
            _insert(conn, builder)
            conn.execute(_q("drop_pending"))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def append_requests(self, requests: Sequence[Request], quarantined: Sequence[tuple[int, str, str, str]] = ()) -> None:
        """Commit the requests' rows and quarantine items (received_us, origin, raw, reason) durably."""
        builder = _Builder()
        for r in requests:
            builder.add_request(r)
        self._commit(builder, quarantined)

    def append(self, samples: Sequence[Sample], quarantined: Sequence[tuple[int, str, str, str]] = (),
               segment_rows: int | None = None) -> None:
        """Commit samples and quarantine items durably (in segments of at most ``segment_rows``
        rows: what group commits of that size would have stored)."""
        step = segment_rows or max(len(samples), 1)
        builders = []
        for k in range(0, len(samples), step):
            builder = _Builder()
            builder.add_samples(samples[k:k + step])
            builders.append(builder)
        self._commit(builders, quarantined)

    def _commit(self, builders: _Builder | list[_Builder], quarantined: Sequence[tuple[int, str, str, str]]) -> None:
        conn = self._conn()
        rows = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for builder in builders if isinstance(builders, list) else [builders]:
                rows += _insert(conn, builder)
            if quarantined:
                conn.executemany(_q("insert_quarantine"), quarantined)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite ends it itself on some errors (a full disk): keep the real error
                conn.execute("ROLLBACK")
            raise
        with self._lock:
            self._count += rows

    def read_segments(self, max_rows: int) -> list[Segment]:
        """The oldest rows, about ``max_rows`` of them (at least one segment), merged per kind.

        One ``Segment`` per kind whose ``id`` is the last segment id included (delete up to it);
        SQLite concatenates the COPY texts, so many small segments (an outage at nominal load
        leaves one per group commit) cost no Python per segment.
        """
        conn = self._conn()
        row = conn.execute(_q("batch_end"), (max_rows, max_rows)).fetchone()
        if row is None or row[0] is None:
            return []
        last = row[1]
        out = []
        for kind, rows, lo, hi, body in conn.execute(_q("batch_by_kind"), (last,)):
            channels = None
            if kind == MPP:
                pairs: set[str] = set()
                for (text,) in conn.execute(_q("batch_channels"), (last,)):
                    pairs.update((text or "").split())
                channels = " ".join(sorted(pairs))
            out.append(Segment(last, kind, rows, lo, hi, channels, body))
        return out

    def read_quarantine(self, limit: int) -> list[tuple]:
        return self._conn().execute(_q("read_quarantine"), (limit,)).fetchall()

    def delete_upto(self, last_id: int, quarantine_last_id: int | None = None) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            gone = conn.execute(_q("rows_upto"), (last_id,)).fetchone()[0]
            conn.execute(_q("delete_segments_upto"), (last_id,))
            if quarantine_last_id is not None:
                conn.execute(_q("delete_quarantine_upto"), (quarantine_last_id,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        with self._lock:
            self._count -= int(gone)

    def count(self) -> int:
        """Rows waiting for the database."""
        return self._count

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass  # closed from another thread already
            self._all.clear()
        self._local = threading.local()


def _insert(conn: sqlite3.Connection, builder: _Builder) -> int:
    """Insert the builder's segments; returns their rows."""
    rows = builder.rows_to_insert()
    if rows:
        conn.executemany(_q("insert_segment"), rows)
    return sum(r[1] for r in rows)

