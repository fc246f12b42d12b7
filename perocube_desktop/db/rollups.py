"""Bring the rollups up to date with the raw rows, on either back end.

Every write to a measurement table, by any client, is tracked. On plain PostgreSQL every write
leaves a mark in ``rollup_dirty`` (statement triggers, migration 0007). On TimescaleDB the
importer marks its own ranges, UPDATE and DELETE leave marks, and inserted rows are logged by
TimescaleDB itself (its continuous-aggregate invalidation logs, migration 0013): the reads and
this module take both (``perocube_rollup_marks``, ``perocube_timescaledb_stale``). This module
turns them into refreshed rollups:

* plain PostgreSQL: ``perocube_refresh_rollups()`` recomputes the rollup tables over the marked
  ranges and deletes the marks, in one transaction;
* TimescaleDB: each merged range is refreshed in both continuous aggregates with
  ``refresh_continuous_aggregate`` (which refuses to run inside a transaction block), retried
  while a policy job refreshes the same aggregate ("concurrent refresh"), and only then are
  exactly the marks it covered deleted; what TimescaleDB logged itself is picked up by an
  ordinary refresh. A range that could not be refreshed keeps its marks: reads fall back to raw
  rows there (migrations 0008, 0013) and the next call tries again.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from . import catalog, queries
from .queries import scalar
from . import session as db_session

log = logging.getLogger(__name__)

LEVELS = (("1m", timedelta(minutes=1)), ("1h", timedelta(hours=1)))
KINDS = ("mpp", "temperature", "irradiance")
# advisory lock (session, shared): an import holds the compression policies paused (migration 0009);
# the one session-level lock of the app: a TimescaleDB import needs a session (docs/dba.md)
IMPORT_HOLD_KEY = (1347571533, 1)


class _ServerSupport:
    """What this process has learnt the TimescaleDB server accepts (asked once, on first use)."""

    batched_refresh = True  # refresh_continuous_aggregate takes options (TimescaleDB 2.19+)


SUPPORT = _ServerSupport()


def _q(name: str) -> str:
    return queries.get("rollups", name)


@dataclass
class RefreshResult:
    ranges: int = 0  # merged dirty ranges handled
    refreshed: int = 0  # continuous-aggregate refresh calls (TimescaleDB)
    left: int = 0  # ranges left for later (a concurrent refresh outlasted the wait)
    seconds: float = 0.0


def _floor(t: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return t - (t - epoch) % width


def _end(t: datetime, width: timedelta) -> datetime | None:
    """The end of ``t``'s bucket; None (an open end) for a row in the last bucket of 9999, whose end
    Python cannot hold (a timestamp from a broken clock is stored as sent, and its refresh must not
    fail: a window ending at datetime.max is shorter than that bucket, which TimescaleDB refuses)."""
    try:
        return _floor(t, width) + width
    except OverflowError:
        return None


def is_concurrent_refresh(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.errors.LockNotAvailable) and "concurrent refresh" in str(exc)


def refresh_view(conn: psycopg.Connection, view: str, lo: datetime | None, hi: datetime | None,
                 max_wait_s: float = 120.0, force: bool = False) -> bool:
    """``CALL refresh_continuous_aggregate`` on an autocommit connection; while a policy job (or
    another session) refreshes the same aggregate, wait and try again. False when the other
    refresh outlasted ``max_wait_s`` (the caller keeps its marks and tries later)."""
    deadline = time.monotonic() + max_wait_s
    pause = 0.1
    while True:
        try:
            t0 = time.perf_counter()
            if SUPPORT.batched_refresh:
                # one batch: TimescaleDB 2.19+ otherwise refreshes ten buckets per transaction, which
                # made a two-day 1-minute refresh take 4 s instead of 0.1 s; force: recompute the
                # window even where TimescaleDB logged no invalidation (2.28 logs none for COPY)
                try:
                    conn.execute(_q("refresh_view_batched"), (view, lo, hi, force))
                except psycopg.errors.UndefinedFunction:
                    SUPPORT.batched_refresh = False
                    continue
            else:
                conn.execute(_q("refresh_view"), (view, lo, hi))
            log.debug("%s refreshed over [%s, %s) in %.2f s", view, lo, hi, time.perf_counter() - t0)
            return True
        except psycopg.errors.LockNotAvailable as exc:
            if not is_concurrent_refresh(exc) or time.monotonic() + pause > deadline:
                if is_concurrent_refresh(exc):
                    log.warning("%s: still refreshed by another job after %.0f s; trying again later", view, max_wait_s)
                    return False
                raise
            log.debug("%s: concurrent refresh, retrying in %.1f s", view, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def refresh(conn: psycopg.Connection, *, below_watermark_only: bool = False, max_wait_s: float = 120.0,
            conninfo: str | None = None) -> RefreshResult:
    """Refresh the rollups over every marked range. ``conn`` must not be inside a transaction;
    it is used in autocommit mode for the duration.

    ``below_watermark_only`` (TimescaleDB; the live writer): only ranges the continuous aggregate
    has already materialised are refreshed; above its watermark real-time aggregation computes
    from the raw rows anyway and the refresh policy materialises them later, so live data costs
    nothing here.
    """
    t0 = time.perf_counter()
    result = RefreshResult()
    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        if not catalog.timescaledb_active(conn):
            with conn.transaction():
                conn.execute(catalog.q("local_work_mem_large"))
                result.ranges = scalar(conn, _q("refresh_plain"))
        else:
            _refresh_timescaledb(conn, result, below_watermark_only, max_wait_s, conninfo)
    finally:
        conn.autocommit = was_autocommit
    result.seconds = time.perf_counter() - t0
    return result


def _refresh_timescaledb(conn: psycopg.Connection, result: RefreshResult, below_watermark_only: bool,
                         max_wait_s: float, conninfo: str | None = None) -> None:
    """Each marked range is recomputed in both continuous aggregates with ``force`` (the marks are
    the importer's own ranges, UPDATEs and DELETEs; ``force`` also covers a database whose INSERT
    triggers are still there, before migration 0013, where TimescaleDB logs nothing for a COPY).
    Then (not for the live writer) one ordinary refresh from the start of time to the end of the
    marks, or of what TimescaleDB logged itself (rows inserted by any client, migration 0013),
    picks up every logged range and leaves no never-materialised range below; it recomputes only
    invalidated buckets. The live writer refreshes only what TimescaleDB logged below each
    aggregate's watermark. With ``conninfo`` the hourly aggregates are refreshed in a second
    session beside the minute ones."""
    pending = conn.execute(_q("pending")).fetchall()
    by_kind: dict[str, list[tuple[datetime, datetime, list[int]]]] = {}
    for kind, first, last, ids in pending:
        by_kind.setdefault(kind, []).append((first, last, ids))

    def hourly() -> dict[str, tuple[int, bool]]:
        assert conninfo is not None
        with db_session.connect(conninfo, autocommit=True, application_name="perocube-rollups") as c2:
            return _refresh_level(c2, *LEVELS[1], by_kind, below_watermark_only, max_wait_s)

    if conninfo is not None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollup-1h") as pool:
            later = pool.submit(hourly)
            results = [_refresh_level(conn, *LEVELS[0], by_kind, below_watermark_only, max_wait_s), later.result()]
    else:
        results = [_refresh_level(conn, suffix, width, by_kind, below_watermark_only, max_wait_s)
                   for suffix, width in LEVELS]
    for kind, ranges in by_kind.items():
        result.refreshed += sum(r.get(kind, (0, True))[0] for r in results)
        if all(r.get(kind, (0, True))[1] for r in results):
            conn.execute(_q("forget_marks"), ([i for r in ranges for i in r[2]],))
            result.ranges += len(ranges)
        else:
            result.left += len(ranges)


def _refresh_level(c: psycopg.Connection, suffix: str, width: timedelta, by_kind: dict[str, list],
                   below_watermark_only: bool, max_wait_s: float) -> dict[str, tuple[int, bool]]:
    """One level (minute or hour) of every kind: (refresh calls, whether all succeeded) per kind."""
    out = {}
    for kind in KINDS:
        view, done, calls = f"{kind}_rollup_{suffix}", True, 0
        ranges = by_kind.get(kind, [])
        stale = c.execute(_q("stale"), (view,)).fetchall()
        if not ranges and not stale:
            continue
        wm = scalar(c, _q("watermark"), (view,)) \
            if below_watermark_only else None
        top: datetime | None = None
        open_top = False  # a range in the last bucket of 9999: the final refresh has an open end
        for first, last, _ids in ranges:
            lo, hi = _floor(first, width), _end(last, width)
            if below_watermark_only:
                if wm is None or lo >= wm:
                    continue  # above the watermark: real-time aggregation and the policy cover it
                hi = wm if hi is None else min(hi, wm)
            open_top = open_top or hi is None
            top = top if hi is None else hi if top is None else max(top, hi)
            if refresh_view(c, view, lo, hi, max_wait_s, force=True):
                calls += 1
            else:
                done = False
        if stale:  # (below the watermark by construction)
            s_lo = None if any(a is None for a, _ in stale) else _floor(min(a for a, _ in stale), width)
            s_hi = None if any(b is None for _, b in stale) else _end(max(b for _, b in stale), width)
            if below_watermark_only:
                done = refresh_view(c, view, s_lo, s_hi, max_wait_s) and done
            else:
                open_top = open_top or s_hi is None
                top = top if s_hi is None else s_hi if top is None else max(top, s_hi)
        if (top is not None or open_top) and not below_watermark_only \
                and not refresh_view(c, view, None, None if open_top else top, max_wait_s):
            done = False
        out[kind] = (calls, done)
    return out


def refresh_below(conn: psycopg.Connection, horizon: datetime, max_wait_s: float = 30.0) -> int:
    """TimescaleDB, beside a running import (``importer.parallel``): refresh both levels over the
    marks that end below ``horizon`` (everything below it is loaded), merged per kind where they
    touch, and forget exactly those marks; marks above it, and marks that arrive meanwhile, stay for
    the next call or the final ``refresh``. Returns the marks forgotten. ``conn``: autocommit."""
    marks = conn.execute(_q("marks_below"), (horizon,)).fetchall()
    merged: list[list] = []  # [kind, t0, t1, ids]
    for i, kind, t0, t1 in marks:  # ordered by kind, t0
        if merged and merged[-1][0] == kind and t0 <= merged[-1][2] + timedelta(hours=1):
            merged[-1][2] = max(merged[-1][2], t1)
            merged[-1][3].append(i)
        else:
            merged.append([kind, t0, t1, [i]])
    forgotten = 0
    for kind, t0, t1, ids in merged:
        if all(refresh_view(conn, f"{kind}_rollup_{sfx}", _floor(t0, w), _end(t1, w), max_wait_s, force=True)
               for sfx, w in LEVELS):
            conn.execute(_q("forget_marks"), (ids,))
            forgotten += len(ids)
    return forgotten


def refresh_all(conn: psycopg.Connection, max_wait_s: float = 300.0) -> None:
    """TimescaleDB: materialise every continuous aggregate completely (after a migration or a
    restore). Plain PostgreSQL: the marked ranges, as ``refresh``."""
    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        if not catalog.timescaledb_active(conn):
            refresh(conn)
            return
        views = [v for (v,) in conn.execute(_q("continuous_aggregates"))]
        ids = [i for (i,) in conn.execute(_q("all_marks"))]
        if all([refresh_view(conn, v, None, None, max_wait_s) for v in views]):
            conn.execute(_q("forget_marks"), (ids,))
    finally:
        conn.autocommit = was_autocommit


class CompressionHold:
    """TimescaleDB: historical rows are older than the compression age the moment they arrive, so
    the compression policy would compress chunks while an import still writes into them (a 3.9 M-row
    import died with "deadlock detected"). The policies are paused while an import loads and resumed
    at its end with ``next_start = now()``: the loaded chunks are compressed right after, in the
    background. The shared advisory lock tells the migration runner that an import holds them; after
    a crash the next ``db migrate`` resumes them. A no-op on plain PostgreSQL."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.active = catalog.timescaledb_active(conn) and bool(scalar(conn, _q("has_compression_hold")))
        if self.active:
            conn.execute(_q("hold_lock_shared"), IMPORT_HOLD_KEY)
            paused = scalar(conn, _q("hold_compression"), (False,))
            log.info("compression policies paused for the import (%d jobs)", paused)

    def release(self) -> None:
        if not self.active:
            return
        self.active = False
        try:
            with self.conn.transaction():
                # exclusive (this transaction) besides our own shared hold: no other import holds them
                if scalar(self.conn, _q("hold_try_lock"), IMPORT_HOLD_KEY):
                    self.conn.execute(_q("hold_compression"), (True,))
                    log.info("compression policies resumed: the loaded chunks are compressed in the background")
        finally:
            self.conn.execute(_q("hold_unlock_shared"), IMPORT_HOLD_KEY)


def resume_compression_if_idle(conn: psycopg.Connection) -> int:
    """Resume compression policies an import left paused (crashed), unless an import runs now."""
    if not catalog.timescaledb_active(conn) or not scalar(conn, _q("has_compression_hold")):
        return 0
    with conn.transaction():  # transaction-level try-lock: pooler-safe, released at commit
        if not scalar(conn, _q("hold_try_lock"), IMPORT_HOLD_KEY):
            return 0
        n = int(scalar(conn, _q("hold_compression"), (True,)))
    if n:
        log.warning("%d compression policies were left paused by an interrupted import: resumed", n)
    return n
