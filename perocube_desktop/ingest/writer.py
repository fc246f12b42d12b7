"""Moves buffered rows to PostgreSQL. MPP rows: the COPY text the receiver stored goes straight
into mpp_measurement (or, when a batch holds re-sent or replayed rows, through a staging
table with ON CONFLICT DO NOTHING); sensor rows: COPY into a staging table, then insert with
ON CONFLICT DO NOTHING. Unknown channels and sensors are registered on the way; rows that
name a sensor_id the database does not know are quarantined.

Runs in its own thread with its own connection; reconnects with exponential backoff.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql as pgsql

from ..db import bulk, queries, replica, rollups
from ..db.tables import KINDS
from ..errors import first_line
from ..protocol import IRRADIANCE, MPP, TEMPERATURE
from ..values import ts_datetime
from .buffer import MPP_COPY_COLUMNS, STAGE_COPY_COLUMNS, DiskBuffer, Segment
from ..db import session as db_session


def _copy_into(table: str, columns: str) -> pgsql.Composed:
    """``COPY table (columns) FROM STDIN`` with every name quoted as an identifier."""
    cols = [c.strip().strip('"') for c in columns.split(",")]
    return pgsql.SQL("COPY {} ({}) FROM STDIN").format(pgsql.Identifier(table),
                                                       pgsql.SQL(", ").join(map(pgsql.Identifier, cols)))


_COPY_STAGE_INGEST = _copy_into("_stage_ingest", STAGE_COPY_COLUMNS)
_COPY_MPP = _copy_into(KINDS[MPP].table, MPP_COPY_COLUMNS)
_COPY_STAGE_MPP = _copy_into("_stage_mpp", MPP_COPY_COLUMNS)

log = logging.getLogger(__name__)

LINGER_S = 0.05  # after a partial batch: wait this long for more rows before the next transaction
PARALLEL_MIN_ROWS = 20_000  # MPP batches this large are written by two connections at once


@dataclass(frozen=True)
class MergeStep:
    """One statement of ``writer_merge.sql``, run on the sensor rows staged in ``_stage_ingest``.
    ``kinds``: it runs only when the batch holds rows of one of them; ``returns``: what each row
    it returns means (``registered``: a new sensor, logged; ``quarantined``: a row set aside)."""

    sql: str
    kinds: frozenset[str]
    returns: str | None = None


@functools.cache
def merge_steps() -> tuple[MergeStep, ...]:
    """The sensor rows' merge, in this order: ids of sensors registered by hand first, then new
    sensors registered, then rows naming a sensor_id still unknown quarantined, then the inserts.
    (MPP rows never pass here: ``_write_mpp`` copies them, channels registered first.)"""
    both = frozenset({TEMPERATURE, IRRADIANCE})
    temperature, irradiance = frozenset({TEMPERATURE}), frozenset({IRRADIANCE})
    return (
        MergeStep(queries.get("writer_merge", "resolve_temperature_sensors"), temperature),
        MergeStep(queries.get("writer_merge", "resolve_irradiance_sensors"), irradiance),
        MergeStep(queries.get("writer_merge", "register_temperature_sensors"), temperature, "registered"),
        MergeStep(queries.get("writer_merge", "register_irradiance_sensors"), irradiance, "registered"),
        MergeStep(queries.get("writer_merge", "quarantine_unknown_sensors"), both, "quarantined"),
        MergeStep(queries.get("writer_merge", "insert_temperature"), temperature),
        MergeStep(queries.get("writer_merge", "insert_irradiance"), irradiance),
    )


class DatabaseWriter:
    def __init__(
        self,
        buffer: DiskBuffer,
        conninfo: str,
        batch_rows: int = 20000,
        flush_interval_s: float = 0.2,
        max_backoff_s: float = 30.0,
        rollup_interval_s: float = 10.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.buffer = buffer
        self.conninfo = conninfo
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_backoff_s = max_backoff_s
        self.rollup_interval_s = rollup_interval_s
        self.on_error = on_error
        self.wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self._aux: psycopg.Connection | None = None  # second connection for large MPP batches
        self._aux_pool: ThreadPoolExecutor | None = None
        self._serial_next = False  # after a failed parallel write: the next batch in one transaction
        self._last_rollup = 0.0
        self._skip_fk_triggers = False
        # observable state (read from other threads; simple values, GIL-atomic)
        self.state = "starting"
        self.last_error: str | None = None
        self.down_since: float | None = None
        self.rows_written = 0
        self.rows_quarantined = 0
        self.server: str | None = None  # host:port of the server connected to (one of a multi-host URL)
        self.switched: str | None = None  # "from a:5432 to b:5432 at 12:03:04": the last failover followed

    # lifecycle ------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self._thread.start()

    def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Flush what can be flushed within the timeout; the rest stays in the buffer."""
        self._flush_deadline = time.monotonic() + flush_timeout_s
        self._stop.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join(flush_timeout_s + 5)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._close_aux()
        if self._aux_pool is not None:
            self._aux_pool.shutdown(wait=True)
            self._aux_pool = None

    # main loop ---------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.5
        while True:
            stopping = self._stop.is_set()
            if stopping and time.monotonic() > self._flush_deadline:
                break
            try:
                if self._conn is None:
                    self._connection()  # connect early: the status bar shows the database state at once
                moved = self.flush_once()
                backoff = 0.5
                if moved == 0:
                    if stopping:
                        break
                    self.wakeup.wait(self.flush_interval_s)
                    self.wakeup.clear()
                elif moved < self.batch_rows and not stopping:
                    # a trickle: let rows gather for a moment rather than one transaction per
                    # group commit (each costs a PostgreSQL commit and a SQLite fsync)
                    self._stop.wait(LINGER_S)
            except psycopg.Error as exc:
                self._failed(exc)
                if stopping:
                    break
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
            except Exception as exc:  # never let the writer die silently
                log.exception("database writer error")
                self._failed(exc)
                if stopping:
                    break
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
        log.info("database writer stopped; %d rows left in the local buffer", self.buffer.count())

    def _failed(self, exc: BaseException) -> None:
        text = first_line(exc)
        if self.last_error != text:
            log.error("database write failed, rows stay in the local buffer: %s", text)
        self.last_error = text
        self.state = "reconnecting"
        if self.down_since is None:
            self.down_since = time.time()
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error as close_exc:
                log.debug("closing broken connection: %s", close_exc)
            self._conn = None
        self._close_aux()
        self._serial_next = True
        if self.on_error is not None:
            self.on_error(text)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = db_session.connect(self.conninfo, connect_timeout=5, application_name="perocube-writer")
            with self._conn.transaction():
                self._note_server(replica.address(self._conn))
            self._skip_fk_triggers = bulk.may_skip_fk_triggers(self._conn)
            if self.state != "connected":
                log.info("database writer connected")
            self.state = "connected"
            self.down_since = None
        return self._conn

    def _note_server(self, where: str) -> None:
        """A multi-host URL (``host=a,b target_session_attrs=read-write``) may land on another
        server after a failover: say so in the log and the status bar."""
        if self.server is not None and where != self.server:
            self.switched = f"from {self.server} to {where} at {time.strftime('%H:%M:%S')}"
            log.warning("database writer: now writing to %s (was %s): the database failed over", where, self.server)
        self.server = where

    @staticmethod
    def _staging(conn: psycopg.Connection) -> None:
        """The temporary staging tables, in the transaction that uses them: behind a
        transaction-pooling PgBouncer each transaction may run on another server session
        (``IF NOT EXISTS``: a no-op on a session that has them; ``ON COMMIT DELETE ROWS``)."""
        conn.execute(queries.load("writer_staging"))

    def _close_aux(self) -> None:
        if self._aux is not None:
            try:
                self._aux.close()
            except psycopg.Error as exc:
                log.debug("closing the second connection: %s", exc)
            self._aux = None

    def _aux_copy(self, payload: bytes) -> None:
        """The second half of a large MPP batch, in its own transaction on the second connection
        (runs on the helper thread; channels are registered and committed before)."""
        if self._aux is None or self._aux.closed:
            self._aux = db_session.connect(self.conninfo, connect_timeout=5, application_name="perocube-writer-2")
        conn = self._aux
        with conn.transaction():
            self._staging(conn)
            if self._skip_fk_triggers:
                bulk.skip_fk_triggers(conn)
            with conn.cursor() as cur:
                self._copy_mpp(conn, cur, payload, len(payload))

    def flush_once(self) -> int:
        """Move one batch; returns the number of buffered rows handled (0 = nothing to do)."""
        segments = self.buffer.read_segments(self.batch_rows)
        quarantine = self.buffer.read_quarantine(self.batch_rows)
        if not segments and not quarantine:
            self._maybe_refresh_rollups(force=False)
            return 0
        conn = self._connection()
        mpp = [s for s in segments if s.kind == MPP]
        staged = [s for s in segments if s.kind != MPP]
        if mpp and not self._serial_next and sum(s.rows for s in mpp) >= PARALLEL_MIN_ROWS:
            self._write_parallel(conn, mpp, staged, quarantine)
        else:
            self._write_batch(conn, mpp, staged, quarantine)
        self._serial_next = False
        self.buffer.delete_upto(segments[-1].id if segments else 0, quarantine[-1][0] if quarantine else None)
        rows = sum(s.rows for s in segments)
        self.rows_written += rows
        self.state = "connected"
        self.last_error = None
        self._maybe_refresh_rollups(force=False)
        return rows + len(quarantine)

    def _write_batch(self, conn: psycopg.Connection, mpp: list[Segment], staged: list[Segment], quarantine: list,
                     mpp_payload: bytes | None = None) -> None:
        """One transaction: the MPP rows (``mpp_payload``: only this part of them, channels
        registered already), the sensor rows, the quarantine items."""
        with conn.transaction():
            self._staging(conn)
            if self._skip_fk_triggers:
                bulk.skip_fk_triggers(conn)  # channels and sensors are registered first, in this transaction
            with conn.cursor() as cur:
                if mpp_payload is not None:
                    self._copy_mpp(conn, cur, mpp_payload, len(mpp_payload))
                elif mpp:
                    self._write_mpp(conn, cur, mpp)
                if staged:
                    with cur.copy(_COPY_STAGE_INGEST) as copy:
                        copy.write("".join(s.body for s in staged).encode())
                    self._merge(cur, {s.kind for s in staged})
                if quarantine:
                    with cur.copy(queries.get("writer_mpp", "copy_quarantine")) as copy:
                        for _id, received_us, origin, raw, reason in quarantine:
                            copy.write_row((ts_datetime(received_us), "receiver", origin, raw, reason))

    def _write_parallel(self, conn: psycopg.Connection, mpp: list[Segment], staged: list[Segment],
                        quarantine: list) -> None:
        """A large MPP batch in two halves on two connections (two cores for the server's work).

        Two transactions, each committed on its own, never one waiting for the other (a row
        re-sent into both halves makes one wait for the other's commit). When the first half's
        transaction (with the sensor rows and the quarantine) fails on a deadlock, everything is
        written again in one transaction; when the second half fails, that half is written again
        on the first connection. Rows already committed are skipped by ON CONFLICT."""
        with conn.transaction(), conn.cursor() as cur:
            self._register_channels(cur, mpp)
        payload = "".join(s.body for s in mpp)
        cut = payload.find("\n", len(payload) // 2) + 1
        second_half = payload[cut:].encode()
        if self._aux_pool is None:
            self._aux_pool = ThreadPoolExecutor(1, thread_name_prefix="db-writer-2")
        second = self._aux_pool.submit(self._aux_copy, second_half)
        main_exc: BaseException | None = None
        try:
            self._write_batch(conn, mpp, staged, quarantine, payload[:cut].encode())
        except psycopg.Error as exc:
            main_exc = exc
        try:
            second.result()  # after our commit or rollback: it may have been waiting for it
            aux_exc: BaseException | None = None
        except Exception as exc:  # whatever it was: its half is written again below
            aux_exc = exc
        if main_exc is not None:
            if not isinstance(main_exc, psycopg.errors.DeadlockDetected):
                raise main_exc
            log.info("two-connection write met re-sent rows in both halves; writing the batch in one transaction")
            self._write_batch(conn, mpp, staged, quarantine)
        elif aux_exc is not None:
            log.info("second connection failed (%s); writing its half on the first", first_line(aux_exc))
            self._close_aux()
            self._write_batch(conn, [], [], [], second_half)

    def _register_channels(self, cur: psycopg.Cursor, segments: list[Segment]) -> None:
        channels: set[tuple[int, int]] = set()
        for text in {s.channels for s in segments}:
            for pair in (text or "").split():
                b, c = pair.split("/")
                channels.add((int(b), int(c)))
        pairs = sorted(channels)
        cur.execute(queries.get("writer_mpp", "register_channels"), ([b for b, _ in pairs], [c for _, c in pairs]))
        for b, c in cur.fetchall():
            log.info("registered new MPP channel %d/%d", b, c)

    def _write_mpp(self, conn: psycopg.Connection, cur: psycopg.Cursor, segments: list[Segment]) -> None:
        """MPP segments hold mpp_measurement COPY text (see ``_copy_mpp``); channels first."""
        self._register_channels(cur, segments)
        payload = "".join(s.body for s in segments).encode()
        self._copy_mpp(conn, cur, payload, sum(s.rows for s in segments))

    @staticmethod
    def _copy_mpp(conn: psycopg.Connection, cur: psycopg.Cursor, payload: bytes, rows: int) -> None:
        """Batches of 1000+ rows go straight into the table (no staging, no ON CONFLICT); a
        replayed or re-sent row makes that fail on the unique key, and then (and for small
        batches) the rows go through a staging table and ``ON CONFLICT DO NOTHING``.
        ``rows``: the row count, or any number as large (the payload's size)."""
        direct = False
        if rows >= 1000:
            try:
                with conn.transaction():
                    with cur.copy(_COPY_MPP) as copy:
                        copy.write(payload)
                direct = True
            except psycopg.errors.UniqueViolation:
                log.debug("re-sent rows in this batch: merging through the staging table")
        if not direct:
            with cur.copy(_COPY_STAGE_MPP) as copy:
                copy.write(payload)
            cur.execute(queries.get("writer_mpp", "insert_staged"))
        # (the table's triggers mark the changed range for the rollups: migration 0007)

    def _merge(self, cur: psycopg.Cursor, kinds: set[str]) -> None:
        for step in merge_steps():
            if not step.kinds & kinds:
                continue  # nothing of that kind in this batch
            cur.execute(step.sql)
            if step.returns is None:
                continue
            for (text,) in cur.fetchall():
                if step.returns == "quarantined":
                    self.rows_quarantined += 1
                    log.warning("row quarantined: %s", text)
                else:
                    log.info("registered new %s", text)

    def _maybe_refresh_rollups(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_rollup < self.rollup_interval_s:
            return
        if self._conn is None:
            return
        self._last_rollup = now
        # ranges marked by any writer (this one, a drained outage, another client); live rows above
        # a continuous aggregate's watermark are left to real-time aggregation and the policy
        res = rollups.refresh(self._conn, below_watermark_only=True, max_wait_s=5.0)
        if res.refreshed or res.ranges > 1:
            log.debug("rollups refreshed: %d ranges in %.2f s", res.ranges, res.seconds)
