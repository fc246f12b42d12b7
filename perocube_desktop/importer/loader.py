"""Loading clean chunks into the measurement tables (COPY, de-duplication, refused values) and the
plain-PostgreSQL rollup refresher that runs beside it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import psycopg
from psycopg import sql

from ..db import bulk, catalog, queries
from ..db.queries import scalar
from ..db.tables import KINDS as SERIES_KINDS
from . import lines as lines_mod
from ..errors import first_line
from .scan import LabFile
from ..db import session as db_session

log = logging.getLogger(__name__)

TABLES = {k: v.table for k, v in SERIES_KINDS.items()}
TABLE_COLUMNS = {k: v.columns for k, v in SERIES_KINDS.items()}


def row_suffix(f: LabFile, sensor_id: str | None) -> bytes:
    if f.kind == "mpp":
        return f"\t{f.board}\t{f.channel}".encode()
    return f"\t{sensor_id}".encode()


class _OutsideRange(Exception):
    """A chunk's COPY inserted fewer rows than it holds: some lie outside its first..last range."""


class Loader:
    """Holds one connection and loads clean chunks into one measurement table."""

    def __init__(self, conn: psycopg.Connection, timezone: str) -> None:
        self.conn = conn
        self.timezone = timezone
        self.skip_fk_triggers = bulk.may_skip_fk_triggers(conn, timescaledb=True)
        self.on_committed: Callable[[], None] | None = None  # after each committed chunk
        self.last_hi: datetime | None = None  # the last chunk's later end (first or last line)

    def fast_session(self, f: LabFile | None = None, sensor_id: str | None = None) -> None:
        """Per chunk transaction, in one round trip (``local_import_chunk``): the source time zone
        (naive timestamps), for this transaction only (behind a transaction-pooling PgBouncer the
        next chunk may run on another server session, docs/dba.md); do not wait for the WAL flush
        at commit (a chunk lost in a crash is lost together with its ``imported_file`` progress,
        same transaction, so the next run simply loads it again); skip the per-row foreign-key
        triggers where we may (``db.bulk``) and check the file's channel or sensor once instead,
        with the lock the per-row check takes. Each statement is a round trip that waits for the
        server; on a busy server each wait is a wake-up to schedule, so a chunk makes few."""
        self.conn.execute(catalog.q("local_import_chunk"), {"tz": self.timezone, "skip_fk": self.skip_fk_triggers})
        if f is not None:
            q = queries.named("import")
            if f.kind == "mpp":
                found = self.conn.execute(q["lock_channel"], (f.board, f.channel)).fetchone()
            else:
                found = self.conn.execute(q[f"lock_{f.kind}_sensor"], (sensor_id,)).fetchone()
            if found is None:
                raise psycopg.errors.ForeignKeyViolation(
                    f"{f.kind} {f.board}/{f.channel if f.kind == 'mpp' else sensor_id} is not registered"
                    " (deleted during the import?)")

    def register(self, f: LabFile) -> str | None:
        """Make sure the channel or sensor exists; returns the sensor id to use."""
        q = queries.named("import")
        if f.kind == "mpp":
            self.conn.execute(q["register_channel"], (f.board, f.channel))
            return None
        if f.kind == "temperature":
            self.conn.execute(q["register_temperature_sensor"], (f.sensor_id, f.sensor_identifier))
            return str(scalar(self.conn, q["temperature_sensor_id"], (f.sensor_identifier,)))
        self.conn.execute(q["register_irradiance_sensor"], (f.sensor_id, f.sensor_identifier, f.sensor_channel))
        return str(scalar(self.conn, q["irradiance_sensor_id"], (f.sensor_identifier, f.sensor_channel)))

    def load(self, f: LabFile, data: bytes, suffix: bytes) -> int:
        """COPY clean rows; returns rows inserted (duplicates are not inserted).

        Fast path (nothing stored within the chunk's first..last range): COPY straight into the
        table with ``WHERE "timestamp" BETWEEN first AND last`` and mark that range once, ourselves
        (the range query switches the rollup trigger off for these rows: migration 0011). A row
        outside the range (an unordered file) makes the COPY insert fewer rows than the chunk
        holds, and a duplicate inside the chunk makes it fail: both roll the savepoint back (the
        switch with it) to the staging path, which de-duplicates and which the trigger marks. A
        value the server refuses (``DataError``) leaves this call with the chunk's transaction
        still usable (``load_with_retry``)."""
        if not data:
            return 0
        payload = data.replace(b"\n", suffix + b"\n")
        kind = f.kind
        cols = sql.SQL(", ").join(map(sql.Identifier, TABLE_COLUMNS[kind]))
        copy_opts = sql.SQL("(FORMAT csv, DELIMITER E'\\t')")
        q = queries.named("import")
        with self.conn.cursor() as cur:
            try:
                with self.conn.transaction():
                    lo, hi, overlap = self._range(f, suffix, *first_last_ts(data))
                    self.last_hi = hi
                    if not overlap:
                        rows = data.count(b"\n")
                        with cur.copy(sql.SQL('COPY {} ({}) FROM STDIN {} WHERE "timestamp" BETWEEN {} AND {}').format(
                                sql.Identifier(TABLES[kind]), cols, copy_opts, sql.Literal(lo), sql.Literal(hi))) as copy:
                            copy.write(payload)
                        if cur.rowcount != rows:
                            raise _OutsideRange
                        key = (f.board, f.channel) if kind == "mpp" else (None, None)
                        cur.execute(q["mark_chunk"], (kind, lo, hi, *key))
                        return rows
            except (psycopg.errors.UniqueViolation, _OutsideRange):
                pass
            stage = sql.Identifier(f"_import_{kind}")
            with self.conn.transaction():
                cur.execute(queries.load("import_staging"))
                cur.execute(sql.SQL("TRUNCATE {}").format(stage))
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN {}").format(stage, cols, copy_opts)) as copy:
                    copy.write(payload)
                cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {} ON CONFLICT DO NOTHING").format(
                    sql.Identifier(TABLES[kind]), stage))
                inserted = cur.rowcount
            return inserted

    def _range(self, f: LabFile, suffix: bytes, first_ts: str, last_ts: str) -> tuple:
        """(first, last, whether the series holds a row within a second of that range); the
        query also switches the rollup trigger off for this transaction when it does not."""
        key = {"b": f.board, "c": f.channel} if f.kind == "mpp" else {"s": suffix[1:].decode()}
        row = self.conn.execute(queries.get("import", f"chunk_range_{f.kind}"),
                                {**key, "t0": first_ts, "t1": last_ts}).fetchone()
        return (row[0], row[1], bool(row[2])) if row is not None else (None, None, True)


