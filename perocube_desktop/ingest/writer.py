"""Moves buffered rows to PostgreSQL: COPY into staging tables, then insert with ON CONFLICT
DO NOTHING (re-sends and replays are idempotent), auto-registering unknown channels and
sensors, quarantining rows that name a sensor_id the database does not know.

Runs in its own thread with its own connection; reconnects with exponential backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg

from ..db import bulk, queries
from ..protocol import Sample, ts_datetime
from .buffer import DiskBuffer, copy_number, mpp_copy_line

log = logging.getLogger(__name__)

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
        self._last_rollup = 0.0
        self._skip_fk_triggers = False
        # observable state (read from other threads; simple values, GIL-atomic)
        self.state = "starting"
        self.last_error: str | None = None
        self.down_since: float | None = None
        self.rows_written = 0
        self.rows_quarantined = 0

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
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
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
        if self.on_error is not None:
            self.on_error(text)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, connect_timeout=5, application_name="perocube-writer")
            with self._conn.transaction():
                self._conn.execute(queries.load("writer_staging"))
            self._skip_fk_triggers = bulk.may_skip_fk_triggers(self._conn)
            if self.state != "connected":
                log.info("database writer connected")
            self.state = "connected"
            self.down_since = None
        return self._conn

    def flush_once(self) -> int:
        """Move one batch; returns the number of buffered rows handled (0 = nothing to do)."""
        rows = self.buffer.read_batch(self.batch_rows)
        quarantine = self.buffer.read_quarantine(self.batch_rows)
        if not rows and not quarantine:
            self._maybe_refresh_rollups(force=False)
            return 0
        conn = self._connection()
        with conn.transaction():
            if self._skip_fk_triggers:
                bulk.skip_fk_triggers(conn)  # channels and sensors are registered first, in this transaction
            with conn.cursor() as cur:
                rest = self._copy_mpp_direct(conn, cur, rows) if rows else rows
                if rest:
                    self._copy(cur, rest)
                    self._merge(cur, {r[1] for r in rest})
                if quarantine:
                    with cur.copy("COPY quarantine (received_at, source, origin, raw, reason) FROM STDIN") as copy:
                        for _id, received_us, origin, raw, reason in quarantine:
                            copy.write_row((ts_datetime(received_us), "receiver", origin, raw, reason))
        self.buffer.delete_upto(rows[-1][0] if rows else 0, quarantine[-1][0] if quarantine else None)
        self.rows_written += len(rows)
        self.state = "connected"
        self.last_error = None
        self._maybe_refresh_rollups(force=False)
        return len(rows) + len(quarantine)

    def _merge(self, cur: psycopg.Cursor, kinds: set[str]) -> None:
        for name, sql in queries.named("writer_merge").items():
            needs = {k for k in ("mpp", "temperature", "irradiance") if k in name}
            if name in ("register_channels", "insert_mpp"):
                needs = {"mpp"}
            elif name == "quarantine_unknown_sensors":
                needs = {"temperature", "irradiance"}
            if needs and not needs & kinds:
                continue  # nothing of that kind in this batch
            cur.execute(sql)
            if cur.description is None:
                continue
            for (text,) in cur.fetchall():
                if name == "quarantine_unknown_sensors":
                    self.rows_quarantined += 1
                    log.warning("row quarantined: %s", text)
                else:
                    log.info("registered new %s", text)

    def _copy_mpp_direct(self, conn: psycopg.Connection, cur: psycopg.Cursor, rows: list[tuple]) -> list[tuple]:
        """Fast path for MPP rows: straight COPY into mpp_measurement (no staging, no ON CONFLICT).
        A replayed or re-sent row makes it fail on the unique key; then everything takes the
        staging path. Returns the rows still to be merged."""
        mpp = [r for r in rows if r[1] == "mpp"]
        if len(mpp) < 1000:  # small batches: the staging path costs nothing noticeable
            return rows
        channels = sorted({(r[6], r[7]) for r in mpp})
        t_lo = min(r[2] for r in mpp)
        t_hi = max(r[2] for r in mpp)
        try:
            with conn.transaction():
                cur.execute("INSERT INTO mpp_tracking_channel (board, channel) SELECT * FROM unnest(%s::int[], %s::int[])"
                            " ON CONFLICT DO NOTHING RETURNING board, channel",
                            ([b for b, _ in channels], [c for _, c in channels]))
                for b, c in cur.fetchall():
                    log.info("registered new MPP channel %d/%d", b, c)
                payload = "".join(r[11] or mpp_copy_line(_sample(r)) for r in mpp)
                with cur.copy('COPY mpp_measurement ("timestamp", power, current, voltage, tracking_channel_board,'
                              " tracking_channel_channel) FROM STDIN") as copy:
                    copy.write(payload.encode())
                cur.execute("INSERT INTO rollup_dirty (kind, t0, t1) VALUES ('mpp', %s, %s)",
                            (ts_datetime(t_lo), ts_datetime(t_hi)))
        except psycopg.errors.UniqueViolation:
            return rows
        return [r for r in rows if r[1] != "mpp"]

    @staticmethod
    def _copy(cur: psycopg.Cursor, rows: list[tuple]) -> None:
        # COPY text built in one pass; the server turns microseconds into timestamps
        lines = [
            f"{kind}\t{ts_us}\t{copy_number(a)}\t{copy_number(b)}\t{copy_number(c)}\t{copy_number(board)}\t{copy_number(channel)}\t"
            f"{_txt(sensor)}\t{_txt(ident)}\t{copy_number(ichan)}\n"
            for _id, kind, ts_us, a, b, c, board, channel, sensor, ident, ichan, _line in rows
        ]
        with cur.copy("COPY _stage_ingest (kind, ts_us, a, b, c, board, channel, sensor, ident, ichan) FROM STDIN") as copy:
            copy.write("".join(lines).encode())

    def _maybe_refresh_rollups(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_rollup < self.rollup_interval_s:
            return
        if self._conn is None:
            return
        self._last_rollup = now
        with self._conn.transaction():
            self._conn.execute("SELECT perocube_refresh_rollups()")


def _sample(r: tuple) -> Sample:
    return Sample(r[1], r[2], r[3], r[4], r[5], board=r[6], channel=r[7])


def _txt(v: str | None) -> str:
    if v is None:
        return "\\N"
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