class RollupRefresher:
    """Plain PostgreSQL: a second session that refreshes each loaded channel's rollups while the
    next file loads (the server has a core to spare for it). The table triggers mark each chunk's
    channel and range in ``rollup_dirty``, committed with the data; whatever this session does not
    finish, the final ``rollups.refresh`` does. (With TimescaleDB the continuous aggregates are
    refreshed once over the whole imported range at the end.)"""

    def __init__(self, conninfo: str) -> None:
        import queue

        self.conninfo = conninfo
        self.queue: queue.SimpleQueue[bool | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="rollup-refresh", daemon=True)
        self.thread.start()

    def submit(self) -> None:
        """A chunk was committed: its channel-scoped marks are there to be taken."""
        self.queue.put(True)

    def finish(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def _run(self) -> None:
        try:
            with db_session.connect(self.conninfo, autocommit=True, application_name="perocube-rollups") as conn:
                while self.queue.get() is not None:
                    # every channel mark there is (each is deleted when done): with several loaders
                    # marks commit out of id order, so none is skipped for a lower id
                    for (i,) in conn.execute(queries.get("rollups", "channel_marks")).fetchall():
                        with conn.transaction():  # its settings for this transaction only (pooler-safe)
                            conn.execute(catalog.q("local_rollup_refresher"))
                            conn.execute(queries.get("rollups", "refresh_mpp_channel"), (i,))
        except psycopg.Error as exc:  # the final global refresh covers what is left
            log.warning("background rollup refresh stopped: %s", exc)
            while self.queue.get() is not None:
                pass


def first_last_ts(data: bytes) -> tuple[str, str]:
    first = data[: data.find(b"\t")]
    last_line_start = data.rfind(b"\n", 0, len(data) - 1) + 1
    last = data[last_line_start: data.find(b"\t", last_line_start)]
    return first.decode(), last.decode()


def load_with_retry(loader: Loader, f: LabFile, cleaned: lines_mod.CleanChunk, suffix: bytes) -> int:
    """COPY; if the server refuses a value the fast patterns let through, find those lines
    in Python, move them to the bad list, and try once more; if the server still refuses, halve
    the rows until each refused line is found. A value in one line never costs the file."""
    try:
        return loader.load(f, cleaned.data, suffix)  # (a refused value rolls back its savepoint only)
    except psycopg.errors.DataError as exc:
        log.info("%s: server refused a value (%s); checking line by line", f.rel, first_line(exc))
    keep = []

    def refuse(raw: bytes, reason: str) -> None:
        cleaned.bad.append(lines_mod.BadLine(0, reason, lines_mod.printable(raw)))
        cleaned.bad_count += 1
        cleaned.good -= 1

    for raw in cleaned.data.split(b"\n")[:-1]:
        reason = lines_mod.parse_line_slow(f.kind, raw)
        if reason is None:
            keep.append(raw)
        else:
            refuse(raw, reason)
    return _load_halving(loader, f, keep, suffix, refuse)


def _load_halving(loader: Loader, f: LabFile, rows: list[bytes], suffix: bytes, refuse) -> int:
    if not rows:
        return 0
    try:
        return loader.load(f, b"\n".join(rows) + b"\n", suffix)
    except psycopg.errors.DataError as exc:
        if len(rows) == 1:
            refuse(rows[0], f"refused by the database: {first_line(exc)}")
            return 0
    mid = len(rows) // 2
    return (_load_halving(loader, f, rows[:mid], suffix, refuse)
            + _load_halving(loader, f, rows[mid:], suffix, refuse))
